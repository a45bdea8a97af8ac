"""Xero's webhook payloads (xero-webhooks.yaml), and the catch-up requests the real-time sync sends itself.

A payload carries only ids: ``events[]`` name a tenant, a category (CONTACT, INVOICE, CREDITNOTE and the newer
PREPAYMENT, OVERPAYMENT), the record's id and when it changed; the record itself must be fetched. Each
payload has the next ``firstEventSequence``..``lastEventSequence`` of the app's subscription, which is how a
lost delivery is noticed. There are no payment events: payments come with their invoice or the catch-up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "CATEGORY_RESOURCES",
    "CatchUpOutcome",
    "CatchUpRequest",
    "QueuedDelivery",
    "SequenceCheck",
    "WebhookEvent",
    "WebhookHealth",
    "WebhookPayload",
]

CATEGORY_RESOURCES: dict[str, str] = {
    "CONTACT": "Contacts",
    "INVOICE": "Invoices",
    "CREDITNOTE": "CreditNotes",
    "PREPAYMENT": "Prepayments",
    "OVERPAYMENT": "Overpayments",
}
"""The resource an event category's records are read from; a category not here is not ours to fetch."""


class WebhookEvent(BaseModel):
    """One event of a payload (``resourceId`` changed in ``tenantId`` at ``eventDateUtc``)."""

    # hide_input_in_errors: a payload that fails validation is never quoted into a log line.
    model_config = ConfigDict(populate_by_name=True, frozen=True, hide_input_in_errors=True)

    resource_url: str = Field(default="", alias="resourceUrl", max_length=2048)
    resource_id: str = Field(alias="resourceId", min_length=1, max_length=64)
    event_date: AwareDatetime = Field(alias="eventDateUtc")
    event_type: str = Field(alias="eventType", max_length=32)
    category: str = Field(alias="eventCategory", max_length=32)
    tenant_id: str = Field(alias="tenantId", min_length=1, max_length=64)
    tenant_type: str = Field(default="ORGANISATION", alias="tenantType", max_length=32)

    @field_validator("event_date", mode="before")
    @classmethod
    def _utc(cls, value: object) -> object:
        # Xero writes "2024-06-21T01:15:39.902" (UTC, without a zone).
        if isinstance(value, str) and value and value[-1] not in "Zz" and "+" not in value[10:]:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        return value

    @property
    def resource(self) -> str | None:
        return CATEGORY_RESOURCES.get(self.category.upper())

    @property
    def event_id(self) -> str:
        """A stable name of the event for the sync trail: category, record, type and time."""
        return f"{self.category}:{self.resource_id}:{self.event_type}:{self.event_date.isoformat()}"


class WebhookPayload(BaseModel):
    """A delivery: its events and the subscription's sequence numbers (empty for intent-to-receive)."""

    model_config = ConfigDict(populate_by_name=True, frozen=True, hide_input_in_errors=True)

    events: tuple[WebhookEvent, ...] = Field(default=(), max_length=10_000)
    first_sequence: int = Field(default=0, alias="firstEventSequence", ge=0)
    last_sequence: int = Field(default=0, alias="lastEventSequence", ge=0)
    entropy: str = Field(default="", max_length=256)

    @property
    def is_intent_to_receive(self) -> bool:
        """Xero's check of a new subscription: a signed payload with no events."""
        return not self.events


class CatchUpRequest(BaseModel):
    """A message of ``CatchUpQueue``: catch one tenant up, or every connected tenant (``scope="all"``).

    ``reason``: ``schedule``, ``sequence_gap``, ``reconnect``, ``manual``... — kept on the tenant's status.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    scope: Literal["all", "tenant"] = "tenant"
    org_id: str | None = Field(default=None, max_length=128)
    tenant_id: str | None = Field(default=None, max_length=64)
    reason: str = Field(default="schedule", max_length=64)
    requested_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))


class CatchUpOutcome(BaseModel):
    """What one tenant's catch-up did (also its status item, shown with the connection)."""

    model_config = ConfigDict(frozen=True)

    org_id: str
    tenant_id: str
    reason: str
    status: Literal["caught_up", "skipped"]
    skipped_because: str | None = None  # "running", "daily_quota_reserve", "initial_sync_not_finished"...
    calls: int = 0
    records_sent: int = 0
    missed_by_webhooks: int = 0
    balances_rechecked: int = 0  # customers flagged off balance, rechecked at the end
    still_off_balance: int = 0
    cursors: dict[str, AwareDatetime] = Field(default_factory=dict)
    started_at: AwareDatetime
    finished_at: AwareDatetime


class CatchUpPace(BaseModel):
    """How often the schedule catches each tenant up now, paced to the app's Xero budget (in the status)."""

    model_config = ConfigDict(frozen=True)

    interval_seconds: int
    tenants: int  # connected tenants when it was decided
    calls_per_catch_up: float
    decided_at: AwareDatetime

    @property
    def interval_minutes(self) -> float:
        return self.interval_seconds / 60


class SequenceCheck(BaseModel):
    """What recording a delivery's sequence numbers told: whether numbers were skipped since the last one."""

    model_config = ConfigDict(frozen=True)

    gap: bool
    expected_first: int | None = None  # the sequence the delivery should have started at


class WebhookHealth(BaseModel):
    """The app's webhook subscription as we see it (shown with a connection's status)."""

    model_config = ConfigDict(frozen=True)

    last_delivery_at: AwareDatetime | None = None
    last_sequence: int | None = None
    deliveries: int = 0
    gaps: int = 0
    last_gap_at: AwareDatetime | None = None


class QueuedDelivery(BaseModel):
    """A ``WebhooksQueue`` message as the change fetcher receives it (the body is the payload as it came)."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    body: str
    receipt_handle: str
    receive_count: int = 1
    sent_at: AwareDatetime | None = None
