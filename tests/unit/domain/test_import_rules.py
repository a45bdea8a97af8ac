"""The import rules (C6), one rule per test, on Xero's own JSON shapes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from xero_bridge.domain.import_rules import (
    SOURCE_FILTERS,
    map_account,
    map_contact,
    map_credit_note,
    map_invoice,
    map_organisation,
    map_overpayment,
    map_payment,
    map_prepayment,
    map_records,
    source_filter,
    why_not_imported,
)
from xero_bridge.models import xero
from xero_bridge.models.records import (
    BankAccount,
    CreditNote,
    Customer,
    Invoice,
    Organisation,
    Overpayment,
    Payment,
    Prepayment,
    RecordSource,
    RecordType,
    SkippedRecord,
    SkipReason,
    SyncedRecord,
)

PAGE = RecordSource(
    kind="page", run_id="run-1", resource="Contacts", page=1, fetched_at=datetime(2026, 11, 21, tzinfo=UTC)
)
UPDATED = "/Date(1763719200000+0000)/"  # 2025-11-21T10:00:00Z


def contact(**changes: Any) -> xero.Contact:
    body: dict[str, Any] = {
        "ContactID": "c-1",
        "Name": "Boom FM",
        "ContactStatus": "ACTIVE",
        "EmailAddress": "accounts@boomfm.example",
        "IsCustomer": True,
        "IsSupplier": False,
        "DefaultCurrency": "NZD",
        "Phones": [],
        "Balances": {"AccountsReceivable": {"Outstanding": 1234.55, "Overdue": 100.1}},
        "UpdatedDateUTC": UPDATED,
    }
    body.update(changes)
    return xero.Contact.model_validate(body)


def invoice_json(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "InvoiceID": "i-1",
        "InvoiceNumber": "INV-0001",
        "Type": "ACCREC",
        "Contact": {"ContactID": "c-1", "Name": "Boom FM"},
        "Status": "AUTHORISED",
        "Date": "/Date(1759276800000+0000)/",
        "DueDate": "/Date(1761868800000+0000)/",
        "CurrencyCode": "NZD",
        "CurrencyRate": 1.0,
        "SubTotal": 1000.0,
        "TotalTax": 150.0,
        "Total": 1150.0,
        "AmountDue": 1150.0,
        "AmountPaid": 0.0,
        "AmountCredited": 0.0,
        "UpdatedDateUTC": UPDATED,
    }
    body.update(changes)
    return body


def invoice(**changes: Any) -> xero.Invoice:
    return xero.Invoice.model_validate(invoice_json(**changes))


def synced(result: SyncedRecord | SkippedRecord) -> SyncedRecord:
    assert isinstance(result, SyncedRecord), result
    return result


def skipped(result: SyncedRecord | SkippedRecord) -> SkippedRecord:
    assert isinstance(result, SkippedRecord), result
    return result


# --- Contacts ----------------------------------------------------------------------------------------------


def test_supplier_only_contact_is_never_imported() -> None:
    for incremental in (False, True):
        result = skipped(
            map_contact(contact(IsCustomer=False, IsSupplier=True), PAGE, incremental=incremental)
        )
        assert result.reason is SkipReason.SUPPLIER_ONLY
        assert result.xero_id == "c-1"


def test_contact_both_customer_and_supplier_is_imported() -> None:
    record = synced(map_contact(contact(IsSupplier=True), PAGE, incremental=False))
    customer = record.payload
    assert isinstance(customer, Customer)
    assert (customer.is_customer, customer.is_supplier, customer.active) == (True, True, True)
    assert record.only_if_exists is False


def test_archived_contact_is_not_imported_by_the_initial_sync() -> None:
    result = skipped(map_contact(contact(ContactStatus="ARCHIVED"), PAGE, incremental=False))
    assert result.reason is SkipReason.ARCHIVED


def test_contact_archived_later_is_marked_inactive_and_never_created() -> None:
    record = synced(map_contact(contact(ContactStatus="ARCHIVED"), PAGE, incremental=True))
    assert isinstance(record.payload, Customer)
    assert record.payload.active is False
    assert record.only_if_exists is True


def test_contact_that_becomes_a_customer_later_is_imported_then() -> None:
    # Given a contact that was no customer at the initial sync
    assert skipped(map_contact(contact(IsCustomer=False), PAGE, incremental=False)).reason is (
        SkipReason.NOT_A_CUSTOMER
    )
    # When an incremental sync sees it as a customer
    record = synced(map_contact(contact(IsCustomer=True), PAGE, incremental=True))
    # Then it is created (not only updated)
    assert record.only_if_exists is False
    assert isinstance(record.payload, Customer) and record.payload.active


def test_only_the_mobile_phone_is_kept() -> None:
    phones = [
        {"PhoneType": "DEFAULT", "PhoneNumber": "555 0100", "PhoneAreaCode": "09", "PhoneCountryCode": "64"},
        {"PhoneType": "DDI", "PhoneNumber": "555 0102", "PhoneAreaCode": "09", "PhoneCountryCode": "64"},
        {"PhoneType": "FAX", "PhoneNumber": "555 0103", "PhoneAreaCode": "09", "PhoneCountryCode": "64"},
        {"PhoneType": "MOBILE", "PhoneNumber": "555 0101", "PhoneAreaCode": "21", "PhoneCountryCode": "64"},
    ]
    customer = synced(map_contact(contact(Phones=phones), PAGE, incremental=False)).payload
    assert isinstance(customer, Customer)
    assert customer.mobile_phone == "+64 21 555 0101"


def test_contact_without_a_mobile_has_no_phone() -> None:
    phones = [
        {"PhoneType": "DEFAULT", "PhoneNumber": "555 0100"},
        {"PhoneType": "MOBILE", "PhoneNumber": ""},  # Xero sends every phone type, empty ones too
    ]
    customer = synced(map_contact(contact(Phones=phones), PAGE, incremental=False)).payload
    assert isinstance(customer, Customer)
    assert customer.mobile_phone is None


def test_contact_balances_are_exact_decimals() -> None:
    customer = synced(map_contact(contact(), PAGE, incremental=False)).payload
    assert isinstance(customer, Customer)
    assert customer.ar_outstanding == Decimal("1234.55")
    assert customer.ar_overdue == Decimal("100.1")


# --- Invoices and documents -------------------------------------------------------------------------------


def test_only_sales_invoices_are_imported() -> None:
    assert isinstance(synced(map_invoice(invoice(), PAGE, incremental=False)).payload, Invoice)
    result = skipped(map_invoice(invoice(Type="ACCPAY"), PAGE, incremental=False))
    assert result.reason is SkipReason.NOT_RECEIVABLE
    assert result.record_type is RecordType.INVOICE
    assert "ACCPAY" in result.detail


@pytest.mark.parametrize("status", ["DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED"])
def test_every_invoice_status_is_kept(status: str) -> None:
    record = synced(map_invoice(invoice(Status=status), PAGE, incremental=False)).payload
    assert isinstance(record, Invoice)
    assert record.status == status


def test_money_stays_exact() -> None:
    # Given Xero's JSON read with parse_float=Decimal (as the client does) and a float-parsed one
    exact = invoice(Total=Decimal("1234.5678"), SubTotal=0.1, TotalTax=0.2)
    record = synced(map_invoice(exact, PAGE, incremental=False)).payload
    assert isinstance(record, Invoice)
    assert record.total == Decimal("1234.5678")
    assert record.sub_total is not None and record.total_tax is not None
    assert record.sub_total + record.total_tax == Decimal("0.3")


def test_multi_currency_keeps_currency_and_rate() -> None:
    record = synced(
        map_invoice(invoice(CurrencyCode="USD", CurrencyRate=Decimal("0.592340")), PAGE, incremental=False)
    ).payload
    assert isinstance(record, Invoice)
    assert (record.currency, record.currency_rate) == ("USD", Decimal("0.592340"))


def test_timestamps_are_utc() -> None:
    # Xero's offset says where the value was meant; the instant is already UTC
    record = synced(
        map_invoice(invoice(UpdatedDateUTC="/Date(1763719200000+1300)/"), PAGE, incremental=False)
    )
    assert record.xero_updated_at == datetime(2025, 11, 21, 10, 0, tzinfo=UTC)
    assert record.xero_updated_at.tzinfo is UTC


def test_dates_before_1970_work() -> None:
    record = synced(map_invoice(invoice(Date="/Date(-15724800000+0000)/"), PAGE, incremental=False)).payload
    assert isinstance(record, Invoice)
    assert record.date == date(1969, 7, 3)  # 182 days before the epoch


def test_expected_and_planned_payment_dates_are_kept() -> None:
    body = invoice(ExpectedPaymentDate="/Date(1764201600000+0000)/", PlannedPaymentDate="2025-12-01")
    record = synced(map_invoice(body, PAGE, incremental=False)).payload
    assert isinstance(record, Invoice)
    assert (record.expected_payment_date, record.planned_payment_date) == (
        date(2025, 11, 27),
        date(2025, 12, 1),
    )


def test_credit_notes_receivable_only_with_allocations() -> None:
    body = {
        "CreditNoteID": "cn-1",
        "Type": "ACCRECCREDIT",
        "Status": "AUTHORISED",
        "Contact": {"ContactID": "c-1"},
        "Total": 50.0,
        "RemainingCredit": 20.0,
        "CurrencyCode": "NZD",
        "Allocations": [
            {"Amount": 30.0, "Date": "/Date(1759276800000+0000)/", "Invoice": {"InvoiceID": "i-1"}},
            {
                "Amount": 5.0,
                "Date": "/Date(1759276800000+0000)/",
                "Invoice": {"InvoiceID": "i-2"},
                "IsDeleted": True,
            },
        ],
        "UpdatedDateUTC": UPDATED,
    }
    note = synced(map_credit_note(xero.CreditNote.model_validate(body), PAGE, incremental=False)).payload
    assert isinstance(note, CreditNote)
    assert note.remaining_credit == Decimal("20.0")
    assert [(a.invoice_id, a.amount) for a in note.allocations] == [("i-1", Decimal("30.0"))]
    payable = xero.CreditNote.model_validate({**body, "Type": "ACCPAYCREDIT"})
    assert skipped(map_credit_note(payable, PAGE, incremental=False)).reason is SkipReason.NOT_RECEIVABLE


@pytest.mark.parametrize(
    ("payment_type", "kept"),
    [
        ("ACCRECPAYMENT", True),
        ("ARCREDITPAYMENT", True),
        ("AROVERPAYMENTPAYMENT", True),
        ("ARPREPAYMENTPAYMENT", True),
        ("ACCPAYPAYMENT", False),
        ("APCREDITPAYMENT", False),
        ("APOVERPAYMENTPAYMENT", False),
        ("APPREPAYMENTPAYMENT", False),
    ],
)
def test_payments_receivable_side_only(payment_type: str, kept: bool) -> None:
    body = {
        "PaymentID": "p-1",
        "PaymentType": payment_type,
        "Status": "AUTHORISED",
        "Date": "/Date(1759276800000+0000)/",
        "Amount": 100.25,
        "CurrencyRate": 1.0,
        "Invoice": {"InvoiceID": "i-1", "CurrencyCode": "NZD", "Contact": {"ContactID": "c-1"}},
        "Account": {"AccountID": "a-1", "Code": "090"},
        "IsReconciled": True,
        "UpdatedDateUTC": UPDATED,
    }
    result = map_payment(xero.Payment.model_validate(body), PAGE, incremental=False)
    if kept:
        payment = synced(result).payload
        assert isinstance(payment, Payment)
        assert (payment.invoice_id, payment.account_id, payment.contact_id) == ("i-1", "a-1", "c-1")
        assert (payment.amount, payment.currency, payment.is_reconciled) == (Decimal("100.25"), "NZD", True)
    else:
        assert skipped(result).reason is SkipReason.NOT_RECEIVABLE


def test_overpayments_and_prepayments_receive_side_only_with_allocations() -> None:
    allocation = {"Amount": 40.0, "Date": "/Date(1759276800000+0000)/", "Invoice": {"InvoiceID": "i-1"}}
    over = {
        "OverpaymentID": "o-1",
        "Type": "RECEIVE-OVERPAYMENT",
        "Status": "AUTHORISED",
        "Contact": {"ContactID": "c-1"},
        "Total": 100.0,
        "RemainingCredit": 60.0,
        "Allocations": [allocation],
        "UpdatedDateUTC": UPDATED,
    }
    record = synced(map_overpayment(xero.Overpayment.model_validate(over), PAGE, incremental=False)).payload
    assert isinstance(record, Overpayment)
    assert (record.remaining_credit, record.allocations[0].amount) == (Decimal("60.0"), Decimal("40.0"))
    spend = xero.Overpayment.model_validate({**over, "Type": "SPEND-OVERPAYMENT"})
    assert skipped(map_overpayment(spend, PAGE, incremental=False)).reason is SkipReason.NOT_RECEIVABLE

    pre = {key: value for key, value in over.items() if key != "OverpaymentID"}
    pre |= {"PrepaymentID": "pp-1", "Type": "RECEIVE-PREPAYMENT"}
    record2 = synced(map_prepayment(xero.Prepayment.model_validate(pre), PAGE, incremental=False)).payload
    assert isinstance(record2, Prepayment)
    assert record2.allocations[0].invoice_id == "i-1"
    spend2 = xero.Prepayment.model_validate({**pre, "Type": "SPEND-PREPAYMENT"})
    assert skipped(map_prepayment(spend2, PAGE, incremental=False)).reason is SkipReason.NOT_RECEIVABLE


def test_bank_accounts_only_with_masked_number() -> None:
    body = {
        "AccountID": "a-1",
        "Code": "090",
        "Name": "Business Bank Account",
        "Type": "BANK",
        "Status": "ACTIVE",
        "BankAccountNumber": "12-3456-7890123-00",
        "CurrencyCode": "NZD",
        "UpdatedDateUTC": UPDATED,
    }
    account = synced(map_account(xero.Account.model_validate(body), PAGE, incremental=False)).payload
    assert isinstance(account, BankAccount)
    assert account.number_last4 == "2300"
    assert "7890123" not in account.model_dump_json()
    assert (account.type, account.currency) == ("BANK", "NZD")
    sales = xero.Account.model_validate({**body, "Type": "REVENUE"})
    assert skipped(map_account(sales, PAGE, incremental=False)).reason is SkipReason.NOT_A_BANK_ACCOUNT


def test_an_account_with_payments_enabled_is_a_payment_account_too() -> None:
    # Given a clearing account with "enable payments to this account" ticked, and no currency of its own
    body = {
        "AccountID": "a-855",
        "Code": "855",
        "Name": "Clearing Account",
        "Type": "CURRLIAB",
        "Status": "ACTIVE",
        "EnablePaymentsToAccount": True,
        "UpdatedDateUTC": UPDATED,
    }
    account = synced(map_account(xero.Account.model_validate(body), PAGE, incremental=False)).payload
    assert isinstance(account, BankAccount)
    assert (account.code, account.type, account.currency) == ("855", "CURRLIAB", None)  # the base currency


def test_organisation_is_versioned_by_its_read_time() -> None:
    body = {
        "OrganisationID": "org-x",
        "Name": "Demo Co",
        "BaseCurrency": "NZD",
        "Timezone": "NEWZEALANDSTANDARDTIME",
    }
    record = synced(map_organisation(xero.Organisation.model_validate(body), PAGE, incremental=False))
    assert isinstance(record.payload, Organisation)
    assert record.payload.base_currency == "NZD"
    assert record.xero_updated_at == PAGE.fetched_at


# --- Batches, malformed records, support's answer --------------------------------------------------------


def test_malformed_record_is_skipped_without_sinking_the_batch() -> None:
    page = [
        invoice_json(InvoiceID="i-1"),
        invoice_json(InvoiceID="i-2", Total="not money"),
        invoice_json(InvoiceID="i-3", Type="ACCPAY"),
        invoice_json(InvoiceID="i-4", UpdatedDateUTC=None),
        {"Total": 10},  # no id at all
        invoice_json(InvoiceID="i-5"),
    ]
    batch = map_records("Invoices", page, PAGE, incremental=False)
    assert [record.xero_id for record in batch.records] == ["i-1", "i-5"]
    reasons = [(skip.xero_id, skip.reason) for skip in batch.skipped]
    assert reasons == [
        ("i-2", SkipReason.MALFORMED),
        ("i-3", SkipReason.NOT_RECEIVABLE),
        ("i-4", SkipReason.MALFORMED),
        (None, SkipReason.MALFORMED),
    ]
    # The reason names the field, never its value
    assert "Total" in batch.skipped[0].detail
    assert "not money" not in batch.skipped[0].detail


def test_map_records_takes_client_models_too() -> None:
    batch = map_records(
        "Contacts", [contact(), contact(ContactID="c-2", IsCustomer=False)], PAGE, incremental=False
    )
    assert [r.xero_id for r in batch.records] == ["c-1"]
    assert [s.reason for s in batch.skipped] == [SkipReason.NOT_A_CUSTOMER]


@pytest.mark.parametrize(
    ("record", "code"),
    [
        (contact(IsCustomer=False, IsSupplier=True), SkipReason.SUPPLIER_ONLY),
        (contact(IsCustomer=False, IsSupplier=False), SkipReason.NOT_A_CUSTOMER),
        (contact(ContactStatus="ARCHIVED"), SkipReason.ARCHIVED),
        (contact(ContactStatus="GDPRREQUEST"), SkipReason.GDPR_REQUEST),
        (invoice(Type="ACCPAY"), SkipReason.NOT_RECEIVABLE),
        (xero.Account(account_id="a-9", type="REVENUE"), SkipReason.NOT_A_BANK_ACCOUNT),
        (invoice(UpdatedDateUTC=None), SkipReason.MALFORMED),
        (invoice(), None),
        (contact(), None),
    ],
)
def test_why_not_imported_answers_for_each_code(record: Any, code: SkipReason | None) -> None:
    answer = why_not_imported(record)
    assert (answer.reason if answer else None) == code
    if answer:
        assert answer.detail  # a sentence for support


def test_why_not_imported_refuses_what_is_not_synced() -> None:
    with pytest.raises(TypeError):
        why_not_imported(xero.User(user_id="u-1"))


# --- Source filters -----------------------------------------------------------------------------------------


def test_source_filters_are_xero_where_clauses() -> None:
    assert SOURCE_FILTERS["Contacts"] == {"where": "IsCustomer==true", "include_archived": False}
    assert SOURCE_FILTERS["Invoices"] == {"where": 'Type=="ACCREC"'}
    assert SOURCE_FILTERS["CreditNotes"] == {"where": 'Type=="ACCRECCREDIT"'}
    assert SOURCE_FILTERS["Payments"] == {
        "where": 'PaymentType=="ACCRECPAYMENT" OR PaymentType=="ARCREDITPAYMENT"'
        ' OR PaymentType=="AROVERPAYMENTPAYMENT" OR PaymentType=="ARPREPAYMENTPAYMENT"'
    }
    assert SOURCE_FILTERS["Overpayments"] == {"where": 'Type=="RECEIVE-OVERPAYMENT"'}
    assert SOURCE_FILTERS["Prepayments"] == {"where": 'Type=="RECEIVE-PREPAYMENT"'}
    assert SOURCE_FILTERS["Accounts"] == {"where": 'Type=="BANK" OR EnablePaymentsToAccount==true'}


def test_incremental_contact_filter_includes_archived() -> None:
    # Without archived contacts, one archived after the initial sync could never be marked inactive.
    assert source_filter("Contacts", incremental=True)["include_archived"] is True
    assert source_filter("Contacts", incremental=False)["include_archived"] is False
    assert source_filter("Invoices", incremental=True) == SOURCE_FILTERS["Invoices"]
