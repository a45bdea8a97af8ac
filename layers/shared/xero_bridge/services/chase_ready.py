"""Shared: the moment a run's chase part is written — the AR team can start chasing.

The chase part (customers, outstanding invoices, open credit, bank accounts) is written once it is fetched
(every page read and checked) and the writer has seen every record it sent. Two flows can see that moment
come: the sync's planner, when it marks the chase part fetched after the writer already wrote all of it, and
the writer, when its write of chase records is the last the part was waiting for. Each looks after its own
update of the run item (a strongly consistent read), so whichever update comes last sees both and records
the moment; the run keeps the first moment recorded (``chase_ready_at``).
"""

from __future__ import annotations

from datetime import datetime

from xero_bridge.models.sync import Part
from xero_bridge.observability import logger
from xero_bridge.services.ports import RunStore

__all__ = ["record_chase_ready"]


def record_chase_ready(runs: RunStore, org_id: str, run_id: str, *, now: datetime) -> datetime | None:
    """Record the run's ``chase_ready_at`` if its chase part is now fetched and written.

    Parameters
    ----------
    runs
        The sync runs (the run item and its counters).
    org_id, run_id
        The run.
    now
        The moment to record (aware UTC).

    Returns
    -------
    datetime or None
        The run's ``chase_ready_at`` (this moment, or the one recorded before), None while not ready.
    """
    found = runs.get_run_and_counters(org_id, run_id)
    if found is None:
        return None
    run, counters = found
    if run.chase_ready_at is not None:
        return run.chase_ready_at
    if not run.part_written(Part.CHASE, counters):
        return None
    if not runs.mark_part_ready(org_id, run_id, Part.CHASE, now=now):
        settled = runs.get_run(org_id, run_id)  # another writer recorded it a moment before
        return settled.chase_ready_at if settled is not None else None
    chase = [plan.key for plan in run.partitions(Part.CHASE)]
    logger.info(
        "chase-ready: customers, outstanding invoices and open credit written",
        extra={
            "org_id": org_id,
            "run_id": run_id,
            "records": sum(counters.partition(key).records_sent for key in chase),
            "seconds_since_start": round((now - run.started_at).total_seconds(), 3),
        },
    )
    return now
