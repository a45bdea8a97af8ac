"""In-memory fakes of the export's ports: the ledger (versioned, conditional), settings, synced records, the
queues, and a small Xero that refuses payments in Xero's own words and can lose an answer after the write."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from xero_bridge.errors import XeroTimeout
from xero_bridge.models import records as ours
from xero_bridge.models.connection import ConnectionStatus, XeroConnection
from xero_bridge.models.payments import (
    ExportSettings,
    HistoryEntry,
    PaymentRecord,
    PaymentStatus,
)
from xero_bridge.models.xero import Invoice, Payment, PaymentCreate, PaymentResult
from xero_bridge.services.ports import TimeLeft

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
TENANT = "7f0c9a52-1111-4aaa-8bbb-000000000001"
ORG = "acme-ar"
GBP_BANK = "0a0a0a0a-0000-4000-8000-00000000b001"
USD_BANK = "0a0a0a0a-0000-4000-8000-00000000b002"


def invoice_id(n: int) -> str:
    return f"1b1b1b1b-0000-4000-8000-{n:012d}"


class Clock:
    """A clock the test moves (a lease running out)."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def payment(
    payment_id: str = "pay-1",
    *,
    invoice: str = invoice_id(1),
    amount: str = "100.00",
    currency: str = "GBP",
    on: date = date(2026, 11, 20),
    reference: str | None = "Cheque 1042",
) -> PaymentRecord:
    return PaymentRecord(
        org_id=ORG,
        payment_id=payment_id,
        tenant_id=TENANT,
        invoice_id=invoice,
        amount=Decimal(amount),
        currency=currency,
        date=on,
        reference=reference,
        created_at=NOW,
        updated_at=NOW,
        history=(HistoryEntry(at=NOW, event="recorded"),),
    )


class FakeLedger:
    """The ledger's contract: versions, conditional saves; ``before_save`` lets a test race a save."""

    def __init__(self, *records: PaymentRecord) -> None:
        self.items: dict[tuple[str, str], PaymentRecord] = {(r.org_id, r.payment_id): r for r in records}
        self.before_save: Callable[[PaymentRecord], None] | None = None
        self.saves = 0

    def get(self, org_id: str, payment_id: str) -> PaymentRecord | None:
        return self.items.get((org_id, payment_id))

    def get_many(self, org_id: str, payment_ids: Sequence[str]) -> dict[str, PaymentRecord]:
        return {pid: self.items[(org_id, pid)] for pid in payment_ids if (org_id, pid) in self.items}

    def create(self, record: PaymentRecord) -> bool:
        key = (record.org_id, record.payment_id)
        if key in self.items:
            return False
        self.items[key] = record
        return True

    def save(self, record: PaymentRecord, *, previous_version: int) -> bool:
        if self.before_save is not None:
            hook, self.before_save = self.before_save, None
            hook(record)
        key = (record.org_id, record.payment_id)
        if key not in self.items or self.items[key].version != previous_version:
            return False
        assert record.version == previous_version + 1
        self.items[key] = record
        self.saves += 1
        return True

    def page(
        self, org_id: str, *, status: PaymentStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[PaymentRecord], str | None]:
        records = sorted(
            (r for (o, _), r in self.items.items() if o == org_id and (status is None or r.status == status)),
            key=lambda r: r.payment_id,
        )
        start = int(cursor or 0)
        end = start + limit
        return records[start:end], str(end) if end < len(records) else None

    def ids_with_status(self, org_id: str, status: PaymentStatus) -> Iterator[str]:
        return iter([r.payment_id for (o, _), r in self.items.items() if o == org_id and r.status == status])

    def one(self, payment_id: str) -> PaymentRecord:
        return self.items[(ORG, payment_id)]


@dataclass
class FakeSettings:
    bank_accounts: dict[str, str] = field(default_factory=lambda: {"GBP": GBP_BANK})
    puts: int = 0

    def get_settings(self, org_id: str) -> ExportSettings:
        return ExportSettings(bank_accounts=dict(self.bank_accounts))

    def put_settings(self, org_id: str, settings: ExportSettings) -> ExportSettings:
        self.bank_accounts = dict(settings.bank_accounts)
        self.puts += 1
        return settings


