"""Page fetcher (Step Functions task of the initial sync, C4): one page from Xero to the writes queue.

A page already done in the run is skipped without a call; a spent daily limit returns ``paused`` with the
reset time (the machine's Wait state waits until then). Any other error is raised with its class name as
Lambda's ``errorType``, which is what the machine's Retry and Catch match.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from xero_bridge.lambda_time import time_left
from xero_bridge.models.sync import PageTask
from xero_bridge.observability import invocation, logger, metrics
from xero_bridge.wiring import fetch_page


@invocation(flow="initial_sync", correlation_id_path="run_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = PageTask.model_validate(event)
    logger.append_keys(org_id=task.org_id, tenant_id=task.tenant_id, resource=task.resource, page=task.page)
    result = fetch_page().fetch(task, time_left=time_left(context))
    metrics.add_metric(name="XeroCalls", unit=MetricUnit.Count, value=result.calls)
    metrics.add_metric(name="Xero429s", unit=MetricUnit.Count, value=result.rate_limited)
    metrics.add_metric(name="RecordsSent", unit=MetricUnit.Count, value=result.records_sent)
    if result.status == "paused":
        metrics.add_metric(name="SyncPausedDailyLimit", unit=MetricUnit.Count, value=1)
    return result.model_dump(mode="json")
