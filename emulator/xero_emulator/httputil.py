"""HTTP helpers shared by the emulator's endpoints: exact-decimal JSON, Xero's error bodies, date parsing.

Xero's API sends money as JSON numbers with exact decimals; Python's ``json`` only writes ``float``, so
:func:`dumps` writes :class:`~decimal.Decimal` values as the same digits instead of a float's repr.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

from werkzeug.wrappers import Response

_DECIMAL_MARK = "\u0000dec:"
_DECIMAL_RE = re.compile(r'"\\u0000dec:([-0-9.Ee+]+)"')


def _prepare(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"non-finite decimal {value!r} cannot be JSON")
        return f"{_DECIMAL_MARK}{value}"
    if isinstance(value, Mapping):
        return {str(k): _prepare(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_prepare(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def dumps(value: Any) -> str:
    """JSON text with :class:`Decimal` written as exact numbers (``12.50`` stays ``12.50``)."""
    text = json.dumps(_prepare(value), separators=(",", ":"), ensure_ascii=False)
    return _DECIMAL_RE.sub(r"\1", text)


def loads(raw: bytes | str) -> Any:
    """JSON with every non-integer number as :class:`Decimal` (money is never a float)."""
    return json.loads(raw, parse_float=Decimal)


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        dumps(body),
        status=status,
        headers=dict(headers or {}),
        content_type="application/json; charset=utf-8",
    )


def problem(status: int, title: str, detail: str, **extensions: Any) -> dict[str, Any]:
    """Xero's API-gateway error body (401, 403 ...): ``{"Type":null,"Title":..,"Status":..,"Detail":..}``."""
    return {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": dict(extensions),
    }


def validation_error(
    message: str, *, error_number: int = 10, type_: str = "ValidationException"
) -> dict[str, Any]:
    """Xero's accounting error body (the spec's ``Error`` schema) for a request-level problem."""
    return {"ErrorNumber": error_number, "Type": type_, "Message": message}


_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S")


def parse_if_modified_since(value: str | None) -> datetime | None:
    """Parse the If-Modified-Since forms Xero accepts; ``None`` when absent or unreadable.

    Xero documents ``2019-11-14T00:00:00`` (no zone: UTC) and the SDKs send RFC 1123
    (``Thu, 14 Nov 2019 00:00:00 GMT``) or ISO 8601 with an offset; all three work. An unreadable value is
    ignored, as Xero does, so the call returns everything rather than failing.
    """
    if not value:
        return None
    text = value.strip()
    if "," in text or text.endswith("GMT"):
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for fmt in _NAIVE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def xero_identity_datetime(value: datetime) -> str:
    """Identity-service timestamps look like ``2019-12-07T18:46:19.5165400``: UTC, 7 digits, no zone."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


def webhook_datetime(value: datetime) -> str:
    """Webhook ``eventDateUtc`` looks like ``2024-06-21T01:15:39.902``: UTC, milliseconds, no zone."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
