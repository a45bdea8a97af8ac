"""Fire the template's schedules on demand (EventBridge rules, EventBridge Scheduler, function events).

Why on demand: a laptop run or a test cannot wait for ``rate(5 minutes)``; firing delivers exactly what
the target would receive from AWS, now.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from tools.local_stack.model import ScheduleSpec


def scheduled_event(schedule: ScheduleSpec, account: str, region: str) -> dict[str, Any]:
    """The payload of one firing: the rule's/schedule's ``Input`` when set, else EventBridge's event."""
    if schedule.input is not None:
        return json.loads(schedule.input)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events" if schedule.kind == "events" else "aws.scheduler",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [schedule.arn],
        "detail": {},
    }


def find_schedules(schedules: list[ScheduleSpec], name: str) -> list[ScheduleSpec]:
    """Schedules named by their logical id or name, or by the function/state machine they concern."""
    for matches in (
        [s for s in schedules if name in (s.logical_id, s.name)],
        [s for s in schedules if s.owner == name],  # a function's / state machine's own Schedule events
        [s for s in schedules if s.target_logical_id == name],  # rules and schedules that target it
    ):
        if matches:
            return matches
    return []
