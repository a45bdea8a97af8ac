"""Use cases of the initial sync (C4): start a run, plan its pages, fetch one page, finish, record a failure.

The Step Functions machine (``statemachines/initial_sync.asl.json``) calls one use case per task::

    Plan ──► Map(pages, MaxConcurrency 5: FetchPage ─► paused? Wait ─► FetchPage) ──► Finish ⟲ Wait ──► Done
      └──────────────── any error ──► RecordFailure ──► Fail

How the run stays at Xero's call floor and loses nothing
---------------------------------------------------------
* Planning costs no extra call: page 1 of each resource, asked with ``pageSize=1000`` and the import rules'
  source filter, both tells the page count (Xero's ``pagination`` envelope) and *is* page 1's data, which
  the planner maps, sends and checkpoints exactly as the page fetcher would. The plan is stored on the run,
  resource by resource, so a retried planner or a resumed run asks Xero nothing it already knows.
* A page is checkpointed only after every one of its records was accepted by the writes queue; a fetcher
  that dies half way is retried, re-fetches and re-sends the page, and the writer's conditional upserts
  make the duplicates harmless. A page already checkpointed in the run is skipped without a call.
* The page count is read from ``pagination`` (a server may serve 100 per page whatever was asked); with no
  envelope at all, the pages after page 1 are read one after another until a short or empty page (the
  "tail": each fetch of a full page asks the machine for the next one).
* Every HTTP attempt holds a slot of the shared per-tenant rate limiter; a spent daily limit pauses the
  run (the fetcher returns ``paused`` with the reset time and the machine waits) instead of failing it.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from xero_bridge.domain.import_rules import MappedBatch, map_records, source_filter
from xero_bridge.errors import (
    DailyLimitReached,
    NotConnectedError,
    SyncNotDrainedError,
    SyncRunNotFoundError,
    XeroRateLimited,
)
from xero_bridge.models.messages import RecordsMessage
from xero_bridge.models.records import RecordSource, SkippedRecord, SkipReason, SyncedRecord
from xero_bridge.models.sync import (
    PAGED_RESOURCES,
    PLAN_PAGE_SIZE,
    FailureInput,
    FailureOutput,
    FinishInput,
    FinishOutput,
    PageResult,
    PageTask,
    PlanInput,
    PlannedPage,
    PlanOutput,
    ResourcePlan,
    ResourceProgress,
    SyncProgressView,
    SyncRequest,
    SyncRun,
    SyncStarted,
    SyncStatus,
    SyncTrigger,
    step_functions_timestamp,
)

__all__ = ["MAX_SQS_BATCH_BYTES", "MAX_SQS_BATCH_ENTRIES", "InitialSyncService"]

logger = logging.getLogger(__name__)

MAX_SQS_BATCH_ENTRIES = 10
"""SQS ``SendMessageBatch`` takes at most 10 entries..."""
MAX_SQS_BATCH_BYTES = 256 * 1024
"""... and at most 256 KiB of bodies in all."""

UNPAGED_RESOURCES = ("Organisation", "Accounts")
"""Single calls made by the planner (the Organisation's currency and timezone, the bank accounts)."""


# --- errors ------------------------------------------------------------------------------------------


# --- ports -------------------------------------------------------------------------------------------


class XeroReader(Protocol):
    """The Xero calls a sync makes for one tenant, metered (every HTTP attempt and every 429 counted)."""

    @property
    def calls(self) -> int: ...
    @property
    def rate_limited(self) -> int: ...

    def list_page(self, resource: str, **options: Any) -> Any:
        """``XeroClient.list_page``: a ``Page`` with records, bad_records, pagination, is_last."""
        ...

    def organisation(self) -> Any: ...


class XeroReaders(Protocol):
    """``xero(tenant_id, time_left=...)``: a metered reader for one tenant; ``time_left`` (real seconds
    remaining to the caller) bounds each rate-limiter wait."""

    def __call__(self, tenant_id: str, *, time_left: Callable[[], float] | None = None) -> XeroReader: ...


class RunStore(Protocol):
    """Sync runs, checkpoints and cursors (``adapters.sync_runs.SyncRunsTable``)."""

    def create_run(self, run: SyncRun) -> bool: ...
    def get_run(self, org_id: str, run_id: str) -> SyncRun | None: ...
    def get_run_and_counters(self, org_id: str, run_id: str) -> tuple[SyncRun, dict[str, int]] | None: ...
    def latest_run(self, org_id: str) -> SyncRun | None: ...
    def restart_run(self, org_id: str, run_id: str, *, attempt: int, trigger: str) -> bool: ...
    def set_execution(self, org_id: str, run_id: str, execution_arn: str) -> None: ...
    def save_resource_plan(self, org_id: str, run_id: str, resource: str, plan: ResourcePlan) -> None: ...
    def partial_plan(self, org_id: str, run_id: str) -> dict[str, ResourcePlan]: ...
    def mark_planned(
        self, org_id: str, run_id: str, *, base_currency: str | None, timezone: str | None
    ) -> None: ...
    def set_status(
        self,
        org_id: str,
        run_id: str,
        status: SyncStatus,
        *,
        finished_at: datetime | None = None,
        paused_until: datetime | None = None,
    ) -> None: ...
    def fail_run(self, org_id: str, run_id: str, reason: str, *, now: datetime) -> bool: ...
    def add_usage(self, org_id: str, run_id: str, *, calls: int, rate_limited: int) -> None: ...
    def add_finish_check(self, org_id: str, run_id: str) -> int: ...
    def page_checkpoint(self, run_id: str, resource: str, page: int) -> Any: ...
    def checkpoints(self, run_id: str) -> Sequence[Any]: ...
    def checkpoint_page(
        self,
        org_id: str,
        run_id: str,
        resource: str,
        page: int,
        *,
        records: int,
        skipped: int,
        malformed: int,
        is_last: bool,
        now: datetime,
    ) -> bool: ...
    def set_cursors(self, org_id: str, run_id: str, resources: Sequence[str], cursor: datetime) -> None: ...
    def get_cursors(self, org_id: str) -> dict[str, datetime]: ...


class WritesQueue(Protocol):
    """The writer's queue."""

    def send_batch(self, bodies: Sequence[str]) -> None:
        """Send up to 10 bodies (≤ 256 KiB together) in one batch, retrying failed entries; raise if any
        is still refused."""
        ...

    def is_empty(self) -> bool:
        """No message visible, in flight or delayed (approximate, as SQS reports it)."""
        ...


class SyncMachine(Protocol):
    """The initial-sync state machine."""

    def start(self, name: str, payload: dict[str, Any]) -> str:
        """Start an execution named ``name`` (the existing one's ARN if that name was started already)."""
        ...

    def is_running(self, execution_arn: str) -> bool: ...


class Connections(Protocol):
    def get_connection(self, org_id: str) -> Any: ...  # XeroConnection | None


class QuotaReader(Protocol):
    def quota(self, tenant_id: str) -> tuple[int | None, int | None]:
        """Xero's last ``X-MinLimit-Remaining`` and ``X-DayLimit-Remaining`` for the tenant."""
        ...


# --- the service -------------------------------------------------------------------------------------


@dataclass
class _Processed:
    records_sent: int
    skipped: int
    malformed: int


def _utc_now() -> datetime:
    return datetime.now(UTC)


def new_run_id(now: datetime) -> str:
    """A run id that sorts by start time: ``20261121T102400Z-1a2b3c4d``."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def execution_name(run_id: str, attempt: int) -> str:
    """The execution of attempt ``attempt`` of a run: deterministic, so a retried start never starts two.

    Step Functions names are ≤ 80 characters of ``[A-Za-z0-9_-]``; a long run id is hashed.
    """
    name = f"sync-{run_id}-a{attempt}"
    if len(name) <= 80:
        return name
    return f"sync-{hashlib.sha256(run_id.encode()).hexdigest()[:40]}-a{attempt}"


class InitialSyncService:
    """The initial sync's use cases, over ports (see the module notes).

    Parameters
    ----------
    runs
        Sync runs, checkpoints and cursors.
    xero
        ``xero(tenant_id)`` gives a metered Xero reader for one tenant (token vault + shared rate limiter).
    queue
        The writes queue.
    machine
        The state machine (only :meth:`start_sync` uses it).
    connections
        The org's Xero connection (only :meth:`start_sync` uses it).
    quota
        Remaining Xero quota for the progress view (optional).
    mapper
        The import rules (``domain.import_rules.map_records``).
    clock
        Aware-UTC wall clock.
    to_wall_clock
        Converts a rate-limiter time (the emulator's or a scaled clock in tests) into the wall-clock time a
        Step Functions ``Wait`` should wait until; identity in production.
    max_finish_checks
        How many times the finisher looks at the writer's progress before the run is failed.
    """

    def __init__(
        self,
        *,
        runs: RunStore,
        xero: XeroReaders | None = None,
        queue: WritesQueue | None = None,
        machine: SyncMachine | None = None,
        connections: Connections | None = None,
        quota: QuotaReader | None = None,
        mapper: Callable[..., MappedBatch] = map_records,
        clock: Callable[[], datetime] = _utc_now,
        to_wall_clock: Callable[[datetime], datetime] = lambda when: when,
        max_finish_checks: int = 60,
    ) -> None:
        self._runs = runs
        self._xero = xero
        self._queue = queue
        self._machine = machine
        self._connections = connections
        self._quota = quota
        self._map = mapper
        self._now = clock
        self._to_wall_clock = to_wall_clock
        self._max_finish_checks = max_finish_checks

    # --- start ---------------------------------------------------------------------------------------

    def start_sync(self, org_id: str, *, resume: bool, trigger: SyncTrigger | None = None) -> SyncStarted:
        """Start a sync of the org's connected tenant, or report the one already running.

        Parameters
        ----------
        org_id
            The AR organisation.
        resume
            Take the latest run up again if it failed or was interrupted (its finished pages are skipped);
            otherwise start a new run (a full re-sync) unless one is running.

        Returns
        -------
        SyncStarted
            The run, its execution, and whether it was resumed or already running.

        Raises
        ------
        NotConnectedError
            The org has no connected Xero tenant.
        """
        assert self._machine is not None and self._connections is not None
        connection = self._connections.get_connection(org_id)
        if connection is None or str(getattr(connection.status, "value", connection.status)) != "connected":
            raise NotConnectedError(f"org {org_id} has no connected Xero organisation", org_id=org_id)
        tenant_id = str(connection.tenant_id)
        latest = self._runs.latest_run(org_id)
        if latest is not None and latest.status.active and self._still_running(latest):
            return SyncStarted(
                org_id=org_id,
                run_id=latest.run_id,
                execution_arn=latest.execution_arn or "",
                status=latest.status,
                already_running=True,
            )
        if (
            resume
            and latest is not None
            and latest.status != SyncStatus.FINISHED
            and latest.tenant_id == tenant_id
        ):
            attempt = latest.attempt + 1
            if not self._runs.restart_run(org_id, latest.run_id, attempt=attempt, trigger=SyncTrigger.RESUME):
                # Another request restarted it first: report that one.
                current = self._runs.get_run(org_id, latest.run_id) or latest
                return SyncStarted(
                    org_id=org_id,
                    run_id=current.run_id,
                    execution_arn=current.execution_arn or "",
                    status=current.status,
                    resumed=True,
                    already_running=True,
                )
            arn = self._start_execution(latest.run_id, org_id, tenant_id, attempt, SyncTrigger.RESUME)
            return SyncStarted(
                org_id=org_id,
                run_id=latest.run_id,
                execution_arn=arn,
                status=SyncStatus.PLANNING,
                resumed=True,
            )
        now = self._now()
        run = SyncRun(
            org_id=org_id,
            run_id=new_run_id(now),
            tenant_id=tenant_id,
            status=SyncStatus.PLANNING,
            trigger=trigger or SyncTrigger.MANUAL,
            started_at=now,
        )
        self._runs.create_run(run)
        arn = self._start_execution(run.run_id, org_id, tenant_id, 1, run.trigger)
        return SyncStarted(org_id=org_id, run_id=run.run_id, execution_arn=arn, status=SyncStatus.PLANNING)

    def _start_execution(self, run_id: str, org_id: str, tenant_id: str, attempt: int, trigger: str) -> str:
        assert self._machine is not None
        payload = {"org_id": org_id, "tenant_id": tenant_id, "run_id": run_id, "trigger": str(trigger)}
        arn = self._machine.start(execution_name(run_id, attempt), payload)
        self._runs.set_execution(org_id, run_id, arn)
        return arn

    def _still_running(self, run: SyncRun) -> bool:
        # A run marked active whose execution stopped (aborted, timed out) is not running: it may be resumed.
        if not run.execution_arn or self._machine is None:
            return True
        return self._machine.is_running(run.execution_arn)

    # --- plan ----------------------------------------------------------------------------------------

    def plan(self, request: PlanInput, *, time_left: Callable[[], float] | None = None) -> PlanOutput:
        """Create or take up the run, plan its pages (page 1 of each resource fetched and processed here).

        A run already planned (a resume, a retried planner) makes no Xero call: the pages left are the plan
        minus the checkpoints. ``time_left`` bounds the rate limiter's waits as in :meth:`fetch_page`.
        """
        run, resumed = self._begin(request.sync, request.execution_name)
        logger.info("planning sync", extra={"org_id": run.org_id, "run_id": run.run_id, "resumed": resumed})
        calls = 0
        if run.plan is None:
            calls = self._plan_with_xero(run, time_left)
            run = self._runs.get_run(run.org_id, run.run_id) or run
        assert run.plan is not None
        pages = self._pages_left(run)
        logger.info("sync planned", extra={"run_id": run.run_id, "pages_left": len(pages), "calls": calls})
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
            started_at=self._now(),
            modified_since=modified_since,
        )
        self._runs.create_run(run)
        return self._runs.get_run(sync.org_id, name) or run, False

    def _plan_with_xero(self, run: SyncRun, time_left: Callable[[], float] | None) -> int:
        assert self._xero is not None
        xero = self._xero(run.tenant_id, time_left=time_left)
        partial = self._runs.partial_plan(run.org_id, run.run_id)
        calls, rate_limited = xero.calls, xero.rate_limited  # a reader may be shared: count the difference
        base_currency: str | None = None
        timezone: str | None = None
        try:
            if "Organisation" not in partial:
                organisation = xero.organisation()
                base_currency = _str_or_none(getattr(organisation, "base_currency", None))
                timezone = _str_or_none(getattr(organisation, "timezone", None))
                self._process(run, "Organisation", 1, [organisation], [], is_last=True)
                self._runs.save_resource_plan(
                    run.org_id, run.run_id, "Organisation", ResourcePlan(pages_total=1)
                )
            if "Accounts" not in partial:
                accounts = xero.list_page("Accounts", **source_filter("Accounts", incremental=False))
                self._process(run, "Accounts", 1, accounts.records, accounts.bad_records, is_last=True)
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
        """Page 1 of ``resource``: learn the page count from its envelope and process it as a fetched page."""
        incremental = modified_since is not None
        options = dict(source_filter(resource, incremental=incremental))
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
                        "resource": resource,
                        "asked": PLAN_PAGE_SIZE,
                        "served": int(pagination.page_size),
                    },
                )
        else:
            # No envelope: the page count is unknown; the tail is read page after page (see module notes).
            plan = ResourcePlan(pages_total=None, modified_since=modified_since)
        self._process(run, resource, 1, page.records, page.bad_records, is_last=bool(page.is_last), plan=plan)
        self._runs.save_resource_plan(run.org_id, run.run_id, resource, plan)

    def _pages_left(self, run: SyncRun) -> list[PlannedPage]:
        assert run.plan is not None
        done: dict[str, dict[int, bool]] = {}
        for checkpoint in self._runs.checkpoints(run.run_id):
            done.setdefault(checkpoint.resource, {})[checkpoint.page] = checkpoint.is_last
        pages: list[PlannedPage] = []
        for resource in PAGED_RESOURCES:
            plan = run.plan.get(resource)
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

    # --- fetch one page ------------------------------------------------------------------------------

    def fetch_page(self, task: PageTask, *, time_left: Callable[[], float] | None = None) -> PageResult:
        """Fetch one page, map it, send it to the writes queue and checkpoint it.

        ``time_left`` (real seconds, the Lambda's remaining time) bounds the rate limiter's wait: a slot
        that would come too late raises ``RateLimitWaitExceeded``, which the state machine retries.

        Returns
        -------
        PageResult
            ``skipped`` (already done in this run: no call), ``fetched``, ``next`` (a tail page was full:
            fetch ``next_page``), or ``paused`` (the tenant's daily limit is spent until ``paused_until``).
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
        assert self._xero is not None
        xero = self._xero(task.tenant_id, time_left=time_left)
        calls, rate_limited = xero.calls, xero.rate_limited
        incremental = plan.modified_since is not None
        options = dict(source_filter(task.resource, incremental=incremental))
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
        processed = self._process(
            run, task.resource, task.page, page.records, page.bad_records, is_last=is_last
        )
        next_page = task.page + 1 if task.tail and not is_last else None
        logger.info(
            "page synced",
            extra={
                "run_id": task.run_id,
                "resource": task.resource,
                "page": task.page,
                "records_sent": processed.records_sent,
                "skipped": processed.skipped,
                "malformed": processed.malformed,
                "calls": calls,
            },
        )
        return PageResult(
            run_id=task.run_id,
            resource=task.resource,
            page=task.page,
            status="next" if next_page else "fetched",
            records_sent=processed.records_sent,
            skipped=processed.skipped,
            malformed=processed.malformed,
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

    def _process(
        self,
        run: SyncRun,
        resource: str,
        page: int,
        records: Sequence[Any],
        bad_records: Sequence[Any],
        *,
        is_last: bool,
        plan: ResourcePlan | None = None,
    ) -> _Processed:
        """Map one page, send it, then checkpoint it (the same for the planner's page 1 and the fetcher's)."""
        source = RecordSource(
            kind="page", run_id=run.run_id, resource=resource, page=page, fetched_at=self._now()
        )
        incremental = (plan or (run.plan or {}).get(resource) or ResourcePlan()).modified_since is not None
        batch = self._map(resource, list(records), source, incremental=incremental)
        malformed = len(bad_records) + sum(1 for s in batch.skipped if s.reason == SkipReason.MALFORMED)
        for bad in bad_records:
            # Where and why, never the record's content.
            logger.warning(
                "malformed Xero record skipped",
                extra={
                    "run_id": run.run_id,
                    "resource": resource,
                    "page": page,
                    "index": getattr(bad, "index", None),
                    "record_id": getattr(bad, "record_id", None),
                    "error": getattr(bad, "error", None),
                },
            )
        skipped = len(batch.skipped) - sum(1 for s in batch.skipped if s.reason == SkipReason.MALFORMED)
        sent = self._send(run, source, batch.records, batch.skipped)
        self._runs.checkpoint_page(
            run.org_id,
            run.run_id,
            resource,
            page,
            records=sent,
            skipped=skipped,
            malformed=malformed,
            is_last=is_last,
            now=self._now(),
        )
        return _Processed(records_sent=sent, skipped=skipped, malformed=malformed)

    def _send(
        self,
        run: SyncRun,
        source: RecordSource,
        records: Sequence[SyncedRecord],
        skipped: Sequence[SkippedRecord],
    ) -> int:
        """Send the page's records (and the skipped ones, kept for "why is this not imported?")."""
        if not records and not skipped:
            return 0
        assert self._queue is not None
        bodies = RecordsMessage.split_for_sqs(
            records,
            org_id=run.org_id,
            tenant_id=run.tenant_id,
            source=source,
            run_id=run.run_id,
            skipped=skipped,
        )
        for batch in _sqs_batches(bodies):
            self._queue.send_batch(batch)
        return len(records)

    # --- finish --------------------------------------------------------------------------------------

    def finish(self, request: FinishInput) -> FinishOutput:
        """Finish the run once the writer has written every record sent; otherwise say "not yet".

        When drained, each resource's cursor becomes the run's start time (changes made during the sync are
        caught up from there) and the run is marked finished.

        Raises
        ------
        SyncNotDrainedError
            Still not drained after ``max_finish_checks`` looks.
        """
        found = self._runs.get_run_and_counters(request.org_id, request.run_id)
        if found is None:
            raise SyncRunNotFoundError(f"sync run {request.run_id} of org {request.org_id} does not exist")
        run, counters = found
        sent = counters.get("records_sent", 0)
        # The writer counts a record it stored as written, one it already held (a re-sync, a duplicate
        # delivery, a newer webhook version) as unchanged: either way that record is done.
        written = counters.get("records_written", 0) + counters.get("records_unchanged", 0)
        if run.status == SyncStatus.FINISHED:
            return FinishOutput(
                run_id=run.run_id, org_id=run.org_id, drained=True, records_sent=sent, records_written=written
            )
        if run.status != SyncStatus.WRITING:
            self._runs.set_status(run.org_id, run.run_id, SyncStatus.WRITING)
        checks = self._runs.add_finish_check(run.org_id, run.run_id)
        drained = written >= sent
        if not drained and checks >= 3 and self._queue is not None and self._queue.is_empty():
            # Every page's records were sent before it was checkpointed (and counted); an empty queue then
            # means the writer has seen them all, whatever it counted (a writer that counts only new writes).
            logger.warning(
                "writes queue empty with fewer records written than sent",
                extra={"run_id": run.run_id, "records_sent": sent, "records_written": written},
            )
            drained = True
        if drained:
            resources = [*PAGED_RESOURCES, "Accounts"]
            self._runs.set_cursors(run.org_id, run.run_id, resources, run.started_at)
            self._runs.set_status(run.org_id, run.run_id, SyncStatus.FINISHED, finished_at=self._now())
            logger.info(
                "sync finished",
                extra={"run_id": run.run_id, "records_sent": sent, "records_written": written},
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

    def record_failure(self, request: FailureInput) -> FailureOutput:
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

    # --- progress ------------------------------------------------------------------------------------

    def sync_progress(self, org_id: str) -> SyncProgressView:
        """The latest run's progress: status, pages done of total, records sent and written, calls, quota."""
        latest = self._runs.latest_run(org_id)
        if latest is None:
            return SyncProgressView(org_id=org_id, status="never_synced")
        found = self._runs.get_run_and_counters(org_id, latest.run_id)
        run, counters = found if found is not None else (latest, {})
        status = run.status
        now = self._now()
        if (
            status == SyncStatus.PAUSED_DAILY_LIMIT
            and run.paused_until is not None
            and run.paused_until <= now
        ):
            status = SyncStatus.FETCHING  # the pause is over: the machine is fetching again
        resources: dict[str, ResourceProgress] = {}
        for resource in PAGED_RESOURCES:
            plan = (run.plan or {}).get(resource)
            resources[resource] = ResourceProgress(
                pages_total=plan.pages_total if plan else None,
                pages_done=counters.get(f"pages_done#{resource}", 0),
                records_sent=counters.get(f"records_sent#{resource}", 0),
                records_written=counters.get(f"records_written#{resource}", 0),
                skipped=counters.get(f"skipped#{resource}", 0),
                malformed=counters.get(f"malformed#{resource}", 0),
            )
        totals = [r.pages_total for r in resources.values()]
        minute_remaining = day_remaining = None
        if self._quota is not None:
            minute_remaining, day_remaining = self._quota.quota(run.tenant_id)
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
            records_sent=counters.get("records_sent", 0),
            records_written=counters.get("records_written", 0),
            resources=resources,
            calls_made=counters.get("calls", 0),
            rate_limited=counters.get("rate_limited", 0),
            quota_minute_remaining=minute_remaining,
            quota_day_remaining=day_remaining,
        )


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _sqs_batches(bodies: Sequence[str]) -> Iterator[list[str]]:
    """Group bodies into ``SendMessageBatch`` calls: ≤ 10 entries and ≤ 256 KiB of bodies each."""
    batch: list[str] = []
    size = 0
    for body in bodies:
        length = len(body.encode())
        if batch and (len(batch) == MAX_SQS_BATCH_ENTRIES or size + length > MAX_SQS_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(body)
        size += length
    if batch:
        yield batch
