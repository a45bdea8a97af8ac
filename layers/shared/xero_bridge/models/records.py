"""What the AR platform holds of a Xero organisation: our own records, not Xero's.

Xero's records (:mod:`xero_bridge.models.xero`) are mapped into these by the import rules
(:mod:`xero_bridge.domain.import_rules`) and written to ``RecordsTable`` by the writer only. They keep what an
AR team works with, in one shape whatever path a version came through (initial-sync page, webhook fetch,
catch-up, fetch by id):

- money is :class:`~decimal.Decimal` (finite: DynamoDB stores no NaN), always beside its currency;
- instants are timezone-aware UTC :class:`~datetime.datetime`; calendar dates are :class:`~datetime.date`
  (dates before 1970 are ordinary dates);
- every record keeps ``xero_updated_at``, the version the writer orders deliveries by.

:class:`SyncedRecord` wraps one record with where that version came from (:class:`RecordSource`) — kept on
the stored item as the per-record sync trail; :class:`SkippedRecord` says why a Xero record was not imported.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from xero_bridge.models.status import ConnectionStatus

__all__ = [
    "RESOURCE_OF",
    "XERO_ID_PATTERN",
    "Allocation",
    "BankAccount",
    "CalendarDate",
    "CreditNote",
    "CreditNoteView",
    "Customer",
    "CustomerView",
    "Invoice",
    "InvoiceStatus",
    "InvoiceView",
    "Money",
    "Organisation",
    "Overpayment",
    "OverpaymentView",
    "Payment",
    "Prepayment",
    "PrepaymentView",
    "RecordPayload",
    "RecordSource",
    "RecordType",
    "SkipReason",
    "SkippedRecord",
    "SourceKind",
    "StoredRecord",
    "SyncTrail",
    "SyncedRecord",
    "UtcDateTime",
    "WriteOutcome",
    "XeroPaymentView",
    "canonical_xero_id",
    "record_view",
]


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDateTime = Annotated[AwareDatetime, AfterValidator(_utc)]
"""An instant: a naive datetime is refused (its zone would be a guess), an aware one is moved to UTC."""

CalendarDate = date
"""A calendar date (Xero's ``x-is-msdate`` fields); aliased so a field may itself be called ``date``."""

Money = Annotated[Decimal, Field(allow_inf_nan=False)]
"""An exact, finite amount of money (JSON carries it as a string, so no float ever touches it)."""


class RecordType(StrEnum):
    """Kinds of synced records; the value prefixes the record's sort key (``INVOICE#{xero_id}``)."""

    CONTACT = "CONTACT"
    INVOICE = "INVOICE"
    CREDIT_NOTE = "CREDIT_NOTE"
    PAYMENT = "PAYMENT"
    OVERPAYMENT = "OVERPAYMENT"
    PREPAYMENT = "PREPAYMENT"
    BANK_ACCOUNT = "BANK_ACCOUNT"
    ORGANISATION = "ORGANISATION"


RESOURCE_OF: dict[RecordType, str] = {
    RecordType.CONTACT: "Contacts",
    RecordType.INVOICE: "Invoices",
    RecordType.CREDIT_NOTE: "CreditNotes",
    RecordType.PAYMENT: "Payments",
    RecordType.OVERPAYMENT: "Overpayments",
    RecordType.PREPAYMENT: "Prepayments",
    RecordType.BANK_ACCOUNT: "Accounts",
    RecordType.ORGANISATION: "Organisation",
}
"""The Xero Accounting API resource each record type is read from."""


class _Record(BaseModel):
    # Frozen: a record is one version of Xero's data; "ignore" lets a newer producer add a field within
    # schema 1 without failing an older writer during a deploy.
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)


# --- Our records -------------------------------------------------------------------------------------------


class Customer(_Record):
    """A Xero contact that is a customer (``IsCustomer``); ``active`` is False once archived in Xero.

    Attributes
    ----------
    mobile_phone
        Only Xero's ``MOBILE`` phone, formatted ``+{country} {area} {number}`` from the parts Xero has
        (C6: the AR platform texts this number; a landline or a fax would not reach anyone).
    ar_outstanding, ar_overdue
        Xero's own ``Balances.AccountsReceivable`` figures, in the contact's currency terms as Xero reports
        them (the off-balance check compares them with the synced documents).
    """

    record_type: Literal[RecordType.CONTACT] = RecordType.CONTACT
    xero_id: str
    name: str | None = None
    email: str | None = None
    mobile_phone: str | None = None
    contact_number: str | None = None
    account_number: str | None = None
    default_currency: str | None = None
    is_customer: bool = True
    is_supplier: bool = False
    active: bool = True
    ar_outstanding: Money | None = None
    ar_overdue: Money | None = None
    xero_updated_at: UtcDateTime


