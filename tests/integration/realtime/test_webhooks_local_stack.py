"""Real-time sync on the local stack: Xero's signed webhooks through the local API, the change fetcher, the
writer, and what the AR app reads afterwards. Xero is the emulator acting as a Xero user."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.realtime.harness import RealtimeWorld, delivery, field, realtime_world
from tests.support.waiting import wait_for
from xero_bridge.models.connection import ConnectionStatus
from xero_bridge.models.records import RecordType

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world() -> Iterator[RealtimeWorld]:
    with realtime_world() as w:
        yield w


def authorised_invoice(world: RealtimeWorld, *, unpaid: bool = True, skip: int = 0) -> dict[str, Any]:
    """An AUTHORISED receivable invoice of the emulator's organisation (the ``skip``-th one)."""
    invoices = world.app.emulator.store.list_resource(world.tenant_id, "Invoices", where='Type=="ACCREC"')[
        "Invoices"
    ]
    found = [
        i
        for i in invoices
        if i["Status"] == "AUTHORISED" and (not unpaid or Decimal(str(i["AmountPaid"])) == 0)
    ]
    return found[skip]


def reference(world: RealtimeWorld, invoice_id: str) -> str | None:
    held = world.held(RecordType.INVOICE, invoice_id)
    return field(held, "reference") if held is not None else None


# --- receiving ----------------------------------------------------------------------------------------------


def test_intent_to_receive_passes_when_the_stack_registers_the_webhook(world: RealtimeWorld) -> None:
    # (running_app registered it; Xero sends one correctly and one wrongly signed empty payload)
    result = world.admin.register_webhook()

    assert result["passed"] is True
    assert (result["correct_signature_status"], result["wrong_signature_status"]) == (200, 401)


@pytest.mark.parametrize("case", ["wrong key", "no header", "one byte altered", "re-serialised JSON"])
def test_a_delivery_not_signed_over_its_exact_bytes_is_a_401_with_an_empty_body(
    world: RealtimeWorld, case: str
) -> None:
    # Given a real delivery body and its signature with the app's key
    body = delivery(
        [
            {
                "resourceUrl": "https://api.xero.com/api.xro/2.0/Invoices/x",
                "resourceId": "9f5bca33-8590-4b6f-acfb-e85712b10217",
                "eventDateUtc": "2026-11-21T10:16:40.180",
                "eventType": "UPDATE",
                "eventCategory": "INVOICE",
                "tenantId": world.tenant_id,
                "tenantType": "ORGANISATION",
            }
        ],
        900_001,
        900_001,
    )
    signature: str | None = world.sign(body)
    if case == "wrong key":
        signature = world.sign(body, key="not-the-webhook-key")
    elif case == "no header":
        signature = None
    elif case == "one byte altered":
        body = body.replace(b"UPDATE", b"UPDATF")
    else:  # the same JSON, spaced differently: a signature is over bytes, not over meaning
        body = json.dumps(json.loads(body), indent=1).encode()
    queued_before = world.app.stack.client("sqs").get_queue_attributes(
        QueueUrl=world.app.stack.physical_id("WebhooksQueue"), AttributeNames=["All"]
    )["Attributes"]

    # When it reaches the receiver
    response = world.post_webhook(body, signature)

    # Then 401, an empty body, no cookie, and nothing queued
    assert response.status_code == 401
    assert response.content == b""
    assert "set-cookie" not in response.headers
    queued_after = world.app.stack.client("sqs").get_queue_attributes(
        QueueUrl=world.app.stack.physical_id("WebhooksQueue"), AttributeNames=["All"]
    )["Attributes"]
    assert queued_after["ApproximateNumberOfMessages"] == queued_before["ApproximateNumberOfMessages"]


