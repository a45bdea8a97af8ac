"""Payments the AR platform records and we export to Xero: the request, the ledger record, its views, the
export settings and the export queues' messages.

The ledger record (:class:`PaymentRecord`) is the one source of truth on whether a payment may be sent to
Xero: every change to it is a conditional write on its ``version`` (``adapters/aws/payments_table.py``), and
its :class:`LedgerState` says where the export stands:

==========  ===================================================================================  =========
state       meaning                                                                              status
==========  ===================================================================================  =========
pending     accepted, waiting for the exporter (a message on the export queue names it)          pending
sending     one exporter holds it (``attempt`` n, ``lease_until``); a lease past its time means  pending
            that attempt died, and the next one looks for the payment in Xero before posting
exported    in Xero (``xero_payment_id``); final                                                 exported
error       refused (``error_code``); final until something changes and a replay re-opens it,    error
            or transient (``retryable``): the queue tries again with backoff
closed      never sent, on purpose (``closed_reason``: the invoice was paid by hand in Xero)     closed
==========  ===================================================================================  =========

``in_doubt`` is True while an attempt may have reached Xero without us reading its answer (a dropped
connection, a timeout, a 5xx, a crash after the claim): such a payment is never posted again before its
invoice's payments in Xero have been searched for the reference we set.

Money is :class:`~decimal.Decimal` (a decimal string on the API, never a float); dates are ISO dates;
instants are aware UTC.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

__all__ = [
    "AMOUNT_PATTERN",
    "CURRENCY_PATTERN",
    "PAYMENT_ID_PATTERN",
    "RETRYABLE_CODES",
    "BankAccountView",
    "ClosedReason",
    "ExportErrorCode",
    "ExportMessage",
    "ExportSettings",
    "ExportSettingsRequest",
    "HistoryEntry",
    "InvoiceFacts",
    "LedgerState",
    "PaymentPage",
    "PaymentRecord",
    "PaymentRequest",
    "PaymentStatus",
    "PaymentView",
    "QueuedMessage",
    "ReplayMessage",
    "ReplayRequest",
    "ReplayResult",
    "XeroPaymentRef",
]

PAYMENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
"""The AR platform's own id of a payment: safe in keys, URLs and the reference we set in Xero."""
CURRENCY_PATTERN = r"^[A-Z]{3}$"
"""An ISO 4217 currency code, as Xero writes it."""
AMOUNT_PATTERN = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$"
"""A payment amount as a decimal string: at most two decimals (what Xero keeps of a payment)."""
MAX_REFERENCE_LENGTH = 180
"""Our own tag (up to 70 characters) is appended to the reference in Xero, whose field takes 255."""
HISTORY_LIMIT = 20
"""Entries of history kept per payment (the latest ones)."""
MAX_IDS_PER_REPLAY = 500


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDateTime = Annotated[AwareDatetime, AfterValidator(_utc)]


