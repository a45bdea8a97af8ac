"""Payment exporter: consumes the export queue and sends payments to Xero in batches, each once (C8, C9)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from xero_bridge import wiring
from xero_bridge.errors import ExportRetryLater
from xero_bridge.lambda_time import time_left
from xero_bridge.models.payments import QueuedMessage
from xero_bridge.observability import count, invocation, metrics


def queued(event: dict[str, Any]) -> list[QueuedMessage]:
    return [
        QueuedMessage(
            message_id=record.message_id,
            body=record.body,
            receipt_handle=record.receipt_handle,
            receive_count=int(record.attributes.approximate_receive_count or 1),
        )
        for record in (SQSRecord(raw) for raw in event.get("Records") or [])
    ]


# No Powertools Idempotency on the SQS message id: a replay is a new message. The ledger's conditional
# claim on each payment (its business identity) is the idempotency, past Xero's own key window.
@invocation(flow="export")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The whole batch at once: payments of many messages fill one Xero batch per tenant.
    outcome = wiring.export_from_queue().handle(queued(event), time_left=time_left(context))
    report = outcome.report
    # PaymentExports by outcome is the dashboard's series of what became of each payment. Beside it, one
    # total the failures alarm reads (an alarm cannot sum a metric's dimension values), and the messages
    # dead-lettered. (Totals of exported, closed and retrying repeated the outcome series; nothing read them.)
    for name, value in (
        ("PaymentExportFailures", report.failed),
        ("ExportMessagesDeadLettered", outcome.dead_lettered),
    ):
        if value:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    for outcome_name, value in (
        ("exported", report.exported),
        ("found_in_xero", report.found_in_xero),
        ("closed", report.closed),
        ("error", report.failed),
        ("retrying", len(report.retrying)),
    ):
        if value:
            count("PaymentExports", value, outcome=outcome_name)
    for code, value in report.error_codes.items():
        count("PaymentExportErrors", value, error_code=code)

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in outcome.retry:  # its backoff is set on the message: it comes back then
            raise ExportRetryLater(f"message {record.message_id} met a transient failure")

    # One processor per invocation (see functions/writer/app.py); a retried message fails alone.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event, record_handler, processor, context))
