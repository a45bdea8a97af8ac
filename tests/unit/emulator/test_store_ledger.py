"""The emulated ledger: invoices, credits and payments move AmountDue, Status, balances and UpdatedDateUTC."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest

from tests.unit.emulator.conftest import authorised_invoice
from xero_emulator.errors import BadRequest
from xero_emulator.store import ChangeEvent, XeroStore

Org = tuple[XeroStore, str, dict[str, Any]]


def _invoice(store: XeroStore, tenant: str, invoice_id: str) -> dict[str, Any]:
    return store.get_resource(tenant, "Invoices", invoice_id)["Invoices"][0]


def _ar(store: XeroStore, tenant: str, contact_id: str) -> dict[str, Decimal]:
    return store.get_resource(tenant, "Contacts", contact_id)["Contacts"][0]["Balances"]["AccountsReceivable"]


def test_line_amount_types_compute_totals_like_xero(org: Org) -> None:
    store, tenant, ids = org
    lines = [
        {"Description": "A", "Quantity": 2, "UnitAmount": "55.00", "TaxType": "OUTPUT", "AccountCode": "200"}
    ]
    base = {
        "Type": "ACCREC",
        "Contact": {"ContactID": ids["contact"]},
        "LineItems": lines,
        "Date": "2026-03-01",
    }

    exclusive = store.admin_create_invoice(tenant, {**base, "LineAmountTypes": "Exclusive"})
    inclusive = store.admin_create_invoice(tenant, {**base, "LineAmountTypes": "Inclusive"})
    no_tax = store.admin_create_invoice(tenant, {**base, "LineAmountTypes": "NoTax"})

    assert (exclusive["SubTotal"], exclusive["TotalTax"], exclusive["Total"]) == (
        Decimal("110.00"),
        Decimal("11.00"),
        Decimal("121.00"),
    )
    assert (inclusive["SubTotal"], inclusive["TotalTax"], inclusive["Total"]) == (
        Decimal("100.00"),
        Decimal("10.00"),
        Decimal("110.00"),
    )
    assert (no_tax["SubTotal"], no_tax["TotalTax"], no_tax["Total"]) == (
        Decimal("110.00"),
        Decimal("0.00"),
        Decimal("110.00"),
    )
    assert exclusive["Status"] == "DRAFT" and exclusive["InvoiceNumber"] == "INV-0001"
    assert inclusive["InvoiceNumber"] == "INV-0002"
    contact = store.get_resource(tenant, "Contacts", ids["contact"])["Contacts"][0]
    assert contact["IsCustomer"] is True and contact["IsSupplier"] is False


def test_payment_moves_invoice_to_paid_and_contact_balance_to_zero(org: Org) -> None:
    store, tenant, ids = org
    invoice = authorised_invoice(store, tenant, ids["contact"], "100.00")
    assert _ar(store, tenant, ids["contact"])["Outstanding"] == Decimal("100.00")
    before = store.get_resource(tenant, "Contacts", ids["contact"])["Contacts"][0]["UpdatedDateUTC"]
    store.clock.advance(60)

    store.admin_record_payment(tenant, invoice["InvoiceID"], Decimal("40.00"))
    partly = _invoice(store, tenant, invoice["InvoiceID"])
    assert (partly["Status"], partly["AmountPaid"], partly["AmountDue"]) == (
        "AUTHORISED",
        Decimal("40.00"),
        Decimal("60.00"),
    )
    assert "FullyPaidOnDate" not in partly

    payment = store.admin_record_payment(tenant, invoice["InvoiceID"], Decimal("60.00"), date=None)
    paid = _invoice(store, tenant, invoice["InvoiceID"])
    assert (paid["Status"], paid["AmountPaid"], paid["AmountDue"]) == (
        "PAID",
        Decimal("100.00"),
        Decimal("0.00"),
    )
    assert paid["FullyPaidOnDate"] == payment["Date"]
    assert len(paid["Payments"]) == 2
    assert paid["UpdatedDateUTC"] > invoice["UpdatedDateUTC"]
    contact = store.get_resource(tenant, "Contacts", ids["contact"])["Contacts"][0]
    assert contact["Balances"]["AccountsReceivable"] == {
        "Outstanding": Decimal("0.00"),
        "Overdue": Decimal("0.00"),
    }
    assert contact["UpdatedDateUTC"] != before


def test_overdue_counts_invoices_past_due(org: Org) -> None:
    store, tenant, ids = org
    authorised_invoice(store, tenant, ids["contact"], "70.00", DueDate="2026-03-02")  # clock: 2026-03-16
    authorised_invoice(store, tenant, ids["contact"], "30.00", DueDate="2026-04-30")
    assert _ar(store, tenant, ids["contact"]) == {
        "Outstanding": Decimal("100.00"),
        "Overdue": Decimal("70.00"),
    }


def test_deleting_a_payment_reverses_it(org: Org) -> None:
    store, tenant, ids = org
    invoice = authorised_invoice(store, tenant, ids["contact"], "100.00")
    payment = store.admin_record_payment(tenant, invoice["InvoiceID"], Decimal("100.00"))
    assert _invoice(store, tenant, invoice["InvoiceID"])["Status"] == "PAID"

    status, body = store.delete_payment(tenant, payment["PaymentID"], {"Status": "DELETED"})

    assert status == 200 and body["Payments"][0]["Status"] == "DELETED"
    reopened = _invoice(store, tenant, invoice["InvoiceID"])
    assert (reopened["Status"], reopened["AmountDue"], reopened["AmountPaid"]) == (
        "AUTHORISED",
        Decimal("100.00"),
        Decimal("0.00"),
    )
    assert "FullyPaidOnDate" not in reopened and reopened["Payments"] == []
    assert _ar(store, tenant, ids["contact"])["Outstanding"] == Decimal("100.00")
    with pytest.raises(BadRequest):
        store.delete_payment(tenant, payment["PaymentID"], {"Status": "DELETED"})
    with pytest.raises(BadRequest):
        store.delete_payment(tenant, payment["PaymentID"], {"Amount": 5})


def test_credit_note_allocation_credits_the_invoice_and_unallocated_credit_lowers_the_balance(
    org: Org,
) -> None:
    store, tenant, ids = org
    invoice = authorised_invoice(store, tenant, ids["contact"], "100.00")
    credit = store.admin_create_credit(tenant, "CreditNote", ids["contact"], Decimal("50.00"))
    assert credit["Type"] == "ACCRECCREDIT" and credit["RemainingCredit"] == Decimal("50.00")
    # unallocated credit: the customer owes 100 - 50
    assert _ar(store, tenant, ids["contact"])["Outstanding"] == Decimal("50.00")

    allocation = store.admin_add_credit_note_allocation(
        tenant, credit["CreditNoteID"], invoice["InvoiceID"], Decimal("30.00")
    )

    assert (
        allocation["Amount"] == Decimal("30.00")
        and allocation["Invoice"]["InvoiceID"] == invoice["InvoiceID"]
    )
    updated = _invoice(store, tenant, invoice["InvoiceID"])
    assert (updated["AmountCredited"], updated["AmountDue"]) == (Decimal("30.00"), Decimal("70.00"))
    assert updated["CreditNotes"][0]["AppliedAmount"] == Decimal("30.00")
    note = store.get_resource(tenant, "CreditNotes", credit["CreditNoteID"])["CreditNotes"][0]
    assert note["RemainingCredit"] == Decimal("20.00") and note["Status"] == "AUTHORISED"
    assert _ar(store, tenant, ids["contact"])["Outstanding"] == Decimal("50.00")  # 70 due - 20 credit

    store.admin_add_credit_note_allocation(
        tenant, credit["CreditNoteID"], invoice["InvoiceID"], Decimal("20.00")
    )
    note = store.get_resource(tenant, "CreditNotes", credit["CreditNoteID"])["CreditNotes"][0]
    assert note["Status"] == "PAID" and note["RemainingCredit"] == Decimal("0.00")
    with pytest.raises(BadRequest):  # nothing left to allocate
        store.admin_add_credit_note_allocation(
            tenant, credit["CreditNoteID"], invoice["InvoiceID"], Decimal("1.00")
        )


@pytest.mark.parametrize("kind", ["Overpayment", "Prepayment"])
def test_overpayment_and_prepayment_allocations_pay_off_the_invoice(org: Org, kind: str) -> None:
    store, tenant, ids = org
    invoice = authorised_invoice(store, tenant, ids["contact"], "80.00")
    doc = store.admin_create_credit(tenant, kind, ids["contact"], Decimal("100.00"))
    id_key = f"{kind}ID"

    store.admin_allocate_credit(tenant, kind, doc[id_key], invoice["InvoiceID"], Decimal("80.00"))

    paid = _invoice(store, tenant, invoice["InvoiceID"])
    assert (paid["Status"], paid["AmountCredited"], paid["AmountDue"]) == (
        "PAID",
        Decimal("80.00"),
        Decimal("0.00"),
    )
    assert paid[f"{kind}s"][0]["AppliedAmount"] == Decimal("80.00")
    resource = f"{kind}s"
    left = store.get_resource(tenant, resource, doc[id_key])[resource][0]
    assert left["RemainingCredit"] == Decimal("20.00") and left["Allocations"][0]["Amount"] == Decimal(
        "80.00"
    )
    assert _ar(store, tenant, ids["contact"])["Outstanding"] == Decimal("-20.00")


def test_status_transitions_follow_xero(org: Org) -> None:
    store, tenant, ids = org
    invoice = authorised_invoice(store, tenant, ids["contact"], "10.00")
    with pytest.raises(BadRequest) as deleting:
        store.admin_edit_invoice(tenant, invoice["InvoiceID"], {"Status": "DELETED"})
    assert deleting.value.messages == ["Invoice not of valid status for modification"]
    store.admin_record_payment(tenant, invoice["InvoiceID"], Decimal("5.00"))
    with pytest.raises(BadRequest):  # money applied: cannot void
        store.admin_edit_invoice(tenant, invoice["InvoiceID"], {"Status": "VOIDED"})

    other = authorised_invoice(store, tenant, ids["contact"], "10.00")
    assert store.admin_edit_invoice(tenant, other["InvoiceID"], {"Status": "VOIDED"})["AmountDue"] == Decimal(
        "0.00"
    )
    with pytest.raises(BadRequest):
        store.admin_edit_invoice(tenant, other["InvoiceID"], {"Status": "AUTHORISED"})


def test_invoice_validation_summarized_and_per_element(org: Org) -> None:
    store, tenant, ids = org
    good = {
        "Type": "ACCREC",
        "Contact": {"ContactID": ids["contact"]},
        "LineItems": [{"Description": "x", "UnitAmount": 1}],
    }
    bad = {"Type": "ACCREC", "LineItems": []}

    with pytest.raises(BadRequest) as summarized:
        store.create_invoices(tenant, {"Invoices": [good, bad]})
    body = summarized.value.body
    assert body is not None and body["Type"] == "ValidationException" and body["ErrorNumber"] == 10
    assert body["Elements"][1]["ValidationErrors"] == [
        {"Message": "A Contact must be specified for this type of transaction"}
    ]
    assert store.counts(tenant)["Invoices"] == 0  # all or nothing

    status, per_element = store.create_invoices(tenant, {"Invoices": [good, bad]}, summarize_errors=False)
    assert status == 200
    first, second = per_element["Invoices"]
    assert first["StatusAttributeString"] == "OK" and first["InvoiceID"]
    assert second["StatusAttributeString"] == "ERROR" and second["ValidationErrors"]
    assert store.counts(tenant)["Invoices"] == 1


def test_contact_validation_and_archive(org: Org) -> None:
    store, tenant, ids = org
    with pytest.raises(BadRequest) as duplicate:
        store.create_contacts(tenant, {"Contacts": [{"Name": "Acme Pty Ltd"}]})
    assert "is already assigned to another contact" in duplicate.value.messages[0]
    archived = store.admin_archive_contact(tenant, ids["contact"])
    assert archived["ContactStatus"] == "ARCHIVED"
    status, body = store.upsert_contacts(
        tenant, {"Contacts": [{"ContactID": ids["contact"], "EmailAddress": "a@b.c"}]}
    )
    assert status == 200 and body["Contacts"][0]["EmailAddress"] == "a@b.c"


def test_listeners_hear_every_change_outside_the_lock(org: Org) -> None:
    store, tenant, ids = org
    heard: list[ChangeEvent] = []
    lock_free: list[bool] = []

    def listener(event: ChangeEvent) -> None:
        heard.append(event)
        # another thread must be able to read the store while the listener runs
        probe = threading.Thread(target=store.counts, args=(tenant,))
        probe.start()
        probe.join(timeout=2)
        lock_free.append(not probe.is_alive())

    store.subscribe(listener)
    invoice = authorised_invoice(store, tenant, ids["contact"], "10.00")
    store.admin_record_payment(tenant, invoice["InvoiceID"], Decimal("10.00"))
    credit = store.admin_create_credit(tenant, "CreditNote", ids["contact"], Decimal("1.00"))

    kinds = [(e.category, e.event_type, e.resource_id) for e in heard]
    assert ("INVOICE", "CREATE", invoice["InvoiceID"]) in kinds
    assert ("INVOICE", "UPDATE", invoice["InvoiceID"]) in kinds
    assert ("CONTACT", "UPDATE", ids["contact"]) in kinds
    assert ("CREDITNOTE", "CREATE", credit["CreditNoteID"]) in kinds
    assert all(e.tenant_id == tenant for e in heard) and all(lock_free)
    # one event per record per change: the invoice's create is not followed by an update in the same call
    assert kinds.count(("INVOICE", "CREATE", invoice["InvoiceID"])) == 1


def test_users_and_roles(org: Org) -> None:
    store, tenant, _ = org
    user_id = store.add_user(tenant, email="a@x.example", first_name="A", last_name="B", role="STANDARD")
    assert store.user_role(tenant, user_id) == "STANDARD"
    store.set_user_role(tenant, user_id, "FINANCIALADVISER")
    users = store.list_resource(tenant, "Users")["Users"]
    assert users == [
        {
            "UserID": user_id,
            "EmailAddress": "a@x.example",
            "FirstName": "A",
            "LastName": "B",
            "UpdatedDateUTC": users[0]["UpdatedDateUTC"],
            "IsSubscriber": False,
            "OrganisationRole": "FINANCIALADVISER",
        }
    ]
    store.remove_user(tenant, user_id)
    assert store.user_role(tenant, user_id) is None
    with pytest.raises(ValueError):
        store.set_user_role(tenant, "nobody", "OWNER")