def test_an_oversized_or_unparseable_body_is_a_clean_4xx(world: RealtimeWorld) -> None:
    huge = b'{"events":[],"entropy":"' + b"A" * 300_000 + b'"}'
    garbage = b"\xff\xfe not json"

    assert world.post_webhook(huge, world.sign(huge)).status_code == 413
    assert world.post_webhook(garbage, world.sign(garbage)).status_code == 400
    assert world.post_webhook(garbage, "not base64 at all").status_code == 401


# --- fetching what changed ----------------------------------------------------------------------------


def test_an_invoice_edited_in_xero_arrives_by_webhook_with_its_events_in_the_trail(
    world: RealtimeWorld,
) -> None:
    # Given an invoice the initial sync imported
    invoice = authorised_invoice(world)
    invoice_id = str(invoice["InvoiceID"])
    before = world.api(f"/orgs/{world.org_id}/invoices/{invoice_id}").json()
    assert before["sync"]["kind"] == "page"

    # When a Xero user changes its reference and due date
    world.admin.edit_invoice(
        world.tenant_id, invoice_id, {"Reference": "PO-REALTIME-1", "DueDate": "2027-01-31"}
    )

    # Then the AR app reads the new version within seconds, with the webhook event that brought it
    def arrived() -> dict[str, Any] | None:
        body = world.api(f"/orgs/{world.org_id}/invoices/{invoice_id}").json()
        return body if body.get("reference") == "PO-REALTIME-1" else None

    after = wait_for("the edit to arrive by webhook", arrived, timeout=20)
    assert after["due_date"] == "2027-01-31"
    assert after["sync"]["kind"] == "webhook"
    assert any(invoice_id in event for event in after["sync"]["event_ids"])
    assert after["sync"]["event_sequence"] >= 1
    assert isinstance(after["amount_due"], str)  # money as a decimal string


def test_a_payment_recorded_in_xero_follows_its_invoice_in_seconds(world: RealtimeWorld) -> None:
    # Given an unpaid invoice and a bank account
    invoice = authorised_invoice(world, skip=1)
    invoice_id = str(invoice["InvoiceID"])
    bank = world.app.emulator.store.list_resource(world.tenant_id, "Accounts", where='Type=="BANK"')[
        "Accounts"
    ][0]
    part = (Decimal(str(invoice["AmountDue"])) / 2).quantize(Decimal("0.01"))

    # When a Xero user records a part payment (Xero sends no payment webhook, only the invoice's UPDATE)
    world.admin.record_payment(
        world.tenant_id, invoice_id, part, account_code=bank["Code"], on=date(2026, 12, 1)
    )

    # Then the payment itself is held, and the invoice shows it paid
    payments = world.app.emulator.store.list_resource(
        world.tenant_id, "Payments", where=f'Invoice.InvoiceID==Guid("{invoice_id}")'
    )["Payments"]
    payment_id = str(payments[-1]["PaymentID"])
    held = wait_for("the payment to follow its invoice", lambda: world.held(RecordType.PAYMENT, payment_id))
    assert held.source.kind == "webhook"
    assert field(held, "amount") == part
    invoice_view = world.api(f"/orgs/{world.org_id}/invoices/{invoice_id}").json()
    assert Decimal(invoice_view["amount_paid"]) == part


def test_a_contact_archived_later_is_inactive_never_deleted(world: RealtimeWorld) -> None:
    customers = world.app.emulator.store.list_resource(world.tenant_id, "Contacts", where="IsCustomer==true")
    contact_id = str(customers["Contacts"][0]["ContactID"])
    assert world.api(f"/orgs/{world.org_id}/customers/{contact_id}").json()["active"] is True

    world.admin.archive_contact(world.tenant_id, contact_id)

    def inactive() -> dict[str, Any] | None:
        body = world.api(f"/orgs/{world.org_id}/customers/{contact_id}").json()
        return body if body.get("active") is False else None

    body = wait_for("the archive to arrive", inactive, timeout=20)
    assert body["xero_id"] == contact_id and body["sync"]["kind"] == "webhook"


