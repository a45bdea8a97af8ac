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
    "PLAN_PAGE_SIZE",
    "FailureInput",
    "FailureOutput",
    "FinishInput",
    "FinishOutput",
    "PageCheckpoint",
    "PageResult",
    "PageTask",
    "PlanInput",
    "PlanOutput",
    "PlannedPage",
    "ResourceCounters",
    "ResourcePlan",
    "ResourceProgress",
    "RunCounters",
    "SyncProgressView",
    "SyncRequest",
    "SyncRun",
    "SyncStarted",
    "SyncStatus",
    "SyncTrigger",
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


class ResourcePlan(BaseModel):
    """What the planner learnt about one resource.

    ``pages_total`` is None when Xero sent no ``pagination`` envelope: the pages are then read one after the
    other until a short or empty one (``tail``), and the total is only known at the end.
    """

    model_config = ConfigDict(frozen=True)

    pages_total: int | None = Field(default=None, ge=0)
    page_size: int = Field(default=PLAN_PAGE_SIZE, ge=1)
    item_count: int | None = None
    modified_since: AwareDatetime | None = None  # If-Modified-Since of every page (an incremental run)

    @property
    def tail(self) -> bool:
        return self.pages_total is None


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
    plan: dict[str, ResourcePlan] | None = None  # None until planned: a resumed run does not plan again
    # An incremental run (a reconnect after a finished sync): per resource, only what changed since then.
    modified_since: dict[str, AwareDatetime] = Field(default_factory=dict)
    base_currency: str | None = None
    timezone: str | None = None
    finish_checks: int = 0


class PageCheckpoint(BaseModel):
    """A page done in a run: how many records it sent and whether it was the resource's last."""

    model_config = ConfigDict(frozen=True)

    resource: str
    page: int = Field(ge=1)
    records: int = 0
    is_last: bool


class ResourceCounters(BaseModel):
    """What a run did with one resource so far (pages by the fetchers, records by the writer too)."""

    model_config = ConfigDict(frozen=True)

    records_sent: int = 0
    records_written: int = 0
    records_unchanged: int = 0
    pages_done: int = 0
    skipped: int = 0
    malformed: int = 0


class RunCounters(BaseModel):
    """A run's counters: per resource, and its Xero calls and 429s."""

    model_config = ConfigDict(frozen=True)

    resources: dict[str, ResourceCounters] = Field(default_factory=dict)
    calls: int = 0
    rate_limited: int = 0

    def resource(self, name: str) -> ResourceCounters:
        return self.resources.get(name) or ResourceCounters()

    @property
    def records_sent(self) -> int:
        return sum(r.records_sent for r in self.resources.values())

    @property
    def records_written(self) -> int:
        return sum(r.records_written for r in self.resources.values())

    @property
    def records_unchanged(self) -> int:
        return sum(r.records_unchanged for r in self.resources.values())

    @property
    def pages_done(self) -> int:
        return sum(r.pages_done for r in self.resources.values())

    @property
    def skipped(self) -> int:
        return sum(r.skipped for r in self.resources.values())

    @property
    def malformed(self) -> int:
        return sum(r.malformed for r in self.resources.values())

    @property
    def records_done(self) -> int:
        """Records the writer has seen: stored, or found already held (a duplicate, a newer version)."""
        return sum(r.records_written + r.records_unchanged for r in self.resources.values())


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
    """The planner's input: the execution's input and its name (the run id when none is given)."""

    sync: SyncRequest
    execution_name: str = Field(min_length=1, max_length=80)


class PlannedPage(BaseModel):
    """One page for the Map to fetch."""

    resource: str
    page: int = Field(ge=1)
    tail: bool = False  # no pagination envelope: after a full page, fetch the next one


class PlanOutput(BaseModel):
    """The planner's output: the run and the pages left (page 1 of each resource is already done)."""

    run_id: str
    org_id: str
    tenant_id: str
    resumed: bool = False
    calls: int = 0
    pages: list[PlannedPage] = Field(default_factory=list)


class PageTask(BaseModel):
    """The page fetcher's input (the Map's ItemSelector: the run and one planned page)."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    org_id: str
    tenant_id: str
    resource: str
    page: int = Field(ge=1)
    tail: bool = False


class PageResult(BaseModel):
    """The page fetcher's output; ``status`` routes the Map iteration's Choice.

    ``fetched`` and ``skipped`` end the iteration, ``next`` asks for ``next_page`` (a tail without an
    envelope), ``paused`` waits until ``paused_until`` (a spent daily limit) and fetches the page again.
    """

    run_id: str
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
    pages_total: int | None = None
    pages_done: int = 0
    records_sent: int = 0
    records_written: int = 0
    skipped: int = 0
    malformed: int = 0


class SyncProgressView(BaseModel):
    """``GET /orgs/{org_id}/sync``: the latest run's progress (``never_synced`` when there is none)."""

    org_id: str
    run_id: str | None = None
    status: Literal[
        "never_synced", "planning", "fetching", "paused_daily_limit", "writing", "finished", "failed"
    ]
    trigger: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    failed_reason: str | None = None
    paused_until: datetime | None = None
    pages_total: int | None = None
    pages_done: int = 0
    records_sent: int = 0
    records_written: int = 0
    resources: dict[str, ResourceProgress] = Field(default_factory=dict)
    calls_made: int = 0
    rate_limited: int = 0
    quota_minute_remaining: int | None = None
    quota_day_remaining: int | None = None