@dataclass
class FakeRecords:
    """What the sync holds: invoices, payment accounts, the organisation."""

    synced: dict[str, ours.Invoice] = field(default_factory=dict)
    accounts: list[ours.BankAccount] = field(default_factory=list)
    base_currency: str | None = "GBP"

    def invoices(self, tenant_id: str, invoice_ids: Sequence[str]) -> dict[str, ours.Invoice]:
        return {i: self.synced[i] for i in invoice_ids if i in self.synced}

    def payment_accounts(self, tenant_id: str) -> list[ours.BankAccount]:
        return list(self.accounts)

    def organisation(self, tenant_id: str) -> ours.Organisation | None:
        if self.base_currency is None:
            return None
        return ours.Organisation(xero_id=TENANT, base_currency=self.base_currency, xero_updated_at=NOW)

    def sync(self, xero: FakeXero, number: str) -> None:
        """The sync reads the invoice as Xero holds it now."""
        held = xero.invoices_by_id[xero.numbers[number]]
        self.synced[held.invoice_id] = ours.Invoice(
            xero_id=held.invoice_id,
            number=held.number,
            status=held.status,
            currency=held.currency,
            amount_due=held.due,
            amount_paid=held.paid,
            xero_updated_at=NOW,
        )


@dataclass
class FakeQueue:
    sent: list[tuple[str, list[str], str]] = field(default_factory=list)
    delays: dict[str, int] = field(default_factory=dict)

    def send(self, org_id: str, payment_ids: Sequence[str], *, trigger: str = "recorded") -> int:
        self.sent.append((org_id, list(payment_ids), trigger))
        return 1

    def retry_later(self, receipt_handle: str, seconds: int) -> None:
        self.delays[receipt_handle] = seconds

    def queued_ids(self) -> list[str]:
        return [pid for _, ids, _ in self.sent for pid in ids]


@dataclass
class FakeDeadLetters:
    letters: list[tuple[str, str]] = field(default_factory=list)

    def send(self, body: str, reason: str) -> None:
        self.letters.append((body, reason))


@dataclass
class FakeConnections:
    tenant_id: str | None = TENANT
    status: ConnectionStatus = ConnectionStatus.CONNECTED

    def get_connection(self, org_id: str) -> XeroConnection | None:
        if self.tenant_id is None:
            return None
        return XeroConnection(
            org_id=org_id,
            tenant_id=self.tenant_id,
            status=self.status,
            first_connected_at=NOW,
            connected_at=NOW,
            updated_at=NOW,
        )

    def find_by_tenant(self, tenant_id: str) -> list[XeroConnection]:
        found = self.get_connection(ORG)
        return [found] if found else []

    def save_connection(
        self, connection: XeroConnection, *, ciphertext: bytes, access_expires_at: datetime, now: datetime
    ) -> int:
        raise NotImplementedError

    def set_status(self, org_id: str, status: ConnectionStatus, reason: str | None, *, now: datetime) -> None:
        self.status = status


# --- a small Xero -----------------------------------------------------------------------------------------


@dataclass
class XeroInvoice:
    invoice_id: str
    number: str
    currency: str
    total: Decimal
    status: str = "AUTHORISED"
    credited: Decimal = Decimal(0)
    payments: list[tuple[str, Decimal, str]] = field(default_factory=list)  # (PaymentID, amount, reference)

    @property
    def paid(self) -> Decimal:
        return sum((amount for _, amount, _ in self.payments), Decimal(0))

    @property
    def due(self) -> Decimal:
        return self.total - self.paid - self.credited


