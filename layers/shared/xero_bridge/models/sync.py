"""The initial sync's own records: the run, the Step Functions task inputs and outputs, the progress view.

Step Functions carries only these small models between states (page descriptors, never Xero records): a
state's payload is capped at 256 KiB, and a record in a payload would also end up in the execution history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "CURSOR_RESOURCES",
    "PAGED_RESOURCES",
    "PARTS",
    "PLAN_PAGE_SIZE",
    "FailureInput",
    "FailureOutput",
    "FinishInput",
    "FinishOutput",
    "PageCheckpoint",
    "PageResult",
    "PageTask",
    "Part",
    "PartProgress",
    "PartState",
    "PartitionCounters",
    "PartitionPlan",
    "PlanInput",
    "PlanOutput",
    "PlannedPage",
    "ResourceProgress",
    "RunCounters",
    "Share",
    "SyncProgressView",
    "SyncRequest",
    "SyncRun",
    "SyncStarted",
    "SyncStatus",
    "SyncTrigger",
    "partition_key",
    "step_functions_timestamp",
]

PAGED_RESOURCES: tuple[str, ...] = (
    "Contacts",
    "Invoices",
    "CreditNotes",
    "Payments",
    "Overpayments",
    "Prepayments",
)
"""The receivable-side resources the initial sync reads page by page (bank Accounts and the Organisation are
single unpaged calls made by the planner)."""

CURSOR_RESOURCES: tuple[str, ...] = (*PAGED_RESOURCES, "Accounts")
"""The resources a finished run stores a catch-up cursor for, and the catch-up reads."""

PLAN_PAGE_SIZE = 1000
"""The ``pageSize`` asked for: Xero's largest, so the sync costs the fewest calls."""


class Part(StrEnum):
    """The two parts of a run, fetched one after the other.

    ``chase`` is what the AR team chases with (customers, outstanding invoices, open credit, and the bank
    accounts and organisation settings), ``history`` the rest (paid, voided, deleted and draft documents,
    every payment) and every change made in Xero since the run's snapshot. The moment the chase part is
    written is the run's ``chase_ready_at``.
    """

    CHASE = "chase"
    HISTORY = "history"


PARTS: tuple[Part, ...] = (Part.CHASE, Part.HISTORY)
"""The parts in the order a run fetches them."""


class Share(StrEnum):
    """Which share of a resource a partition reads (see :mod:`xero_bridge.domain.partitions`)."""

    OPEN = "open"  # chased, as it stood at the run's snapshot: can only lose members while read
    REST = "rest"  # everything else, and every change since the snapshot: can only gain members
    CHANGES = "changes"  # an incremental run: every change since the resource's cursor: can only gain

    @property
    def grows(self) -> bool:
        return self is not Share.OPEN


def partition_key(resource: str, part: Part | str) -> str:
    """The name of a resource's share of one part (``Invoices:chase``): plan, checkpoints and counters."""
    return f"{resource}:{Part(part).value}"


class SyncStatus(StrEnum):
    """Where a sync run stands (``GET /orgs/{org_id}/sync``)."""

    PLANNING = "planning"
    FETCHING = "fetching"
    PAUSED_DAILY_LIMIT = "paused_daily_limit"
    WRITING = "writing"  # every page fetched; waiting for the writer to drain the queue
    FINISHED = "finished"
    FAILED = "failed"

    @property
    def active(self) -> bool:
        """True while an execution is (supposed to be) working on the run."""
        return self not in (SyncStatus.FINISHED, SyncStatus.FAILED)


class SyncTrigger(StrEnum):
    """What started a run."""

    CONNECT = "connect"  # the OAuth callback after a first connect
    RECONNECT = "reconnect"  # the callback after a reconnect of the same tenant: resume, no full re-import
    MANUAL = "manual"  # POST /orgs/{org_id}/sync
    RESUME = "resume"  # POST /orgs/{org_id}/sync?resume=true after a failure


