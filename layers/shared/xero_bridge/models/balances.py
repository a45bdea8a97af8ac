"""Off balance (C7), "why is this not in the AR platform?" and the per-record sync trail: what the product
derives from the synced records and answers support questions with.

Money is :class:`~decimal.Decimal` (strings in JSON), instants aware UTC.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from xero_bridge.models.records import (
    CustomerView,
    Money,
    RecordType,
    SourceKind,
    StoredRecord,
    SyncTrail,
    UtcDateTime,
)

__all__ = [
    "BalanceCause",
    "BalanceFinding",
    "CustomerBalance",
    "CustomerWithBalance",
    "ExplainAnswer",
    "ExplainStatus",
    "FieldDifference",
    "RecordChange",
    "RecordTrail",
    "RefetchOutcome",
    "StaleDelivery",
    "VersionReceived",
]


class BalanceCause(StrEnum):
    """Why a document accounts for (part of) an off-balance difference."""

    COUNTED_HERE_NOT_IN_XERO = "counted_here_not_in_xero"
    """We hold it in a state that counts (AUTHORISED, with an amount due or credit left); Xero's figure does
    not count it."""
    COUNTED_IN_XERO_NOT_HERE = "counted_in_xero_not_here"
    """The reverse: Xero's figure counts it, our version does not (a draft approved in Xero since)."""
    MISSING_HERE = "missing_here"
    """Xero has it and we do not hold it (with the skip reason when we left it out)."""
    OLDER_THAN_XERO = "older_than_xero"
    """Our version is older than Xero's: a change never reached us (a webhook missed, not yet caught up)."""
    CURRENCY_MISMATCH = "currency_mismatch"
    """The document is in another currency here than in Xero, or than the customer's."""


class BalanceFinding(BaseModel):
    """One document that accounts for (part of) the difference, and why, in a finance user's words."""

    model_config = ConfigDict(frozen=True)

    cause: BalanceCause
    record_type: RecordType
    xero_id: str
    number: str | None = None
    amount: Money = Field(description="What this document moves our figure by, against Xero's.")
    explanation: str
    our_version: UtcDateTime | None = None
    xero_version: UtcDateTime | None = None
    skip_reason: str | None = None


class CustomerBalance(BaseModel):
    """A customer's receivable balance from the synced documents beside Xero's own figure.

    ``difference`` is ``computed - xero_outstanding``; ``off_balance`` when it is not zero. ``explanation``
    lists the documents that account for it (empty with ``explained=False`` when nothing we hold does:
    then ``POST /orgs/{org_id}/customers/{contact_id}/refetch``).
    """

    model_config = ConfigDict(frozen=True)

    contact_id: str
    computed: Money
    xero_outstanding: Money | None = None
    difference: Money | None = None
    currency: str | None = None
    by_currency: dict[str, Money] = Field(default_factory=dict)
    off_balance: bool = False
    documents_counted: int = 0
    customer_version: UtcDateTime | None = None
    checked_at: UtcDateTime
    explained: bool = True
    explanation: tuple[BalanceFinding, ...] = ()
    note: str | None = None


class CustomerWithBalance(CustomerView):
    """``GET /orgs/{org_id}/customers/{contact_id}``: the customer, its trail and its balance block (null
    until the first check)."""

    balance: CustomerBalance | None = None


class RefetchOutcome(BaseModel):
    """``POST /orgs/{org_id}/customers/{contact_id}/refetch``: what Xero holds of the customer now.

    ``outcome`` is ``cleared`` when Xero's own documents add up to its figure (their versions are on their
    way to the writer: the flag clears within seconds) and ``confirmed`` when they do not (the difference is
    Xero's own); ``findings`` are the documents that differed from what we held.
    """

    contact_id: str
    outcome: Literal["cleared", "confirmed", "in_balance"]
    xero_outstanding: Money | None
    computed_from_xero: Money
    computed_here: Money | None
    records_sent: int
    xero_calls: int
    findings: tuple[BalanceFinding, ...] = ()
    explanation: str


class ExplainStatus(StrEnum):
    HELD = "held"
    NOT_HELD = "not_held"


class ExplainAnswer(BaseModel):
    """``GET /orgs/{org_id}/explain/{xero_id}``: whether a Xero contact or document is in the AR platform,
    and why not, with the Xero field that decided."""

    xero_id: str
    status: ExplainStatus
    reason: str = Field(
        description="held, supplier_only, not_a_customer, archived, not_receivable, not_yet_synced, "
        "disconnected, unknown, ..."
    )
    record_type: RecordType | None = None
    explanation: str
    xero_field: str | None = Field(
        default=None, description="The Xero field that decided, e.g. IsCustomer=false"
    )
    held_since: UtcDateTime | None = None
    source: SyncTrail | None = None
    checked_in_xero: bool = False


class VersionReceived(BaseModel):
    """One version we stored, and where it came from."""

    xero_updated_at: UtcDateTime
    received_at: UtcDateTime
    kind: SourceKind
    from_: str = Field(alias="from", serialization_alias="from")
    run_id: str | None = None
    page: int | None = None
    event_ids: tuple[str, ...] = ()
    event_sequence: int | None = None
    cursor: UtcDateTime | None = None

    model_config = ConfigDict(populate_by_name=True)


class StaleDelivery(BaseModel):
    """A version that arrived when we already held the same or a newer one (nothing written)."""

    xero_updated_at: UtcDateTime
    received_at: UtcDateTime
    kind: SourceKind
    from_: str = Field(alias="from", serialization_alias="from")

    model_config = ConfigDict(populate_by_name=True)


class FieldDifference(BaseModel):
    field: str
    ours: Any = None
    xero: Any = None


class RecordTrail(BaseModel):
    """``GET /orgs/{org_id}/records/{xero_id}/trail``: what we hold beside what Xero holds now, and every
    version's source."""

    xero_id: str
    record_type: RecordType
    held: dict[str, Any]
    held_version: UtcDateTime
    xero: dict[str, Any] | None = None
    xero_version: UtcDateTime | None = None
    xero_status: Literal["same", "differs", "newer_in_xero", "not_in_xero", "not_checked"]
    differences: tuple[FieldDifference, ...] = ()
    versions: tuple[VersionReceived, ...] = ()
    stale: tuple[StaleDelivery, ...] = ()
    sync: SyncTrail


class RecordChange(BaseModel):
    """One write of a synced record, as ``RecordsTable``'s stream tells it: the version stored (None when the
    item went), and the customer the previous version belonged to."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    org_id: str
    record_type: RecordType
    xero_id: str
    new: StoredRecord | None = None
    old_contact_id: str | None = None