def test_a_contact_that_becomes_a_customer_is_imported_then(world: RealtimeWorld) -> None:
    # Given a contact created in Xero with no sales yet: its webhook brings it, the rules leave it out
    created = world.admin.create_contacts(world.tenant_id, {"Contacts": [{"Name": "Later Customer Ltd"}]})
    contact_id = str(created["Contacts"][0]["ContactID"])

    def explained() -> dict[str, Any] | None:
        response = world.api(f"/orgs/{world.org_id}/customers/{contact_id}")
        return (
            response.json()
            if response.status_code == 404 and response.json()["error"] != "not_found"
            else None
        )

    refused = wait_for("the new contact's skip reason", explained, timeout=20)
    assert refused["error"] == "not_a_customer"

    # When a Xero user raises a sales invoice to it
    world.admin.create_invoices(
        world.tenant_id,
        {
            "Invoices": [
                {
                    "Type": "ACCREC",
                    "Contact": {"ContactID": contact_id},
                    "Status": "AUTHORISED",
                    "Date": "2026-12-01",
                    "DueDate": "2026-12-31",
                    "LineItems": [
                        {"Description": "Consulting", "Quantity": 1, "UnitAmount": 250, "AccountCode": "200"}
                    ],
                }
            ]
        },
    )

    # Then the contact is a customer of the AR platform
    def imported() -> dict[str, Any] | None:
        response = world.api(f"/orgs/{world.org_id}/customers/{contact_id}")
        return response.json() if response.status_code == 200 else None

    body = wait_for("the new customer", imported, timeout=20)
    assert body["is_customer"] is True and body["active"] is True


def test_duplicate_and_out_of_order_deliveries_leave_the_newest_version(world: RealtimeWorld) -> None:
    # Given an invoice changed twice in Xero, each change delivered
    invoice = authorised_invoice(world, skip=2)
    invoice_id = str(invoice["InvoiceID"])
    world.admin.edit_invoice(world.tenant_id, invoice_id, {"Reference": "FIRST"})
    wait_for("the first change", lambda: reference(world, invoice_id) == "FIRST")
    first_delivery = world.admin.deliveries()[-1]["firstEventSequence"]
    world.admin.edit_invoice(world.tenant_id, invoice_id, {"Reference": "SECOND"})
    wait_for("the second change", lambda: reference(world, invoice_id) == "SECOND")
    newest = world.held(RecordType.INVOICE, invoice_id)
    assert newest is not None

    # When the first delivery comes again, late and duplicated
    world.admin.redeliver(first_delivery)
    world.admin.redeliver(first_delivery)
    world.drain()

    # Then we still hold the newest version (the fetch reads Xero's current one; the writer keeps newer)
    held = world.held(RecordType.INVOICE, invoice_id)
    assert held is not None and field(held, "reference") == "SECOND"
    assert held.xero_updated_at >= newest.xero_updated_at


def test_events_of_a_disconnected_tenant_cause_no_xero_call(world: RealtimeWorld) -> None:
    # Given the org disconnected (its connection item says so)
    from tests.support.connect_tables import ConnectTables

    tables = ConnectTables.over(
        world.app.stack.physical_id("ConnectionsTable"), client=world.app.stack.client("dynamodb")
    )
    connection = tables.connections.get_connection(world.org_id)
    assert connection is not None
    invoice = authorised_invoice(world, skip=3)
    invoice_id = str(invoice["InvoiceID"])
    tables.connections.set_status(
        world.org_id, ConnectionStatus.DISCONNECTED, "disconnected by a test", now=connection.updated_at
    )
    try:
        calls_before = world.xero_calls()
        # When Xero delivers an event of that tenant
        world.admin.edit_invoice(world.tenant_id, invoice_id, {"Reference": "AFTER-DISCONNECT"})
        world.drain()
        # Then it was dropped: no call to Xero, nothing written
        assert world.xero_calls() == calls_before
        held = world.held(RecordType.INVOICE, invoice_id)
        assert held is not None and field(held, "reference") != "AFTER-DISCONNECT"
        assert "webhook events dropped: the tenant is not connected" in world.logs.text()
    finally:
        tables.connections.set_status(
            world.org_id, ConnectionStatus.CONNECTED, None, now=connection.updated_at
        )


