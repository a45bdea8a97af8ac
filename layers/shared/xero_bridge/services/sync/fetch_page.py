"""Fetch one planned page of a run: from Xero through the rate limiter, published, checkpointed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from xero_bridge.domain.import_rules import source_filter
from xero_bridge.errors import DailyLimitReached, SyncRunNotFoundError, XeroRateLimited
from xero_bridge.models.sync import (
    PLAN_PAGE_SIZE,
    PageResult,
    PageTask,
    ResourcePlan,
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
            ``skipped`` (already done in this run: no call), ``fetched``, ``next`` (a tail page was full:
            fetch ``next_page``), or ``paused`` (the tenant's daily limit is spent until ``paused_until``).

        Raises
        ------
        SyncRunNotFoundError
            The task names a run that does not exist or is not planned.
        """
        done = self._runs.page_checkpoint(task.run_id, task.resource, task.page)
        if done is not None:
            next_page = task.page + 1 if task.tail and not done.is_last else None
            return PageResult(
                run_id=task.run_id,
                resource=task.resource,
                page=task.page,
                status="next" if next_page else "skipped",
                next_page=next_page,
            )
        run = self._runs.get_run(task.org_id, task.run_id)
        if run is None or run.plan is None:
            raise SyncRunNotFoundError(f"sync run {task.run_id} of org {task.org_id} is not planned")
        plan = run.plan.get(task.resource) or ResourcePlan()
        xero = self._xero(task.tenant_id, time_left=time_left)
        calls, rate_limited = xero.calls, xero.rate_limited
        options = dict(source_filter(task.resource, incremental=plan.modified_since is not None))
        if plan.modified_since is not None:
            options["if_modified_since"] = plan.modified_since
        try:
            page = xero.list_page(task.resource, page=task.page, page_size=PLAN_PAGE_SIZE, **options)
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
            resource=task.resource,
            page=task.page,
            records=page.records,
            bad_records=page.bad_records,
            is_last=is_last,
        )
        next_page = task.page + 1 if task.tail and not is_last else None
        logger.info(
            "page synced",
            extra={
                "org_id": task.org_id,
                "run_id": task.run_id,
                "resource": task.resource,
                "page": task.page,
                "records_sent": published.records_sent,
                "skipped": published.skipped,
                "malformed": published.malformed,
                "calls": calls,
            },
        )
        return PageResult(
            run_id=task.run_id,
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
                "resource": task.resource,
                "page": task.page,
                "until": wall.isoformat(),
            },
        )
        return PageResult(
            run_id=task.run_id,
            resource=task.resource,
            page=task.page,
            status="paused",
            paused_until=step_functions_timestamp(wall),
        )