class InvoiceStatus(StrEnum):
    """Xero's statuses of a sales invoice (the ``status`` filter of ``GET /orgs/{org_id}/invoices``)."""

    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    AUTHORISED = "AUTHORISED"
    PAID = "PAID"
    VOIDED = "VOIDED"
    DELETED = "DELETED"


class Invoice(_Record):
    """A sales invoice (Xero ``ACCREC``) in any status: DRAFT, SUBMITTED, AUTHORISED, PAID, VOIDED, DELETED.

    ``expected_payment_date`` and ``planned_payment_date`` are the dates the AR team set in Xero (kept, unlike
    the peers). Amounts are in ``currency``; ``currency_rate`` converts to the organisation's base currency.
    """

    record_type: Literal[RecordType.INVOICE] = RecordType.INVOICE
    xero_id: str
    number: str | None = None
    contact_id: str | None = None
    contact_name: str | None = None
    status: str
    date: CalendarDate | None = None
    due_date: CalendarDate | None = None
    expected_payment_date: CalendarDate | None = None
    planned_payment_date: CalendarDate | None = None
    fully_paid_on: CalendarDate | None = None
    currency: str | None = None
    currency_rate: Money | None = None
    sub_total: Money | None = None
    total_tax: Money | None = None
    total: Money | None = None
    amount_due: Money | None = None
    amount_paid: Money | None = None
    amount_credited: Money | None = None
    reference: str | None = None
    xero_updated_at: UtcDateTime


class Allocation(_Record):
    """Part of a credit note, overpayment or prepayment applied to an invoice."""

    allocation_id: str | None = None
    invoice_id: str | None = None
    amount: Money
    date: CalendarDate


class CreditNote(_Record):
    """A sales credit note (Xero ``ACCRECCREDIT``) with its allocations to invoices."""

    record_type: Literal[RecordType.CREDIT_NOTE] = RecordType.CREDIT_NOTE
    xero_id: str
    number: str | None = None
    contact_id: str | None = None
    contact_name: str | None = None
    status: str
    date: CalendarDate | None = None
    due_date: CalendarDate | None = None
    fully_paid_on: CalendarDate | None = None
    currency: str | None = None
    currency_rate: Money | None = None
    sub_total: Money | None = None
    total_tax: Money | None = None
    total: Money | None = None
    remaining_credit: Money | None = None
    reference: str | None = None
    allocations: tuple[Allocation, ...] = ()
    xero_updated_at: UtcDateTime


class Payment(_Record):
    """A payment on the receivable side: against a sales invoice, credit note, overpayment or prepayment.

    ``payment_type`` is Xero's (``ACCRECPAYMENT``, ``ARCREDITPAYMENT``, ``AROVERPAYMENTPAYMENT``,
    ``ARPREPAYMENTPAYMENT``); exactly one of the document ids is usually set. ``status`` is ``AUTHORISED``
    or ``DELETED`` (Xero never edits a payment: it deletes it).
    """

    record_type: Literal[RecordType.PAYMENT] = RecordType.PAYMENT
    xero_id: str
    payment_type: str | None = None
    invoice_id: str | None = None
    credit_note_id: str | None = None
    overpayment_id: str | None = None
    prepayment_id: str | None = None
    contact_id: str | None = None
    account_id: str | None = None
    amount: Money | None = None
    currency: str | None = None
    currency_rate: Money | None = None
    date: CalendarDate | None = None
    status: str | None = None
    reference: str | None = None
    is_reconciled: bool = False
    xero_updated_at: UtcDateTime


class _CustomerCredit(_Record):
    """Money a customer paid ahead (an overpayment or a prepayment), with its allocations to invoices."""

    xero_id: str
    type: str
    contact_id: str | None = None
    contact_name: str | None = None
    status: str | None = None
    date: CalendarDate | None = None
    currency: str | None = None
    currency_rate: Money | None = None
    sub_total: Money | None = None
    total_tax: Money | None = None
    total: Money | None = None
    remaining_credit: Money | None = None
    reference: str | None = None
    allocations: tuple[Allocation, ...] = ()
    xero_updated_at: UtcDateTime


class Overpayment(_CustomerCredit):
    """A customer's overpayment (Xero ``RECEIVE-OVERPAYMENT``) with its allocations to invoices."""

    record_type: Literal[RecordType.OVERPAYMENT] = RecordType.OVERPAYMENT


