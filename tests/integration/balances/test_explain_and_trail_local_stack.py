""" "Why is this not in the AR platform?" and the per-record sync trail on the local stack, each reason made
for real in the emulator: held, supplier only, archived, a bill, not yet synced (a change newer than the
catch-up; a sync still running), unknown to us and to Xero, from a disconnected organisation; and one
invoice's trail after its page, webhook and catch-up versions, with a stale delivery and a change Xero has
that we do not."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.integration.balances.harness import invoice, new_customer
from tests.integration.realtime.harness import RealtimeWorld, realtime_world
from tests.support.waiting import wait_for
from xero_bridge.models.records import RecordType

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world() -> Iterator[RealtimeWorld]:
    with realtime_world() as w:
        yield w


def explain(world: RealtimeWorld, xero_id: str) -> dict[str, Any]:
    response = world.api(f"/orgs/{world.org_id}/explain/{xero_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def xero_calls(world: RealtimeWorld) -> int:
    return world.xero_calls()


def bill(world: RealtimeWorld, contact_id: str) -> dict[str, Any]:
    """A supplier's bill (ACCPAY) entered in Xero."""
    line = {"Description": "Paper", "Quantity": 1, "UnitAmount": Decimal("12.00"), "AccountCode": "200"}
    return world.app.emulator.store.admin_create_invoice(
        world.tenant_id,
        {
            "Type": "ACCPAY",
            "Contact": {"ContactID": contact_id},
            "Status": "AUTHORISED",
            "LineAmountTypes": "NoTax",
            "LineItems": [line],
        },
    )


def test_a_held_customer_says_since_when_and_from_where_without_asking_xero(world: RealtimeWorld) -> None:
    held = next(iter(world.records.list_items(world.tenant_id, RecordType.CONTACT)))
    before = xero_calls(world)

    answer = explain(world, held.xero_id)

    assert answer["status"] == "held" and answer["reason"] == "held" and answer["record_type"] == "CONTACT"
    assert answer["source"]["kind"] == "page" and answer["held_since"] is not None
    assert f"sync run {held.source.run_id}" in answer["explanation"]
    assert xero_calls(world) == before


def test_a_supplier_only_contact_is_explained_by_is_customer_false(world: RealtimeWorld) -> None:
    # Given a supplier we never heard of (made while the webhook was off): Xero is asked, once
    with world.app.emulator.webhooks.muted():
        supplier = new_customer(world, "Quiet Supplier Pty")
        bill(world, supplier)

    answer = explain(world, supplier)

    assert (answer["status"], answer["reason"], answer["xero_field"]) == (
        "not_held",
        "supplier_only",
        "IsCustomer=false",
    )
    assert "supplier only" in answer["explanation"] and "no sales invoices" in answer["explanation"]


def test_a_supplier_seen_by_webhook_is_explained_from_its_kept_skip_reason_without_a_xero_call(
    world: RealtimeWorld,
) -> None:
    # Given a contact made in Xero with a bill only, which the webhook brings and the rules leave out
    contact = new_customer(world, "Only Bills Pty")
    bill(world, contact)
    world.drain()
    wait_for(
        "the skip reason", lambda: world.records.get_skipped(world.tenant_id, RecordType.CONTACT, contact)
    )
    before = xero_calls(world)

    answer = explain(world, contact)

    assert (answer["reason"], answer["xero_field"], answer["checked_in_xero"]) == (
        "supplier_only",
        "IsCustomer=false",
        False,
    )
    assert xero_calls(world) == before


def test_an_archived_contact_is_explained_by_its_contact_status(world: RealtimeWorld) -> None:
    # Given a customer made and archived in Xero while the webhook was off (never imported)
    with world.app.emulator.webhooks.muted():
        archived = new_customer(world, "Closed Down Ltd")
        invoice(world, archived, "30.00")
        world.app.emulator.store.admin_archive_contact(world.tenant_id, archived)

    answer = explain(world, archived)

    assert (answer["reason"], answer["xero_field"]) == ("archived", "ContactStatus=ARCHIVED")
    assert "Restore it in Xero" in answer["explanation"]


def test_a_bill_is_not_receivable(world: RealtimeWorld) -> None:
    with world.app.emulator.webhooks.muted():
        entered = bill(world, new_customer(world, "Stationers Pty"))

    answer = explain(world, entered["InvoiceID"])

    assert (answer["reason"], answer["record_type"], answer["xero_field"]) == (
        "not_receivable",
        "INVOICE",
        "Type=ACCPAY",
    )
    assert "chases sales only" in answer["explanation"]


def test_an_invoice_newer_than_the_last_catch_up_is_not_yet_synced(world: RealtimeWorld) -> None:
    contact = new_customer(world, "Late Invoice Ltd")
    invoice(world, contact, "10.00")
    world.drain()
    with world.app.emulator.webhooks.muted():
        late = invoice(world, contact, "20.00")

    answer = explain(world, late["InvoiceID"])

    assert (answer["status"], answer["reason"], answer["record_type"]) == (
        "not_held",
        "not_yet_synced",
        "INVOICE",
    )
    assert "newer than the last catch-up" in answer["explanation"] and answer["checked_in_xero"] is True


