"""Xero's JSON dialect: ``/Date(ms+0000)/`` values, exact decimal money, the response envelope.

Xero writes every date as a .NET JSON date. Timestamps (``UpdatedDateUTC``) are milliseconds since the epoch
with a ``+0000`` offset, and come with an ISO ``...UTCString`` twin on documents. Date-only fields (``Date``,
``DueDate``) are midnight UTC of that day, e.g. ``"Date": "/Date(1573689600000+0000)/"`` next to
``"DateString": "2019-11-14T00:00:00"``; a date before 1970 has negative milliseconds
(``/Date(-7948800000+0000)/`` is 1969-10-01).

Money is a JSON number with Xero's two decimals (``46.00``). The store keeps it as :class:`~decimal.Decimal`
and :func:`dumps` writes the digits of the Decimal as they are, with no float on the way, so ``0.10`` stays
``0.10`` and a 1,000-record page is still serialised in milliseconds.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.000001")
ZERO = Decimal("0.00")

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
# A private-use character marks pre-rendered numbers inside the encoded text; it is written raw
# (ensure_ascii=False) and cannot come out of json.dumps for ordinary data except from that same character.
_MARK = "\ue000"
_RAW_NUMBER = re.compile('"' + _MARK + r"(-?[0-9.]+)" + _MARK + '"')


# --- dates ----------------------------------------------------------------------------------------------


def to_ms(value: datetime) -> int:
    """Milliseconds since the epoch, exact (integer arithmetic, floor for pre-1970 instants)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // _ONE_MS


def truncate_ms(value: datetime) -> datetime:
    """``value`` in UTC cut to whole milliseconds, the precision Xero stores and sends."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def ms_datetime(value: datetime) -> str:
    """A timestamp as Xero sends it: ``/Date(1573755038314+0000)/``."""
    return f"/Date({to_ms(value)}+0000)/"


def ms_envelope_datetime(value: datetime) -> str:
    """The envelope's ``DateTimeUTC``: Xero writes it without the offset (``/Date(1552326816230)/``)."""
    return f"/Date({to_ms(value)})/"


def ms_date(value: date) -> str:
    """A date-only field: midnight UTC of that day, ``/Date(1573689600000+0000)/`` (negative before 1970)."""
    return ms_datetime(datetime.combine(value, time(0), tzinfo=UTC))


def date_string(value: date) -> str:
    """The ``...String`` twin of a date-only field: ``2019-11-14T00:00:00``."""
    return f"{value.isoformat()}T00:00:00"


def utc_string(value: datetime) -> str:
    """The ``UpdatedDateUTCString`` twin: ``2019-11-14T18:10:38Z`` (whole seconds, like Xero)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: Any) -> datetime:
    """A timestamp from a request: ``/Date(ms+hhmm)/``, ISO-8601, or a datetime. Naive means UTC."""
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime.combine(value, time(0))
    elif isinstance(value, str):
        text = value.strip()
        match = _MS_DATE.match(text)
        if match:
            return EPOCH + timedelta(milliseconds=int(match.group(1)))
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        result = datetime.fromisoformat(text)
    else:
        raise ValueError(f"not a date: {value!r}")
    if result.tzinfo is None:
        result = result.replace(tzinfo=UTC)
    return result.astimezone(UTC)


def parse_date(value: Any) -> date:
    """A date-only value from a request: ``2019-11-14``, ``2019-11-14T00:00:00`` or ``/Date(...)/``.

    A ``/Date(ms+hhmm)/`` value is read in its own offset, as Xero does, so ``/Date(1573689600000+0000)/``
    is 2019-11-14 whatever the organisation's timezone.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _MS_DATE.match(text):
            return parse_datetime(text).date()
        # "2019-11-14T00:00:00" is a calendar date written as local midnight: keep the day as written.
        return date.fromisoformat(text[:10])
    raise ValueError(f"not a date: {value!r}")


# --- money ----------------------------------------------------------------------------------------------


def to_decimal(value: Any) -> Decimal:
    """A request number as a Decimal; a float goes through ``repr`` so 0.1 stays 0.1 (no binary noise)."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation as exc:
            raise ValueError(f"not a number: {value!r}") from exc
    else:
        raise ValueError(f"not a number: {value!r}")
    if not result.is_finite():
        raise ValueError(f"not a number: {value!r}")
    return result


def money(value: Decimal) -> Decimal:
    """Rounded to cents, half up (Xero's rounding of line and tax amounts)."""
    result = value.quantize(CENT, rounding=ROUND_HALF_UP)
    return result if result else ZERO  # never "-0.00"


def rate(value: Decimal) -> Decimal:
    """A currency rate with Xero's six decimals (``1.000000``)."""
    return value.quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


# --- encoding -------------------------------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Rendered in fixed point so the number is written exactly as the Decimal holds it.
        return f"{_MARK}{value:f}{_MARK}"
    if isinstance(value, datetime):
        return ms_datetime(value)
    if isinstance(value, date):
        return ms_date(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _number_text(match: re.Match[str]) -> str:
    return match.group(1)  # a function: a template (r"\1") is expanded per match, several times slower


def dumps_str(body: Any) -> str:
    """JSON text of a store body: Decimals become exact JSON numbers, datetimes ``/Date(...)/``."""
    text = json.dumps(body, default=_default, ensure_ascii=False, separators=(",", ":"))
    if _MARK in text:
        text = _RAW_NUMBER.sub(_number_text, text)
    return text


def dumps(body: Any) -> bytes:
    """UTF-8 JSON bytes of a store body, as the emulator's HTTP server sends them."""
    return dumps_str(body).encode("utf-8")


def loads(data: str | bytes) -> Any:
    """JSON with numbers as Decimal (how the emulator reads request bodies: no float rounding)."""
    return json.loads(data, parse_float=Decimal)


# --- envelope -------------------------------------------------------------------------------------------


def envelope(
    resource_key: str,
    records: list[dict[str, Any]],
    *,
    now: datetime,
    provider_name: str,
    pagination: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Xero's body: ``Id``, ``Status``, ``ProviderName``, ``DateTimeUTC``, [``pagination``], the records."""
    body: dict[str, Any] = {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": provider_name,
        "DateTimeUTC": ms_envelope_datetime(now),
    }
    if pagination is not None:
        body["pagination"] = pagination
    body[resource_key] = records
    return body
