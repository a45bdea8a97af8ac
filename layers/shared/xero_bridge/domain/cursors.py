"""Opaque listing cursors that cannot be forged, moved to another listing, or reused with other filters.

A cursor is ``base64url(payload) + "." + base64url(mac)``. The payload holds only where the listing resumes
(sort-key values of the AR org's own records). The MAC is an HMAC-SHA256, under a key only the API holds
(``CursorSigningKey`` in Secrets Manager), over the payload *and* what the cursor is bound to: the AR org,
the Xero tenant its records are kept under, the listing and its filters. Those are never in the cursor: they
come from the request, so a cursor presented with another org, another tenant (after a reconnect to another
organisation), another route or other filters fails the MAC exactly as a tampered one does.

Why a MAC rather than the key condition alone: the query's key condition already keeps every read inside the
org's own tenant, but an unsigned position is still the caller's to edit, and DynamoDB answers a start key
outside the index's partition with a ``ValidationException`` (a 500 unless every shape is foreseen). With a
MAC, only positions we wrote come back, so the table sees nothing it did not produce, and a cursor reused
with different filters is refused instead of silently skipping records. A rotated key invalidates cursors
in flight; the AR app then lists again from the first page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping

from xero_bridge.errors import InvalidCursorError

__all__ = ["open_cursor", "seal_cursor"]

_VERSION = 1


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _mac(key: bytes, binding: Mapping[str, object], payload: str) -> bytes:
    message = _canonical(binding) + b"\n" + payload.encode("ascii")
    return hmac.new(key, message, hashlib.sha256).digest()


def seal_cursor(position: Mapping[str, str], *, binding: Mapping[str, object], key: bytes) -> str:
    """The cursor the AR app passes back to read on from ``position``.

    Parameters
    ----------
    position
        Where the listing resumes (the table's own terms).
    binding
        Everything the cursor only holds for: org, tenant, listing, filters (JSON values).
    key
        The signing key.
    """
    payload = _b64(_canonical({"v": _VERSION, "p": dict(position)}))
    return f"{payload}.{_b64(_mac(key, binding, payload))}"


def open_cursor(cursor: str, *, binding: Mapping[str, object], key: bytes) -> dict[str, str]:
    """The position a cursor stands for, if we sealed it for exactly this ``binding``.

    Raises
    ------
    InvalidCursorError
        A cursor we did not give out, altered, given out for another org, tenant, listing or filters, or
        sealed under a key since rotated.
    """
    payload, dot, mac_text = cursor.partition(".")
    refused = InvalidCursorError(
        "invalid: cursor (not one this listing gave out for these filters; ask the first page again)"
    )
    if not dot or not payload or not mac_text:
        raise refused
    try:
        mac = _unb64(mac_text)
        payload.encode("ascii")
    except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
        raise refused from exc
    if not hmac.compare_digest(mac, _mac(key, binding, payload)):
        raise refused
    # Only a payload we sealed gets here: its shape is ours, checked anyway so a change of format is a 400.
    try:
        content = json.loads(_unb64(payload))
    except (ValueError, binascii.Error) as exc:
        raise refused from exc
    position = content.get("p") if isinstance(content, dict) and content.get("v") == _VERSION else None
    if not isinstance(position, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in position.items()
    ):
        raise refused
    return dict(position)
