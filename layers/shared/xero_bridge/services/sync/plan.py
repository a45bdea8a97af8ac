"""Plan a run part by part: page 1 of each partition (it tells the page count), then what is left to read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial

from xero_bridge.domain.import_rules import source_filter
from xero_bridge.domain.paged_reads import pages_to_read
from xero_bridge.domain.partitions import (
    Partition,
    full_run_partitions,
    incremental_run_partitions,
    partition_query,
    partitions_of,
    snapshot_from,
)
from xero_bridge.errors import PartNotSettledError, SyncRunNotFoundError
from xero_bridge.models.pages import BadRecord
from xero_bridge.models.sync import (
    PLAN_PAGE_SIZE,
    PageCheckpoint,
    Part,
    PartitionPlan,
    PlanInput,
    PlannedPage,
    PlanOutput,
    SyncRequest,
    SyncRun,
    SyncStatus,
    SyncTrigger,
    partition_key,
)
from xero_bridge.models.xero import XeroModel
from xero_bridge.observability import logger
from xero_bridge.services.chase_ready import record_chase_ready
from xero_bridge.services.ports import RunStore, TimeLeft, XeroReader, XeroReaders
from xero_bridge.services.publish_records import RecordPublisher
from xero_bridge.services.sync.pages import publish_page

__all__ = ["MAX_PASSES", "PLAN_CONCURRENCY", "UNPAGED_RESOURCES", "PlanSync", "run_partitions"]

UNPAGED_RESOURCES = ("Organisation", "Accounts")
"""Single calls made by the planner with the chase part (the bank accounts, the Organisation's currency
and timezone)."""

PLAN_CONCURRENCY = 5
"""Page 1 reads a planner makes at once (Xero's concurrent calls per tenant; the limiter holds to it)."""

MAX_PASSES = 6
"""Planner passes that may hand out pages of one part, per attempt of the run: the planned pages, then
re-reads of the few page boundaries records moved across while they were read (almost always none, at most
one more pass; each further pass means Xero kept moving records faster than the reads)."""


def run_partitions(run: SyncRun) -> tuple[Partition, ...]:
    """The partitions a run reads: a full run splits chase and history, an incremental one reads changes."""
    return incremental_run_partitions() if run.modified_since else full_run_partitions()


class PlanSync:
    """The Plan task: the run this execution works on, and the pages left of the part being fetched.

    The machine calls it, maps over the pages it hands out, and calls it again, until ``done``. The chase
    part's pages come first; once every one was read (and any page boundary records moved across was read
    again) the chase part is fetched, and the same call plans the history part and hands out its pages.

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
        """Create or take up the run and hand out the pages left of its current part.

        A part is planned once: page 1 of each of its partitions is read, published and checkpointed here
        (the chase part also reads the bank accounts, whose answer gives the run's snapshot from Xero's
        clock, and the Organisation). A part already planned makes no Xero call: the pages left are the
        plan minus the checkpoints, then the re-reads :func:`~xero_bridge.domain.paged_reads.pages_to_read`
        asks for. ``time_left`` bounds the rate limiter's waits as in ``FetchPage``.

        Raises
        ------
        SyncRunNotFoundError
            The execution names a run that does not exist, or has no tenant to sync.
        PartNotSettledError
            A part still had pages to read again after :data:`MAX_PASSES` passes.
        """
        run, resumed = self._begin(request.sync, request.execution_name)
        calls = 0
        while (part := run.current_part) is not None:
            if run.part(part).planned_at is None:
                logger.info(
                    "planning sync part",
                    extra={"org_id": run.org_id, "run_id": run.run_id, "part": part, "resumed": resumed},
                )
                calls += self._plan_part(run, part, time_left)
                run = self._reload(run)
            pages = self._pages_left(run, part)
            if pages:
                passes = self._runs.add_part_pass(run.org_id, run.run_id, part)
                if passes > MAX_PASSES * run.attempt:
                    raise PartNotSettledError(
                        f"the {part} part of run {run.run_id} still had {len(pages)} pages to read "
                        f"after {passes - 1} passes"
                    )
                logger.info(
                    "sync pages handed out",
                    extra={
                        "org_id": run.org_id,
                        "run_id": run.run_id,
                        "part": part,
                        "pages": len(pages),
                        "rereads": sum(1 for p in pages if p.repair_of is not None),
                        "pass": passes,
                        "calls": calls,
                    },
                )
                return self._output(run, part, pages, resumed=resumed, calls=calls)
            now = self._publisher.now()
            self._runs.mark_part_fetched(run.org_id, run.run_id, part, now=now)
            logger.info("sync part fetched", extra={"org_id": run.org_id, "run_id": run.run_id, "part": part})
            if part is Part.CHASE:
                record_chase_ready(self._runs, run.org_id, run.run_id, now=now)
            run = self._reload(run)
        return self._output(run, None, [], resumed=resumed, calls=calls)

    @staticmethod
    def _output(
        run: SyncRun, part: Part | None, pages: list[PlannedPage], *, resumed: bool, calls: int
    ) -> PlanOutput:
        return PlanOutput(
            run_id=run.run_id,
            org_id=run.org_id,
            tenant_id=run.tenant_id,
            part=part,
            done=part is None,
            resumed=resumed,
            calls=calls,
            pages=pages,
        )

    def _reload(self, run: SyncRun) -> SyncRun:
        found = self._runs.get_run(run.org_id, run.run_id)
        if found is None:
            raise SyncRunNotFoundError(f"sync run {run.run_id} of org {run.org_id} disappeared")
        return found

    def _begin(self, sync: SyncRequest, name: str) -> tuple[SyncRun, bool]:
        """The run this execution works on: the one named, the latest one to resume, or a new one."""
        if sync.run_id:
            run = self._runs.get_run(sync.org_id, sync.run_id)
            if run is None:
                raise SyncRunNotFoundError(f"sync run {sync.run_id} of org {sync.org_id} does not exist")
            return run, run.attempt > 1
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
            return existing, existing.attempt > 1
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

    # --- planning a part: page 1 of each partition ----------------------------------------------------------

    def _plan_part(self, run: SyncRun, part: Part, time_left: TimeLeft | None) -> int:
        """Read page 1 of each partition of ``part`` not planned yet; returns the Xero calls made.

        The bank accounts come first (their answer gives the snapshot the partitions are cut at); then the
        partitions' page 1 (and the Organisation) are read :data:`PLAN_CONCURRENCY` at a time, as the Map
        reads pages: the shared rate limiter spaces them, and a small organisation's whole sync is these.
        """
        reads: list[Callable[[XeroReader], tuple[str | None, str | None] | None]] = []
        if part is Part.CHASE and partition_key("Organisation", Part.CHASE) not in run.plan:
            reads.append(partial(self._plan_organisation, run))
        # One reader a read (its call counts are its own); a reader may also be shared (its counts then
        # only grow): each distinct one's difference is counted, once, from before its first call.
        before: dict[int, tuple[XeroReader, int, int]] = {}

        def reader() -> XeroReader:
            xero = self._xero(run.tenant_id, time_left=time_left)
            before.setdefault(id(xero), (xero, xero.calls, xero.rate_limited))
            return xero

        settings: list[tuple[str | None, str | None] | None] = []
        try:
            if part is Part.CHASE:
                run = self._plan_accounts(run, reader())
            reads += [
                partial(self._plan_partition, run, partition=partition)
                for partition in partitions_of(run_partitions(run), part)
                if partition.key not in run.plan
            ]
            if reads:
                with ThreadPoolExecutor(max_workers=min(len(reads), PLAN_CONCURRENCY)) as pool:
                    futures = [pool.submit(read, reader()) for read in reads]
                    settings = [future.result() for future in futures]
        finally:
            calls = sum(reader.calls - n for reader, n, _ in before.values())
            rate_limited = sum(reader.rate_limited - n for reader, _, n in before.values())
            self._runs.add_usage(run.org_id, run.run_id, calls=calls, rate_limited=rate_limited)
        base_currency, timezone = next((s for s in settings if s is not None), (None, None))
        self._runs.mark_part_planned(
            run.org_id,
            run.run_id,
            part,
            now=self._publisher.now(),
            base_currency=base_currency,
            timezone=timezone,
        )
        return calls

    def _plan_accounts(self, run: SyncRun, xero: XeroReader) -> SyncRun:
        """The bank accounts, whose answer carries Xero's clock: the run's snapshot is taken from it."""
        plan = PartitionPlan(resource="Accounts", part=Part.CHASE, pages_total=1)
        if plan.key in run.plan:
            return run
        accounts = xero.list_page("Accounts", **source_filter("Accounts", incremental=False))
        # Xero's own clock, so that the snapshot is never in Xero's future (a change made after it must be
        # stamped after it); ours only when Xero's answer did not say.
        snapshot = snapshot_from(accounts.server_time or self._publisher.now())
        run = run.model_copy(
            update={"snapshot_at": self._runs.set_snapshot(run.org_id, run.run_id, snapshot)}
        )
        self._keep_page_one(run, plan, accounts.records, accounts.bad_records, is_last=True)
        return run

    def _plan_organisation(self, run: SyncRun, xero: XeroReader) -> tuple[str | None, str | None]:
        organisation = xero.organisation()
        plan = PartitionPlan(resource="Organisation", part=Part.CHASE, pages_total=1)
        self._keep_page_one(run, plan, [organisation], [], is_last=True)
        return _str_or_none(organisation.base_currency), _str_or_none(organisation.timezone)

    def _plan_partition(self, run: SyncRun, xero: XeroReader, partition: Partition) -> None:
        """Page 1 of a partition: its page count from the envelope, published as a read page."""
        modified_since = run.modified_since.get(partition.resource)
        query = partition_query(partition, snapshot_at=run.snapshot_at, modified_since=modified_since)
        page = xero.list_page(partition.resource, page=1, page_size=PLAN_PAGE_SIZE, **query)
        # Trust what the server did, not what was asked: it may serve 100 a page whatever pageSize says. No
        # envelope: the page count is unknown; the tail is read page after page.
        pagination = page.pagination
        plan = PartitionPlan(
            resource=partition.resource,
            part=partition.part,
            share=partition.share,
            pages_total=max(pagination.page_count, 1) if pagination else None,
            page_size=max(pagination.page_size, 1) if pagination else PLAN_PAGE_SIZE,
            item_count=pagination.item_count if pagination else None,
            modified_since=modified_since,
        )
        if pagination is not None and pagination.page_size != PLAN_PAGE_SIZE:
            logger.warning(
                "Xero served another page size than asked",
                extra={
                    "org_id": run.org_id,
                    "run_id": run.run_id,
                    "partition": partition.key,
                    "asked": PLAN_PAGE_SIZE,
                    "served": pagination.page_size,
                },
            )
        self._keep_page_one(run, plan, page.records, page.bad_records, is_last=bool(page.is_last))

    def _keep_page_one(
        self,
        run: SyncRun,
        plan: PartitionPlan,
        records: Sequence[XeroModel],
        bad_records: Sequence[BadRecord],
        *,
        is_last: bool,
    ) -> None:
        """Publish and checkpoint a partition's page 1 as a read page, then keep what it taught: its plan."""
        publish_page(
            self._publisher,
            self._runs,
            run,
            plan=plan,
            page=1,
            records=records,
            bad_records=bad_records,
            is_last=is_last,
            item_count=plan.item_count,
        )
        self._runs.save_partition_plan(run.org_id, run.run_id, plan)

    # --- what is left of a planned part ---------------------------------------------------------------------

    def _pages_left(self, run: SyncRun, part: Part) -> list[PlannedPage]:
        done: dict[str, list[PageCheckpoint]] = {}
        for checkpoint in self._runs.checkpoints(run.run_id):
            done.setdefault(checkpoint.partition, []).append(checkpoint)
        pages: list[PlannedPage] = []
        for plan in run.partitions(part):
            if plan.share is None:
                continue  # a single call, made when the part was planned
            mine = done.get(plan.key, [])
            if plan.tail:
                pages.extend(self._tail_left(plan, mine))
                continue
            reads = pages_to_read(plan, mine)
            if reads.pages_total != plan.pages_total:
                # It grew past its planned pages while read: the progress shows the pages it now has.
                self._runs.save_partition_plan(
                    run.org_id, run.run_id, plan.model_copy(update={"pages_total": reads.pages_total})
                )
            rereads = [r.repair_of for r in reads.pages if r.repair_of is not None]
            if rereads:
                logger.info(
                    "records moved across page boundaries while read: reading them again",
                    extra={
                        "org_id": run.org_id,
                        "run_id": run.run_id,
                        "partition": plan.key,
                        "boundaries": sorted(set(rereads)),
                    },
                )
            pages.extend(
                PlannedPage(partition=plan.key, resource=plan.resource, page=r.page, repair_of=r.repair_of)
                for r in reads.pages
            )
        return pages

    @staticmethod
    def _tail_left(plan: PartitionPlan, done: Sequence[PageCheckpoint]) -> list[PlannedPage]:
        """Without an envelope: continue after the last page read, unless that one was the last."""
        finished = {c.page: c.is_last for c in done if c.repair_of is None}
        last_done = max(finished, default=0)
        if last_done and finished[last_done]:
            return []
        return [PlannedPage(partition=plan.key, resource=plan.resource, page=last_done + 1, tail=True)]


def _str_or_none(value: object) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))