def test_a_429_during_a_change_fetch_loses_nothing(world: RealtimeWorld) -> None:
    invoice = authorised_invoice(world, skip=4)
    invoice_id = str(invoice["InvoiceID"])
    # Given Xero answers the change fetcher's next call with a minute-limit 429 whose Retry-After is longer
    # than the client waits in process (120 Xero seconds: 2 real seconds at the emulator's clock x60)
    world.admin.rate_limit_next(1, problem="minute", retry_after=120)

    world.admin.edit_invoice(world.tenant_id, invoice_id, {"Reference": "AFTER-A-429"})

    def arrived() -> bool:
        held = world.held(RecordType.INVOICE, invoice_id)
        return held is not None and field(held, "reference") == "AFTER-A-429"

    # Then the message came back after the Retry-After (not in a loop, not lost) and the change arrived
    wait_for("the change despite the 429", arrived, timeout=60)
    assert "webhook changes to fetch again later" in world.logs.text()
    dead = (
        world.app.stack.client("sqs")
        .receive_message(
            QueueUrl=world.app.stack.physical_id("WebhooksDeadLetterQueue"), MaxNumberOfMessages=10
        )
        .get("Messages", [])
    )
    assert not [m for m in dead if invoice_id in m["Body"]]


def test_a_poison_message_ends_in_the_dlq_with_its_reason(world: RealtimeWorld) -> None:
    sqs = world.app.stack.client("sqs")
    # Given a message on the webhooks queue that is no webhook payload (not from our receiver)
    sqs.send_message(QueueUrl=world.app.stack.physical_id("WebhooksQueue"), MessageBody='{"events": 7}')

    world.app.stack.drain(timeout=30)

    # Then it was set aside once, with its reason, and the queue is not looping on it
    dead = sqs.receive_message(
        QueueUrl=world.app.stack.physical_id("WebhooksDeadLetterQueue"),
        MessageAttributeNames=["All"],
        MaxNumberOfMessages=10,
    ).get("Messages", [])
    poison = [m for m in dead if m["Body"] == '{"events": 7}']
    assert len(poison) == 1
    assert poison[0]["MessageAttributes"]["reason"]["StringValue"].startswith("not a Xero webhook payload")


def test_a_sequence_gap_triggers_a_catch_up_of_every_tenant(world: RealtimeWorld) -> None:
    # Given the last delivery's sequence, and a delivery that skips numbers (some were lost)
    last = max(d["lastEventSequence"] for d in world.admin.deliveries())
    body = delivery([], last + 50, last + 52)  # no events: only its numbers matter here
    body = delivery(
        [
            {
                "resourceUrl": "x",
                "resourceId": "00000000-0000-4000-8000-000000000001",
                "eventDateUtc": "2026-12-01T10:00:00.000",
                "eventType": "UPDATE",
                "eventCategory": "CONTACT",
                "tenantId": "not-a-connected-tenant",
                "tenantType": "ORGANISATION",
            }
        ],
        last + 50,
        last + 52,
    )

    # When it is delivered
    assert world.post_webhook(body, world.sign(body)).status_code == 200
    world.drain()

    # Then the connected tenant was caught up, because of the gap
    from xero_bridge.adapters.aws.catch_up_state import CatchUpStateTable

    states = CatchUpStateTable(
        world.app.stack.physical_id("ConnectionsTable"), client=world.app.stack.client("dynamodb")
    )
    outcome = wait_for("the catch-up", lambda: states.last_outcome(world.org_id), timeout=30)
    assert outcome.reason == "sequence_gap" and outcome.status == "caught_up"