def _guid(value: str) -> str:
    """A Xero id in one spelling (lower-case, dashed), however the caller wrote it."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError("must be a Xero id (a GUID)") from exc


XeroId = Annotated[str, AfterValidator(_guid)]
CalendarDate = date
"""A calendar date; aliased so that a field may itself be called ``date``."""


class LedgerState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    EXPORTED = "exported"
    ERROR = "error"
    CLOSED = "closed"


class PaymentStatus(StrEnum):
    """What the AR platform sees: ``sending`` is still ``pending`` to it."""

    PENDING = "pending"
    EXPORTED = "exported"
    ERROR = "error"
    CLOSED = "closed"


class ExportErrorCode(StrEnum):
    """A stable code per reason an export failed; the AR app may switch on it."""

    MISSING_BANK_ACCOUNT = "missing_bank_account"
    INVOICE_PAID = "invoice_paid"
    INVOICE_NOT_AUTHORISED = "invoice_not_authorised"
    AMOUNT_EXCEEDS_DUE = "amount_exceeds_due"
    PERIOD_LOCKED = "period_locked"
    INVOICE_NOT_FOUND = "invoice_not_found"
    CURRENCY_MISMATCH = "currency_mismatch"
    NEEDS_RECONNECT = "needs_reconnect"
    XERO_REJECTED = "xero_rejected"
    # Transient: the queue tries again with backoff, then the exports DLQ keeps the message.
    XERO_UNAVAILABLE = "xero_unavailable"
    XERO_RATE_LIMITED = "xero_rate_limited"
    XERO_TIMEOUT = "xero_timeout"


RETRYABLE_CODES = frozenset(
    {ExportErrorCode.XERO_UNAVAILABLE, ExportErrorCode.XERO_RATE_LIMITED, ExportErrorCode.XERO_TIMEOUT}
)


class ClosedReason(StrEnum):
    PAID_IN_XERO = "paid_in_xero"


_STATUS_OF = {
    LedgerState.PENDING: PaymentStatus.PENDING,
    LedgerState.SENDING: PaymentStatus.PENDING,
    LedgerState.EXPORTED: PaymentStatus.EXPORTED,
    LedgerState.ERROR: PaymentStatus.ERROR,
    LedgerState.CLOSED: PaymentStatus.CLOSED,
}


# --- the API's request --------------------------------------------------------------------------------


def _decimal_string(value: Any) -> Decimal:
    # A JSON number would have gone through a float on the way: only a string keeps the exact amount.
    if not isinstance(value, str):
        raise ValueError('must be a decimal string, e.g. "120.50"')
    if not re.fullmatch(AMOUNT_PATTERN, value):
        raise ValueError('must be a positive decimal string with at most two decimals, e.g. "120.50"')
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the pattern lets through only decimals
        raise ValueError("must be a decimal number") from exc
    if amount <= 0:
        raise ValueError("must be greater than zero")
    return amount


def _iso_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError("must be an ISO date, e.g. 2026-11-21")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("must be an ISO date, e.g. 2026-11-21") from exc


class PaymentRequest(BaseModel):
    """``POST /orgs/{org_id}/payments``: a payment the AR team recorded, to export to Xero."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    payment_id: str = Field(pattern=PAYMENT_ID_PATTERN)
    invoice_id: XeroId
    amount: Decimal
    currency: str = Field(pattern=CURRENCY_PATTERN)
    date: CalendarDate
    reference: str | None = Field(default=None, max_length=MAX_REFERENCE_LENGTH)

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Decimal:
        return _decimal_string(value)

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, value: Any) -> CalendarDate:
        return _iso_date(value)

    @field_validator("reference")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if any(ord(c) < 32 for c in value):
            raise ValueError("must be one line of text")
        return value.strip() or None

    @field_validator("payment_id")
    @classmethod
    def _not_a_route(cls, value: str) -> str:
        if value == "replay":  # POST /payments/replay is the replay route
            raise ValueError("'replay' is reserved")
        return value

    def differences(self, record: PaymentRecord) -> list[str]:
        """The fields where this request differs from what was recorded under the same ``payment_id``."""
        theirs = {
            "invoice_id": record.invoice_id,
            "amount": record.amount,
            "currency": record.currency,
            "date": record.date,
            "reference": record.reference,
        }
        return [name for name, value in theirs.items() if getattr(self, name) != value]


# --- the ledger ---------------------------------------------------------------------------------------


class HistoryEntry(BaseModel):
    """One thing that happened to a payment: ``recorded``, ``sending``, ``exported``, ``found_in_xero``,
    ``error``, ``retrying``, ``closed``, ``replayed``."""

    model_config = ConfigDict(frozen=True)

    at: UtcDateTime
    event: str
    detail: str | None = None
    attempt: int | None = None


