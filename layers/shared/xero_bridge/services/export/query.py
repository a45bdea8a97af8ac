"""``GET /orgs/{org_id}/payments/{payment_id}`` and ``GET /orgs/{org_id}/payments?status=``."""

from __future__ import annotations

from xero_bridge.errors import PaymentNotFoundError
from xero_bridge.models.payments import PaymentPage, PaymentStatus, PaymentView
from xero_bridge.services.ports import PaymentLedger

__all__ = ["PaymentQueries"]


class PaymentQueries:
    """Reads of the export ledger as the AR app sees it."""

    def __init__(self, ledger: PaymentLedger) -> None:
        self._ledger = ledger

    def payment(self, org_id: str, payment_id: str) -> PaymentView:
        """One payment with its status, error or closure, attempts and history.

        Raises
        ------
        PaymentNotFoundError
            No payment of that id was recorded for the org.
        """
        record = self._ledger.get(org_id, payment_id)
        if record is None:
            raise PaymentNotFoundError(f"no payment {payment_id} was recorded for {org_id}")
        return record.view()

    def payments(
        self, org_id: str, *, status: PaymentStatus | None, limit: int, cursor: str | None
    ) -> PaymentPage:
        """A page of the org's payments (one status, newest first; or all, by payment id).

        Raises
        ------
        InvalidCursorError
            ``cursor`` is not one a previous page gave.
        """
        records, next_cursor = self._ledger.page(org_id, status=status, limit=limit, cursor=cursor)
        return PaymentPage(payments=[r.view() for r in records], next_cursor=next_cursor)
