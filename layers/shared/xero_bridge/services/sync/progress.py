"""The latest run's progress, for ``GET /orgs/{org_id}/sync``."""

from __future__ import annotations

from datetime import UTC, datetime

from xero_bridge.models.sync import (
    PAGED_RESOURCES,
    ResourceProgress,
    RunCounters,
    SyncProgressView,
    SyncStatus,
)
from xero_bridge.services.ports import Clock, RateLimiter, RunStore

__all__ = ["SyncProgressQuery"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SyncProgressQuery:
    """Reads a run's progress: status, pages done of total, records sent and written, calls, quota.

    Parameters
    ----------
    runs
        Sync runs and their counters.
    limiter
        The shared rate limiter (the tenant's quota left).
    clock
        Aware-UTC clock.
    """

    def __init__(self, *, runs: RunStore, limiter: RateLimiter, clock: Clock = _utc_now) -> None:
        self._runs = runs
        self._limiter = limiter
        self._now = clock

    def progress(self, org_id: str) -> SyncProgressView:
        """The latest run's progress (``never_synced`` when the org has none)."""
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
        resources: dict[str, ResourceProgress] = {}
        for resource in PAGED_RESOURCES:
            plan = (run.plan or {}).get(resource)
            done = counters.resource(resource)
            resources[resource] = ResourceProgress(
                pages_total=plan.pages_total if plan else None,
                pages_done=done.pages_done,
                records_sent=done.records_sent,
                records_written=done.records_written,
                skipped=done.skipped,
                malformed=done.malformed,
            )
        totals = [r.pages_total for r in resources.values()]
        quota = self._limiter.status(run.tenant_id)
        return SyncProgressView(
            org_id=org_id,
            run_id=run.run_id,
            status=status.value,
            trigger=run.trigger.value,
            started_at=run.started_at,
            finished_at=run.finished_at,
            failed_reason=run.failure_reason,
            paused_until=run.paused_until if status == SyncStatus.PAUSED_DAILY_LIMIT else None,
            pages_total=sum(t for t in totals if t is not None) if run.plan and None not in totals else None,
            pages_done=sum(r.pages_done for r in resources.values()),
            records_sent=counters.records_sent,
            records_written=counters.records_written,
            resources=resources,
            calls_made=counters.calls,
            rate_limited=counters.rate_limited,
            quota_minute_remaining=quota.minute_remaining,
            quota_day_remaining=quota.day_remaining,
        )