def step_functions_timestamp(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC): the only shape a Wait state's ``TimestampPath`` accepts everywhere."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PartitionPlan(BaseModel):
    """What the planner learnt of one partition (a resource's share of one part) from its page 1.

    ``pages_total`` is None when Xero sent no ``pagination`` envelope: the pages are then read one after the
    other until a short or empty one (``tail``), and the total is only known at the end. ``share`` says how
    the partition's membership can change while it is read: one that only loses members is read from its
    last page down, one that only gains members from page 1 up, so that a record that did not change is
    never pushed past the reads (see :mod:`xero_bridge.domain.paged_reads`).
    """

    model_config = ConfigDict(frozen=True)

    resource: str
    part: Part
    share: Share | None = None  # None: a single unpaged call (the Organisation, bank Accounts)
    pages_total: int | None = Field(default=None, ge=0)
    page_size: int = Field(default=PLAN_PAGE_SIZE, ge=1)
    item_count: int | None = None  # the partition's size when its page 1 was read
    modified_since: AwareDatetime | None = None  # If-Modified-Since of every page (an incremental run)

    @property
    def key(self) -> str:
        return partition_key(self.resource, self.part)

    @property
    def grows(self) -> bool:
        return self.share is None or self.share.grows

    @property
    def incremental(self) -> bool:
        """Its records are changes since an instant (the history part's share, an incremental run's): the
        import rules then also see archived contacts, to mark them inactive."""
        return self.share is Share.REST or self.modified_since is not None

    @property
    def tail(self) -> bool:
        return self.pages_total is None


class PartState(BaseModel):
    """Where one part of a run stands: planned (page 1 of each partition read), fetched, written."""

    model_config = ConfigDict(frozen=True)

    planned_at: AwareDatetime | None = None
    fetched_at: AwareDatetime | None = None  # every page read and checked: all of it is in the writes queue
    ready_at: AwareDatetime | None = None  # and all of it written (for the chase part: chase-ready)
    passes: int = 0  # planner passes that handed out pages (page reads, then any re-reads)


class SyncRun(BaseModel):
    """One initial sync of an AR org's Xero tenant (the run item; its counters: :class:`SyncProgressView`)."""

    model_config = ConfigDict(frozen=True)

    org_id: str
    run_id: str
    tenant_id: str
    status: SyncStatus
    trigger: SyncTrigger = SyncTrigger.CONNECT
    attempt: int = Field(default=1, ge=1)  # executions that worked on this run (a resume adds one)
    execution_arn: str | None = None
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    failure_reason: str | None = None
    paused_until: AwareDatetime | None = None
    # Each partition's plan, saved as the planner learns it (a resumed run does not plan a part again).
    plan: dict[str, PartitionPlan] = Field(default_factory=dict)
    parts: dict[Part, PartState] = Field(default_factory=dict)
    # Xero's clock, less a margin, when the run began: the chase part reads what was open then, the
    # history part everything else and everything changed since; also the catch-up's cursor.
    snapshot_at: AwareDatetime | None = None
    # An incremental run (a reconnect after a finished sync): per resource, only what changed since then.
    modified_since: dict[str, AwareDatetime] = Field(default_factory=dict)
    base_currency: str | None = None
    timezone: str | None = None
    finish_checks: int = 0

    def part(self, part: Part) -> PartState:
        return self.parts.get(part) or PartState()

    @property
    def current_part(self) -> Part | None:
        """The first part not fetched yet (None: every part is)."""
        return next((p for p in PARTS if self.part(p).fetched_at is None), None)

    @property
    def chase_ready_at(self) -> datetime | None:
        return self.part(Part.CHASE).ready_at

    def partitions(self, part: Part) -> list[PartitionPlan]:
        """The plans of ``part``'s partitions, in plan order."""
        return [plan for plan in self.plan.values() if plan.part == part]

    def part_written(self, part: Part, counters: RunCounters) -> bool:
        """``part`` is fetched and the writer has seen every record it sent."""
        if self.part(part).fetched_at is None:
            return False
        return all(counters.partition(plan.key).written_all for plan in self.partitions(part))


class PageCheckpoint(BaseModel):
    """A page read in a run: what it sent, whether it was its partition's last, and what Xero counted.

    ``item_count`` is the partition's size as that very read saw it (``pagination.itemCount``): comparing
    the counts of neighbouring pages tells whether members came or went between their reads. A re-read of
    a page made to recover what such a move may have shifted across a page boundary has ``repair_of`` (the
    boundary: between pages ``repair_of`` and ``repair_of + 1``).
    """

    model_config = ConfigDict(frozen=True)

    partition: str
    page: int = Field(ge=1)
    records: int = 0
    is_last: bool
    item_count: int | None = None
    repair_of: int | None = None


