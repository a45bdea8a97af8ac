"""Xero parses GUIDs: without dashes, in capitals or in braces they name the same record, wherever taken."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from tests.unit.emulator.conftest import authorised_invoice
from xero_emulator.store import XeroStore, guid_key

Org = tuple[XeroStore, str, dict[str, Any]]


def spellings(guid: str) -> list[str]:
    """The ways a client writes one GUID: pyxero's hex, capitals, capitals without dashes, braces."""
    parsed = uuid.UUID(guid)
    return [parsed.hex, guid.upper(), parsed.hex.upper(), "{" + guid + "}"]


def test_guid_key_is_the_dashed_lower_case_text_and_leaves_other_text_alone() -> None:
    guid = "9f3c1a2b-4d5e-4f60-8a7b-0c1d2e3f4a5b"
    assert {guid_key(s) for s in spellings(guid)} == {guid}
    assert guid_key("  INV-0042 ") == "inv-0042"
    assert guid_key(None) == ""


def test_a_path_id_in_any_spelling_finds_the_record(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    invoice = store.list_resource(tenant, "Invoices")["Invoices"][0]
    for spelling in spellings(invoice["InvoiceID"]):
        [found] = store.get_resource(tenant, "Invoices", spelling)["Invoices"]
        assert found["InvoiceID"] == invoice["InvoiceID"]


def test_ids_in_any_spelling_select_the_records(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    contacts = [c["ContactID"] for c in store.list_resource(tenant, "Contacts")["Contacts"][:4]]
    asked = [spellings(cid)[n] for n, cid in enumerate(contacts)]
    body = store.list_resource(tenant, "Contacts", ids=asked)
    assert sorted(c["ContactID"] for c in body["Contacts"]) == sorted(contacts)


def test_where_guid_in_any_spelling_matches(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    invoice = store.list_resource(tenant, "Invoices", where='Type=="ACCREC"')["Invoices"][0]
    contact_id = invoice["Contact"]["ContactID"]
    expected = store.list_resource(tenant, "Invoices", where=f'Contact.ContactID==Guid("{contact_id}")')
    assert expected["Invoices"]
    for spelling in spellings(contact_id)[:3]:
        body = store.list_resource(tenant, "Invoices", where=f'Contact.ContactID==Guid("{spelling}")')
        assert [i["InvoiceID"] for i in body["Invoices"]] == [i["InvoiceID"] for i in expected["Invoices"]]


def test_guids_in_request_bodies_in_any_spelling(org: Org) -> None:
    store, tenant, ids = org
    # An invoice naming its contact without dashes
    _, created = store.create_invoices(
        tenant,
        {
            "Invoices": [
                {
                    "Type": "ACCREC",
                    "Contact": {"ContactID": uuid.UUID(ids["contact"]).hex.upper()},
                    "LineItems": [{"Description": "Work", "UnitAmount": "50.00", "AccountCode": "200"}],
                    "Status": "AUTHORISED",
                }
            ]
        },
    )
    assert created["Invoices"][0]["Contact"]["ContactID"] == ids["contact"]
    # A contact updated by its ContactID in capitals
    _, renamed = store.upsert_contacts(
        tenant, {"Contacts": [{"ContactID": ids["contact"].upper(), "Name": "Acme Renamed"}]}
    )
    assert renamed["Contacts"][0]["ContactID"] == ids["contact"]
    # A payment naming its invoice and account without dashes
    invoice = authorised_invoice(store, tenant, ids["contact"], "80.00")
    _, paid = store.create_payments(
        tenant,
        {
            "Payments": [
                {
                    "Invoice": {"InvoiceID": uuid.UUID(invoice["InvoiceID"]).hex},
                    "Account": {"AccountID": uuid.UUID(ids["bank"]).hex.upper()},
                    "Date": "2026-03-10",
                    "Amount": Decimal("30.00"),
                }
            ]
        },
    )
    payment = paid["Payments"][0]
    assert payment["Invoice"]["InvoiceID"] == invoice["InvoiceID"]
    assert payment["Account"]["AccountID"] == ids["bank"]
    # And deleted by its id in braces
    status, deleted = store.delete_payment(
        tenant, "{" + payment["PaymentID"].upper() + "}", {"Status": "DELETED"}
    )
    assert status == 200 and deleted["Payments"][0]["Status"] == "DELETED"


@pytest.mark.parametrize("bad", ["not-a-guid", "9f3c1a2b4d5e4f608a7b0c1d2e3f4a5"])
def test_an_id_that_is_no_guid_finds_nothing(small: tuple[XeroStore, str], bad: str) -> None:
    store, tenant = small
    assert store.list_resource(tenant, "Invoices", ids=[bad])["Invoices"] == []
