"""Read one synced record for the AR app: its fields as our models name them, and where this version came
from.

A record we do not hold answers :class:`~xero_bridge.errors.RecordNotHeld`, with the import rules' reason
when we left it out on purpose (a supplier-only contact, an archived one, a bill rather than a sale).
"""

from __future__ import annotations

from xero_bridge.errors import NotConnectedError, RecordNotHeld
from xero_bridge.models.balances import CustomerWithBalance
from xero_bridge.models.connection import ConnectionStatus, XeroConnection
from xero_bridge.models.records import CustomerView, InvoiceView, RecordType, StoredRecord, record_view
from xero_bridge.services.ports import BalanceStore, ConnectionStore, RecordsStore

__all__ = ["ReadRecords", "records_connection"]


def records_connection(connections: ConnectionStore, org_id: str) -> XeroConnection:
    """The connection an org's records are kept under, whatever its status: a disconnected org's records
    stay readable (marked as from a disconnected source).

    Raises
    ------
    NotConnectedError
        The org never connected a Xero organisation: it holds no records.
    """
    connection = connections.get_connection(org_id)
    if connection is None:
        raise NotConnectedError(f"org {org_id} has never connected a Xero organisation", org_id=org_id)
    return connection


class ReadRecords:
    """``GET /orgs/{org_id}/invoices/{invoice_id}``, ``GET /orgs/{org_id}/customers/{contact_id}``.

    Parameters
    ----------
    connections
        The org's connection: which tenant its records are kept under (a disconnected one's stay readable).
    records
        ``RecordsTable``.
    balances
        ``ReconciliationTable``: a customer's balance block (None leaves it out).
    """

    def __init__(
        self, *, connections: ConnectionStore, records: RecordsStore, balances: BalanceStore | None = None
    ) -> None:
        self._connections = connections
        self._records = records
        self._balances = balances

    def invoice(self, org_id: str, invoice_id: str) -> InvoiceView:
        stored, source = self._one(org_id, RecordType.INVOICE, invoice_id, "invoice")
        return record_view(InvoiceView, stored, source)

    def customer(self, org_id: str, contact_id: str) -> CustomerWithBalance:
        """The customer, its trail, and its balance beside Xero's (null until its first check)."""
        stored, source = self._one(org_id, RecordType.CONTACT, contact_id, "customer")
        view = record_view(CustomerView, stored, source)
        balance = None
        if self._balances is not None:
            balance = self._balances.get_balance(stored.tenant_id, contact_id)
        return CustomerWithBalance(**view.model_dump(), balance=balance)

    def _one(
        self, org_id: str, record_type: RecordType, xero_id: str, noun: str
    ) -> tuple[StoredRecord, ConnectionStatus]:
        connection = records_connection(self._connections, org_id)
        stored = self._records.get(connection.tenant_id, record_type, xero_id)
        if stored is not None:
            return stored, connection.status
        skipped = self._records.get_skipped(connection.tenant_id, record_type, xero_id)
        if skipped is not None:
            raise RecordNotHeld(
                f"this {noun} is not in the AR platform: {skipped.detail}",
                code=skipped.reason.value,
                org_id=org_id,
            )
        raise RecordNotHeld(
            f"no {noun} with this id has been synced from the connected Xero organisation", org_id=org_id
        )