class PartitionCounters(BaseModel):
    """What a run did with one partition so far (pages by the fetchers, records by the writer too)."""

    model_config = ConfigDict(frozen=True)

    records_sent: int = 0
    records_written: int = 0
    records_unchanged: int = 0
    pages_done: int = 0
    pages_reread: int = 0
    skipped: int = 0
    malformed: int = 0

    @property
    def records_done(self) -> int:
        """Records the writer has seen: stored, or found already held (a duplicate, a newer version)."""
        return self.records_written + self.records_unchanged

    @property
    def written_all(self) -> bool:
        return self.records_done >= self.records_sent


class RunCounters(BaseModel):
    """A run's counters: per partition (``Invoices:chase``...), and its Xero calls and 429s."""

    model_config = ConfigDict(frozen=True)

    partitions: dict[str, PartitionCounters] = Field(default_factory=dict)
    calls: int = 0
    rate_limited: int = 0

    def partition(self, key: str) -> PartitionCounters:
        return self.partitions.get(key) or PartitionCounters()

    @property
    def records_sent(self) -> int:
        return sum(r.records_sent for r in self.partitions.values())

    @property
    def records_written(self) -> int:
        return sum(r.records_written for r in self.partitions.values())

    @property
    def records_unchanged(self) -> int:
        return sum(r.records_unchanged for r in self.partitions.values())

    @property
    def pages_done(self) -> int:
        return sum(r.pages_done for r in self.partitions.values())

    @property
    def pages_reread(self) -> int:
        return sum(r.pages_reread for r in self.partitions.values())

    @property
    def skipped(self) -> int:
        return sum(r.skipped for r in self.partitions.values())

    @property
    def malformed(self) -> int:
        return sum(r.malformed for r in self.partitions.values())

    @property
    def records_done(self) -> int:
        """Records the writer has seen: stored, or found already held (a duplicate, a newer version)."""
        return sum(r.records_done for r in self.partitions.values())


class SyncRequest(BaseModel):
    """The machine's input: from :func:`start_sync` (with ``run_id``) or the OAuth callback (without)."""

    model_config = ConfigDict(extra="ignore")

    org_id: str = Field(min_length=1)
    tenant_id: str | None = None
    run_id: str | None = None
    trigger: SyncTrigger = SyncTrigger.CONNECT

    def as_input(self) -> dict[str, str]:
        """The execution's input (what the connect callback and ``StartSync`` send the machine)."""
        return {k: str(v) for k, v in self.model_dump(mode="json", exclude_none=True).items()}


class PlanInput(BaseModel):
    """The planner's input: the execution's input (or the previous pass's output: the same ids) and its name
    (the run id when none is given)."""

    sync: SyncRequest
    execution_name: str = Field(min_length=1, max_length=80)


class PlannedPage(BaseModel):
    """One page for the Map to fetch."""

    partition: str
    resource: str
    page: int = Field(ge=1)
    tail: bool = False  # no pagination envelope: after a full page, fetch the next one
    repair_of: int | None = Field(default=None, ge=1)  # a re-read across that page boundary


class PlanOutput(BaseModel):
    """The planner's output: the run, the part being fetched and its pages left (``done``: nothing left).

    The machine maps over ``pages`` and calls the planner again, until ``done``: the planner hands out the
    chase part's pages first, the history part's once the chase part is fetched.
    """

    run_id: str
    org_id: str
    tenant_id: str
    part: Part | None = None
    done: bool = False
    resumed: bool = False
    calls: int = 0
    pages: list[PlannedPage] = Field(default_factory=list)