def test_an_id_neither_we_nor_xero_know_is_unknown(world: RealtimeWorld) -> None:
    answer = explain(world, str(uuid.uuid4()))

    assert (answer["status"], answer["reason"], answer["checked_in_xero"]) == ("not_held", "unknown", True)
    assert "Neither the AR platform nor Xero knows this id" in answer["explanation"]


def test_a_trail_after_page_webhook_and_catch_up_versions_with_a_stale_delivery(world: RealtimeWorld) -> None:
    # Given an invoice of the initial sync (a page), changed in Xero with the webhook on, then changed again
    # while the webhook is off and brought by the catch-up, and a webhook delivery Xero sends twice
    held = next(
        s
        for s in world.records.list_items(world.tenant_id, RecordType.INVOICE)
        if getattr(s.payload, "status", None) == "AUTHORISED"
    )
    invoice_id = held.xero_id
    world.admin.edit_invoice(world.tenant_id, invoice_id, {"Reference": "BY-WEBHOOK"})
    world.drain()
    delivered = world.admin.deliveries()[-1]
    with world.app.emulator.webhooks.muted():
        world.admin.edit_invoice(world.tenant_id, invoice_id, {"Reference": "BY-CATCH-UP"})
    world.app.stack.fire_schedule("CatchUpFunction")
    world.drain()
    world.admin.redeliver(delivered["firstEventSequence"])
    world.drain()

    # When support reads its trail
    response = world.api(f"/orgs/{world.org_id}/records/{invoice_id}/trail")

    # Then: what we hold is what Xero holds, each version with its source, the stale delivery noted
    assert response.status_code == 200, response.text
    trail = response.json()
    assert trail["xero_status"] == "same" and trail["differences"] == []
    assert trail["held"]["reference"] == trail["xero"]["reference"] == "BY-CATCH-UP"
    kinds = [v["kind"] for v in trail["versions"]]
    assert kinds == ["page", "webhook", "catch_up"], trail["versions"]
    page, webhook, catch_up = trail["versions"]
    assert page["run_id"] == held.source.run_id and "page 1 of Invoices" in page["from"]
    assert webhook["event_sequence"] is not None and webhook["event_ids"]
    assert catch_up["cursor"] is not None and catch_up["from"].startswith("the catch-up from")
    assert [s["kind"] for s in trail["stale"]] == ["webhook"]
    assert trail["stale"][0]["xero_updated_at"] == catch_up["xero_updated_at"]

    # And a change Xero has that never reached us shows beside what we hold
    with world.app.emulator.webhooks.muted():
        world.admin.edit_invoice(world.tenant_id, invoice_id, {"Reference": "ONLY-IN-XERO"})
    trail = world.api(f"/orgs/{world.org_id}/records/{invoice_id}/trail").json()
    assert trail["xero_status"] == "newer_in_xero"
    assert {"field": "reference", "ours": "BY-CATCH-UP", "xero": "ONLY-IN-XERO"} in trail["differences"]


def test_a_record_not_held_has_no_trail_but_its_reason(world: RealtimeWorld) -> None:
    entered = bill(world, new_customer(world, "Printer Supplies Pty"))
    world.drain()
    response = world.api(f"/orgs/{world.org_id}/records/{entered['InvoiceID']}/trail")
    assert response.status_code == 404
    assert response.json()["error"] == "not_receivable"  # the skip reason kept when the webhook brought it


def test_while_a_sync_runs_an_unknown_record_is_not_yet_synced(world: RealtimeWorld) -> None:
    with world.app.emulator.webhooks.muted():
        late = invoice(world, new_customer(world, "During Resync Ltd"), "5.00")
    started = httpx.post(f"{world.app.api_url}/orgs/{world.org_id}/sync", auth=world.app.api_auth, timeout=30)
    assert started.status_code == 202, started.text

    answer = explain(world, late["InvoiceID"])

    assert answer["reason"] == "not_yet_synced" and "initial sync" in answer["explanation"]
    wait_for(
        "the re-sync",
        lambda: world.api(f"/orgs/{world.org_id}/sync").json().get("status") == "finished",
        timeout=180,
    )
    world.drain()
    assert explain(world, late["InvoiceID"])["status"] == "held"


def test_after_a_disconnect_records_are_from_a_disconnected_organisation(world: RealtimeWorld) -> None:
    held = next(iter(world.records.list_items(world.tenant_id, RecordType.CONTACT)))
    gone = httpx.delete(
        f"{world.app.api_url}/orgs/{world.org_id}/connection", auth=world.app.api_auth, timeout=30
    )
    assert gone.status_code == 200, gone.text

    answer = explain(world, held.xero_id)
    assert (answer["status"], answer["reason"]) == ("held", "disconnected")
    assert "disconnected Xero organisation" in answer["explanation"]
    unknown = explain(world, str(uuid.uuid4()))
    assert (unknown["status"], unknown["reason"]) == ("not_held", "disconnected")
    trail = world.api(f"/orgs/{world.org_id}/records/{held.xero_id}/trail").json()
    assert trail["xero_status"] == "not_checked" and trail["sync"]["source_connection"] == "disconnected"