class Prepayment(_CustomerCredit):
    """A customer's prepayment (Xero ``RECEIVE-PREPAYMENT``) with its allocations to invoices."""

    record_type: Literal[RecordType.PREPAYMENT] = RecordType.PREPAYMENT


class BankAccount(_Record):
    """A Xero account of type ``BANK``: where exported payments go (one is chosen per currency).

    ``currency`` None means the organisation's base currency (Xero leaves ``CurrencyCode`` out then).
    ``number_last4`` keeps only the last four digits of the bank account number: enough to recognise the
    account in a picker, useless to anyone who reads the table.
    """

    record_type: Literal[RecordType.BANK_ACCOUNT] = RecordType.BANK_ACCOUNT
    xero_id: str
    code: str | None = None
    name: str | None = None
    type: str | None = None  # Xero's account Type: BANK, or another type with payments enabled
    currency: str | None = None
    status: str | None = None
    number_last4: str | None = Field(default=None, pattern=r"^[0-9]{1,4}$")
    xero_updated_at: UtcDateTime


class Organisation(_Record):
    """The connected Xero organisation; ``xero_updated_at`` is when it was read (Xero dates no change)."""

    record_type: Literal[RecordType.ORGANISATION] = RecordType.ORGANISATION
    xero_id: str
    name: str | None = None
    short_code: str | None = None
    base_currency: str | None = None
    timezone: str | None = None
    country_code: str | None = None
    xero_updated_at: UtcDateTime


RecordPayload = Annotated[
    Customer | Invoice | CreditNote | Payment | Overpayment | Prepayment | BankAccount | Organisation,
    Field(discriminator="record_type"),
]
"""Any of our records, told apart by ``record_type``."""


# --- Where a version came from, and why a record was left out ----------------------------------------------

SourceKind = Literal["page", "webhook", "catch_up", "by_id"]


class RecordSource(_Record):
    """Where a version of a record came from: the per-record sync trail support reads.

    Attributes
    ----------
    kind
        ``page`` (initial-sync page), ``webhook`` (fetched after webhook events), ``catch_up`` (the scheduled
        If-Modified-Since sweep) or ``by_id`` (fetched on demand, e.g. by support or a replay).
    run_id, resource, page, part
        The sync run, the page of ``resource`` and the part of the run it was read in (``page`` kind):
        ``chase`` (what the AR team chases with, first) or ``history`` (the rest, and every change since
        the run's snapshot).
    event_ids, event_sequence
        The webhook events behind the fetch and the delivery's last event sequence (``webhook`` kind).
    cursor
        The If-Modified-Since the catch-up asked from (``catch_up`` kind).
    fetched_at
        When the version was read from Xero.
    """

    kind: SourceKind
    run_id: str | None = None
    resource: str | None = None
    page: int | None = Field(default=None, ge=1)
    part: Literal["chase", "history"] | None = None
    event_ids: tuple[str, ...] = ()
    event_sequence: int | None = None
    cursor: UtcDateTime | None = None
    fetched_at: UtcDateTime = Field(default_factory=lambda: datetime.now(UTC))

    @model_validator(mode="after")
    def _complete(self) -> RecordSource:
        if self.kind == "page" and (self.resource is None or self.page is None):
            raise ValueError("a page source needs its resource and page")
        return self


class SyncedRecord(_Record):
    """One version of one record, ready for the writer.

    Attributes
    ----------
    record_type, xero_id, xero_updated_at
        The record's identity and version (the same as the payload's; checked).
    payload
        The record itself.
    only_if_exists
        Update the record if we hold it, never create it (a contact archived after it was imported: marked
        inactive, while one we never held stays out).
    source
        Where this version came from (stored with it).
    """

    record_type: RecordType
    xero_id: str = Field(min_length=1)
    xero_updated_at: UtcDateTime
    payload: RecordPayload
    only_if_exists: bool = False
    source: RecordSource

    @classmethod
    def of(
        cls, payload: RecordPayload, source: RecordSource, *, only_if_exists: bool = False
    ) -> SyncedRecord:
        """Wrap ``payload``, copying its identity and version into the envelope."""
        return cls(
            record_type=payload.record_type,
            xero_id=payload.xero_id,
            xero_updated_at=payload.xero_updated_at,
            payload=payload,
            only_if_exists=only_if_exists,
            source=source,
        )

    @model_validator(mode="after")
    def _consistent(self) -> SyncedRecord:
        payload = self.payload
        if (payload.record_type, payload.xero_id, payload.xero_updated_at) != (
            self.record_type,
            self.xero_id,
            self.xero_updated_at,
        ):
            raise ValueError("record_type, xero_id and xero_updated_at must match the payload's")
        return self


