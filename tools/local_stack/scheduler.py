"""Fire the template's schedules: on demand (tests) or on their own ``rate(...)`` (``make start``).

Why on demand: a test cannot wait for ``rate(5 minutes)``; firing delivers exactly what the target would
receive from AWS, now. ``make start`` runs a :class:`ScheduleTicker` instead, so a change made in Xero reaches
DynamoDB through the catch-up with no other step, as it would in AWS.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
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


LOG = logging.getLogger("tools.local_stack")
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float | None:
    """Seconds between two firings of a ``rate(N unit)`` expression; None for ``cron(...)`` and the rest."""
    match = _RATE.match(expression.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


class ScheduleTicker:
    """Fires each enabled ``rate(...)`` schedule at its own pace, in a background thread, until stopped.

    Parameters
    ----------
    schedules
        The stack's schedules.
    fire
        Fires one schedule by its logical id (``LocalStack.fire_schedule``).
    """

    def __init__(self, schedules: list[ScheduleSpec], fire: Callable[[str], object]) -> None:
        self._due = {
            s.logical_id: seconds
            for s in schedules
            if s.enabled and (seconds := rate_seconds(s.expression)) is not None
        }
        self._fire = fire
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="schedule-ticker", daemon=True)

    @property
    def periods(self) -> dict[str, float]:
        return dict(self._due)

    def start(self) -> None:
        if self._due:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        now = datetime.now(UTC).timestamp()
        next_at = {name: now + period for name, period in self._due.items()}
        while not self._stop.is_set():
            name = min(next_at, key=next_at.__getitem__)
            if self._stop.wait(max(0.0, next_at[name] - datetime.now(UTC).timestamp())):
                return
            try:
                self._fire(name)
            except Exception:  # a failing target must not stop the other schedules
                LOG.exception("schedule %s failed", name)
            next_at[name] += self._due[name]