class PaymentRecord(BaseModel):
    """A payment in the export ledger (``PaymentsTable``, ``ORG#{org_id}`` / ``PAYMENT#{payment_id}``)."""

    model_config = ConfigDict(frozen=True)

    org_id: str
    payment_id: str
    tenant_id: str
    invoice_id: str
    amount: Decimal
    currency: str
    date: CalendarDate
    reference: str | None = None
    state: LedgerState = LedgerState.PENDING
    attempt: int = Field(default=0, ge=0)
    lease_until: UtcDateTime | None = None
    in_doubt: bool = False
    xero_payment_id: str | None = None
    error_code: ExportErrorCode | None = None
    error_message: str | None = None
    xero_message: str | None = None
    auto_retry: bool = False
    closed_reason: ClosedReason | None = None
    closed_detail: str | None = None
    replays: int = 0
    created_at: UtcDateTime
    updated_at: UtcDateTime
    history: tuple[HistoryEntry, ...] = ()
    version: int = Field(default=1, ge=1)

    @property
    def status(self) -> PaymentStatus:
        return _STATUS_OF[self.state]

    @property
    def retryable(self) -> bool:
        """A transient error (Xero unavailable, rate limited, timed out): a redelivery of its message (the
        queue's own retries, a DLQ redrive) may take it again; a validation error waits for a replay."""
        return self.state == LedgerState.ERROR and self.error_code in RETRYABLE_CODES

    def lease_expired(self, now: datetime) -> bool:
        return self.state == LedgerState.SENDING and (self.lease_until is None or self.lease_until <= now)

    def changed(self, now: datetime, event: str, detail: str | None = None, **changes: Any) -> PaymentRecord:
        """The next version: ``changes`` applied, one history entry added (the oldest dropped past 20)."""
        entry = HistoryEntry(at=now, event=event, detail=detail, attempt=changes.get("attempt", self.attempt))
        history = (*self.history, entry)[-HISTORY_LIMIT:]
        return self.model_copy(
            update={**changes, "history": history, "updated_at": now, "version": self.version + 1}
        )

    def view(self) -> PaymentView:
        error = (
            PaymentErrorView(
                code=self.error_code,
                message=self.error_message or "",
                xero_message=self.xero_message,
                retrying=self.auto_retry,
            )
            if self.state == LedgerState.ERROR and self.error_code is not None
            else None
        )
        closed = (
            ClosedView(reason=self.closed_reason, detail=self.closed_detail or "")
            if self.state == LedgerState.CLOSED and self.closed_reason is not None
            else None
        )
        return PaymentView(
            payment_id=self.payment_id,
            invoice_id=self.invoice_id,
            amount=self.amount,
            currency=self.currency,
            date=self.date,
            reference=self.reference,
            status=self.status,
            sending=self.state == LedgerState.SENDING,
            xero_payment_id=self.xero_payment_id,
            error=error,
            closed=closed,
            attempts=self.attempt,
            created_at=self.created_at,
            updated_at=self.updated_at,
            history=self.history,
        )


# --- views --------------------------------------------------------------------------------------------


class PaymentErrorView(BaseModel):
    code: ExportErrorCode
    message: str = Field(description="What happened and what to do, for a finance user")
    xero_message: str | None = Field(description="Xero's own words, when Xero refused the payment")
    retrying: bool = Field(description="The export queue tries again by itself (a transient failure)")


class ClosedView(BaseModel):
    reason: ClosedReason
    detail: str


class PaymentView(BaseModel):
    """A payment as the AR app reads it."""

    payment_id: str
    invoice_id: str
    amount: Decimal
    currency: str
    date: CalendarDate
    reference: str | None
    status: PaymentStatus
    sending: bool = Field(description="An attempt to send it to Xero is under way")
    xero_payment_id: str | None
    error: PaymentErrorView | None
    closed: ClosedView | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    history: tuple[HistoryEntry, ...]


class PaymentPage(BaseModel):
    """One page of ``GET /orgs/{org_id}/payments``; ``next_cursor`` asks for the next one."""

    payments: list[PaymentView]
    next_cursor: str | None = None


# --- settings -----------------------------------------------------------------------------------------


class ExportSettings(BaseModel):
    """Where exported payments go: the Xero bank account (AccountID) for each currency."""

    model_config = ConfigDict(frozen=True)

    bank_accounts: dict[str, str] = Field(default_factory=dict)
    updated_at: datetime | None = None


