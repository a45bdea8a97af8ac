"""In-memory fakes of the initial sync's ports: a Xero organisation, the run store, the writes queue."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from xero_bridge.adapters.aws.writes_queue import sqs_batches
from xero_bridge.errors import DailyLimitReached
from xero_bridge.models import xero as xm
from xero_bridge.models.connection import ConnectionStatus, XeroConnection
from xero_bridge.models.messages import RecordsMessage
from xero_bridge.models.pages import BadRecord, Page, Quota, RateStatus
from xero_bridge.models.records import RecordSource, SkippedRecord, SyncedRecord
from xero_bridge.models.sync import (
    PARTS,
    PageCheckpoint,
    Part,
    PartitionCounters,
    PartitionPlan,
    PartState,
    RunCounters,
    SyncRun,
    SyncStatus,
)
from xero_bridge.models.xero_dates import parse_xero_datetime
from xero_emulator.store import compile_where

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
MODELS: dict[str, type[xm.XeroModel]] = {
    "Contacts": xm.Contact,
    "Invoices": xm.Invoice,
    "CreditNotes": xm.CreditNote,
    "Payments": xm.Payment,
    "Overpayments": xm.Overpayment,
    "Prepayments": xm.Prepayment,
    "Accounts": xm.Account,
}
UPDATED = "/Date(1763700000000+0000)/"


def invoice(n: int) -> dict[str, Any]:
    return {
        "InvoiceID": f"inv-{n:05d}",
        "InvoiceNumber": f"INV-{n:05d}",
        "Type": "ACCREC",
        "Status": "AUTHORISED",
        "Contact": {"ContactID": "c-00001", "Name": "Acme"},
        "CurrencyCode": "AUD",
        "Total": "110.00",
        "AmountDue": "110.00",
        "UpdatedDateUTC": UPDATED,
    }


def contact(n: int) -> dict[str, Any]:
    return {
        "ContactID": f"c-{n:05d}",
        "Name": f"Customer {n}",
        "IsCustomer": True,
        "ContactStatus": "ACTIVE",
        "UpdatedDateUTC": UPDATED,
    }


def organisation_data(*, invoices: int = 0, contacts: int = 0) -> dict[str, list[dict[str, Any]]]:
    return {
        "Contacts": [contact(n) for n in range(1, contacts + 1)],
        "Invoices": [invoice(n) for n in range(1, invoices + 1)],
        "CreditNotes": [],
        "Payments": [],
        "Overpayments": [],
        "Prepayments": [],
        "Accounts": [
            {"AccountID": "acc-1", "Code": "090", "Name": "Bank", "Type": "BANK", "UpdatedDateUTC": UPDATED}
        ],
    }


def _field(path: str) -> Any:
    """A ``where`` getter over Xero's JSON (dotted paths; dates as instants, numbers as Decimals)."""

    def get(ctx: Any, record: dict[str, Any]) -> Any:
        value: Any = record
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value.startswith("/Date("):
            return parse_xero_datetime(value)
        if isinstance(value, (int, float, str)) and path in ("RemainingCredit", "AmountDue", "Total"):
            return Decimal(str(value))
        return value

    return get


#: The fields the sync filters by, for the emulator's own ``where`` parser run over JSON records.
WHERE_FIELDS = {
    name: _field(name)
    for name in (
        "Type",
        "Status",
        "RemainingCredit",
        "UpdatedDateUTC",
        "IsCustomer",
        "ContactStatus",
        "PaymentType",
        "InvoiceID",
        "ContactID",
        "EnablePaymentsToAccount",
    )
}


