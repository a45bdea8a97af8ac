"""Off balance, "why is this not here?" and the trail on the local stack: a connected org, synced once, its
webhook registered, the pollers (SQS and RecordsTable's stream) running.

Each off-balance cause is made for real in the emulator: a Xero user changes documents while the webhook is
switched off (``muted``), then edits the customer with the webhook on, so the customer's new figure reaches
us and the documents' changes do not (what happens when Xero disables a failing webhook for a while).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx

from tests.integration.realtime.harness import RealtimeWorld
from xero_bridge.adapters.aws.reconciliation_table import ReconciliationTable
from xero_bridge.models.balances import CustomerBalance

TODAY = date(2026, 12, 1)


def balances(world: RealtimeWorld) -> ReconciliationTable:
    stack = world.app.stack
    return ReconciliationTable(stack.physical_id("ReconciliationTable"), client=stack.client("dynamodb"))


def balance(world: RealtimeWorld, contact_id: str) -> CustomerBalance | None:
    return balances(world).get_balance(world.tenant_id, contact_id)


def api_post(world: RealtimeWorld, path: str) -> httpx.Response:
    return httpx.post(f"{world.app.api_url}{path}", auth=world.app.api_auth, timeout=60)


def new_customer(world: RealtimeWorld, name: str, **fields: Any) -> str:
    """A contact made in Xero (it becomes a customer with its first sales invoice)."""
    return str(world.app.emulator.store.admin_create_contact(world.tenant_id, name, **fields)["ContactID"])


def invoice(
    world: RealtimeWorld,
    contact_id: str,
    amount: str,
    *,
    status: str = "AUTHORISED",
    currency: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "Date": TODAY.isoformat(),
        "DueDate": (TODAY + timedelta(days=30)).isoformat(),
        "LineAmountTypes": "NoTax",
        "Status": status,
        "LineItems": [
            {"Description": "Work", "Quantity": 1, "UnitAmount": Decimal(amount), "AccountCode": "200"}
        ],
    }
    if currency:
        body["CurrencyCode"] = currency
    return world.app.emulator.store.admin_create_invoice(world.tenant_id, body)


def credit(world: RealtimeWorld, kind: str, contact_id: str, amount: str, **extra: Any) -> dict[str, Any]:
    return world.app.emulator.store.admin_create_credit(
        world.tenant_id, kind, contact_id, Decimal(amount), doc_date=TODAY, **extra
    )


def allocate(world: RealtimeWorld, kind: str, source_id: str, invoice_id: str, amount: str) -> None:
    world.app.emulator.store.admin_allocate_credit(
        world.tenant_id, kind, source_id, invoice_id, Decimal(amount), allocation_date=TODAY
    )


def xero_outstanding(world: RealtimeWorld, contact_id: str) -> Decimal:
    figures = world.app.emulator.store.contact_balances(world.tenant_id, contact_id)
    return Decimal(str(figures["AccountsReceivable"]["Outstanding"]))


def touch_customer(world: RealtimeWorld, contact_id: str, note: str) -> None:
    """A Xero user edits the customer with the webhook on: its new version (and Xero's figure) arrives."""
    world.app.emulator.store.admin_edit_contact(
        world.tenant_id, contact_id, {"EmailAddress": f"{note}@example.com"}
    )