class ExportSettingsRequest(BaseModel):
    """``PUT /orgs/{org_id}/settings``: ``{"bank_accounts": {"GBP": "<AccountID>"}}`` (the whole map)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bank_accounts: dict[Annotated[str, Field(pattern=CURRENCY_PATTERN)], XeroId] = Field(max_length=50)


class BankAccountView(BaseModel):
    """A synced account payments can go into: a BANK account, or one with payments enabled."""

    account_id: str
    code: str | None
    name: str | None
    currency: str | None = Field(description="The organisation's base currency when Xero gives none")
    type: str
    status: str | None


# --- what the exporter knows of an invoice -------------------------------------------------------------


class XeroPaymentRef(BaseModel):
    """A payment as an invoice lists it in Xero (the search for a lost answer reads its reference)."""

    model_config = ConfigDict(frozen=True)

    payment_id: str
    reference: str | None = None
    amount: Decimal | None = None


class InvoiceFacts(BaseModel):
    """An invoice as the exporter needs it, from the synced record or from Xero itself.

    ``payments`` is None when unknown (a synced record does not list them); Xero's own answer lists them.
    """

    model_config = ConfigDict(frozen=True)

    invoice_id: str
    number: str | None = None
    status: str
    currency: str | None = None
    amount_due: Decimal | None = None
    amount_paid: Decimal | None = None
    amount_credited: Decimal | None = None
    payments: tuple[XeroPaymentRef, ...] | None = None
    from_xero: bool = False

    @property
    def label(self) -> str:
        return self.number or self.invoice_id

    @property
    def fully_paid(self) -> bool:
        return self.status == "PAID" or (
            self.status == "AUTHORISED" and self.amount_due is not None and self.amount_due <= 0
        )


# --- queues -------------------------------------------------------------------------------------------


class ExportMessage(BaseModel):
    """A message on the export queue: payments of one org to export (``{"schema": 1, "org_id",
    "payment_ids": [...], "trigger"}``). Sent by the API, the replays and the DLQ redrive."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid", hide_input_in_errors=True)

    schema_version: Literal[1] = Field(default=1, alias="schema")
    org_id: str = Field(min_length=1, max_length=128)
    payment_ids: tuple[Annotated[str, Field(pattern=PAYMENT_ID_PATTERN)], ...] = Field(
        min_length=1, max_length=100
    )
    trigger: Literal["recorded", "replay"] = "recorded"

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


class ReplayRequest(BaseModel):
    """``POST /orgs/{org_id}/payments/replay``: ``{"payment_ids": [...]}`` or ``{"status": "error"}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    payment_ids: tuple[Annotated[str, Field(pattern=PAYMENT_ID_PATTERN)], ...] | None = Field(
        default=None, min_length=1, max_length=MAX_IDS_PER_REPLAY
    )
    status: Literal["error"] | None = None

    @model_validator(mode="after")
    def _one_selection(self) -> ReplayRequest:
        if (self.payment_ids is None) == (self.status is None):
            raise ValueError('give either "payment_ids" or "status": "error"')
        return self


class ReplayMessage(ReplayRequest):
    """A message on ``ExportReplayQueue`` (the AR platform's own tooling): a replay request with its org.

    ``{"org_id": "acme-ar", "payment_ids": ["pay-1", "pay-2"]}`` or ``{"org_id": "acme-ar", "status":
    "error"}``.
    """

    org_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


class ReplayResult(BaseModel):
    """What a replay did: how many payments it queued, and why the others were not."""

    queued: int
    skipped: dict[str, str] = Field(
        default_factory=dict, description="payment id -> why it was not queued (exported, closed, sending...)"
    )
    not_found: list[str] = Field(default_factory=list)


class QueuedMessage(BaseModel):
    """One SQS record as a consumer sees it (the handler builds these from the event)."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    body: str
    receipt_handle: str
    receive_count: int = Field(default=1, ge=1)
