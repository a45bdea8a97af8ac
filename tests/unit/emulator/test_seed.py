"""Seed profiles: deterministic ids, every case a sync meets in the small profile, a consistent ledger."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from xero_emulator.clock import Clock
from xero_emulator.seed import SECOND_ORG, SMALL_ORG, _seed_large, seed
from xero_emulator.store import XeroStore


def _ids(store: XeroStore, tenant: str, resource: str, key: str) -> list[str]:
    return [r[key] for r in store.list_resource(tenant, resource, include_archived=True)[resource]]


def test_same_seed_same_ids_whatever_the_clock() -> None:
    first, second = XeroStore(Clock()), XeroStore(Clock(start=datetime(2030, 1, 1, tzinfo=UTC)))
    assert seed(first, "small") == seed(second, "small")
    tenant = first.tenant_ids()[0]
    for resource, key in (("Contacts", "ContactID"), ("Invoices", "InvoiceID"), ("Payments", "PaymentID")):
        assert _ids(first, tenant, resource, key) == _ids(second, tenant, resource, key)
    assert seed(XeroStore(Clock()), "small", rng_seed=8) != seed(XeroStore(Clock()), "small")


def test_none_profile_has_no_tenant_and_unknown_profile_is_refused(store: XeroStore) -> None:
    assert seed(store, "none") == [] and store.tenant_ids() == []
    with pytest.raises(ValueError):
        seed(store, "medium")


def test_seeding_emits_no_events(store: XeroStore) -> None:
    heard: list[object] = []
    store.subscribe(heard.append)
    seed(store, "small")
    assert heard == []


def test_small_profile_contains_every_case(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    assert store.tenant_name(tenant) == SMALL_ORG
    assert [store.tenant_name(t) for t in store.tenant_ids()] == [SMALL_ORG, SECOND_ORG]
    contacts = store.list_resource(tenant, "Contacts", include_archived=True)["Contacts"]
    assert len(contacts) == 40
    assert any(c["IsCustomer"] and not c["IsSupplier"] for c in contacts)
    assert any(c["IsSupplier"] and not c["IsCustomer"] for c in contacts)
    assert any(c["IsSupplier"] and c["IsCustomer"] for c in contacts)
    assert sum(c["ContactStatus"] == "ARCHIVED" and c["IsCustomer"] for c in contacts) == 4
    assert any(not c["IsSupplier"] and not c["IsCustomer"] for c in contacts)
    phone_types = {p["PhoneType"] for c in contacts for p in c["Phones"]}
    assert {"DEFAULT", "DDI", "MOBILE", "FAX"} <= phone_types
    with_mobile = [
        c for c in contacts if any(p["PhoneType"] == "MOBILE" and p["PhoneNumber"] for p in c["Phones"])
    ]
    assert 0 < len(with_mobile) < len(contacts)

    invoices = store.list_resource(tenant, "Invoices")["Invoices"]
    assert 110 <= len(invoices) <= 130
    by_type_status = Counter((i["Type"], i["Status"]) for i in invoices)
    for status in ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED"):
        assert by_type_status[("ACCREC", status)] > 0, status
        assert by_type_status[("ACCPAY", status)] > 0, status
    assert {"AUD", "USD", "NZD", "GBP"} <= {i["CurrencyCode"] for i in invoices}
    assert all(Decimal(str(i["CurrencyRate"])) != 1 for i in invoices if i["CurrencyCode"] != "AUD")
    assert any(i["Status"] == "AUTHORISED" and 0 < i["AmountPaid"] < i["Total"] for i in invoices)
    assert any("ExpectedPaymentDate" in i for i in invoices)
    assert sum(i["Date"].startswith("/Date(-") for i in invoices) >= 2
    assert any(i["Status"] == "AUTHORISED" and i["AmountCredited"] > 0 for i in invoices)

    notes = store.list_resource(tenant, "CreditNotes")["CreditNotes"]
    assert {"ACCRECCREDIT", "ACCPAYCREDIT"} <= {n["Type"] for n in notes}
    assert any(n["Allocations"] for n in notes) and any(
        n["Status"] == "AUTHORISED" and not n["Allocations"] for n in notes
    )
    for resource, kinds in (("Overpayments", "OVERPAYMENT"), ("Prepayments", "PREPAYMENT")):
        docs = store.list_resource(tenant, resource)[resource]
        assert {f"RECEIVE-{kinds}", f"SPEND-{kinds}"} <= {d["Type"] for d in docs}
        assert any(d["Allocations"] for d in docs)

    payments = store.list_resource(tenant, "Payments")["Payments"]
    assert {p["Status"] for p in payments} == {"AUTHORISED", "DELETED"}
    assert {"090", "091"} <= {p["Account"]["Code"] for p in payments}
    accounts = store.list_resource(tenant, "Accounts")["Accounts"]
    banks = [a for a in accounts if a["Type"] == "BANK"]
    assert {a["CurrencyCode"] for a in banks} >= {"AUD", "USD"}
    assert any(a["Status"] == "ARCHIVED" for a in banks)
    assert any(a["Code"] == "200" and a["Type"] == "REVENUE" for a in accounts)
    organisation = store.list_resource(tenant, "Organisation")["Organisations"][0]
    assert organisation["BaseCurrency"] == "AUD" and organisation["PeriodLockDate"].startswith("/Date(")
    assert sorted(u["OrganisationRole"] for u in store.list_resource(tenant, "Users")["Users"]) == [
        "FINANCIALADVISER",
        "STANDARD",
    ]


def test_seeded_balances_agree_with_the_documents(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    invoices = store.list_resource(tenant, "Invoices")["Invoices"]
    for invoice in invoices:
        if invoice["Status"] in ("AUTHORISED", "PAID"):
            assert (
                invoice["AmountDue"] == invoice["Total"] - invoice["AmountPaid"] - invoice["AmountCredited"]
            )
            assert (invoice["Status"] == "PAID") == (invoice["AmountDue"] == 0)
    expected: dict[str, Decimal] = {}
    for invoice in invoices:
        if invoice["Type"] == "ACCREC" and invoice["Status"] == "AUTHORISED":
            key = invoice["Contact"]["ContactID"]
            expected[key] = expected.get(key, Decimal(0)) + invoice["AmountDue"]
    for resource, types in (
        ("CreditNotes", {"ACCRECCREDIT"}),
        ("Overpayments", {"RECEIVE-OVERPAYMENT"}),
        ("Prepayments", {"RECEIVE-PREPAYMENT"}),
    ):
        for doc in store.list_resource(tenant, resource)[resource]:
            if doc["Type"] in types and doc["Status"] == "AUTHORISED":
                key = doc["Contact"]["ContactID"]
                expected[key] = expected.get(key, Decimal(0)) - doc["RemainingCredit"]
    for contact in store.list_resource(tenant, "Contacts", include_archived=True)["Contacts"]:
        outstanding = contact["Balances"]["AccountsReceivable"]["Outstanding"]
        assert outstanding == expected.get(contact["ContactID"], Decimal(0)), contact["Name"]


def test_large_generator_scaled_down_is_consistent(store: XeroStore) -> None:
    tenant = _seed_large(store, random.Random(7), contacts=300, invoices=1200)
    counts = store.counts(tenant)
    assert counts["Contacts"] == 300 and counts["Invoices"] == 1200
    assert counts["CreditNotes"] > 0 and counts["Payments"] > 0 and counts["Overpayments"] > 0
    page = store.list_resource(tenant, "Invoices", page=2, page_size=1000)
    assert page["pagination"] == {"page": 2, "pageSize": 1000, "pageCount": 2, "itemCount": 1200}
    customers = store.list_resource(tenant, "Contacts", where="IsCustomer==true", include_archived=True)[
        "Contacts"
    ]
    assert 0.6 < len(customers) / 300 < 0.8
