"""The split of a run, asked of the emulator's Xero as the sync asks it: exact complements, nothing lost.

The emulator filters as Xero's spec says (``Statuses`` on Invoices, ``where``, ``includeArchived``), so each
partition's query is run against it: the chase and history shares of a resource are disjoint and together
are exactly what the import reads of it, for every status and type, before and after Xero changes records
between the two parts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from xero_bridge.domain.import_rules import source_filter
from xero_bridge.domain.partitions import (
    ORDER_BY,
    Partition,
    full_run_partitions,
    partition_query,
    snapshot_from,
    xero_datetime,
)
from xero_bridge.models.sync import PAGED_RESOURCES, Part, Share
from xero_emulator.clock import Clock
from xero_emulator.seed import seed
from xero_emulator.store import XeroStore

ID_OF = ORDER_BY  # each partition is paged in the order of its records' ids


@pytest.fixture
def xero() -> tuple[XeroStore, str]:
    store = XeroStore(Clock(start=datetime(2026, 3, 16, 9, 30, tzinfo=UTC)))
    return store, seed(store, "small")[0]


def ids(store: XeroStore, tenant: str, resource: str, query: dict[str, Any]) -> list[str]:
    """Every record a query selects, in its order (paged as the sync pages)."""
    out: list[str] = []
    page = 1
    while True:
        body = store.list_resource(tenant, resource, page=page, page_size=1000, **query)
        out += [record[ID_OF[resource]] for record in body[resource]]
        if page >= body["pagination"]["pageCount"]:
            return out
        page += 1


def shares(store: XeroStore, tenant: str, resource: str, snapshot: datetime) -> tuple[set[str], set[str]]:
    """What the chase part reads of a resource (nothing of Payments), and what the history part reads."""
    read: dict[Part, list[str]] = {Part.CHASE: [], Part.HISTORY: []}
    for partition in full_run_partitions():
        if partition.resource == resource:
            query = partition_query(partition, snapshot_at=snapshot)
            read[partition.part] = ids(store, tenant, resource, query)
    chase, history = read[Part.CHASE], read[Part.HISTORY]
    assert len(chase) == len(set(chase)) and len(history) == len(set(history))  # no record on two pages
    return set(chase), set(history)


def everything(store: XeroStore, tenant: str, resource: str) -> set[str]:
    """What the import reads of a resource: its source filter, as a reconcile reads it."""
    return set(ids(store, tenant, resource, source_filter(resource, incremental=False)))


def test_chase_and_history_are_exact_complements_for_every_resource_status_and_type(
    xero: tuple[XeroStore, str],
) -> None:
    store, tenant = xero
    snapshot = snapshot_from(store.clock.now())
    statuses: set[str] = set()
    for resource in PAGED_RESOURCES:
        chase, history = shares(store, tenant, resource, snapshot)
        whole = everything(store, tenant, resource)
        assert not chase & history, resource
        # the history share of Contacts is what changed since the snapshot, archived included: nothing yet
        assert chase | history == whole, resource
        if resource == "Invoices":
            body = store.list_resource(tenant, "Invoices", where='Type=="ACCREC"')["Invoices"]
            status = {i["InvoiceID"]: i["Status"] for i in body}
            statuses = {status[i] for i in whole}
            assert {status[i] for i in chase} == {"AUTHORISED", "SUBMITTED"}
            assert {status[i] for i in history} == statuses - {"AUTHORISED", "SUBMITTED"}
        if resource in ("CreditNotes", "Overpayments", "Prepayments"):
            body = store.list_resource(tenant, resource)[resource]
            open_credit = {
                d[ID_OF[resource]]
                for d in body
                if d["Status"] == "AUTHORISED" and Decimal(str(d["RemainingCredit"])) > 0
            }
            assert chase == open_credit & whole and chase, resource
    assert statuses == {"DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED"}


def test_a_record_changed_after_the_snapshot_is_in_the_history_share_at_its_newest(
    xero: tuple[XeroStore, str],
) -> None:
    # Given the shares of a run whose snapshot is now
    store, tenant = xero
    snapshot = snapshot_from(store.clock.now() + timedelta(seconds=30))
    store.clock.advance(5)
    before = {r: shares(store, tenant, r, snapshot) for r in PAGED_RESOURCES}
    invoices = {
        i["InvoiceID"]: i for i in store.list_resource(tenant, "Invoices", where='Type=="ACCREC"')["Invoices"]
    }
    authorised = [i for i, v in invoices.items() if v["Status"] == "AUTHORISED"]
    paid = next(i for i, v in invoices.items() if v["Status"] == "PAID" and v["Payments"])
    draft = next(i for i, v in invoices.items() if v["Status"] == "DRAFT")

    # When Xero changes them between the two parts: an outstanding invoice paid in full, a paid invoice
    # whose payment is deleted (back to AUTHORISED: it moves from the history filter to the chase one), a
    # draft approved, and an outstanding invoice edited
    store.admin_record_payment(tenant, authorised[0], Decimal(str(invoices[authorised[0]]["AmountDue"])))
    store.admin_delete_payment(tenant, invoices[paid]["Payments"][0]["PaymentID"])
    store.admin_edit_invoice(tenant, draft, {"Status": "AUTHORISED"})
    store.admin_edit_invoice(tenant, authorised[1], {"Reference": "edited between the parts"})
    now = {
        i["InvoiceID"]: i for i in store.list_resource(tenant, "Invoices", where='Type=="ACCREC"')["Invoices"]
    }
    assert (now[authorised[0]]["Status"], now[paid]["Status"], now[draft]["Status"]) == (
        "PAID",
        "AUTHORISED",
        "AUTHORISED",
    )

    # Then each moved record is in the history share (whatever its status now), none in the chase share;
    # the chase share only lost members, the history share only gained, and they still split everything
    changed = {authorised[0], authorised[1], paid, draft}
    for resource in PAGED_RESOURCES:
        chase, history = shares(store, tenant, resource, snapshot)
        chase_before, history_before = before[resource]
        assert chase <= chase_before and history >= history_before, resource
        assert not chase & history and chase | history == everything(store, tenant, resource) | (
            history - history_before if resource == "Contacts" else set()
        ), resource
        if resource == "Invoices":
            assert changed <= history and not changed & chase
    # and the history share reads the paid invoice whose payment was deleted, though it is AUTHORISED now
    where = partition_query(Partition("Invoices", Part.HISTORY, Share.REST), snapshot_at=snapshot)["where"]
    assert f"UpdatedDateUTC > {xero_datetime(snapshot)}" in where


def test_the_snapshot_is_xeros_clock_less_a_margin_in_whole_seconds() -> None:
    xero_clock = datetime(2026, 3, 16, 9, 30, 12, 987000, tzinfo=UTC)
    assert snapshot_from(xero_clock) == datetime(2026, 3, 16, 9, 29, 42, tzinfo=UTC)
    assert xero_datetime(snapshot_from(xero_clock)) == "DateTime(2026, 03, 16, 09, 29, 42)"
    with pytest.raises(ValueError, match="snapshot"):
        partition_query(Partition("Invoices", Part.CHASE, Share.OPEN), snapshot_at=None)
