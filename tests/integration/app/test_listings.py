"""The read routes on the local stack, as the AR app uses them: an org connected to the seed's Demo Company
and synced through the real flow, then every listing paged through by its cursors and compared with what
Xero holds and what DynamoDB holds, filters included; a customer archived in Xero moving to the archived
listing; a disconnected org's records still listed; the document at /openapi.json and Swagger UI at /docs.

Every request goes through ``api_client`` (the harness's one place for credentials).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.integration.app.harness import (
    App,
    api_client,
    connect,
    consent,
    new_org,
    returned,
    synced,
    wait_for,
)
from xero_bridge.adapters.aws.records_table import RecordsTable
from xero_bridge.models.records import RecordType
from xero_emulator.seed import SMALL_ORG

pytestmark = pytest.mark.integration


@dataclass
class Synced:
    """The AR org connected to Demo Company, its initial sync finished and written."""

    app: App
    org_id: str
    tenant_id: str
    api: httpx.Client

    def xero(self, resource: str, where: str | None = None) -> list[dict[str, Any]]:
        """What Xero holds (the emulator's own store, every page)."""
        return list(self.app.emulator.store.list_resource(self.tenant_id, resource, where=where)[resource])

    def held(self, record_type: RecordType) -> list[Any]:
        """What DynamoDB holds."""
        stack = self.app.stack
        table = RecordsTable(stack.physical_id("RecordsTable"), client=stack.client("dynamodb"), workers=1)
        return list(table.list_items(self.tenant_id, record_type))

    def pages(self, route: str, key: str, limit: int, **filters: str) -> list[list[dict[str, Any]]]:
        """Every page of a listing, each asked with the previous page's cursor, as the AR app reads them."""
        found: list[list[dict[str, Any]]] = []
        cursor: str | None = None
        while len(found) < 100:
            params = {**filters, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
            response = self.api.get(f"/orgs/{self.org_id}/{route}", params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            found.append(body[key])
            cursor = body["next_cursor"]
            if cursor is None:
                sizes = [len(page) for page in found]
                assert all(size == limit for size in sizes[:-1]), f"a page before the last is short: {sizes}"
                return found
        raise AssertionError(f"{route} never ends")

    def every(self, route: str, key: str, limit: int, **filters: str) -> list[dict[str, Any]]:
        items = [item for page in self.pages(route, key, limit, **filters) for item in page]
        ids = [item["xero_id"] for item in items]
        assert len(ids) == len(set(ids)), f"{route} gave a record twice"
        return items


@pytest.fixture(scope="module")
def demo(app: App) -> Iterator[Synced]:
    tenant_id = next(t["tenant_id"] for t in app.admin.tenants() if t["name"] == SMALL_ORG)
    consent(app, [tenant_id])
    org_id = new_org()
    assert returned(app, connect(app, org_id))["status"] == "connected"
    synced(app, org_id)
    with api_client(app) as api:
        yield Synced(app, org_id, tenant_id, api)


def ids(items: list[dict[str, Any]]) -> set[str]:
    return {str(item["xero_id"]) for item in items}


def test_customers_are_every_customer_xero_holds_and_dynamodb_holds(demo: Synced) -> None:
    listed = demo.every("customers", "customers", limit=7)

    in_xero = {
        c["ContactID"]
        for c in demo.xero("Contacts")
        if c.get("IsCustomer") and c.get("ContactStatus", "ACTIVE") == "ACTIVE"
    }
    assert ids(listed) == in_xero == {r.xero_id for r in demo.held(RecordType.CONTACT)}
    assert {c["sync"]["kind"] for c in listed} == {"page"}
    assert ids(demo.every("customers", "customers", limit=50, active="true")) == in_xero


def test_invoices_are_every_sale_xero_holds_with_its_amounts(demo: Synced) -> None:
    listed = demo.every("invoices", "invoices", limit=13)

    in_xero = {i["InvoiceID"]: i for i in demo.xero("Invoices", where='Type=="ACCREC"')}
    assert ids(listed) == set(in_xero) == {r.xero_id for r in demo.held(RecordType.INVOICE)}
    for invoice in listed:
        xero = in_xero[invoice["xero_id"]]
        assert (invoice["status"], Decimal(invoice["total"])) == (xero["Status"], Decimal(str(xero["Total"])))


@pytest.mark.parametrize("status", ["AUTHORISED", "PAID", "DRAFT", "VOIDED"])
def test_invoices_by_status_are_those_xero_holds_in_that_status_oldest_change_first(
    demo: Synced, status: str
) -> None:
    listed = demo.every("invoices", "invoices", limit=5, status=status)

    expected = {
        i["InvoiceID"] for i in demo.xero("Invoices", where='Type=="ACCREC"') if i["Status"] == status
    }
    assert expected and ids(listed) == expected
    changes = [i["xero_updated_at"] for i in listed]
    assert changes == sorted(changes)


def test_a_customers_invoices_are_theirs_in_xero(demo: Synced) -> None:
    sales = demo.xero("Invoices", where='Type=="ACCREC"')
    busiest, count = Counter(i["Contact"]["ContactID"] for i in sales).most_common(1)[0]

    listed = demo.every("invoices", "invoices", limit=2, customer_id=busiest.upper())

    assert count > 2 and ids(listed) == {
        i["InvoiceID"] for i in sales if i["Contact"]["ContactID"] == busiest
    }
    paid = demo.every("invoices", "invoices", limit=1, customer_id=busiest, status="PAID")
    assert ids(paid) == {i["xero_id"] for i in listed if i["status"] == "PAID"}


def test_invoices_updated_since_are_those_changed_from_that_instant_in_change_order(demo: Synced) -> None:
    held = sorted(demo.held(RecordType.INVOICE), key=lambda r: (r.xero_updated_at, r.xero_id))
    since = held[len(held) // 2].xero_updated_at

    listed = demo.every("invoices", "invoices", limit=9, updated_since=since.isoformat())

    assert [i["xero_id"] for i in listed] == [r.xero_id for r in held if r.xero_updated_at >= since]


def test_credit_notes_are_xeros_sales_credit_notes_with_their_allocations(demo: Synced) -> None:
    listed = demo.every("credit-notes", "credit_notes", limit=5)

    in_xero = {c["CreditNoteID"]: c for c in demo.xero("CreditNotes", where='Type=="ACCRECCREDIT"')}
    assert ids(listed) == set(in_xero)
    for note in listed:
        allocated = [Decimal(str(a["Amount"])) for a in in_xero[note["xero_id"]].get("Allocations") or []]
        assert sorted(Decimal(a["amount"]) for a in note["allocations"]) == sorted(allocated)


def test_xero_payments_are_payments_then_overpayments_and_prepayments_with_allocations(demo: Synced) -> None:
    listed = demo.every("xero-payments", "xero_payments", limit=6)

    kinds = [item["record_type"] for item in listed]
    assert kinds == sorted(kinds, key=["PAYMENT", "OVERPAYMENT", "PREPAYMENT"].index)
    held = [
        *demo.held(RecordType.PAYMENT),
        *demo.held(RecordType.OVERPAYMENT),
        *demo.held(RecordType.PREPAYMENT),
    ]
    assert ids(listed) == {r.xero_id for r in held}
    received = {
        o["OverpaymentID"]: o for o in demo.xero("Overpayments") if o["Type"] == "RECEIVE-OVERPAYMENT"
    }
    overpayments = [item for item in listed if item["record_type"] == "OVERPAYMENT"]
    assert ids(overpayments) == set(received)
    assert any(item["allocations"] for item in overpayments)
    for item in overpayments:
        allocations = received[item["xero_id"]].get("Allocations") or []
        assert len(item["allocations"]) == len(allocations)


def test_a_cursor_with_other_filters_or_altered_is_a_400_naming_cursor(demo: Synced) -> None:
    first = demo.api.get(f"/orgs/{demo.org_id}/invoices", params={"status": "PAID", "limit": 1}).json()
    cursor = first["next_cursor"]
    payload, mac = cursor.split(".")

    for params in (
        {"status": "AUTHORISED", "cursor": cursor},
        {"cursor": cursor},
        {"status": "PAID", "cursor": f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{mac}"},
    ):
        response = demo.api.get(f"/orgs/{demo.org_id}/invoices", params=params)
        assert response.status_code == 400, params
        assert response.json()["error"] == "invalid_request" and "cursor" in response.json()["reason"]
    other = demo.api.get(f"/orgs/{demo.org_id}/credit-notes", params={"cursor": cursor})
    assert other.status_code == 400 and "cursor" in other.json()["reason"]


def test_a_customer_archived_in_xero_moves_to_the_archived_listing(demo: Synced) -> None:
    active = demo.every("customers", "customers", limit=50, active="true")
    leaving = active[0]["xero_id"]

    demo.app.admin.archive_contact(demo.tenant_id, leaving)  # a Xero user archives it: a webhook follows

    archived = wait_for(
        "the archived customer in the archived listing",
        lambda: [
            c
            for c in demo.every("customers", "customers", limit=50, active="false")
            if c["xero_id"] == leaving
        ],
    )
    assert archived[0]["active"] is False
    assert leaving not in ids(demo.every("customers", "customers", limit=50, active="true"))


def test_the_document_is_served_with_the_key_and_swagger_ui_at_docs_locally(demo: Synced) -> None:
    document = demo.api.get("/openapi.json")
    unsigned = httpx.get(f"{demo.app.api_url}/openapi.json", timeout=30)
    docs = httpx.get(f"{demo.app.api_url}/docs", timeout=30)

    committed = (demo.app.stack.template.path.parent / "docs" / "openapi.json").read_text()
    assert document.status_code == 200 and document.json() == json.loads(committed)
    assert unsigned.status_code == 403  # API Gateway: no key, no document
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in docs.text and f'"url": "{demo.app.api_url}"' in docs.text
    assert "/orgs/{org_id}/xero-payments" in docs.text


def test_a_disconnected_orgs_records_stay_listed_marked_as_from_a_disconnected_source(demo: Synced) -> None:
    before = demo.every("invoices", "invoices", limit=50)

    assert demo.api.delete(f"/orgs/{demo.org_id}/connection").status_code == 200

    after = demo.every("invoices", "invoices", limit=50)
    assert ids(after) == ids(before)
    assert {i["sync"]["source_connection"] for i in after} == {"disconnected"}
