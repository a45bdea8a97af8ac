"""List the synced records for the AR app a page at a time: customers, invoices, credit notes, and payments
as Xero holds them (with overpayments and prepayments), each with its sync trail.

``RecordsTable`` chooses the index a listing's filters need and says where the next page starts; this use
case seals that position into an opaque cursor bound to the org, its tenant, the listing and its filters
(:mod:`xero_bridge.domain.cursors`), and opens the cursor a caller passes back under the same binding, so a
cursor cannot be carried to another org, another listing or other filters. Records of a disconnected org
stay listed, marked as from a disconnected source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from xero_bridge.domain.cursors import open_cursor, seal_cursor
from xero_bridge.errors import InvalidFilterError
from xero_bridge.models.balances import CustomerBalance, CustomerWithBalance
from xero_bridge.models.connection import ConnectionStatus, XeroConnection
from xero_bridge.models.listings import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    CreditNotePage,
    CustomerPage,
    InvoicePage,
    Position,
    RecordQuery,
    XeroPaymentItem,
    XeroPaymentPage,
)
from xero_bridge.models.records import (
    CreditNoteView,
    CustomerView,
    InvoiceStatus,
    InvoiceView,
    OverpaymentView,
    PrepaymentView,
    RecordType,
    StoredRecord,
    XeroPaymentView,
    record_view,
)
from xero_bridge.services.ports import BalanceStore, ConnectionStore, RecordsStore, SigningKeySource
from xero_bridge.services.records.read import records_connection

__all__ = ["ListRecords"]

_XERO_PAYMENTS = (RecordType.PAYMENT, RecordType.OVERPAYMENT, RecordType.PREPAYMENT)

_T = TypeVar("_T")
_Read = Callable[[str, Position | None], tuple[_T, Position | None]]
"""Reads one page for a tenant from a position: what it found, and where the next page starts."""


@dataclass(frozen=True)
class _Listed:
    records: list[StoredRecord]
    next_cursor: str | None
    source_connection: ConnectionStatus


class ListRecords:
    """``GET /orgs/{org_id}/customers``, ``/invoices``, ``/credit-notes`` and ``/xero-payments``.

    Parameters
    ----------
    connections
        The org's connection: which tenant its records are kept under.
    records
        ``RecordsTable``.
    cursor_key
        The key cursors are sealed with (``CursorSigningKey``).
    balances
        ``ReconciliationTable``: the off-balance customers (``off_balance=true``).
    """

    def __init__(
        self,
        *,
        connections: ConnectionStore,
        records: RecordsStore,
        cursor_key: SigningKeySource,
        balances: BalanceStore | None = None,
    ) -> None:
        self._connections = connections
        self._records = records
        self._cursor_key = cursor_key
        self._balances = balances

    def customers(
        self,
        org_id: str,
        *,
        active: bool | None = None,
        off_balance: bool | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> CustomerPage:
        """The org's customers: all of them by Xero id, the active (archived) ones by last change, or the off
        balance ones by Xero id with their balance block.

        Raises
        ------
        InvalidFilterError
            ``off_balance=false`` (not a filter: leave it out) or ``off_balance`` with ``active``.
        """
        if off_balance is not None:
            if not off_balance or active is not None:
                raise InvalidFilterError(
                    "invalid: off_balance (only off_balance=true filters, and not with active)"
                )
            return self._off_balance(org_id, limit, cursor)
        query = RecordQuery(record_types=(RecordType.CONTACT,), active=active)
        listed = self._list(org_id, "customers", query, limit, cursor)
        return CustomerPage(
            customers=[
                CustomerWithBalance(**record_view(CustomerView, r, listed.source_connection).model_dump())
                for r in listed.records
            ],
            next_cursor=listed.next_cursor,
        )

    def invoices(
        self,
        org_id: str,
        *,
        customer_id: str | None = None,
        status: InvoiceStatus | None = None,
        updated_since: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> InvoicePage:
        """The org's sales invoices: a customer's by date; else by last change when filtered by status or
        ``updated_since``; else all by Xero id."""
        query = RecordQuery(
            record_types=(RecordType.INVOICE,),
            customer_id=customer_id,
            status=status,
            updated_since=updated_since,
        )
        listed = self._list(org_id, "invoices", query, limit, cursor)
        return InvoicePage(
            invoices=[record_view(InvoiceView, r, listed.source_connection) for r in listed.records],
            next_cursor=listed.next_cursor,
        )

    def credit_notes(
        self, org_id: str, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> CreditNotePage:
        """The org's sales credit notes with their allocations, by Xero id."""
        query = RecordQuery(record_types=(RecordType.CREDIT_NOTE,))
        listed = self._list(org_id, "credit-notes", query, limit, cursor)
        return CreditNotePage(
            credit_notes=[record_view(CreditNoteView, r, listed.source_connection) for r in listed.records],
            next_cursor=listed.next_cursor,
        )

    def xero_payments(
        self, org_id: str, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> XeroPaymentPage:
        """Payments as Xero holds them, then overpayments and prepayments with their allocations."""
        query = RecordQuery(record_types=_XERO_PAYMENTS)
        listed = self._list(org_id, "xero-payments", query, limit, cursor)
        return XeroPaymentPage(
            xero_payments=[_payment_view(r, listed.source_connection) for r in listed.records],
            next_cursor=listed.next_cursor,
        )

    def _page(
        self, org_id: str, binding: Mapping[str, object], limit: int, cursor: str | None, read: _Read[_T]
    ) -> tuple[_T, str | None, XeroConnection]:
        """One page of a listing: the limit checked, ``cursor`` opened and the next one sealed under the org,
        its tenant and ``binding``; ``read`` reads the page from the position opened."""
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be 1..{MAX_LIMIT}")
        connection = records_connection(self._connections, org_id)
        bound = {"org": org_id, "tenant": connection.tenant_id, **binding}
        resume_at = open_cursor(cursor, binding=bound, key=self._key()) if cursor is not None else None
        found, more = read(connection.tenant_id, resume_at)
        next_cursor = seal_cursor(more, binding=bound, key=self._key()) if more is not None else None
        return found, next_cursor, connection

    def _list(self, org_id: str, listing: str, query: RecordQuery, limit: int, cursor: str | None) -> _Listed:
        def read(tenant_id: str, resume_at: Position | None) -> tuple[list[StoredRecord], Position | None]:
            page = self._records.list_page(tenant_id, query, resume_at=resume_at, limit=limit)
            return page.records, page.resume_at

        binding = {"listing": listing, "query": query.binding()}
        records, next_cursor, connection = self._page(org_id, binding, limit, cursor, read)
        return _Listed(records, next_cursor, connection.status)

    def _off_balance(self, org_id: str, limit: int, cursor: str | None) -> CustomerPage:
        """Off-balance customers, from the sparse index of flagged ones, with their balance blocks."""
        balances = self._balances
        assert balances is not None, "the off-balance listing needs the balances"

        def read(tenant_id: str, resume_at: Position | None) -> tuple[list[CustomerBalance], Position | None]:
            return balances.off_balance_page(tenant_id, resume_at=resume_at, limit=limit)

        binding = {"listing": "customers", "off_balance": True}
        flagged, next_cursor, connection = self._page(org_id, binding, limit, cursor, read)
        held = self._records.get_many(
            connection.tenant_id, [(RecordType.CONTACT, balance.contact_id) for balance in flagged]
        )
        customers = []
        for balance in flagged:
            stored = held.get((RecordType.CONTACT, balance.contact_id))
            if stored is not None:
                view = record_view(CustomerView, stored, connection.status)
                customers.append(CustomerWithBalance(**view.model_dump(), balance=balance))
        return CustomerPage(customers=customers, next_cursor=next_cursor)

    def _key(self) -> bytes:
        return self._cursor_key.key().get_secret_value().encode()


def _payment_view(stored: StoredRecord, source_connection: ConnectionStatus) -> XeroPaymentItem:
    if stored.record_type is RecordType.OVERPAYMENT:
        return record_view(OverpaymentView, stored, source_connection)
    if stored.record_type is RecordType.PREPAYMENT:
        return record_view(PrepaymentView, stored, source_connection)
    return record_view(XeroPaymentView, stored, source_connection)
