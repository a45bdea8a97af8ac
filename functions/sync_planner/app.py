"""Sync planner (Step Functions task of the initial sync, C4): create or take up the run, hand out its pages.

The run is read in two parts, chase first, history after. When a part is planned, page 1 of each of its
partitions is fetched, sent to the writer and checkpointed here (it is also what tells the page count), so
the plan costs no extra Xero call; the output lists the pages left of the part being fetched for the Map,
and the machine calls the planner again after each Map, until it says ``done``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from xero_bridge.lambda_time import time_left
from xero_bridge.models.sync import PlanInput
from xero_bridge.observability import invocation, logger, metrics
from xero_bridge.wiring import plan_sync


@invocation(flow="initial_sync", correlation_id_path="execution_name")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = PlanInput.model_validate(event)
    logger.append_keys(org_id=request.sync.org_id, tenant_id=request.sync.tenant_id)
    plan = plan_sync().plan(request, time_left=time_left(context))
    logger.append_keys(run_id=plan.run_id, part=plan.part)
    metrics.add_metric(name="XeroCalls", unit=MetricUnit.Count, value=plan.calls)
    metrics.add_metric(name="SyncPagesPlanned", unit=MetricUnit.Count, value=len(plan.pages))
    return plan.model_dump(mode="json")
