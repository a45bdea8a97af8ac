"""The ledger's transitions, pure: each takes a payment's record and gives its next version (or None).

The adapter writes a next version only if the stored ``version`` is still the one it was made from, so two
exporters (a replay and a redelivery, two concurrent replays) can never both claim a payment: the second
write fails its condition and that exporter leaves the payment alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from xero_bridge.models.payments import (
    RETRYABLE_CODES,
    ClosedReason,
    ExportErrorCode,
    LedgerState,
    PaymentRecord,
)

__all__ = ["claim", "closed", "exported", "failed", "not_claimable_because", "reopened"]

_FINAL = (LedgerState.EXPORTED, LedgerState.CLOSED)
# A payment leaving the error state forgets the error (its history keeps it).
_NO_ERROR: dict[str, Any] = {
    "error_code": None,
    "error_message": None,
    "xero_message": None,
    "auto_retry": False,
}


def not_claimable_because(record: PaymentRecord, now: datetime) -> str | None:
    """Why an exporter may not take ``record`` now (None: it may)."""
    if record.state in _FINAL:
        return record.state.value
    if record.state == LedgerState.ERROR and not record.retryable:
        return "error"  # final until a replay re-opens it
    if record.state == LedgerState.SENDING and not record.lease_expired(now):
        return "sending"  # another exporter holds it; its message comes back if it dies
    return None


def claim(record: PaymentRecord, now: datetime, *, lease_seconds: float) -> PaymentRecord | None:
    """``sending``, attempt n+1, under a lease. ``in_doubt`` is set now: until this attempt's outcome is
    written, a crash anywhere leaves the payment to be searched for in Xero before any new post."""
    if not_claimable_because(record, now) is not None:
        return None
    attempt = record.attempt + 1
    detail = "an earlier attempt's answer was lost: Xero is searched first" if record.in_doubt else None
    if record.state == LedgerState.SENDING:
        detail = "the previous attempt stopped without an outcome: Xero is searched first"
    return record.changed(
        now,
        "sending",
        detail,
        state=LedgerState.SENDING,
        attempt=attempt,
        lease_until=now + timedelta(seconds=lease_seconds),
        in_doubt=True,
    )


def exported(record: PaymentRecord, now: datetime, xero_payment_id: str, *, found: bool) -> PaymentRecord:
    """In Xero: sent now, or ``found`` there (an earlier attempt's lost answer, adopted)."""
    return record.changed(
        now,
        "found_in_xero" if found else "exported",
        f"Xero PaymentID {xero_payment_id}",
        state=LedgerState.EXPORTED,
        xero_payment_id=xero_payment_id,
        lease_until=None,
        in_doubt=False,
        **_NO_ERROR,
    )


def failed(
    record: PaymentRecord,
    now: datetime,
    code: ExportErrorCode,
    message: str,
    *,
    xero_message: str | None = None,
    in_doubt: bool = False,
    auto_retry: bool = False,
) -> PaymentRecord:
    """An error: final (a validation error) or transient (``auto_retry`` while its message comes back
    by itself); ``in_doubt`` when the attempt may have reached Xero unseen."""
    return record.changed(
        now,
        "retrying" if auto_retry else "error",
        f"{code.value}: {xero_message or message}"[:300],
        state=LedgerState.ERROR,
        lease_until=None,
        in_doubt=in_doubt,
        error_code=code,
        error_message=message,
        xero_message=xero_message,
        auto_retry=auto_retry and code in RETRYABLE_CODES,
    )


def closed(record: PaymentRecord, now: datetime, reason: ClosedReason, detail: str) -> PaymentRecord:
    """Never sent, on purpose (the invoice was paid by hand in Xero)."""
    return record.changed(
        now,
        "closed",
        detail,
        state=LedgerState.CLOSED,
        lease_until=None,
        in_doubt=False,
        closed_reason=reason,
        closed_detail=detail,
        **_NO_ERROR,
    )


def reopened(record: PaymentRecord, now: datetime, *, by: str) -> PaymentRecord | None:
    """ "Export back to Xero": an error (or an attempt that died) is ``pending`` again; ``in_doubt`` stays, so
    a payment that may be in Xero is searched for before it is posted. None when there is nothing to re-open
    (already pending: re-queue as it is; exported, closed or being sent: leave it)."""
    if record.state == LedgerState.ERROR or record.lease_expired(now):
        return record.changed(
            now,
            "replayed",
            f"export back to Xero ({by})",
            state=LedgerState.PENDING,
            lease_until=None,
            replays=record.replays + 1,
            **_NO_ERROR,
        )
    return None
