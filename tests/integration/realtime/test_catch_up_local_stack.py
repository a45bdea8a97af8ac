"""The catch-up on the local stack: what webhooks never say (payments) or did not deliver (a muted webhook),
read from the stored cursors; cheap when nothing changed; a disconnected tenant or a spent quota skipped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.realtime.harness import RealtimeWorld, field, realtime_world
from tests.support.connect_tables import ConnectTables
from xero_bridge.adapters.aws.catch_up_state import CatchUpStateTable
from xero_bridge.models.connection import ConnectionStatus
from xero_bridge.models.records import RecordType
from xero_bridge.models.sync import CURSOR_RESOURCES
from xero_bridge.models.webhooks import CatchUpOutcome

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world() -> Iterator[RealtimeWorld]:
    with realtime_world() as w:
        yield w


def states(world: RealtimeWorld) -> CatchUpStateTable:
    return CatchUpStateTable(
        world.app.stack.physical_id("ConnectionsTable"), client=world.app.stack.client("dynamodb")
    )


def catch_up(world: RealtimeWorld) -> CatchUpOutcome:
    """Fire the catch-up's schedule (the fan-out), let the queue and the writer drain, read the outcome."""
    before = states(world).last_outcome(world.org_id)
    world.app.stack.fire_schedule("CatchUpFunction")
    world.drain()
    outcome = states(world).last_outcome(world.org_id)
    assert outcome is not None and outcome != before, "the tenant was not caught up"
    return outcome


def unpaid_invoice(world: RealtimeWorld, skip: int) -> dict[str, Any]:
    invoices = world.app.emulator.store.list_resource(world.tenant_id, "Invoices", where='Type=="ACCREC"')
    unpaid = [
        i for i in invoices["Invoices"] if i["Status"] == "AUTHORISED" and Decimal(str(i["AmountPaid"])) == 0
    ]
    return unpaid[-1 - skip]


def test_changes_no_webhook_delivered_arrive_with_the_catch_up_and_are_counted(world: RealtimeWorld) -> None:
    # Given a payment recorded and an invoice edited in Xero while its webhook was not delivering
    invoice = unpaid_invoice(world, skip=0)
    invoice_id = str(invoice["InvoiceID"])
    bank = world.app.emulator.store.list_resource(world.tenant_id, "Accounts", where='Type=="BANK"')[
        "Accounts"
    ][0]
    with world.app.emulator.webhooks.muted():
        world.admin.record_payment(
            world.tenant_id, invoice_id, Decimal("10.00"), account_code=bank["Code"], on=date(2026, 12, 2)
        )
        world.admin.edit_invoice(world.tenant_id, invoice_id, {"Reference": "NO-WEBHOOK"})
    world.drain()
    held = world.held(RecordType.INVOICE, invoice_id)
    assert held is not None and field(held, "reference") != "NO-WEBHOOK"

    # When the schedule fires the catch-up
    outcome = catch_up(world)

    # Then both are held, from the catch-up, and the invoice counts as a change the webhooks missed
    assert outcome.status == "caught_up" and outcome.reason == "schedule"
    held = world.held(RecordType.INVOICE, invoice_id)
    assert held is not None and field(held, "reference") == "NO-WEBHOOK"
    assert held.source.kind == "catch_up" and held.source.cursor is not None
    payments = world.app.emulator.store.list_resource(
        world.tenant_id, "Payments", where=f'Invoice.InvoiceID==Guid("{invoice_id}")'
    )["Payments"]
    payment = world.held(RecordType.PAYMENT, str(payments[-1]["PaymentID"]))
    assert payment is not None and payment.source.kind == "catch_up"
    assert outcome.missed_by_webhooks >= 1


def test_cursors_move_to_the_newest_change_seen_less_an_overlap_never_to_now(world: RealtimeWorld) -> None:
    outcome = catch_up(world)

    newest_invoice = max(
        (r for r in world.app.emulator.store.list_resource(world.tenant_id, "Invoices")["Invoices"]),
        key=lambda r: str(r["UpdatedDateUTC"]),
    )
    held = world.held(RecordType.INVOICE, str(newest_invoice["InvoiceID"]))
    assert held is not None
    cursor = world.runs.get_cursors(world.org_id)["Invoices"]
    assert cursor <= held.xero_updated_at  # never beyond what was seen
    assert set(outcome.cursors) == set(CURSOR_RESOURCES)


def test_an_unchanged_tenant_costs_at_most_one_call_per_resource(world: RealtimeWorld) -> None:
    catch_up(world)  # whatever changed before is now behind the cursors
    calls_before = world.xero_calls()

    outcome = catch_up(world)

    assert outcome.status == "caught_up"
    assert world.xero_calls() - calls_before == outcome.calls <= len(CURSOR_RESOURCES)


def test_a_disconnected_tenant_is_not_caught_up(world: RealtimeWorld) -> None:
    tables = ConnectTables.over(
        world.app.stack.physical_id("ConnectionsTable"), client=world.app.stack.client("dynamodb")
    )
    connection = tables.connections.get_connection(world.org_id)
    assert connection is not None
    before = states(world).last_outcome(world.org_id)
    calls_before = world.xero_calls()
    tables.connections.set_status(
        world.org_id, ConnectionStatus.DISCONNECTED, "by a test", now=connection.updated_at
    )
    try:
        world.app.stack.fire_schedule("CatchUpFunction")
        world.drain()
        assert states(world).last_outcome(world.org_id) == before
        assert world.xero_calls() == calls_before
    finally:
        tables.connections.set_status(
            world.org_id, ConnectionStatus.CONNECTED, None, now=connection.updated_at
        )


def test_a_tenant_whose_daily_quota_is_nearly_spent_is_skipped_and_says_so(world: RealtimeWorld) -> None:
    # Given Xero's last answer said only 100 calls are left today (under the 500 kept for exports)
    limiter_item = {"pk": {"S": f"RATE#{world.tenant_id}"}, "sk": {"S": "LIMITER"}}
    dynamodb = world.app.stack.client("dynamodb")
    table = world.app.stack.physical_id("ConnectionsTable")
    original = dynamodb.get_item(TableName=table, Key=limiter_item)["Item"]
    dynamodb.update_item(
        TableName=table,
        Key=limiter_item,
        UpdateExpression="SET day_remaining = :left",
        ExpressionAttributeValues={":left": {"N": "100"}},
    )
    calls_before = world.xero_calls()
    try:
        outcome = catch_up(world)
        assert (outcome.status, outcome.skipped_because) == ("skipped", "daily_quota_reserve")
        assert world.xero_calls() == calls_before
    finally:
        dynamodb.put_item(TableName=table, Item=original)
