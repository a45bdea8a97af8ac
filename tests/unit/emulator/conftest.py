"""Fixtures for the emulator's data tests: a store on a fixed clock, seeded or empty."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from xero_emulator.clock import Clock
from xero_emulator.seed import seed
from xero_emulator.store import XeroStore

START = datetime(2026, 3, 16, 9, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(start=START)


@pytest.fixture
def store(clock: Clock) -> XeroStore:
    return XeroStore(clock)


@pytest.fixture
def small(store: XeroStore) -> tuple[XeroStore, str]:
    """The small profile; returns the store and the main tenant id."""
    tenant_ids = seed(store, "small")
    return store, tenant_ids[0]


@pytest.fixture
def org(store: XeroStore) -> tuple[XeroStore, str, dict[str, Any]]:
    """An empty AUD organisation with bank accounts and one customer: (store, tenant id, ids)."""
    tenant_id = store.add_tenant("Test Org", base_currency="AUD")
    ids = {
        "bank": store.admin_add_account(tenant_id, code="090", name="Bank", type="BANK")["AccountID"],
        "usd_bank": store.admin_add_account(
            tenant_id, code="091", name="USD Bank", type="BANK", currency_code="USD"
        )["AccountID"],
        "sales": store.admin_add_account(tenant_id, code="200", name="Sales", type="REVENUE")["AccountID"],
        "clearing": store.admin_add_account(
            tenant_id, code="855", name="Clearing", type="CURRLIAB", enable_payments=True
        )["AccountID"],
        "archived_bank": store.admin_add_account(
            tenant_id, code="092", name="Old Bank", type="BANK", status="ARCHIVED"
        )["AccountID"],
    }
    ids["contact"] = store.admin_create_contact(tenant_id, "Acme Pty Ltd")["ContactID"]
    return store, tenant_id, ids


def authorised_invoice(
    store: XeroStore, tenant_id: str, contact_id: str, amount: str = "100.00", **extra: Any
) -> dict[str, Any]:
    """An AUTHORISED ACCREC invoice of ``amount`` (one NoTax line) dated 2026-03-01, due 2026-03-31."""
    body = {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "Date": "2026-03-01",
        "DueDate": "2026-03-31",
        "LineAmountTypes": "NoTax",
        "Status": "AUTHORISED",
        "LineItems": [
            {"Description": "Work", "Quantity": 1, "UnitAmount": Decimal(amount), "AccountCode": "200"}
        ],
        **extra,
    }
    return store.admin_create_invoice(tenant_id, body)