class FakeXero:
    """Xero's payments for one tenant, refusing in Xero's words; shared by the clients it hands out.

    ``fail`` raises the next errors in turn, before the request is done; ``lose_answers`` makes the next
    PUTs write and then lose the answer (the emulator's ``phase=after``).
    """

    def __init__(self) -> None:
        self.invoices_by_id: dict[str, XeroInvoice] = {}
        self.numbers: dict[str, str] = {}
        self.accounts = {GBP_BANK: "GBP", USD_BANK: "USD"}
        self.lock_date: date | None = None
        self.fail: list[Exception] = []
        self.lose_answers = 0
        self.retry_meets: Exception | None = None  # after a lost answer, the transport's retry meets this
        self.calls: list[tuple[str, Any]] = []
        self.keys: list[str] = []

    def add_invoice(
        self, n: int, total: str = "100.00", *, currency: str = "GBP", status: str = "AUTHORISED"
    ) -> str:
        invoice = XeroInvoice(invoice_id(n), f"INV-{n:04d}", currency, Decimal(total), status)
        self.invoices_by_id[invoice.invoice_id] = invoice
        self.numbers[invoice.number] = invoice.invoice_id
        return invoice.invoice_id

    def pay_by_hand(self, n: int, amount: str, reference: str = "by hand") -> None:
        invoice = self.invoices_by_id[invoice_id(n)]
        invoice.payments.append((str(uuid.uuid4()), Decimal(amount), reference))
        if invoice.due <= 0:
            invoice.status = "PAID"

    def credit(self, n: int, amount: str) -> None:
        invoice = self.invoices_by_id[invoice_id(n)]
        invoice.credited += Decimal(amount)
        if invoice.due <= 0:
            invoice.status = "PAID"

    def payments_on(self, n: int) -> list[tuple[str, Decimal, str]]:
        return list(self.invoices_by_id[invoice_id(n)].payments)

    def puts(self) -> int:
        return sum(1 for kind, _ in self.calls if kind == "PUT")

    def __call__(self, tenant_id: str, *, time_left: TimeLeft | None = None) -> FakeXeroClient:
        assert tenant_id == TENANT
        return FakeXeroClient(self)


class FakeXeroClient:
    def __init__(self, xero: FakeXero) -> None:
        self._xero = xero
        self.calls = 0

    def _call(self, kind: str, what: Any) -> None:
        self.calls += 1
        self._xero.calls.append((kind, what))
        if self._xero.fail:
            raise self._xero.fail.pop(0)

    def invoices(self, invoice_ids: Sequence[str]) -> list[Invoice]:
        self._call("GET", list(invoice_ids))
        out = []
        for iid in invoice_ids:
            held = self._xero.invoices_by_id.get(iid)
            if held is None:
                continue
            out.append(
                Invoice(
                    invoice_id=held.invoice_id,
                    invoice_number=held.number,
                    status=held.status,
                    currency_code=held.currency,
                    total=held.total,
                    amount_due=held.due,
                    amount_paid=held.paid,
                    amount_credited=held.credited,
                    payments=[
                        Payment(payment_id=pid, amount=amount, reference=ref)
                        for pid, amount, ref in held.payments
                    ],
                )
            )
        return out

    def create_payments(
        self, payments: Sequence[PaymentCreate], *, idempotency_key: str
    ) -> list[PaymentResult]:
        self._call("PUT", [p.invoice_id for p in payments])
        self._xero.keys.append(idempotency_key)
        results = [self._one(index, p) for index, p in enumerate(payments)]
        if self._xero.lose_answers:
            self._xero.lose_answers -= 1
            if self._xero.retry_meets is not None:  # the transport retried, and its retry was refused
                self.calls += 1
                raise self._xero.retry_meets
            raise XeroTimeout("PUT /Payments: RemoteProtocolError after 4 attempt(s)")
        return results

    def _one(self, index: int, payment: PaymentCreate) -> PaymentResult:
        xero = self._xero
        invoice = xero.invoices_by_id.get(payment.invoice_id)
        errors = []
        if invoice is None:
            errors.append("Invoice could not be found")
        elif invoice.status in ("DRAFT", "SUBMITTED"):
            errors.append("Payments can only be made against Authorised documents")
        elif invoice.status != "AUTHORISED":
            errors.append("Invoice not of valid status for modification")
        elif payment.amount > invoice.due:
            errors.append("Payment amount exceeds the amount outstanding on this document")
        account_currency = xero.accounts.get(payment.account_id or "")
        if invoice is not None and account_currency not in (invoice.currency, "GBP"):
            errors.append(
                f"The currency of the bank account ({account_currency}) must be the same as the currency of "
                f"the document ({invoice.currency}) or the organisation's base currency"
            )
        if xero.lock_date is not None and payment.date <= xero.lock_date:
            errors.append(
                f"The document date cannot be before the period lock date of {xero.lock_date:%d %b %Y}"
            )
        if errors:
            return PaymentResult(index=index, validation_errors=errors, status="ERROR")
        assert invoice is not None
        payment_id = str(uuid.uuid4())
        invoice.payments.append((payment_id, payment.amount, payment.reference or ""))
        if invoice.due <= 0:
            invoice.status = "PAID"
        return PaymentResult(
            index=index,
            payment=Payment(payment_id=payment_id, amount=payment.amount, reference=payment.reference),
            status="OK",
            invoice_id=invoice.invoice_id,
            payment_id=payment_id,
        )
