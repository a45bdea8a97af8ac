"""In-memory fakes of the real-time sync's ports: a Xero organisation that filters as Xero does, the records
we hold, the webhook queue and its DLQ, the sequence mark, catch-up requests and states."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from tests.unit.services.sync.fakes import MODELS, NOW
from xero_bridge.errors import InvalidCursorError, XeroRateLimited
from xero_bridge.models import xero as xm
from xero_bridge.models.listings import Position, RecordQuery, RecordsPage
from xero_bridge.models.pages import Page, Quota, RateStatus
from xero_bridge.models.records import (
    RecordSource,
    RecordType,
    SkippedRecord,
    StoredRecord,
    SyncedRecord,
    WriteOutcome,
)
from xero_bridge.models.webhooks import (
    CatchUpOutcome,
    CatchUpPace,
    CatchUpRequest,
    SequenceCheck,
    WebhookHealth,
)
from xero_bridge.models.xero_dates import parse_xero_datetime

TENANT = "tenant-1"
ORG = "org-1"
ID_KEYS = {
    "Contacts": "ContactID",
    "Invoices": "InvoiceID",
    "CreditNotes": "CreditNoteID",
    "Payments": "PaymentID",
    "Overpayments": "OverpaymentID",
    "Prepayments": "PrepaymentID",
    "Accounts": "AccountID",
}
_GUID_WHERE = re.compile(r'Invoice\.InvoiceID==Guid\("([^"]+)"\)')


def xero_date(when: datetime) -> str:
    return f"/Date({int(when.timestamp() * 1000)}+0000)/"


@dataclass
class FakeXeroOrg:
    """One organisation as Xero answers the flows: by ids, by ``Invoice.InvoiceID`` where, If-Modified-Since.

    ``rate_limit_next`` 429s that many calls (minute problem, ``retry_after`` Xero seconds).
    """

    data: dict[str, list[dict[str, Any]]]
    calls: int = 0
    rate_limited: int = 0
    rate_limit_next: int = 0
    retry_after: float = 30.0
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def _call(self, resource: str, asked: dict[str, Any]) -> None:
        self.calls += 1
        self.requests.append((resource, asked))
        if self.rate_limit_next:
            self.rate_limit_next -= 1
            self.rate_limited += 1
            raise XeroRateLimited("429", problem="minute", retry_after_seconds=self.retry_after)

    def _page(self, resource: str, items: list[dict[str, Any]], *, is_last: bool = True) -> Page[Any]:
        records = [MODELS[resource].model_validate(item) for item in items]
        return Page[Any](records=records, quota=Quota(observed_at=NOW), is_last=is_last)

    def fetch_by_ids(self, resource: str, ids: Sequence[str]) -> Page[Any]:
        wanted = set(ids)
        for _ in range(0, max(len(wanted), 1), 50):
            self._call(resource, {"ids": sorted(wanted)})
        return self._page(resource, [i for i in self.data[resource] if i[ID_KEYS[resource]] in wanted])

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
        self._call(resource, {"page": page, "where": where, "if_modified_since": if_modified_since})
        items = list(self.data[resource])
        if where and "Invoice.InvoiceID" in where:
            invoices = set(_GUID_WHERE.findall(where))
            items = [i for i in items if (i.get("Invoice") or {}).get("InvoiceID") in invoices]
        if if_modified_since is not None:
            items = [i for i in items if parse_xero_datetime(i["UpdatedDateUTC"]) > if_modified_since]
        size = page_size or 100
        number = page or 1
        chunk = items[(number - 1) * size : number * size]
        return self._page(resource, chunk, is_last=page is None or number * size >= len(items))

    def organisation(self) -> xm.Organisation:
        raise AssertionError("the real-time flows never read the organisation")


@dataclass
class FakeRecords:
    """What we hold (``RecordsStore``): stored records by (type, id), skip reasons."""

    held: dict[tuple[RecordType, str], StoredRecord] = field(default_factory=dict)
    skipped: dict[tuple[RecordType, str], SkippedRecord] = field(default_factory=dict)
    reads: int = 0

    def hold(self, record: SyncedRecord, *, tenant_id: str = TENANT, org_id: str = ORG) -> None:
        self.held[(record.record_type, record.xero_id)] = StoredRecord(
            tenant_id=tenant_id,
            org_id=org_id,
            record_type=record.record_type,
            xero_id=record.xero_id,
            xero_updated_at=record.xero_updated_at,
            received_at=NOW,
            source=record.source,
            payload=record.payload,
        )

    def upsert_many(self, tenant_id: str, org_id: str, records: Sequence[SyncedRecord]) -> list[WriteOutcome]:
        for record in records:
            self.hold(record, tenant_id=tenant_id, org_id=org_id)
        return [WriteOutcome.WRITTEN for _ in records]

    def record_skipped(
        self, tenant_id: str, org_id: str, skipped: SkippedRecord, source: RecordSource
    ) -> None:
        if skipped.xero_id:
            self.skipped[(skipped.record_type, skipped.xero_id)] = skipped

    def get(self, tenant_id: str, record_type: RecordType, xero_id: str) -> StoredRecord | None:
        self.reads += 1
        return self.held.get((record_type, xero_id))

    def get_many(
        self, tenant_id: str, keys: Sequence[tuple[RecordType, str]]
    ) -> dict[tuple[RecordType, str], StoredRecord]:
        self.reads += 1
        return {key: self.held[key] for key in keys if key in self.held}

    def get_skipped(self, tenant_id: str, record_type: RecordType, xero_id: str) -> SkippedRecord | None:
        return self.skipped.get((record_type, xero_id))

    def list_page(
        self, tenant_id: str, query: RecordQuery, *, resume_at: Position | None, limit: int
    ) -> RecordsPage:
        """The records ``query`` selects, by kind then Xero id; a position is the last record's key."""
        self.reads += 1
        matching = sorted(
            (r for r in self.held.values() if _selected(r, query)),
            key=lambda r: (query.record_types.index(r.record_type), r.xero_id),
        )
        keys = [f"{r.record_type.value}#{r.xero_id}" for r in matching]
        start = 0
        if resume_at is not None:
            if set(resume_at) != {"after"} or resume_at["after"] not in keys:
                raise InvalidCursorError("invalid: cursor (not a position of this listing)")
            start = keys.index(resume_at["after"]) + 1
        page = matching[start : start + limit]
        more = start + limit < len(matching)
        return RecordsPage(records=page, resume_at={"after": keys[start + limit - 1]} if more else None)


