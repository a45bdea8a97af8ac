"""Catch-up (C5): on its schedule, one request per connected tenant; on CatchUpQueue, one tenant caught up.

Two event sources, one job: the schedule's event fans out (cheap, no Xero call); each CatchUpQueue message
(``{"scope": "tenant", "org_id", "tenant_id", "reason"}``, or ``{"scope": "all"}`` after a webhook sequence
gap) catches one tenant up from its cursors through the rate limiter.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ConfigDict, Json

from xero_bridge import wiring
from xero_bridge.lambda_time import time_left
from xero_bridge.models.sqs import SqsRecord
from xero_bridge.models.webhooks import CatchUpRequest
from xero_bridge.observability import invocation, logger, metrics


class CatchUpQueueRecord(SqsRecord):
    model_config = ConfigDict(hide_input_in_errors=True)
    body: Json[CatchUpRequest]  # type: ignore[assignment]  # the JSON string, validated into the request


def record_handler(record: CatchUpQueueRecord, lambda_context: LambdaContext) -> None:
    request = record.body
    if request.scope == "all":
        wiring.request_catch_ups().everyone(request.reason)
        return
    logger.append_keys(org_id=request.org_id, tenant_id=request.tenant_id)
    outcome = wiring.catch_up_tenant().run(request, time_left=time_left(lambda_context))
    metrics.add_metric(name="CatchUpRuns", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="CatchUpCalls", unit=MetricUnit.Count, value=outcome.calls)
    metrics.add_metric(name="RecordsSent", unit=MetricUnit.Count, value=outcome.records_sent)
    metrics.add_metric(name="WebhookMissedChanges", unit=MetricUnit.Count, value=outcome.missed_by_webhooks)
    if outcome.status == "skipped":
        metrics.add_metric(name="CatchUpsSkipped", unit=MetricUnit.Count, value=1)


@invocation(flow="catch_up")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" not in event:  # the schedule (EventBridge): fan out, one request per connected tenant
        queued = wiring.request_catch_ups().everyone("schedule")
        return {"requested": queued}
    # Our own pydantic record model (Powertools' parser models cost a cold start): typed as Powertools' own.
    processor = BatchProcessor(
        event_type=EventType.SQS,
        model=CatchUpQueueRecord,  # type: ignore[arg-type]
        raise_on_entire_batch_failure=False,
    )
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    logger.remove_keys(["org_id", "tenant_id"])
    return dict(response)
