"""The run's last word: finished once the writer drained it (cursors stored), or failed with its reason."""

from __future__ import annotations

from xero_bridge.errors import SyncNotDrainedError, SyncRunNotFoundError
from xero_bridge.models.sync import (
    CURSOR_RESOURCES,
    PARTS,
    FailureInput,
    FailureOutput,
    FinishInput,
    FinishOutput,
    SyncStatus,
)
from xero_bridge.observability import logger
from xero_bridge.services.balance_check import check_tenant
from xero_bridge.services.ports import BalanceStore, Clock, RecordHistory, RunStore, WritesQueue, utc_now

__all__ = ["FinishSync", "RecordSyncFailure"]


class FinishSync:
    """The Finish task: the run is finished once the writer has written every record sent.

    Parameters
    ----------
    runs
        Sync runs, their counters and cursors.
    queue
        The writes queue (an empty queue after a few looks settles a writer that counts differently).
    clock
        Aware-UTC clock.
    max_finish_checks
        How many times the finisher looks at the writer's progress before the run is failed.
    records, balances
        ``RecordsTable`` (read) and ``ReconciliationTable``: once drained, every customer's balance is checked
        from one read of the tenant (left out: no check).
    """

    def __init__(
        self,
        *,
        runs: RunStore,
        queue: WritesQueue,
        clock: Clock = utc_now,
        max_finish_checks: int = 60,
        records: RecordHistory | None = None,
        balances: BalanceStore | None = None,
    ) -> None:
        self._runs = runs
        self._queue = queue
        self._now = clock
        self._max_finish_checks = max_finish_checks
        self._records = records
        self._balances = balances

    def finish(self, request: FinishInput) -> FinishOutput:
        """Finish the run once the writer has written every record sent; otherwise say "not yet".

        When drained, each resource's cursor becomes the run's snapshot (Xero's clock when the run began:
        changes made during the sync are caught up from there; the run's start on our clock for a run
        without one) and the run is marked finished. A chase part whose written moment nobody saw (a writer
        that counts otherwise) is chase-ready now at the latest.

        Raises
        ------
        SyncRunNotFoundError
            No such run.
        SyncNotDrainedError
            Still not drained after ``max_finish_checks`` looks.
        """
        found = self._runs.get_run_and_counters(request.org_id, request.run_id)
        if found is None:
            raise SyncRunNotFoundError(f"sync run {request.run_id} of org {request.org_id} does not exist")
        run, counters = found
        sent = counters.records_sent
        # The writer counts a record it stored as written, one it already held (a re-sync, a duplicate
        # delivery, a newer webhook version) as unchanged: either way that record is done.
        written = counters.records_done
        if run.status == SyncStatus.FINISHED:
            return FinishOutput(
                run_id=run.run_id, org_id=run.org_id, drained=True, records_sent=sent, records_written=written
            )
        if run.status != SyncStatus.WRITING:
            self._runs.set_status(run.org_id, run.run_id, SyncStatus.WRITING)
        checks = self._runs.add_finish_check(run.org_id, run.run_id)
        drained = written >= sent
        if not drained and checks >= 3 and self._queue.is_empty():
            # Every page's records were sent before it was checkpointed (and counted); an empty queue then
            # means the writer has seen them all, whatever it counted (a writer that counts only new writes).
            logger.warning(
                "writes queue empty with fewer records written than sent",
                extra={
                    "org_id": run.org_id,
                    "run_id": run.run_id,
                    "records_sent": sent,
                    "records_written": written,
                },
            )
            drained = True
        if drained:
            now = self._now()
            if self._records is not None and self._balances is not None:
                customers, off = check_tenant(
                    tenant_id=run.tenant_id,
                    org_id=run.org_id,
                    records=self._records,
                    balances=self._balances,
                    now=now,
                )
                logger.info(
                    "balances checked",
                    extra={
                        "org_id": run.org_id,
                        "run_id": run.run_id,
                        "customers": customers,
                        "off_balance": off,
                    },
                )
            cursor = run.snapshot_at or run.started_at
            self._runs.set_cursors(run.org_id, run.run_id, CURSOR_RESOURCES, cursor)
            for part in PARTS:  # the history part is written now; the chase part was, at the latest
                if run.part(part).ready_at is None:
                    self._runs.mark_part_ready(run.org_id, run.run_id, part, now=now)
            self._runs.set_status(run.org_id, run.run_id, SyncStatus.FINISHED, finished_at=now)
            logger.info(
                "sync finished",
                extra={
                    "org_id": run.org_id,
                    "run_id": run.run_id,
                    "records_sent": sent,
                    "records_written": written,
                },
            )
        elif checks >= self._max_finish_checks:
            raise SyncNotDrainedError(f"the writer wrote {written} of {sent} records after {checks} checks")
        return FinishOutput(
            run_id=run.run_id,
            org_id=run.org_id,
            drained=drained,
            checks=checks,
            records_sent=sent,
            records_written=written,
        )


class RecordSyncFailure:
    """The RecordFailure task: the run failed, with the caught error as its reason.

    Parameters
    ----------
    runs
        Sync runs.
    clock
        Aware-UTC clock.
    """

    def __init__(self, *, runs: RunStore, clock: Clock = utc_now) -> None:
        self._runs = runs
        self._now = clock

    def record(self, request: FailureInput) -> FailureOutput:
        """Mark the run failed with the caught error as its reason (the first reason recorded is kept)."""
        reason = request.reason()
        run_id = request.run_id
        if run_id is None and request.execution_name:
            # Started by the callback without a run id: the run is named after the execution, or the
            # latest run was taken up again by this execution.
            if self._runs.get_run(request.org_id, request.execution_name) is not None:
                run_id = request.execution_name
            else:
                latest = self._runs.latest_run(request.org_id)
                run_id = latest.run_id if latest is not None and latest.status.active else None
        if run_id is not None:
            self._runs.fail_run(request.org_id, run_id, reason, now=self._now())
        logger.error("sync failed", extra={"org_id": request.org_id, "run_id": run_id, "reason": reason})
        return FailureOutput(org_id=request.org_id, run_id=run_id, status=SyncStatus.FAILED, reason=reason)