def _selected(stored: StoredRecord, query: RecordQuery) -> bool:
    payload = stored.payload
    wanted = {
        "contact_id": query.customer_id,
        "status": query.status.value if query.status is not None else None,
        "active": query.active,
    }
    return (
        stored.record_type in query.record_types
        and all(value is None or getattr(payload, name, None) == value for name, value in wanted.items())
        and (query.updated_since is None or stored.xero_updated_at >= query.updated_since)
    )


@dataclass
class FakeWebhookKey:
    value: str = "test-webhook-key"

    def key(self) -> SecretStr:
        return SecretStr(self.value)


@dataclass
class FakeWebhookQueue:
    sent: list[str] = field(default_factory=list)
    hidden: list[tuple[str, int]] = field(default_factory=list)
    dead: list[tuple[str, str]] = field(default_factory=list)

    def send_delivery(self, body: str) -> None:
        self.sent.append(body)

    def return_later(self, receipt_handle: str, seconds: int) -> None:
        self.hidden.append((receipt_handle, seconds))

    def dead_letter(self, body: str, reason: str) -> None:
        self.dead.append((body, reason))


@dataclass
class FakeSequences:
    """The high-water mark, moved forward only, as the DynamoDB adapter does."""

    last: int | None = None
    gaps: int = 0

    def record(self, first: int, last: int, *, now: datetime) -> SequenceCheck:
        previous = self.last
        if previous is not None and last <= previous and first != 1:
            return SequenceCheck(gap=False)
        self.last = last
        if previous is None or first == 1 or first <= previous + 1:
            return SequenceCheck(gap=False)
        self.gaps += 1
        return SequenceCheck(gap=True, expected_first=previous + 1)

    def health(self) -> WebhookHealth:
        return WebhookHealth(last_sequence=self.last, gaps=self.gaps)


