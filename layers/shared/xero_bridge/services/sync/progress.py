"""The latest run's progress, for ``GET /orgs/{org_id}/sync``."""

from __future__ import annotations

from collections.abc import Iterable

from xero_bridge.models.sync import (
    PAGED_RESOURCES,
    PARTS,
    PartitionPlan,
    PartProgress,
    ResourceProgress,
    RunCounters,
    SyncProgressView,
    SyncRun,
    SyncStatus,
    partition_key,
)
from xero_bridge.services.ports import Clock, RateLimiter, RunStore, utc_now

__all__ = ["SyncProgressQuery"]


class SyncProgressQuery:
    """Reads a run's progress: status, its two parts, pages done of total, records sent and written, quota.

    Parameters
    ----------
    runs
        Sync runs and their counters.
    limiter
        The shared rate limiter (the tenant's quota left).
    clock
        Aware-UTC clock.
    """

    def __init__(self, *, runs: RunStore, limiter: RateLimiter, clock: Clock = utc_now) -> None:
        self._runs = runs
        self._limiter = limiter
        self._now = clock

    def progress(self, org_id: str) -> SyncProgressView:
        """The latest run's progress (``never_synced`` when the org has none).

        Per part (chase, then history) and per resource: pages read of those planned (a part's total is
        known once it is planned, so the run's total once the history part is), pages read again across
        moved records, records sent and written; and the moment the chase part was written.
        """
        latest = self._runs.latest_run(org_id)
        if latest is None:
            return SyncProgressView(org_id=org_id, status="never_synced")
        found = self._runs.get_run_and_counters(org_id, latest.run_id)
        run, counters = found if found is not None else (latest, RunCounters())
        status = run.status
        if (
            status == SyncStatus.PAUSED_DAILY_LIMIT
            and run.paused_until is not None
            and run.paused_until <= self._now()
        ):
            status = SyncStatus.FETCHING  # the pause is over: the machine is fetching again
        parts = {}
        for part in PARTS:
            state = run.part(part)
            planned = run.partitions(part) if state.planned_at is not None else None
            parts[part] = PartProgress(
                **_figures(planned, [p.key for p in run.partitions(part)], counters).model_dump(),
                fetched_at=state.fetched_at,
                ready_at=state.ready_at,
            )
        resources = {
            resource: _figures(
                _planned_partitions_of(run, resource),
                [partition_key(resource, part) for part in PARTS],
                counters,
            )
            for resource in PAGED_RESOURCES
        }
        totals = [progress.pages_total for progress in parts.values()]
        quota = self._limiter.status(run.tenant_id)
        return SyncProgressView(
            org_id=org_id,
            run_id=run.run_id,
            status=status.value,
            trigger=run.trigger.value,
            started_at=run.started_at,
            snapshot_at=run.snapshot_at,
            chase_ready_at=run.chase_ready_at,
            finished_at=run.finished_at,
            failed_reason=run.failure_reason,
            paused_until=run.paused_until if status == SyncStatus.PAUSED_DAILY_LIMIT else None,
            part=run.current_part if status.active else None,
            pages_total=sum(t for t in totals if t is not None) if None not in totals else None,
            pages_done=counters.pages_done,
            pages_reread=counters.pages_reread,
            records_sent=counters.records_sent,
            records_written=counters.records_written,
            records_unchanged=counters.records_unchanged,
            parts=parts,
            resources=resources,
            calls_made=counters.calls,
            rate_limited=counters.rate_limited,
            quota_minute_remaining=quota.minute_remaining,
            quota_day_remaining=quota.day_remaining,
        )


def _planned_partitions_of(run: SyncRun, resource: str) -> list[PartitionPlan] | None:
    """The resource's partitions once every part that reads it is planned (None before: total unknown)."""
    plans = []
    for part in PARTS:
        if run.part(part).planned_at is None:
            return None
        plan = run.plan.get(partition_key(resource, part))
        if plan is not None:
            plans.append(plan)
    return plans


def _figures(
    planned: list[PartitionPlan] | None, keys: Iterable[str], counters: RunCounters
) -> ResourceProgress:
    """Pages and records of some partitions; the page total only when all are planned with an envelope."""
    totals = [plan.pages_total for plan in planned] if planned is not None else [None]
    mine = [counters.partition(key) for key in keys]
    return ResourceProgress(
        pages_total=sum(t for t in totals if t is not None) if None not in totals else None,
        pages_done=sum(c.pages_done for c in mine),
        pages_reread=sum(c.pages_reread for c in mine),
        records_sent=sum(c.records_sent for c in mine),
        records_written=sum(c.records_written for c in mine),
        records_unchanged=sum(c.records_unchanged for c in mine),
        skipped=sum(c.skipped for c in mine),
        malformed=sum(c.malformed for c in mine),
    )
