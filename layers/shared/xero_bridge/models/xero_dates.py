"""Xero's date formats, both ways.

Xero's Accounting API writes dates the .NET way, ``/Date(1573755038314+0000)/``: milliseconds since the Unix
epoch **in UTC**, then an optional offset that only says in which zone the value was meant (the instant does
not move with it). The same API also answers ISO strings (``2019-11-14T00:00:00``, ``...Z``, or with seven
fractional digits in the identity API), and accepts ``YYYY-MM-DD`` for dates in request bodies.

Two kinds of fields exist in Xero's spec: ``x-is-msdate-time`` (``UpdatedDateUTC``...) are instants and parse
to timezone-aware UTC :class:`~datetime.datetime`; ``x-is-msdate`` (``Date``, ``DueDate``,
``ExpectedPaymentDate``, ``FullyPaidOnDate``...) are calendar dates and parse to :class:`~datetime.date` — the
date read in the offset Xero gave (always ``+0000`` in practice, so the UTC date).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = [
    "OptionalXeroDate",
    "OptionalXeroDateTime",
    "XeroDate",
    "XeroDateTime",
    "parse_xero_date",
    "parse_xero_datetime",
    "to_if_modified_since",
    "to_iso_date",
    "to_xero_date",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_NO_OFFSET = timedelta(0)
# The value itself stays out of the message: it lands in bad-record reports, which hold no record content.
_NOT_A_DATE_TIME = "not a Xero date-time (expected /Date(ms±hhmm)/ or ISO 8601)"
_NOT_A_DATE = "not a Xero date (expected /Date(ms±hhmm)/, YYYY-MM-DD or ISO 8601)"


def _ms_date(value: str) -> tuple[datetime, timedelta] | None:
    """``/Date(ms±hhmm)/`` → (UTC instant, offset), or None when ``value`` is not in that format.

    Hand-rolled rather than a regex: it runs for every date of every record of a 1,000-record page.
    """
    if not (value.startswith("/Date(") and value.endswith(")/")):
        return None
    inner = value[6:-2]
    cut = max(inner.rfind("+"), inner.rfind("-"))
    offset = _NO_OFFSET
    if cut > 0:  # a sign after the first character is the offset (the first one is the number's own sign)
        digits = inner[cut + 1 :]
        if len(digits) != 4 or not (digits.isascii() and digits.isdigit()):
            return None
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        if inner[cut] == "-":
            offset = -offset
        inner = inner[:cut]
    body = inner[1:] if inner.startswith("-") else inner
    if not body.isdigit() or not body.isascii():
        return None
    return EPOCH + timedelta(milliseconds=int(inner)), offset


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _from_iso(value: str) -> datetime:
    text = value.strip()
    # Python 3.11 reads any number of fractional digits (Xero's identity API sends seven).
    return _as_utc(datetime.fromisoformat(text))


def parse_xero_datetime(value: str | datetime | date | int | float) -> datetime:
    """Read an instant written by Xero as an aware UTC datetime.

    Parameters
    ----------
    value
        ``/Date(ms)/`` or ``/Date(ms±hhmm)/`` (ms may be negative: before 1970), an ISO string (naive means
        UTC), a datetime (naive means UTC), a date (midnight UTC) or epoch milliseconds.

    Returns
    -------
    datetime
        Timezone-aware, in UTC.

    Raises
    ------
    ValueError
        When ``value`` is in none of those formats.
    """
    if isinstance(value, datetime):
        return _as_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, bool):
        raise ValueError("a boolean is not a Xero date")
    if isinstance(value, int | float):
        return EPOCH + timedelta(milliseconds=value)
    if isinstance(value, str):
        parsed = _ms_date(value)
        if parsed is not None:
            return parsed[0]
        try:
            return _from_iso(value)
        except ValueError:
            pass
    raise ValueError(_NOT_A_DATE_TIME)


def parse_xero_date(value: str | datetime | date | int | float) -> date:
    """Read a calendar date written by Xero (``Date``, ``DueDate``, ``ExpectedPaymentDate``...).

    Parameters
    ----------
    value
        ``/Date(ms±hhmm)/`` — the date in the offset given (Xero sends ``+0000``), ``YYYY-MM-DD``, an ISO
        date-time (its date part, as written), a date, a datetime (its UTC date) or epoch milliseconds.

    Returns
    -------
    date

    Raises
    ------
    ValueError
        When ``value`` is in none of those formats.
    """
    if isinstance(value, datetime):
        return _as_utc(value).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return _date_from_text(value)
    return parse_xero_datetime(value).date()


@lru_cache(maxsize=4096)
def _date_from_text(value: str) -> date:
    # Cached: the documents of one organisation share few distinct dates, and a page has thousands of them.
    parsed = _ms_date(value)
    if parsed is not None:
        instant, offset = parsed
        return (instant + offset).date()
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text).date()
    except ValueError:
        pass
    raise ValueError(_NOT_A_DATE)


def to_xero_date(value: datetime | date) -> str:
    """Write ``value`` the way Xero does: ``/Date(1573755038314+0000)/``.

    Parameters
    ----------
    value
        A datetime (naive means UTC) or a date (midnight UTC, as Xero writes date-only fields).

    Returns
    -------
    str
        Whole milliseconds since the epoch in UTC (negative before 1970), offset ``+0000``.
    """
    instant = parse_xero_datetime(value)
    millis = (instant - EPOCH) // _ONE_MS
    return f"/Date({millis}+0000)/"


def to_iso_date(value: date) -> str:
    """``YYYY-MM-DD``, the date format Xero accepts in request bodies (a datetime gives its UTC date)."""
    if isinstance(value, datetime):
        value = _as_utc(value).date()
    return value.isoformat()


def to_if_modified_since(value: datetime) -> str:
    """The ``If-Modified-Since`` header value: ``YYYY-MM-DDTHH:MM:SS``, UTC, whole seconds (naive is UTC)."""
    return _as_utc(value).replace(microsecond=0, tzinfo=None).isoformat(timespec="seconds")


def _datetime_or_none(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    return parse_xero_datetime(value)


def _date_or_none(value: Any) -> date | None:
    if value is None or value == "":
        return None
    return parse_xero_date(value)


XeroDateTime = Annotated[datetime, BeforeValidator(parse_xero_datetime)]
"""A pydantic field type for Xero instants (``x-is-msdate-time``): aware UTC datetime."""

XeroDate = Annotated[date, BeforeValidator(parse_xero_date)]
"""A pydantic field type for Xero calendar dates (``x-is-msdate``)."""

OptionalXeroDateTime = Annotated[datetime | None, BeforeValidator(_datetime_or_none)]
"""Like :data:`XeroDateTime`; absent, null or empty string reads as None."""

OptionalXeroDate = Annotated[date | None, BeforeValidator(_date_or_none)]
"""Like :data:`XeroDate`; absent, null or empty string reads as None."""
