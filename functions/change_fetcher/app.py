"""Change fetcher: consumes WebhooksQueue; fetches what each delivery says changed and sends it to the writer.

A bad message fails alone (partial batch responses); a poison one is set aside in the DLQ with its reason,
a rate-limited one comes back when Xero allows the next call (see ``services/webhooks/consume.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from xero_bridge.lambda_time import time_left
from xero_bridge.models.sqs import SqsRecord
from xero_bridge.models.webhooks import QueuedDelivery
from xero_bridge.observability import invocation, logger, metrics
from xero_bridge.wiring import consume_delivery


def record_handler(record: SqsRecord, lambda_context: LambdaContext) -> None:
    message = QueuedDelivery(
        message_id=record.messageId,
        body=record.body,
        receipt_handle=record.receiptHandle,
        receive_count=int(record.attributes.ApproximateReceiveCount),
        sent_at=record.attributes.SentTimestamp.astimezone(UTC),
    )
    logger.append_keys(message_id=message.message_id)
    done = consume_delivery().consume(message, time_left=time_left(lambda_context))
    if done is None:
        metrics.add_metric(name="WebhookMessagesSetAside", unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(name="RecordsSent", unit=MetricUnit.Count, value=done.records_sent)
    metrics.add_metric(name="WebhookEventsDropped", unit=MetricUnit.Count, value=done.dropped_events)
    metrics.add_metric(name="XeroCalls", unit=MetricUnit.Count, value=done.calls)
    metrics.add_metric(name="Xero429s", unit=MetricUnit.Count, value=done.rate_limited)
    if done.sequence_gap:
        metrics.add_metric(name="WebhookSequenceGaps", unit=MetricUnit.Count, value=1)
    if done.lag_seconds is not None:
        metrics.add_metric(name="WebhookChangeLag", unit=MetricUnit.Seconds, value=done.lag_seconds)
    if message.sent_at is not None:
        queued = (datetime.now(UTC) - message.sent_at).total_seconds()
        metrics.add_metric(name="WebhookQueueDelay", unit=MetricUnit.Seconds, value=max(queued, 0.0))


# No correlation_id_path: a batch holds many deliveries; each log line carries its own message_id instead.
@invocation(flow="webhook")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # One processor per invocation (see functions/writer/app.py); an all-bad batch is reported record by
    # record, never as a crash.
    # Our own pydantic record model (Powertools' parser models cost a cold start): typed as Powertools' own.
    processor = BatchProcessor(
        event_type=EventType.SQS,
        model=SqsRecord,  # type: ignore[arg-type]
        raise_on_entire_batch_failure=False,
    )
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    logger.remove_keys(["message_id"])
    return dict(response)
