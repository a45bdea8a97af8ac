"""Listing the held records a page at a time, as the integration API answers them: every record once,
views with their trail, and cursors that only work for the org, listing and filters they were given for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import cast

import pytest
from pydantic import SecretStr

from tests.unit.services.sync.fakes import NOW, FakeConnections, connected
from tests.unit.services.webhooks.fakes import TENANT, FakeRecords, xero_contact, xero_invoice
from xero_bridge.domain.import_rules import map_records
from xero_bridge.errors import InvalidCursorError, NotConnectedError
from xero_bridge.models.balances import CustomerBalance
from xero_bridge.models.connection import ConnectionStatus
from xero_bridge.models.listings import Position
from xero_bridge.models.records import (
    InvoiceStatus,
    Overpayment,
    OverpaymentView,
    Payment,
    Prepayment,
    PrepaymentView,
    RecordSource,
    RecordType,
    SyncedRecord,
    XeroPaymentView,
)
from xero_bridge.services.ports import BalanceStore
from xero_bridge.services.records.listing import ListRecords

ORG = "org-1"
SOURCE_PAGE = RecordSource(kind="page", run_id="run-1", resource="Contacts", page=1, fetched_at=NOW)


@dataclass
class FakeKey:
    value: str = "cursor-key-1"

    def key(self) -> SecretStr:
        return SecretStr(self.value)


def held(contacts: int = 5, invoices: int = 7) -> FakeRecords:
    records = FakeRecords()
    batch = map_records(
        "Contacts",
        [xero_contact(n, updated=NOW + timedelta(n)) for n in range(contacts)],
        SOURCE_PAGE,
        incremental=False,
    )
    batch_invoices = map_records(
        "Invoices",
        [xero_invoice(n, updated=NOW + timedelta(n)) for n in range(invoices)],
        SOURCE_PAGE,
        incremental=False,
    )
    for record in [*batch.records, *batch_invoices.records]:
        records.hold(record)
    return records


def lister(
    records: FakeRecords, *, status: ConnectionStatus = ConnectionStatus.CONNECTED, key: str = "k1"
) -> ListRecords:
    return ListRecords(
        connections=FakeConnections(connected(TENANT, status)), records=records, cursor_key=FakeKey(key)
    )


def test_every_customer_once_across_pages_each_with_its_trail() -> None:
    listing = lister(held(contacts=5))

    first = listing.customers(ORG, limit=2)
    second = listing.customers(ORG, limit=2, cursor=first.next_cursor)
    third = listing.customers(ORG, limit=2, cursor=second.next_cursor)

    names = [c.name for page in (first, second, third) for c in page.customers]
    assert names == [f"Customer {n}" for n in range(5)]
    assert first.next_cursor and second.next_cursor and third.next_cursor is None
    assert first.customers[0].sync.kind == "page" and first.customers[0].sync.source_connection == "connected"


def test_a_disconnected_orgs_records_stay_listed_marked_as_such_and_a_never_connected_org_is_refused() -> (
    None
):
    page = lister(held(), status=ConnectionStatus.DISCONNECTED).invoices(ORG)

    assert len(page.invoices) == 7
    assert {i.sync.source_connection for i in page.invoices} == {ConnectionStatus.DISCONNECTED}
    with pytest.raises(NotConnectedError):
        ListRecords(connections=FakeConnections(None), records=held(), cursor_key=FakeKey()).invoices(ORG)


def test_a_cursor_given_for_some_filters_is_refused_with_others_and_on_another_route() -> None:
    listing = lister(held())
    paid = listing.invoices(ORG, status=InvoiceStatus.AUTHORISED, limit=2)
    assert paid.next_cursor is not None

    with pytest.raises(InvalidCursorError):
        listing.invoices(ORG, status=InvoiceStatus.PAID, limit=2, cursor=paid.next_cursor)
    with pytest.raises(InvalidCursorError):
        listing.invoices(ORG, limit=2, cursor=paid.next_cursor)
    with pytest.raises(InvalidCursorError):
        listing.credit_notes(ORG, cursor=paid.next_cursor)
    # The same filters read on.
    assert listing.invoices(ORG, status=InvoiceStatus.AUTHORISED, limit=2, cursor=paid.next_cursor).invoices


def test_a_cursor_is_refused_after_the_org_moved_to_another_xero_organisation_or_a_key_rotation() -> None:
    records = held()
    first = lister(records).customers(ORG, limit=2)
    assert first.next_cursor is not None

    moved = ListRecords(
        connections=FakeConnections(connected("tenant-9")), records=records, cursor_key=FakeKey("k1")
    )
    with pytest.raises(InvalidCursorError):
        moved.customers(ORG, limit=2, cursor=first.next_cursor)
    with pytest.raises(InvalidCursorError):
        lister(records, key="k2").customers(ORG, limit=2, cursor=first.next_cursor)


def test_another_orgs_cursor_is_refused() -> None:
    records = held()
    first = lister(records).customers(ORG, limit=2)

    with pytest.raises(InvalidCursorError):
        lister(records).customers("org-2", limit=2, cursor=first.next_cursor)


def test_xero_payments_are_typed_by_kind_with_their_allocations() -> None:
    records = FakeRecords()
    for payload in (
        Payment(xero_id="p-1", amount=10, xero_updated_at=NOW),
        Overpayment(xero_id="o-1", type="RECEIVE-OVERPAYMENT", xero_updated_at=NOW),
        Prepayment(xero_id="r-1", type="RECEIVE-PREPAYMENT", xero_updated_at=NOW),
    ):
        records.hold(SyncedRecord.of(payload, SOURCE_PAGE))

    page = lister(records).xero_payments(ORG)

    kinds = [type(item) for item in page.xero_payments]
    assert kinds == [XeroPaymentView, OverpaymentView, PrepaymentView]
    assert page.model_dump(mode="json")["xero_payments"][1]["record_type"] == "OVERPAYMENT"


@pytest.mark.parametrize("limit", [0, 201])
def test_a_limit_outside_1_to_200_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        lister(held()).customers(ORG, limit=limit)


@dataclass
class FakeFlagged:
    """``ReconciliationTable``'s sparse index of off-balance customers, by contact id."""

    flagged: list[CustomerBalance]

    def off_balance_page(
        self, tenant_id: str, *, resume_at: Position | None, limit: int
    ) -> tuple[list[CustomerBalance], Position | None]:
        ids = [b.contact_id for b in self.flagged]
        start = ids.index(resume_at["gsi1sk"]) + 1 if resume_at is not None else 0
        page = self.flagged[start : start + limit]
        more = start + limit < len(self.flagged)
        return page, ({"gsi1sk": page[-1].contact_id} if more else None)