class FakeXero:
    """A Xero organisation answering ``list_page`` as the client would (records validated one by one).

    It filters as Xero does what the sync asks (``Statuses`` on Invoices, ``where`` through the emulator's
    own parser, ``includeArchived``), sorts by ``order`` and pages. ``served_page_size`` set: the server
    ignores ``pageSize`` and serves that many; ``envelope`` False: no ``pagination`` in the answers;
    ``daily_limit_after``: the limiter raises DailyLimitReached from that call; ``server_time``: the
    envelope's ``DateTimeUTC``; ``before_call``: run before each answer (Xero changing under the sync);
    ``left_out``: record id → a field Xero filters by but leaves out of its answer.
    """

    def __init__(
        self,
        data: dict[str, list[dict[str, Any]]],
        *,
        served_page_size: int | None = None,
        envelope: bool = True,
        daily_limit_after: int | None = None,
        server_time: datetime | None = None,
        left_out: Mapping[str, str] | None = None,
    ) -> None:
        self.data = data
        self.left_out = dict(left_out or {})
        self.served_page_size = served_page_size
        self.envelope = envelope
        self.daily_limit_after = daily_limit_after
        self.server_time = server_time
        self.before_call: Callable[[str, int | None], None] | None = None
        self.calls = 0
        self.rate_limited = 0
        self.requests: list[tuple[str, int | None, dict[str, Any]]] = []
        self._lock = threading.RLock()

    def matching(
        self,
        resource: str,
        *,
        where: str | None = None,
        statuses: Sequence[str] | None = None,
        include_archived: bool = False,
        order: str | None = None,
    ) -> list[dict[str, Any]]:
        """The records a query selects, in its order."""
        items = list(self.data[resource])
        if resource == "Contacts" and not include_archived:
            items = [i for i in items if i.get("ContactStatus") != "ARCHIVED"]
        if statuses and resource == "Invoices":
            items = [i for i in items if i.get("Status") in set(statuses)]
        if where:
            predicate = compile_where(where, resource, WHERE_FIELDS)
            items = [i for i in items if predicate(None, i)]  # type: ignore[arg-type]
        if order:
            items.sort(key=lambda i: str(i.get(order.split()[0]) or ""))
        return items

    def _call(self) -> None:
        with self._lock:  # the planner reads several partitions' page 1 at once
            if self.daily_limit_after is not None and self.calls >= self.daily_limit_after:
                raise DailyLimitReached("tenant-1", NOW + timedelta(hours=3))
            self.calls += 1

    def fetch_by_ids(self, resource: str, ids: Sequence[str]) -> Page[Any]:
        """The records of ``ids`` (as the client: unknown ids absent), one call per 50."""
        wanted = set(ids)
        id_key = {"Contacts": "ContactID", "Invoices": "InvoiceID", "CreditNotes": "CreditNoteID"}.get(
            resource, resource[:-1] + "ID"
        )
        items = [item for item in self.data[resource] if item.get(id_key) in wanted]
        for _ in range(0, max(len(wanted), 1), 50):
            self._call()
        self.requests.append((resource, None, {"ids": sorted(wanted)}))
        records = [MODELS[resource].model_validate(item) for item in items]
        quota = Quota(minute_remaining=59, day_remaining=4999, observed_at=NOW)
        return Page[Any](records=records, quota=quota, is_last=True)

    def organisation(self) -> xm.Organisation:
        self._call()
        self.requests.append(("Organisation", None, {}))
        return xm.Organisation(
            organisation_id="org-x", name="Demo", base_currency="AUD", timezone="AUSEASTERNSTANDARDTIME"
        )

    def list_page(
        self,
        resource: str,
        *,
        page: int | None = None,
        page_size: int | None = None,
        if_modified_since: datetime | None = None,
        where: str | None = None,
        statuses: Sequence[str] | None = None,
        include_archived: bool = False,
        summary_only: bool = False,
        order: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> Page[Any]:
        self._call()
        # What was asked, as the keywords the caller set (left at their defaults: not asked).
        asked = {
            "page": page,
            "page_size": page_size,
            "if_modified_since": if_modified_since,
            "where": where,
            "statuses": statuses,
            "include_archived": include_archived or None,
            "summary_only": summary_only or None,
            "order": order,
            "ids": ids,
        }
        options = {k: v for k, v in asked.items() if v is not None}
        with self._lock:  # one answer at a time, as one snapshot of the organisation
            self.requests.append((resource, page, options))
            if self.before_call is not None:
                self.before_call(resource, page)
            items = self.matching(
                resource, where=where, statuses=statuses, include_archived=include_archived, order=order
            )
        quota = Quota(minute_remaining=59, day_remaining=4999, observed_at=NOW)
        if page is None:
            chunk, pagination, is_last = items, None, True
        else:
            size = self.served_page_size or page_size or 100
            chunk = items[(page - 1) * size : page * size]
            pagination = (
                xm.Pagination.model_validate(
                    {
                        "page": page,
                        "pageSize": size,
                        "pageCount": math.ceil(len(items) / size),
                        "itemCount": len(items),
                    }
                )
                if self.envelope
                else None
            )
            is_last = (
                (page >= pagination.page_count or not chunk) if pagination else len(chunk) < min(size, 100)
            )
        records, bad = [], []
        for index, found in enumerate(chunk):
            record_id = found.get(f"{resource[:-1]}ID") or ""
            item = {k: v for k, v in found.items() if k != self.left_out.get(str(record_id))}
            try:
                records.append(MODELS[resource].model_validate(item))
            except ValidationError as exc:
                bad.append(BadRecord(index=index, record_id=None, error=str(exc.error_count())))
        return Page[Any](
            records=records,
            bad_records=bad,
            pagination=pagination,
            page=page,
            quota=quota,
            server_time=self.server_time,
            is_last=is_last,
        )


@dataclass
class FakeRuns:
    """The run store in memory, with the same once-only and never-back semantics as the DynamoDB one."""

    runs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    latest: dict[str, str] = field(default_factory=dict)
    pages: dict[tuple[str, str, int, int | None], PageCheckpoint] = field(default_factory=dict)
    counters: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    cursors: dict[tuple[str, str], datetime] = field(default_factory=dict)
    checkpoint_writes: int = 0

    def create_run(self, run: SyncRun) -> bool:
        key = (run.org_id, run.run_id)
        if key in self.runs:
            return False
        self.runs[key] = {
            **run.model_dump(),
            "plan": dict(run.plan),
            "parts": {part: run.part(part) for part in PARTS},
        }
        self.counters[key] = {}
        self.latest[run.org_id] = run.run_id
        return True

    def get_run(self, org_id: str, run_id: str) -> SyncRun | None:
        values = self.runs.get((org_id, run_id))
        if values is None:
            return None
        return SyncRun.model_validate(values)

    def get_run_and_counters(self, org_id: str, run_id: str) -> tuple[SyncRun, RunCounters] | None:
        run = self.get_run(org_id, run_id)
        if run is None:
            return None
        flat = self.counters[(org_id, run_id)]
        per_partition: dict[str, dict[str, int]] = {}
        for name, n in flat.items():
            if "#" in name:
                counter, partition = name.split("#", 1)
                per_partition.setdefault(partition, {})[counter] = n
        counters = RunCounters(
            partitions={k: PartitionCounters(**c) for k, c in per_partition.items()},
            calls=flat.get("calls", 0),
            rate_limited=flat.get("rate_limited", 0),
        )
        return run, counters

    def latest_run(self, org_id: str) -> SyncRun | None:
        run_id = self.latest.get(org_id)
        return self.get_run(org_id, run_id) if run_id else None

    def restart_run(self, org_id: str, run_id: str, *, attempt: int, trigger: str) -> bool:
        values = self.runs[(org_id, run_id)]
        if values["attempt"] != attempt - 1:
            return False
        values.update(
            attempt=attempt,
            status=SyncStatus.PLANNING,
            trigger=trigger,
            failure_reason=None,
            finished_at=None,
            paused_until=None,
            execution_arn=None,
            finish_checks=0,
        )
        return True

    def set_execution(self, org_id: str, run_id: str, execution_arn: str) -> None:
        self.runs[(org_id, run_id)]["execution_arn"] = execution_arn

    def save_partition_plan(self, org_id: str, run_id: str, plan: PartitionPlan) -> None:
        self.runs[(org_id, run_id)]["plan"][plan.key] = plan

    def set_snapshot(self, org_id: str, run_id: str, at: datetime) -> datetime:
        values = self.runs[(org_id, run_id)]
        values["snapshot_at"] = values.get("snapshot_at") or at
        return values["snapshot_at"]

    def _part(self, org_id: str, run_id: str, part: Part, **changes: Any) -> PartState:
        parts = self.runs[(org_id, run_id)]["parts"]
        parts[part] = parts[part].model_copy(update=changes)
        return parts[part]

    def mark_part_planned(
        self,
        org_id: str,
        run_id: str,
        part: Part,
        *,
        now: datetime,
        base_currency: str | None = None,
        timezone: str | None = None,
    ) -> None:
        self._part(org_id, run_id, part, planned_at=now)
        values = self.runs[(org_id, run_id)]
        values["status"] = SyncStatus.FETCHING
        values["base_currency"] = base_currency or values.get("base_currency")
        values["timezone"] = timezone or values.get("timezone")

    def add_part_pass(self, org_id: str, run_id: str, part: Part) -> int:
        passes = self.runs[(org_id, run_id)]["parts"][part].passes + 1
        return self._part(org_id, run_id, part, passes=passes).passes

    def mark_part_fetched(self, org_id: str, run_id: str, part: Part, *, now: datetime) -> None:
        if self.runs[(org_id, run_id)]["parts"][part].fetched_at is None:
            self._part(org_id, run_id, part, fetched_at=now)

    def mark_part_ready(self, org_id: str, run_id: str, part: Part, *, now: datetime) -> bool:
        if self.runs[(org_id, run_id)]["parts"][part].ready_at is not None:
            return False
        self._part(org_id, run_id, part, ready_at=now)
        return True

    def set_status(
        self,
        org_id: str,
        run_id: str,
        status: SyncStatus,
        *,
        finished_at: datetime | None = None,
        paused_until: datetime | None = None,
    ) -> None:
        values = self.runs[(org_id, run_id)]
        if values["status"] in (SyncStatus.FAILED, SyncStatus.FINISHED):
            return
        values["status"] = status
        if finished_at:
            values["finished_at"] = finished_at
        if paused_until:
            values["paused_until"] = paused_until

    def fail_run(self, org_id: str, run_id: str, reason: str, *, now: datetime) -> bool:
        values = self.runs.get((org_id, run_id))
        if values is None or values["status"] == SyncStatus.FINISHED:
            return False
        values.update(status=SyncStatus.FAILED, finished_at=now)
        values["failure_reason"] = values.get("failure_reason") or reason
        return True

    def _add(self, org_id: str, run_id: str, amounts: dict[str, int]) -> None:
        counters = self.counters[(org_id, run_id)]
        for name, n in amounts.items():
            counters[name] = counters.get(name, 0) + n

    def add_usage(self, org_id: str, run_id: str, *, calls: int, rate_limited: int) -> None:
        self._add(org_id, run_id, {"calls": calls, "rate_limited": rate_limited})

    def records_written(self, org_id: str, run_id: str, partition: str, count: int) -> bool:
        self._add(org_id, run_id, {"records_written": count, f"records_written#{partition}": count})
        return True

    def records_unchanged(self, org_id: str, run_id: str, partition: str, count: int) -> bool:
        self._add(org_id, run_id, {"records_unchanged": count, f"records_unchanged#{partition}": count})
        return True

    def add_finish_check(self, org_id: str, run_id: str) -> int:
        values = self.runs[(org_id, run_id)]
        values["finish_checks"] = values.get("finish_checks", 0) + 1
        return int(values["finish_checks"])

    def page_checkpoint(
        self, run_id: str, partition: str, page: int, repair_of: int | None = None
    ) -> PageCheckpoint | None:
        return self.pages.get((run_id, partition, page, repair_of))

    def checkpoints(self, run_id: str) -> list[PageCheckpoint]:
        return [c for (r, _, _, _), c in self.pages.items() if r == run_id]

    def checkpoint_page(
        self,
        org_id: str,
        run_id: str,
        partition: str,
        page: int,
        *,
        records: int,
        skipped: int,
        malformed: int,
        is_last: bool,
        now: datetime,
        item_count: int | None = None,
        repair_of: int | None = None,
    ) -> bool:
        key = (run_id, partition, page, repair_of)
        if key in self.pages:
            return False
        self.checkpoint_writes += 1
        self.pages[key] = PageCheckpoint(
            partition=partition,
            page=page,
            records=records,
            is_last=is_last,
            item_count=item_count,
            repair_of=repair_of,
        )
        amounts = {
            "pages_done" if repair_of is None else "pages_reread": 1,
            "records_sent": records,
            "skipped": skipped,
            "malformed": malformed,
        }
        self._add(org_id, run_id, {**amounts, **{f"{k}#{partition}": v for k, v in amounts.items()}})
        return True

    def set_cursors(self, org_id: str, run_id: str, resources: Sequence[str], cursor: datetime) -> None:
        for resource in resources:
            self.cursors[(org_id, resource)] = max(cursor, self.cursors.get((org_id, resource), cursor))

    def get_cursors(self, org_id: str) -> dict[str, datetime]:
        return {r: c for (o, r), c in self.cursors.items() if o == org_id}


class LambdaDied(Exception):
    """The fetcher's Lambda stopped half way (a timeout, an out-of-memory kill)."""


@dataclass
class FakeQueue:
    bodies: list[str] = field(default_factory=list)
    batches: int = 0
    die_after_batches: int | None = None

    def send_records(
        self,
        records: Sequence[SyncedRecord],
        *,
        org_id: str,
        tenant_id: str,
        source: RecordSource,
        run_id: str | None = None,
        skipped: Sequence[SkippedRecord] = (),
    ) -> None:
        """As the SQS adapter: split into message bodies, then into SendMessageBatch calls."""
        bodies = RecordsMessage.split_for_sqs(
            records, org_id=org_id, tenant_id=tenant_id, source=source, run_id=run_id, skipped=skipped
        )
        for batch in sqs_batches(bodies):
            self.send_batch(batch)

    def send_batch(self, bodies: Sequence[str]) -> None:
        assert 1 <= len(bodies) <= 10
        assert sum(len(b.encode()) for b in bodies) <= 256 * 1024
        if self.die_after_batches is not None and self.batches >= self.die_after_batches:
            self.die_after_batches = None  # the retry's Lambda is healthy
            raise LambdaDied
        self.batches += 1
        self.bodies.extend(bodies)

    def is_empty(self) -> bool:
        return True

    def record_ids(self, record_type: str | None = None) -> list[str]:
        out = []
        for body in self.bodies:
            for record in json.loads(body)["records"]:
                if record_type is None or record["record_type"] == record_type:
                    out.append(record["xero_id"])
        return out


@dataclass
class FakeMachine:
    started: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    running: bool = True

    def start(self, name: str, payload: Mapping[str, str]) -> str:
        self.started.append((name, dict(payload)))
        return f"arn:aws:states:eu-west-1:123456789012:execution:InitialSync:{name}"

    def is_running(self, execution_arn: str) -> bool:
        return self.running

    def stop(self, execution_arn: str, *, cause: str) -> bool:
        was_running, self.running = self.running, False
        return was_running


def connected(
    tenant_id: str = "tenant-1", status: ConnectionStatus = ConnectionStatus.CONNECTED
) -> XeroConnection:
    return XeroConnection(
        org_id="org-1",
        tenant_id=tenant_id,
        status=status,
        first_connected_at=NOW,
        connected_at=NOW,
        updated_at=NOW,
    )


@dataclass
class FakeConnections:
    """The org's connection (a connected tenant unless told otherwise)."""

    connection: XeroConnection | None = field(default_factory=connected)

    def get_connection(self, org_id: str) -> XeroConnection | None:
        return self.connection

    def find_by_tenant(self, tenant_id: str) -> list[XeroConnection]:
        return [self.connection] if self.connection and self.connection.tenant_id == tenant_id else []

    def list_connected(self) -> list[XeroConnection]:
        connected = self.connection is not None and self.connection.status == ConnectionStatus.CONNECTED
        return [self.connection] if self.connection is not None and connected else []

    def save_connection(
        self, connection: XeroConnection, *, ciphertext: bytes, access_expires_at: datetime, now: datetime
    ) -> int:
        self.connection = connection
        return 1

    def set_status(
        self,
        org_id: str,
        status: ConnectionStatus,
        reason: str | None,
        *,
        now: datetime,
        reason_code: str | None = None,
    ) -> None:
        if self.connection is not None:
            update = {"status": status, "reason": reason, "reason_code": reason_code}
            self.connection = self.connection.model_copy(update=update)

    def disconnect(self, org_id: str, tenant_id: str, *, reason: str, now: datetime) -> None:
        self.set_status(org_id, ConnectionStatus.DISCONNECTED, reason, now=now, reason_code="disconnected")

    def record_change(self, org_id: str, at: datetime) -> None:
        if self.connection is not None:
            self.connection = self.connection.model_copy(update={"last_change_at": at})


class FakeLimiter:
    """The rate limiter's status as Xero last reported it (nothing seen yet)."""

    def status(self, tenant_id: str) -> RateStatus:
        return RateStatus(
            tenant_id=tenant_id,
            minute_remaining=None,
            day_remaining=None,
            app_minute_remaining=None,
            quota_observed_at=None,
            calls_last_minute=0,
            in_flight=0,
            calls_today=0,
            blocked_until=None,
            day_blocked_until=None,
        )
