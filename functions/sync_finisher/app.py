"""Sync finisher (Step Functions tasks of the initial sync, C4): finish a drained run, or record a failure.

One function, two actions (``{"action": "finish" | "record_failure", ...}``): both are the run's last word and
need the same single permission (the run item), so one small function is clearer than two.
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from xero_bridge.models.sync import FailureInput, FinishInput
from xero_bridge.observability import invocation, logger
from xero_bridge.wiring import finish_sync, record_sync_failure


class _Action(BaseModel):
    action: Literal["finish", "record_failure"]


@invocation(flow="initial_sync", correlation_id_path="run_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if _Action.model_validate(event).action == "finish":
        request = FinishInput.model_validate(event)
        logger.append_keys(org_id=request.org_id, run_id=request.run_id)
        return finish_sync().finish(request).model_dump(mode="json")
    failure = FailureInput.model_validate(event)
    logger.append_keys(org_id=failure.org_id, run_id=failure.run_id)
    return record_sync_failure().record(failure).model_dump(mode="json")