def test_off_balance_customers_page_with_their_balances_under_a_cursor_of_their_own() -> None:
    records = held(contacts=5)
    contacts = sorted(xero_id for (kind, xero_id) in records.held if kind is RecordType.CONTACT)
    flagged = [
        CustomerBalance(
            contact_id=c, computed=Decimal(n), difference=Decimal(n), off_balance=True, checked_at=NOW
        )
        for n, c in enumerate(contacts[1:4], start=1)
    ]
    listing = ListRecords(
        connections=FakeConnections(connected(TENANT)),
        records=records,
        cursor_key=FakeKey("k1"),
        balances=cast(BalanceStore, FakeFlagged(flagged)),
    )

    first = listing.customers(ORG, off_balance=True, limit=2)
    second = listing.customers(ORG, off_balance=True, limit=2, cursor=first.next_cursor)

    pages = [[(c.xero_id, c.balance) for c in page.customers] for page in (first, second)]
    assert pages == [[(b.contact_id, b) for b in flagged[:2]], [(flagged[2].contact_id, flagged[2])]]
    assert second.next_cursor is None and first.customers[0].sync.kind == "page"
    with pytest.raises(InvalidCursorError):
        listing.customers(ORG, limit=2, cursor=first.next_cursor)
    with pytest.raises(InvalidCursorError):
        listing.customers("org-2", off_balance=True, limit=2, cursor=first.next_cursor)
    with pytest.raises(ValueError, match="limit"):
        listing.customers(ORG, off_balance=True, limit=0)
