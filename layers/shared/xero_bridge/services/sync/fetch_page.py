"""Fetch one page of a run (or a re-read): from Xero through the rate limiter, published, checkpointed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from xero_bridge.domain.partitions import Partition, partition_query
from xero_bridge.errors import DailyLimitReached, SyncRunNotFoundError, XeroRateLimited
from xero_bridge.models.sync import (
    PLAN_PAGE_SIZE,
    PageResult,
    PageTask,
    SyncRun,
    SyncStatus,
    step_functions_timestamp,
)
from xero_bridge.observability import logger
from xero_bridge.services.ports import RunStore, TimeLeft, XeroReaders
from xero_bridge.services.publish_records import RecordPublisher
from xero_bridge.services.sync.pages import publish_page

__all__ = ["FetchPage"]


class FetchPage:
    """The FetchPage task (``page_fetcher``).

    Parameters
    ----------
    runs
        Sync runs and checkpoints.
    xero
        ``xero(tenant_id)`` gives a metered Xero reader for one tenant.
    publisher
        The shared map → send → checkpoint step.
    to_wall_clock
        Converts a rate-limiter time (the emulator's or a scaled clock in tests) into the wall-clock time a
        Step Functions ``Wait`` should wait until; identity in production.
    """

    def __init__(
        self,
        *,
        runs: RunStore,
        xero: XeroReaders,
        publisher: RecordPublisher,
        to_wall_clock: Callable[[datetime], datetime] = lambda when: when,
    ) -> None:
        self._runs = runs
        self._xero = xero
        self._publisher = publisher
        self._to_wall_clock = to_wall_clock

    def fetch(self, task: PageTask, *, time_left: TimeLeft | None = None) -> PageResult:
        """Fetch one page, map it, send it to the writes queue and checkpoint it.

        ``time_left`` (real seconds, the Lambda's remaining time) bounds the rate limiter's wait: a slot
        that would come too late raises ``RateLimitWaitExceeded``, which the state machine retries.

        Returns
        -------
        PageResult
            ``skipped`` (already read in this run: no call), ``fetched``, ``next`` (a tail page was full:
            fetch ``next_page``), or ``paused`` (the tenant's daily limit is spent until ``paused_until``).

        Raises
        ------
        SyncRunNotFoundError
            The task names a run that does not exist or is not planned.
        """
        done = self._runs.page_checkpoint(task.run_id, task.partition, task.page, task.repair_of)
        if done is not None:
            next_page = task.page + 1 if task.tail and not done.is_last else None
            return PageResult(
                run_id=task.run_id,
                partition=task.partition,
                resource=task.resource,
                page=task.page,
                status="next" if next_page else "skipped",
                next_page=next_page,
            )
        run = self._runs.get_run(task.org_id, task.run_id)
        plan = run.plan.get(task.partition) if run is not None else None
        if run is None or plan is None or plan.share is None:
            raise SyncRunNotFoundError(
                f"sync run {task.run_id} of org {task.org_id} has no planned partition {task.partition}"
            )
        query = partition_query(
            Partition(plan.resource, plan.part, plan.share),
            snapshot_at=run.snapshot_at,
            modified_since=plan.modified_since,
        )
        xero = self._xero(task.tenant_id, time_left=time_left)
        calls, rate_limited = xero.calls, xero.rate_limited
        try:
            page = xero.list_page(plan.resource, page=task.page, page_size=PLAN_PAGE_SIZE, **query)
        except DailyLimitReached as exc:
            return self._pause(run, task, exc.resets_at)
        except XeroRateLimited as exc:
            if not exc.is_daily or exc.resets_at is None:
                raise
            return self._pause(run, task, exc.resets_at)
        finally:
            calls, rate_limited = xero.calls - calls, xero.rate_limited - rate_limited
            self._runs.add_usage(task.org_id, task.run_id, calls=calls, rate_limited=rate_limited)
        # A planned page past the end (records deleted since planning) is simply empty: it is done.
        is_last = bool(page.is_last)
        published = publish_page(
            self._publisher,
            self._runs,
            run,
            plan=plan,
            page=task.page,
            records=page.records,
            bad_records=page.bad_records,
            is_last=is_last,
            item_count=int(page.pagination.item_count) if page.pagination is not None else None,
            repair_of=task.repair_of,
        )
        next_page = task.page + 1 if task.tail and not is_last else None
        logger.info(
            "page synced",
            extra={
                "org_id": task.org_id,
                "run_id": task.run_id,
                "partition": task.partition,
                "page": task.page,
                "repair_of": task.repair_of,
                "records_sent": published.records_sent,
                "skipped": published.skipped,
                "malformed": published.malformed,
                "calls": calls,
            },
        )
        return PageResult(
            run_id=task.run_id,
            partition=task.partition,
            resource=task.resource,
            page=task.page,
            status="next" if next_page else "fetched",
            records_sent=published.records_sent,
            skipped=published.skipped,
            malformed=published.malformed,
            calls=calls,
            rate_limited=rate_limited,
            next_page=next_page,
        )

    def _pause(self, run: SyncRun, task: PageTask, resets_at: datetime) -> PageResult:
        wall = self._to_wall_clock(resets_at)
        self._runs.set_status(run.org_id, run.run_id, SyncStatus.PAUSED_DAILY_LIMIT, paused_until=wall)
        logger.warning(
            "Xero daily limit spent: sync paused",
            extra={
                "org_id": run.org_id,
                "run_id": run.run_id,
                "partition": task.partition,
                "page": task.page,
                "until": wall.isoformat(),
            },
        )
        return PageResult(
            run_id=task.run_id,
            partition=task.partition,
            resource=task.resource,
            page=task.page,
            status="paused",
            paused_until=step_functions_timestamp(wall),
        )
