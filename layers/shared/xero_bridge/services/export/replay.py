""" "Export back to Xero": re-open failed payments and queue them again, for one payment, a list, or every
failed payment of an org -- from the API or from ``ExportReplayQueue``.

A replay never posts anything itself: it puts payments back to ``pending`` (a conditional write, so two
concurrent replays of one payment re-open it once) and queues them; the exporter then claims each one
under the ledger's condition, and searches Xero first for any payment whose earlier answer was lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import chain, islice

from xero_bridge.domain.payment_ledger import not_claimable_because, reopened
from xero_bridge.errors import PaymentNotFoundError
from xero_bridge.models.payments import (
    LedgerState,
    PaymentRecord,
    PaymentStatus,
    ReplayRequest,
    ReplayResult,
)
from xero_bridge.observability import logger
from xero_bridge.services.ports import ExportQueue, PaymentLedger, utc_now

__all__ = ["ReplayPayments"]

_CHUNK = 100
_SAVE_ROUNDS = 3


class ReplayPayments:
    """Re-open and re-queue payments.

    Parameters
    ----------
    ledger
        The export ledger.
    queue
        The export queue.
    now
        Aware-UTC clock.
    """

    def __init__(
        self,
        *,
        ledger: PaymentLedger,
        queue: ExportQueue,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._ledger = ledger
        self._queue = queue
        self._now = now

    def replay_one(self, org_id: str, payment_id: str, *, by: str = "api") -> ReplayResult:
        """ "Export back to Xero" for one payment.

        Raises
        ------
        PaymentNotFoundError
            No payment of that id was recorded for the org.
        """
        result = self.replay(org_id, ReplayRequest(payment_ids=(payment_id,)), by=by)
        if result.not_found:
            raise PaymentNotFoundError(f"no payment {payment_id} was recorded for {org_id}")
        return result

    def replay(self, org_id: str, request: ReplayRequest, *, by: str = "api") -> ReplayResult:
        """Re-open the payments ``request`` names (or every ``error`` one, and queue every pending one again).

        Payments already exported or closed, and ones an exporter is sending right now, are left as they
        are (``skipped`` says why); pending ones are queued again as they are.

        Raises
        ------
        ExportQueueError
            SQS refused: the payments stay pending, and the same replay again queues them.
        """
        ids: Iterator[str] = (
            iter(request.payment_ids)
            if request.payment_ids is not None
            else chain(
                self._ledger.ids_with_status(org_id, PaymentStatus.ERROR),
                # and the pending ones: a replay that died between re-opening payments and queueing them
                # (or SQS refused the message) left them pending with no message; the same request again
                # queues them (a payment queued twice is claimed once)
                self._ledger.ids_with_status(org_id, PaymentStatus.PENDING),
            )
        )
        result = ReplayResult(queued=0)
        while chunk := list(islice(ids, _CHUNK)):
            records = self._ledger.get_many(org_id, chunk)
            queue: list[str] = []
            for payment_id in dict.fromkeys(chunk):
                record = records.get(payment_id)
                if record is None:
                    result.not_found.append(payment_id)
                    continue
                why_not = self._reopen(record, by)
                if why_not is None:
                    queue.append(payment_id)
                else:
                    result.skipped[payment_id] = why_not
            if queue:
                self._queue.send(org_id, queue, trigger="replay")
                result.queued += len(queue)
        logger.info(
            "payments replayed",
            extra={"org_id": org_id, "by": by, "queued": result.queued, "skipped": len(result.skipped)},
        )
        return result

    def _reopen(self, record: PaymentRecord, by: str) -> str | None:
        """None when the payment is to be queued (re-opened, or pending already), else why it is not."""
        current: PaymentRecord | None = record
        for _ in range(_SAVE_ROUNDS):
            if current is None:  # pragma: no cover - payments are never deleted
                return "not found"
            if current.state == LedgerState.PENDING:
                return None
            opened = reopened(current, self._now(), by=by)
            if opened is None:
                return not_claimable_because(current, self._now()) or current.state.value
            if self._ledger.save(opened, previous_version=current.version):
                return None
            current = self._ledger.get(current.org_id, current.payment_id)  # changed meanwhile: look again
        return "busy"
