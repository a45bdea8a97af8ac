"""``POST /orgs/{org_id}/payments``: record a payment to export, once per ``payment_id``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from xero_bridge.errors import NotConnectedError, PaymentConflictError
from xero_bridge.models.connection import ConnectionStatus
from xero_bridge.models.payments import HistoryEntry, LedgerState, PaymentRecord, PaymentRequest, PaymentView
from xero_bridge.observability import logger
from xero_bridge.services.ports import ConnectionLookup, ExportQueue, PaymentLedger, utc_now

__all__ = ["RecordPayment"]


class RecordPayment:
    """Store a payment as ``pending`` and queue it for export.

    Parameters
    ----------
    ledger
        The export ledger.
    connections
        The org's Xero connection (the payment is for its tenant).
    queue
        The export queue.
    now
        Aware-UTC clock.
    """

    def __init__(
        self,
        *,
        ledger: PaymentLedger,
        connections: ConnectionLookup,
        queue: ExportQueue,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._ledger = ledger
        self._connections = connections
        self._queue = queue
        self._now = now

    def record(self, org_id: str, request: PaymentRequest) -> tuple[PaymentView, bool]:
        """Record ``request`` for ``org_id``; returns the payment and whether it is new.

        The same ``payment_id`` with the same body is the same payment: its current state comes back (and a
        payment still pending is queued again, in case the first request's queueing was lost).

        Raises
        ------
        PaymentConflictError
            The ``payment_id`` was recorded with another invoice, amount, currency, date or reference.
        NotConnectedError
            The org has no Xero connection (a payment must go to a known organisation).
        ExportQueueError
            SQS refused the message: the payment is kept as pending; the same request again queues it.
        """
        existing = self._ledger.get(org_id, request.payment_id)
        if existing is not None:
            return self._again(existing, request), False
        connection = self._connections.get_connection(org_id)
        if connection is None or connection.status == ConnectionStatus.DISCONNECTED:
            raise NotConnectedError(f"{org_id} is not connected to Xero: connect Xero first", org_id=org_id)
        now = self._now()
        record = PaymentRecord(
            org_id=org_id,
            payment_id=request.payment_id,
            tenant_id=connection.tenant_id,
            invoice_id=request.invoice_id,
            amount=request.amount,
            currency=request.currency,
            date=request.date,
            reference=request.reference,
            created_at=now,
            updated_at=now,
            history=(HistoryEntry(at=now, event="recorded"),),
        )
        if not self._ledger.create(record):  # a concurrent request with the same id won
            current = self._ledger.get(org_id, request.payment_id)
            assert current is not None  # created, never deleted
            return self._again(current, request), False
        self._queue.send(org_id, [record.payment_id], trigger="recorded")
        logger.info(
            "payment recorded",
            extra={"org_id": org_id, "payment_id": record.payment_id, "currency": record.currency},
        )
        return record.view(), True

    def _again(self, existing: PaymentRecord, request: PaymentRequest) -> PaymentView:
        differences = request.differences(existing)
        if differences:
            raise PaymentConflictError(
                f"payment {existing.payment_id} was recorded with another {', '.join(differences)}: a "
                "recorded payment cannot change (record a new payment_id)"
            )
        if existing.state == LedgerState.PENDING:
            self._queue.send(existing.org_id, [existing.payment_id], trigger="recorded")
        return existing.view()
