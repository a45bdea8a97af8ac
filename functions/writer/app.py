"""Writer: consumes the records queue; the only function that writes synced records to DynamoDB (C4, C5)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ConfigDict, Json

from xero_bridge.models.messages import RecordsMessage
from xero_bridge.models.sqs import SqsRecord
from xero_bridge.observability import count, invocation, logger, metrics
from xero_bridge.wiring import write_records


class RecordsQueueRecord(SqsRecord):
    # A body that is not a RecordsMessage fails validation: that record alone goes back to the queue (then
    # the DLQ). hide_input_in_errors keeps record content out of the error, hence out of the logs.
    model_config = ConfigDict(hide_input_in_errors=True)
    body: Json[RecordsMessage]  # type: ignore[assignment]  # the JSON string, validated into the message


# No Powertools Idempotency on the SQS message id: a replayed message gets a new id, and a duplicate must
# still be harmless. The conditional write (tenant + record id + Xero's updated time) is the idempotency.


def record_handler(record: RecordsQueueRecord) -> None:
    message = record.body
    logger.append_keys(org_id=message.org_id, tenant_id=message.tenant_id, message_id=record.messageId)
    summary = write_records()(message)
    metrics.add_metric(name="RecordsWritten", unit=MetricUnit.Count, value=summary.written)
    metrics.add_metric(name="RecordsStale", unit=MetricUnit.Count, value=summary.stale)
    for record_type, synced in Counter(record.record_type.value for record in message.records).items():
        count("RecordsSynced", synced, record_type=record_type, source=message.source.kind)
    logger.info("records message written", extra={"source_kind": message.source.kind, **asdict(summary)})


# No correlation_id_path: a batch holds many messages; each log line carries its own message_id instead.
@invocation(flow="write")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # One processor per invocation: it holds the batch's successes and failures, and two invocations
    # sharing one (the local stack runs a function's concurrent invocations in one container) reported
    # each other's messages. raise_on_entire_batch_failure=False: an all-bad batch is reported record by
    # record, not as a crash.
    # Our own pydantic record model (Powertools' parser models cost a cold start): typed as Powertools' own.
    processor = BatchProcessor(
        event_type=EventType.SQS,
        model=RecordsQueueRecord,  # type: ignore[arg-type]
        raise_on_entire_batch_failure=False,
    )
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    logger.remove_keys(["org_id", "tenant_id", "message_id"])
    for failed, (_, error, _) in zip(processor.fail_messages, processor.exceptions, strict=True):
        message_id = getattr(failed, "messageId", None) or getattr(failed, "message_id", None)
        logger.warning(
            "records message failed",
            extra={"message_id": message_id, "reason": f"{type(error).__name__}: {error}"},
        )
    return dict(response)