class SkipReason(StrEnum):
    """Why a Xero record is not in the AR platform (the answer support gives)."""

    SUPPLIER_ONLY = "supplier_only"
    NOT_A_CUSTOMER = "not_a_customer"
    ARCHIVED = "archived"
    GDPR_REQUEST = "gdpr_request"
    NOT_RECEIVABLE = "not_receivable"
    NOT_A_BANK_ACCOUNT = "not_a_bank_account"
    MALFORMED = "malformed"


class SkippedRecord(_Record):
    """A Xero record the import rules left out, with the reason code and a sentence for a human.

    ``detail`` never quotes the record's content (it is logged and stored): it names fields, not values.
    """

    record_type: RecordType
    xero_id: str | None = None
    reason: SkipReason
    detail: str


class WriteOutcome(StrEnum):
    """What the writer's conditional write of one record did."""

    WRITTEN = "written"
    """The version is stored (the record was new, or we held an older version)."""
    STALE = "stale"
    """We hold this version or a newer one: nothing changed (a duplicate or late delivery)."""
    MISSING_FOR_UPDATE = "missing_for_update"
    """An ``only_if_exists`` version of a record we never held: not created."""


class StoredRecord(BaseModel):
    """A record as ``RecordsTable`` holds it: the record, its version and its sync trail."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    tenant_id: str
    org_id: str
    record_type: RecordType
    xero_id: str
    xero_updated_at: UtcDateTime
    received_at: UtcDateTime
    source: RecordSource
    payload: RecordPayload


# --- What the integration API answers for one record --------------------------------------------------------

XERO_ID_PATTERN = r"^[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}$"
"""A Xero id in a path: a GUID, dashed or not (anything else is a 400 naming the parameter)."""


def canonical_xero_id(value: str) -> str:
    """A Xero GUID as Xero writes it in JSON: lower case, dashed (``IDs=`` and paths take any spelling)."""
    return str(uuid.UUID(value))


class SyncTrail(BaseModel):
    """Where the version we hold came from, and when the writer stored it (a record's ``sync`` block)."""

    model_config = ConfigDict(frozen=True)

    kind: SourceKind
    run_id: str | None = None
    resource: str | None = None
    page: int | None = None
    event_ids: tuple[str, ...] = ()
    event_sequence: int | None = None
    cursor: UtcDateTime | None = None
    fetched_at: UtcDateTime
    received_at: UtcDateTime
    #: The connection the record came through, as it is now: a ``disconnected`` source is no longer kept
    #: current (the record stays, as it was when the org disconnected), ``needs_reconnect`` is paused.
    source_connection: ConnectionStatus = ConnectionStatus.CONNECTED

    @classmethod
    def of(cls, stored: StoredRecord, source_connection: ConnectionStatus) -> SyncTrail:
        return cls(
            **stored.source.model_dump(), received_at=stored.received_at, source_connection=source_connection
        )


class InvoiceView(Invoice):
    """``GET /orgs/{org_id}/invoices/{invoice_id}``: the invoice as we hold it (money as strings), trail."""

    sync: SyncTrail


class CustomerView(Customer):
    """``GET /orgs/{org_id}/customers/{contact_id}``: the customer as we hold it, and its trail."""

    sync: SyncTrail


class CreditNoteView(CreditNote):
    """A credit note of ``GET /orgs/{org_id}/credit-notes``, with its allocations and its trail."""

    sync: SyncTrail


class XeroPaymentView(Payment):
    """A payment as Xero holds it (``GET /orgs/{org_id}/xero-payments``), and its trail."""

    sync: SyncTrail


class OverpaymentView(Overpayment):
    """A customer's overpayment as Xero holds it, with its allocations to invoices, and its trail."""

    sync: SyncTrail


class PrepaymentView(Prepayment):
    """A customer's prepayment as Xero holds it, with its allocations to invoices, and its trail."""

    sync: SyncTrail


_View = TypeVar(
    "_View", CustomerView, InvoiceView, CreditNoteView, XeroPaymentView, OverpaymentView, PrepaymentView
)


def record_view(view: type[_View], stored: StoredRecord, source_connection: ConnectionStatus) -> _View:
    """What the integration API answers for a held record: its fields as our models name them, and its
    trail (``source_connection`` is the connection as it is now, e.g. ``disconnected``).

    Raises
    ------
    pydantic.ValidationError
        When ``stored`` is not of the view's record type.
    """
    return view(**stored.payload.model_dump(), sync=SyncTrail.of(stored, source_connection))
