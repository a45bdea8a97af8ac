""" "Export back to Xero" by message: consumes ExportReplayQueue, the AR platform's own tooling (C9).

Body: ``{"org_id": "acme-ar", "payment_ids": ["pay-1", ...]}``, or ``{"org_id": "acme-ar", "status":
"error"}`` for every failed payment of the org.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from xero_bridge import wiring
from xero_bridge.models.payments import QueuedMessage
from xero_bridge.observability import invocation, logger, metrics


def record_handler(record: SQSRecord) -> None:
    message = QueuedMessage(
        message_id=record.message_id,
        body=record.body,
        receipt_handle=record.receipt_handle,
        receive_count=int(record.attributes.approximate_receive_count or 1),
    )
    # A message that is not a replay request goes to the DLQ with its reason (None); SQS refusing the
    # re-queued payments raises, and this message alone is retried. The service logs what it replayed,
    # with the org; this message's id goes on that line.
    logger.append_keys(message_id=record.message_id)
    result = wiring.replay_from_queue().handle(message)
    if result is not None:
        metrics.add_metric(name="PaymentsReplayed", unit=MetricUnit.Count, value=result.queued)


@invocation(flow="replay")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event, record_handler, processor, context))
