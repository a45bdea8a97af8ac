"""``POST /Contacts/{id}`` and ``POST /Invoices/{id}``: the path names the record, the body the change."""

from __future__ import annotations

import pytest

from xero_emulator.errors import NotFound
from xero_emulator.store import XeroStore


def test_an_invoice_is_updated_by_its_path(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    draft = store.list_resource(tenant, "Invoices", page=1, where='Status=="DRAFT"')["Invoices"][0]

    # The body names no InvoiceID: the path does
    status, body = store.update_invoice(tenant, draft["InvoiceID"], {"Invoices": [{"Reference": "PO-77"}]})

    assert status == 200 and body["Invoices"][0]["InvoiceID"] == draft["InvoiceID"]
    assert store.get_resource(tenant, "Invoices", draft["InvoiceID"])["Invoices"][0]["Reference"] == "PO-77"


def test_a_contact_is_updated_by_its_path(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    contact = store.list_resource(tenant, "Contacts", page=1)["Contacts"][0]

    status, _ = store.update_contact(
        tenant, contact["ContactID"], {"Contacts": [{"EmailAddress": "ar@x.test"}]}
    )

    assert status == 200
    assert (
        store.get_resource(tenant, "Contacts", contact["ContactID"])["Contacts"][0]["EmailAddress"]
        == "ar@x.test"
    )


def test_an_unknown_id_in_the_path_is_not_found(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    with pytest.raises(NotFound):
        store.update_invoice(
            tenant, "00000000-0000-4000-8000-000000000000", {"Invoices": [{"Reference": "x"}]}
        )