@dataclass
class FakeCatchUps:
    requests: list[CatchUpRequest] = field(default_factory=list)

    def request(self, request: CatchUpRequest) -> None:
        self.requests.append(request)

    def request_many(self, requests: Sequence[CatchUpRequest]) -> None:
        self.requests.extend(requests)


@dataclass
class FakeCatchUpStates:
    holder: str | None = None
    outcomes: dict[str, CatchUpOutcome] = field(default_factory=dict)
    paces: list[CatchUpPace] = field(default_factory=list)

    def acquire(self, org_id: str, owner: str, *, now: datetime, seconds: float) -> bool:
        if self.holder not in (None, owner):
            return False
        self.holder = owner
        return True

    def release(self, org_id: str, owner: str) -> None:
        if self.holder == owner:
            self.holder = None

    def save_outcome(self, outcome: CatchUpOutcome) -> None:
        self.outcomes[outcome.org_id] = outcome

    def last_outcome(self, org_id: str) -> CatchUpOutcome | None:
        return self.outcomes.get(org_id)

    def save_pace(self, pace: CatchUpPace) -> None:
        self.paces.append(pace)

    def pace(self) -> CatchUpPace | None:
        return self.paces[-1] if self.paces else None


@dataclass
class FakeQuota:
    day_remaining: int | None = 4000

    def status(self, tenant_id: str) -> RateStatus:
        return RateStatus(
            tenant_id=tenant_id,
            minute_remaining=None,
            day_remaining=self.day_remaining,
            app_minute_remaining=None,
            quota_observed_at=None,
            calls_last_minute=0,
            in_flight=0,
            calls_today=0,
            blocked_until=None,
            day_blocked_until=None,
        )


def xero_invoice(n: int, *, paid: str = "0.00", updated: datetime = NOW) -> dict[str, Any]:
    return {
        "InvoiceID": f"00000000-0000-4000-8000-{n:012d}",
        "InvoiceNumber": f"INV-{n:05d}",
        "Type": "ACCREC",
        "Status": "AUTHORISED",
        "Contact": {"ContactID": "00000000-0000-4000-9000-000000000001", "Name": "Acme"},
        "CurrencyCode": "GBP",
        "Total": "100.00",
        "AmountPaid": paid,
        "AmountDue": str(100 - float(paid)),
        "UpdatedDateUTC": xero_date(updated),
    }


def xero_payment(n: int, invoice_id: str, amount: str, *, updated: datetime = NOW) -> dict[str, Any]:
    return {
        "PaymentID": f"00000000-0000-4000-a000-{n:012d}",
        "Invoice": {"InvoiceID": invoice_id},
        "Account": {"AccountID": "00000000-0000-4000-b000-000000000001", "Code": "090"},
        "Date": "/Date(1764547200000+0000)/",
        "Amount": amount,
        "PaymentType": "ACCRECPAYMENT",
        "Status": "AUTHORISED",
        "UpdatedDateUTC": xero_date(updated),
    }


def xero_contact(n: int, *, customer: bool = True, updated: datetime = NOW) -> dict[str, Any]:
    return {
        "ContactID": f"00000000-0000-4000-9000-{n:012d}",
        "Name": f"Customer {n}",
        "IsCustomer": customer,
        "ContactStatus": "ACTIVE",
        "UpdatedDateUTC": xero_date(updated),
    }


def empty_org() -> dict[str, list[dict[str, Any]]]:
    return {resource: [] for resource in ID_KEYS}


def later(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def event(category: str, resource_id: str, *, tenant_id: str = TENANT, at: datetime = NOW) -> dict[str, Any]:
    return {
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/x/{resource_id}",
        "resourceId": resource_id,
        "eventDateUtc": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
        "eventType": "UPDATE",
        "eventCategory": category,
        "tenantId": tenant_id,
        "tenantType": "ORGANISATION",
    }