class PageTask(BaseModel):
    """The page fetcher's input (the Map's ItemSelector: the run and one planned page)."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    org_id: str
    tenant_id: str
    partition: str
    resource: str
    page: int = Field(ge=1)
    tail: bool = False
    repair_of: int | None = Field(default=None, ge=1)


class PageResult(BaseModel):
    """The page fetcher's output; ``status`` routes the Map iteration's Choice.

    ``fetched`` and ``skipped`` end the iteration, ``next`` asks for ``next_page`` (a tail without an
    envelope), ``paused`` waits until ``paused_until`` (a spent daily limit) and fetches the page again.
    """

    run_id: str
    partition: str
    resource: str
    page: int
    status: Literal["fetched", "skipped", "next", "paused"]
    records_sent: int = 0
    skipped: int = 0
    malformed: int = 0
    calls: int = 0
    rate_limited: int = 0
    next_page: int | None = None
    paused_until: str | None = None  # step_functions_timestamp, for the Wait state's TimestampPath


class FinishInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    run_id: str
    org_id: str


class FinishOutput(BaseModel):
    """``drained`` False: the writer has not written every record sent yet; the machine waits, asks again."""

    run_id: str
    org_id: str
    drained: bool
    checks: int = 0
    records_sent: int = 0
    records_written: int = 0


class FailureInput(BaseModel):
    """What failed: Step Functions' ``{"Error", "Cause"}`` of the caught error, and where it happened.

    The machine passes its whole state (``{"state": {...}, "execution_name": ...}``): the state is the
    execution input when the planner failed (maybe without a run id) and the plan afterwards.
    """

    model_config = ConfigDict(extra="ignore")

    org_id: str
    run_id: str | None = None
    execution_name: str | None = None
    resource: str | None = None
    page: int | None = None
    error: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _lift_state(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("state"), dict):
            state = data["state"]
            lifted = {k: state.get(k) for k in ("org_id", "run_id", "resource", "page", "error")}
            return {
                **{k: v for k, v in lifted.items() if v is not None},
                **{k: v for k, v in data.items() if k != "state"},
            }
        return data

    def reason(self) -> str:
        """A short reason for the run: the error name and Lambda's ``errorMessage`` when the cause has one."""
        error = self.error or {}
        name = str(error.get("Error") or "UnknownError")
        cause: Any = error.get("Cause") or ""
        message = ""
        if isinstance(cause, str) and cause:
            import json  # noqa: PLC0415 - only failures pay for it

            try:
                parsed = json.loads(cause)
            except ValueError:
                parsed = cause
            message = str(parsed.get("errorMessage", "")) if isinstance(parsed, dict) else str(parsed)
        where = f"{self.resource} page {self.page}: " if self.resource and self.page else ""
        return f"{where}{name}: {message}".rstrip(": ")[:1000]


class FailureOutput(BaseModel):
    org_id: str
    run_id: str | None
    status: SyncStatus
    reason: str


class SyncStarted(BaseModel):
    """What :func:`start_sync` did."""

    org_id: str
    run_id: str
    execution_arn: str
    status: SyncStatus
    resumed: bool = False
    already_running: bool = False


class ResourceProgress(BaseModel):
    """One resource (both of its partitions) or one part of a run."""

    pages_total: int | None = None  # None while a partition of it is not planned, or has no envelope
    pages_done: int = 0
    pages_reread: int = 0
    records_sent: int = 0
    records_written: int = 0
    # Sent records the writer already held as they are (a re-sync, a duplicate delivery): done as well
    records_unchanged: int = 0
    skipped: int = 0
    malformed: int = 0


class PartProgress(ResourceProgress):
    """One part of a run: its pages and records, and when it was fetched and written."""

    fetched_at: datetime | None = None
    ready_at: datetime | None = None


class SyncProgressView(BaseModel):
    """``GET /orgs/{org_id}/sync``: the latest run's progress (``never_synced`` when there is none)."""

    org_id: str
    run_id: str | None = None
    status: Literal[
        "never_synced", "planning", "fetching", "paused_daily_limit", "writing", "finished", "failed"
    ]
    trigger: str | None = None
    started_at: datetime | None = None
    snapshot_at: datetime | None = None
    chase_ready_at: datetime | None = None  # customers, outstanding invoices and open credit all written
    finished_at: datetime | None = None
    failed_reason: str | None = None
    paused_until: datetime | None = None
    part: Part | None = None  # the part being fetched
    pages_total: int | None = None
    pages_done: int = 0
    pages_reread: int = 0
    records_sent: int = 0
    records_written: int = 0
    records_unchanged: int = 0  # held already as sent: a re-sync's records are mostly these
    parts: dict[Part, PartProgress] = Field(default_factory=dict)
    resources: dict[str, ResourceProgress] = Field(default_factory=dict)
    calls_made: int = 0
    rate_limited: int = 0
    quota_minute_remaining: int | None = None
    quota_day_remaining: int | None = None
