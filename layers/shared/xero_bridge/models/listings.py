"""The integration API's paged listings of synced records: what a listing asks ``RecordsTable`` for, what
the table gives back, and the pages the AR app reads.

A page carries at most ``limit`` records and an opaque ``next_cursor``; ``next_cursor`` is null only when the
listing is over (the last page may be empty: DynamoDB cannot tell that nothing follows without reading on).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from xero_bridge.models.balances import CustomerWithBalance
from xero_bridge.models.records import (
    CreditNoteView,
    InvoiceStatus,
    InvoiceView,
    OverpaymentView,
    PrepaymentView,
    RecordType,
    StoredRecord,
    UtcDateTime,
    XeroPaymentView,
)

__all__ = [
    "CURSOR_MAX_LENGTH",
    "CURSOR_PATTERN",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "CreditNotePage",
    "CustomerPage",
    "InvoicePage",
    "Position",
    "RecordQuery",
    "RecordsPage",
    "XeroPaymentItem",
    "XeroPaymentPage",
]

DEFAULT_LIMIT = 50
"""Records a page holds unless ``limit`` says otherwise: a screen of an AR list, well under 1 MB of JSON."""
MAX_LIMIT = 200
"""The most a page holds: 200 records (~1 KB each) answer in one or two DynamoDB reads, far under API
Gateway's 10 MB and Lambda's 6 MB response limits."""
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
"""A cursor as we hand it out (``payload.mac``, base64url); anything else is refused before it is read."""
CURSOR_MAX_LENGTH = 1024

Position = dict[str, str]
"""Where a listing resumes, in the terms of the index that serves it (sort-key values): the table's own
business, sealed into the cursor by the service and never read by the AR app."""


class RecordQuery(BaseModel):
    """What a listing asks of ``RecordsTable``; the table chooses the index that serves it.

    Attributes
    ----------
    record_types
        The kinds listed, in the order they are listed (``xero-payments``: payments, then overpayments, then
        prepayments).
    customer_id
        Only this customer's documents (Xero ``ContactID``, canonical spelling).
    status
        Only invoices in this status.
    active
        Only customers that are (``True``) or are no longer (``False``, archived in Xero) active.
    updated_since
        Only records Xero changed at or after this instant.
    """

    model_config = ConfigDict(frozen=True)

    record_types: tuple[RecordType, ...] = Field(min_length=1)
    customer_id: str | None = None
    status: InvoiceStatus | None = None
    active: bool | None = None
    updated_since: UtcDateTime | None = None

    @model_validator(mode="after")
    def _filters_fit_the_kinds(self) -> RecordQuery:
        kinds = set(self.record_types)
        if (self.status is not None or self.customer_id is not None) and kinds != {RecordType.INVOICE}:
            raise ValueError("status and customer_id filter invoices only")
        if self.active is not None and kinds != {RecordType.CONTACT}:
            raise ValueError("active filters customers only")
        if self.updated_since is not None and kinds != {RecordType.INVOICE}:
            raise ValueError("updated_since filters invoices only")
        return self

    def binding(self) -> dict[str, object]:
        """What a cursor of this listing is bound to besides the org: kinds and filters, in one spelling."""
        return self.model_dump(mode="json")


class RecordsPage(BaseModel):
    """A page as ``RecordsTable`` gives it: the records, and where the next page starts (None: the end)."""

    model_config = ConfigDict(frozen=True)

    records: list[StoredRecord]
    resume_at: Position | None = None


_NEXT = "The cursor of the next page (pass it back as `cursor` with the same filters); null at the end."


class CustomerPage(BaseModel):
    """A page of ``GET /orgs/{org_id}/customers`` (each with its balance block under ``off_balance=true``)."""

    customers: list[CustomerWithBalance]
    next_cursor: str | None = Field(default=None, description=_NEXT)


class InvoicePage(BaseModel):
    """A page of ``GET /orgs/{org_id}/invoices``."""

    invoices: list[InvoiceView]
    next_cursor: str | None = Field(default=None, description=_NEXT)


class CreditNotePage(BaseModel):
    """A page of ``GET /orgs/{org_id}/credit-notes``."""

    credit_notes: list[CreditNoteView]
    next_cursor: str | None = Field(default=None, description=_NEXT)


XeroPaymentItem = Annotated[
    XeroPaymentView | OverpaymentView | PrepaymentView, Field(discriminator="record_type")
]
"""One item of ``xero-payments``: a payment, an overpayment or a prepayment, told apart by ``record_type``."""


class XeroPaymentPage(BaseModel):
    """A page of ``GET /orgs/{org_id}/xero-payments``: payments, then overpayments, then prepayments."""

    xero_payments: list[XeroPaymentItem]
    next_cursor: str | None = Field(default=None, description=_NEXT)
