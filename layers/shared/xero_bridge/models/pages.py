"""One page of a Xero resource as the client read it, and the quota figures Xero and our limiter report.

These are what the Xero reader port hands the services: records already validated one by one (a record
that does not match its model is a :class:`BadRecord`, never a sunk page), Xero's ``pagination`` envelope
when it sent one, and the remaining-quota headers of the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from xero_bridge.models.xero import Pagination

__all__ = ["ANY_PAGE", "BadRecord", "Page", "Quota", "RateStatus"]

T = TypeVar("T")


class Quota(BaseModel):
    """The remaining-quota headers of the last response (None when Xero did not send one)."""

    model_config = ConfigDict(frozen=True)

    minute_remaining: int | None = None
    day_remaining: int | None = None
    app_minute_remaining: int | None = None
    observed_at: datetime

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], observed_at: datetime) -> Quota:
        """Read ``X-MinLimit-Remaining``, ``X-DayLimit-Remaining`` and ``X-AppMinLimit-Remaining``."""
        return cls(
            minute_remaining=_int_header(headers, "X-MinLimit-Remaining"),
            day_remaining=_int_header(headers, "X-DayLimit-Remaining"),
            app_minute_remaining=_int_header(headers, "X-AppMinLimit-Remaining"),
            observed_at=observed_at,
        )


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


class BadRecord(BaseModel):
    """A record of a page that did not match its model: where it was, its id if readable, and why."""

    index: int
    record_id: str | None = None
    error: str


class Page(BaseModel, Generic[T]):
    """One page of a resource as Xero answered it.

    Attributes
    ----------
    records
        The records that matched their model, in Xero's order.
    bad_records
        The ones that did not (they do not sink the page).
    pagination
        Xero's ``pagination`` envelope, when it sent one.
    page
        The page number asked for (None for an unpaged request).
    quota
        The remaining-quota headers of this response.
    server_time
        Xero's own clock when it answered (the envelope's ``DateTimeUTC``), None when absent: the instant
        a sync splits its import at is taken from it, so that it is never in Xero's future.
    is_last
        True when there is nothing after this page: ``pagination`` says ``page >= pageCount``, or, with no
        envelope, the page is empty or shorter than the smaller of the page size asked and Xero's default
        of 100 (a server may ignore ``pageSize``, so a full page of 100 is never taken for the last one).
    """

    records: list[T] = Field(default_factory=list)
    bad_records: list[BadRecord] = Field(default_factory=list)
    pagination: Pagination | None = None
    page: int | None = None
    quota: Quota
    server_time: datetime | None = None
    is_last: bool = True


ANY_PAGE = Page[Any]


class RateStatus(BaseModel):
    """One tenant's quota as the connection status API shows it.

    ``minute_remaining``, ``day_remaining`` and ``app_minute_remaining`` are Xero's last headers (None until
    seen); ``calls_last_minute``, ``in_flight`` and ``calls_today`` are our own count.
    """

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    minute_remaining: int | None
    day_remaining: int | None
    app_minute_remaining: int | None
    quota_observed_at: datetime | None
    calls_last_minute: int
    in_flight: int
    calls_today: int
    blocked_until: datetime | None
    day_blocked_until: datetime | None
