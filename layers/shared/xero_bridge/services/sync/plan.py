"""Plan a run: create or take it up, and fetch page 1 of each resource (it tells the page count)."""

from __future__ import annotations

from datetime import datetime

from xero_bridge.domain.import_rules import source_filter
from xero_bridge.errors import SyncRunNotFoundError
from xero_bridge.models.sync import (
    PAGED_RESOURCES,
    PLAN_PAGE_SIZE,
    PlanInput,
    PlannedPage,
    PlanOutput,
    ResourcePlan,
    SyncRequest,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from xero_bridge.observability import logger
from xero_bridge.services.ports import RunStore, TimeLeft, XeroReader, XeroReaders
from xero_bridge.services.publish_records import RecordPublisher
from xero_bridge.services.sync.pages import publish_page

__all__ = ["UNPAGED_RESOURCES", "PlanSync"]

UNPAGED_RESOURCES = ("Organisation", "Accounts")
"""Single calls made by the planner (the Organisation's currency and timezone, the bank accounts)."""


class PlanSync:
    """The Plan task: the run this execution works on, its pages planned, page 1 of each published.

    Parameters
    ----------
    runs
        Sync runs, checkpoints and cursors.
    xero
        ``xero(tenant_id)`` gives a metered Xero reader for one tenant (token vault + shared rate limiter).
    publisher
        The shared map → send → checkpoint step.
    """

    def __init__(self, *, runs: RunStore, xero: XeroReaders, publisher: RecordPublisher) -> None:
        self._runs = runs
        self._xero = xero
        self._publisher = publisher

    def plan(self, request: PlanInput, *, time_left: TimeLeft | None = None) -> PlanOutput:
        """Create or take up the run, plan its pages (page 1 of each resource fetched and published here).

        A run already planned (a resume, a retried planner) makes no Xero call: the pages left are the plan
        minus the checkpoints. ``time_left`` bounds the rate limiter's waits as in ``FetchPage``.

        Raises
        ------
        SyncRunNotFoundError
            The execution names a run that does not exist, or has no tenant to sync.
        """
        run, resumed = self._begin(request.sync, request.execution_name)
        logger.info("planning sync", extra={"org_id": run.org_id, "run_id": run.run_id, "resumed": resumed})
        calls = 0
        if run.plan is None:
            calls = self._plan_with_xero(run, time_left)
            run = self._runs.get_run(run.org_id, run.run_id) or run
        if run.plan is None:  # never a Map over nothing, which would "finish" a run that fetched nothing
            raise SyncRunNotFoundError(f"sync run {run.run_id} of org {run.org_id} is not planned")
        pages = self._pages_left(run.run_id, run.plan)
        logger.info(
            "sync planned",
            extra={"org_id": run.org_id, "run_id": run.run_id, "pages_left": len(pages), "calls": calls},
        )
        return PlanOutput(
            run_id=run.run_id,
            org_id=run.org_id,
            tenant_id=run.tenant_id,
            resumed=resumed,
            calls=calls,
            pages=pages,
        )

    def _begin(self, sync: SyncRequest, name: str) -> tuple[SyncRun, bool]:
        """The run this execution works on: the one named, the latest one to resume, or a new one."""
        if sync.run_id:
            run = self._runs.get_run(sync.org_id, sync.run_id)
            if run is None:
                raise SyncRunNotFoundError(f"sync run {sync.run_id} of org {sync.org_id} does not exist")
            return run, run.attempt > 1 or run.plan is not None
        # Started by the OAuth callback (no run id). A reconnect of the same tenant resumes an unfinished
        # run, or syncs only what changed since the last finished one: never a full re-import.
        latest = self._runs.latest_run(sync.org_id)
        if (
            sync.trigger == SyncTrigger.RECONNECT
            and latest is not None
            and latest.tenant_id == sync.tenant_id
            and latest.status != SyncStatus.FINISHED
            and latest.run_id != name
        ):
            attempt = latest.attempt + 1
            self._runs.restart_run(sync.org_id, latest.run_id, attempt=attempt, trigger=SyncTrigger.RECONNECT)
            return self._runs.get_run(sync.org_id, latest.run_id) or latest, True
        existing = self._runs.get_run(sync.org_id, name)  # this execution's planner, retried
        if existing is not None:
            return existing, existing.plan is not None
        if not sync.tenant_id:
            raise SyncRunNotFoundError(f"no tenant to sync for org {sync.org_id}")
        modified_since: dict[str, datetime] = {}
        if (
            sync.trigger == SyncTrigger.RECONNECT
            and latest is not None
            and latest.tenant_id == sync.tenant_id
        ):
            modified_since = self._runs.get_cursors(sync.org_id)
        run = SyncRun(
            org_id=sync.org_id,
            run_id=name,
            tenant_id=sync.tenant_id,
            status=SyncStatus.PLANNING,
            trigger=sync.trigger,
            started_at=self._publisher.now(),
            modified_since=modified_since,
        )
        self._runs.create_run(run)
        return self._runs.get_run(sync.org_id, name) or run, False

    def _plan_with_xero(self, run: SyncRun, time_left: TimeLeft | None) -> int:
        xero = self._xero(run.tenant_id, time_left=time_left)
        partial = self._runs.partial_plan(run.org_id, run.run_id)
        calls, rate_limited = xero.calls, xero.rate_limited  # a reader may be shared: count the difference
        base_currency: str | None = None
        timezone: str | None = None
        try:
            if "Organisation" not in partial:
                organisation = xero.organisation()
                base_currency = _str_or_none(organisation.base_currency)
                timezone = _str_or_none(organisation.timezone)
                publish_page(
                    self._publisher,
                    self._runs,
                    run,
                    resource="Organisation",
                    page=1,
                    records=[organisation],
                    bad_records=[],
                    is_last=True,
                )
                self._runs.save_resource_plan(
                    run.org_id, run.run_id, "Organisation", ResourcePlan(pages_total=1)
                )
            if "Accounts" not in partial:
                accounts = xero.list_page("Accounts", **source_filter("Accounts", incremental=False))
                publish_page(
                    self._publisher,
                    self._runs,
                    run,
                    resource="Accounts",
                    page=1,
                    records=accounts.records,
                    bad_records=accounts.bad_records,
                    is_last=True,
                )
                self._runs.save_resource_plan(run.org_id, run.run_id, "Accounts", ResourcePlan(pages_total=1))
            for resource in PAGED_RESOURCES:
                if resource not in partial:
                    self._plan_resource(run, xero, resource, run.modified_since.get(resource))
        finally:
            calls, rate_limited = xero.calls - calls, xero.rate_limited - rate_limited
            self._runs.add_usage(run.org_id, run.run_id, calls=calls, rate_limited=rate_limited)
        self._runs.mark_planned(run.org_id, run.run_id, base_currency=base_currency, timezone=timezone)
        return calls

    def _plan_resource(
        self, run: SyncRun, xero: XeroReader, resource: str, modified_since: datetime | None
    ) -> None:
        """Page 1 of ``resource``: learn the page count from its envelope and publish it as a fetched page."""
        options = dict(source_filter(resource, incremental=modified_since is not None))
        if modified_since is not None:
            options["if_modified_since"] = modified_since
        page = xero.list_page(resource, page=1, page_size=PLAN_PAGE_SIZE, **options)
        pagination = page.pagination
        if pagination is not None:
            # Trust what the server did, not what was asked: it may serve 100 a page whatever pageSize says.
            plan = ResourcePlan(
                pages_total=max(int(pagination.page_count), 1),
                item_count=int(pagination.item_count),
                modified_since=modified_since,
            )
            if int(pagination.page_size) != PLAN_PAGE_SIZE:
                logger.warning(
                    "Xero served another page size than asked",
                    extra={
                        "org_id": run.org_id,
                        "run_id": run.run_id,
                        "resource": resource,
                        "asked": PLAN_PAGE_SIZE,
                        "served": int(pagination.page_size),
                    },
                )
        else:
            # No envelope: the page count is unknown; the tail is read page after page.
            plan = ResourcePlan(pages_total=None, modified_since=modified_since)
        publish_page(
            self._publisher,
            self._runs,
            run,
            resource=resource,
            page=1,
            records=page.records,
            bad_records=page.bad_records,
            is_last=bool(page.is_last),
            plan=plan,
        )
        self._runs.save_resource_plan(run.org_id, run.run_id, resource, plan)

    def _pages_left(self, run_id: str, plans: dict[str, ResourcePlan]) -> list[PlannedPage]:
        done: dict[str, dict[int, bool]] = {}
        for checkpoint in self._runs.checkpoints(run_id):
            done.setdefault(checkpoint.resource, {})[checkpoint.page] = checkpoint.is_last
        pages: list[PlannedPage] = []
        for resource in PAGED_RESOURCES:
            plan = plans.get(resource)
            if plan is None:
                continue
            finished = done.get(resource, {})
            if plan.pages_total is not None:
                pages.extend(
                    PlannedPage(resource=resource, page=n)
                    for n in range(1, plan.pages_total + 1)
                    if n not in finished
                )
                continue
            # A tail: continue after the last page done, unless that one was the last.
            last_done = max(finished, default=0)
            if last_done == 0 or not finished[last_done]:
                pages.append(PlannedPage(resource=resource, page=last_done + 1, tail=True))
        return pages


def _str_or_none(value: object) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))
