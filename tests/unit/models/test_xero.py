"""Xero records as models: aliases, exact money, dates, tolerance of what Xero adds later."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from xero_bridge.models.xero import (
    Account,
    AccountType,
    Connection,
    Contact,
    ContactStatus,
    CreditNote,
    Invoice,
    InvoiceStatus,
    Organisation,
    Overpayment,
    Pagination,
    Payment,
    PaymentCreate,
    PaymentResult,
    Prepayment,
    User,
)


def xero_json(text: str) -> Any:
    """What the client does: floats read as Decimal."""
    return json.loads(text, parse_float=Decimal)


CONTACT = """{
  "ContactID": "bd2270c3-8706-4c11-9cfb-000b551c3f51", "ContactStatus": "ACTIVE", "Name": "ABC Limited",
  "EmailAddress": "a@abc.example", "IsSupplier": false, "IsCustomer": true, "DefaultCurrency": "NZD",
  "Phones": [
    {"PhoneType": "DEFAULT", "PhoneNumber": "1111111", "PhoneAreaCode": "04", "PhoneCountryCode": "64"},
    {"PhoneType": "MOBILE", "PhoneNumber": "2222222", "PhoneAreaCode": "021", "PhoneCountryCode": "64"}
  ],
  "Addresses": [
    {"AddressType": "POBOX", "AddressLine1": "PO Box 1", "City": "Wellington", "PostalCode": "6011"}
  ],
  "Balances": {"AccountsReceivable": {"Outstanding": 1234.5678, "Overdue": 0.10},
               "AccountsPayable": {"Outstanding": 0, "Overdue": 0}},
  "UpdatedDateUTC": "/Date(1573755038314+0000)/", "HasValidationErrors": false,
  "ContactPersons": [], "IsSomethingNew": "kept"
}"""


def test_contact_reads_xero_pascal_case() -> None:
    contact = Contact.model_validate(xero_json(CONTACT))

    assert contact.contact_id == "bd2270c3-8706-4c11-9cfb-000b551c3f51"
    assert contact.contact_status == ContactStatus.ACTIVE
    assert contact.is_customer is True and contact.is_supplier is False
    assert contact.balances is not None and contact.balances.accounts_receivable is not None
    assert contact.balances.accounts_receivable.outstanding == Decimal("1234.5678")
    assert contact.balances.accounts_receivable.overdue == Decimal("0.10")
    assert contact.updated_date_utc == datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)
    assert contact.mobile_phone is not None and contact.mobile_phone.phone_number == "2222222"
    assert contact.addresses[0].city == "Wellington"


def test_unknown_fields_are_kept_and_dumped_back() -> None:
    contact = Contact.model_validate(xero_json(CONTACT))

    assert contact.model_extra is not None and contact.model_extra["IsSomethingNew"] == "kept"
    dumped = contact.to_xero()
    assert dumped["ContactID"] == contact.contact_id
    assert dumped["IsSomethingNew"] == "kept"
    assert dumped["Balances"]["AccountsReceivable"]["Outstanding"] == "1234.5678"


def test_unknown_enum_value_is_kept_as_a_string() -> None:
    contact = Contact.model_validate({"ContactID": "c1", "ContactStatus": "SOMETHING_NEW"})
    assert contact.contact_status == "SOMETHING_NEW"
    assert not isinstance(contact.contact_status, ContactStatus)


def test_names_are_accepted_as_well_as_aliases() -> None:
    contact = Contact(contact_id="c1", name="By name", is_customer=True)
    assert contact.to_xero() == {
        "ContactID": "c1",
        "Name": "By name",
        "IsCustomer": True,
        "Phones": [],
        "Addresses": [],
        "ValidationErrors": [],
    }


INVOICE = """{
  "Type": "ACCREC", "InvoiceID": "d4956132-ed94-4dd7-9eaa-aa22dfdf06f2", "InvoiceNumber": "INV-0001",
  "Reference": "Ref 1",
  "Contact": {"ContactID": "bd2270c3-8706-4c11-9cfb-000b551c3f51", "Name": "ABC Limited"},
  "Status": "AUTHORISED", "LineAmountTypes": "Exclusive",
  "Date": "/Date(1539129600000+0000)/", "DueDate": "/Date(1539820800000+0000)/",
  "ExpectedPaymentDate": "/Date(1540425600000+0000)/", "PlannedPaymentDate": "/Date(1540512000000+0000)/",
  "FullyPaidOnDate": "/Date(-2208988800000+0000)/",
  "SubTotal": 0.1, "TotalTax": 0.2, "Total": 0.3, "AmountDue": 1234.5678, "AmountPaid": 0.00,
  "AmountCredited": 12345678901234567890.123456789, "CurrencyCode": "USD", "CurrencyRate": 1.234567,
  "UpdatedDateUTC": "/Date(1552432238623+0000)/", "HasAttachments": false,
  "Payments": [{"PaymentID": "p1", "Date": "/Date(1539129600000+0000)/", "Amount": 10.50, "Reference": "",
                "CurrencyRate": 1.0, "HasAccount": false, "HasValidationErrors": false}],
  "CreditNotes": [{"CreditNoteID": "cn1", "CreditNoteNumber": "CN-1", "AppliedAmount": 5.25,
                   "Date": "/Date(1539129600000+0000)/", "Total": 5.25}],
  "Overpayments": [{"OverpaymentID": "op1", "AppliedAmount": 1.5, "Date": "/Date(1539129600000+0000)/"}],
  "Prepayments": [], "LineItems": []
}"""


def test_invoice_money_is_exact_and_dates_are_dates() -> None:
    invoice = Invoice.model_validate(xero_json(INVOICE))

    assert invoice.sub_total is not None and invoice.total_tax is not None
    assert invoice.sub_total + invoice.total_tax == Decimal("0.3") == invoice.total
    assert invoice.amount_due == Decimal("1234.5678")
    assert invoice.amount_credited == Decimal("12345678901234567890.123456789")
    assert invoice.currency_rate == Decimal("1.234567")
    assert invoice.date == date(2018, 10, 10)
    assert invoice.due_date == date(2018, 10, 18)
    assert invoice.expected_payment_date == date(2018, 10, 25)
    assert invoice.planned_payment_date == date(2018, 10, 26)
    assert invoice.fully_paid_on_date == date(1900, 1, 1)
    assert invoice.status == InvoiceStatus.AUTHORISED
    assert invoice.contact is not None and invoice.contact.name == "ABC Limited"
    assert invoice.payments[0].amount == Decimal("10.50")
    assert invoice.credit_notes[0].applied_amount == Decimal("5.25")
    assert invoice.overpayments[0].overpayment_id == "op1"


def test_float_input_is_read_through_its_shortest_repr() -> None:
    invoice = Invoice.model_validate({"InvoiceID": "i1", "Total": 0.1, "AmountDue": "1234.5678"})
    assert invoice.total == Decimal("0.1")
    assert invoice.amount_due == Decimal("1234.5678")


def test_record_without_its_id_is_invalid() -> None:
    with pytest.raises(ValidationError):
        Invoice.model_validate({"InvoiceNumber": "INV-1"})


def test_credit_note_overpayment_prepayment_allocations() -> None:
    allocation = {
        "AllocationID": "a1",
        "Amount": 25.5,
        "Date": "/Date(1539129600000+0000)/",
        "Invoice": {"InvoiceID": "i1", "InvoiceNumber": "INV-1"},
    }
    credit_note = CreditNote.model_validate(
        xero_json(json.dumps({"CreditNoteID": "cn1", "Type": "ACCRECCREDIT", "RemainingCredit": 4.5}))
        | {"Allocations": [allocation]}
    )
    overpayment = Overpayment.model_validate(
        {"OverpaymentID": "o1", "Type": "RECEIVE-OVERPAYMENT", "Allocations": [allocation]}
    )
    prepayment = Prepayment.model_validate(
        {"PrepaymentID": "p1", "Type": "RECEIVE-PREPAYMENT", "Allocations": [allocation]}
    )

    assert credit_note.remaining_credit == Decimal("4.5")
    for record in (credit_note, overpayment, prepayment):
        assert record.allocations[0].amount == Decimal("25.5")
        assert record.allocations[0].date == date(2018, 10, 10)
        invoice = record.allocations[0].invoice
        assert invoice is not None and invoice.invoice_id == "i1"


def test_payment_refs_and_reconciliation() -> None:
    payment = Payment.model_validate(
        {
            "PaymentID": "p1",
            "Date": "/Date(1543449600000+0000)/",
            "Amount": 46.0,
            "CurrencyRate": 1.0,
            "Status": "AUTHORISED",
            "PaymentType": "ACCRECPAYMENT",
            "IsReconciled": "false",
            "Invoice": {"InvoiceID": "i1", "Type": "ACCREC", "InvoiceNumber": "INV-2", "Payments": []},
            "Account": {"AccountID": "a1", "Code": "970"},
            "UpdatedDateUTC": "/Date(1541176592690+0000)/",
        }
    )
    assert payment.invoice is not None and payment.invoice.invoice_id == "i1"
    assert payment.account is not None and payment.account.code == "970"
    assert payment.is_reconciled is False
    assert payment.date == date(2018, 11, 29)


def test_account_class_and_bank() -> None:
    account = Account.model_validate(
        {
            "AccountID": "a1",
            "Code": 90,
            "Name": "Business Bank",
            "Type": "BANK",
            "Class": "ASSET",
            "Status": "ACTIVE",
        }
    )
    assert account.class_ == "ASSET"
    assert account.code == "90"
    assert account.type == AccountType.BANK and account.accepts_payments
    assert account.to_xero()["Class"] == "ASSET"


def test_organisation_and_user() -> None:
    organisation = Organisation.model_validate(
        {
            "OrganisationID": "o1",
            "Name": "Demo",
            "BaseCurrency": "NZD",
            "CountryCode": "NZ",
            "Timezone": "NEWZEALANDSTANDARDTIME",
            "ShortCode": "!abc",
            "PeriodLockDate": "/Date(1546214400000+0000)/",
            "EndOfYearLockDate": None,
        }
    )
    user = User.model_validate(
        {"UserID": "u1", "EmailAddress": "a@b.c", "OrganisationRole": "NEWROLE", "IsSubscriber": True}
    )
    assert organisation.period_lock_date == date(2018, 12, 31)
    assert organisation.end_of_year_lock_date is None
    assert user.organisation_role == "NEWROLE"  # a role Xero adds later is kept, not refused


def test_connection_is_snake_case_from_camel_case() -> None:
    connection = Connection.model_validate(
        {
            "id": "7cb59f93-2964-421d-bb5e-a0f7a4572a44",
            "authEventId": "d99ecdfe-391d-43d2-b834-17636ba90e8d",
            "tenantId": "fe79f7dd-b6d4-4a92-ba7b-538af6289c58",
            "tenantType": "ORGANISATION",
            "tenantName": "Demo Company (NZ)",
            "createdDateUtc": "2019-12-07T18:46:19.5165400",
            "updatedDateUtc": "2019-12-07T18:46:19.5187840",
        }
    )
    assert connection.tenant_id == "fe79f7dd-b6d4-4a92-ba7b-538af6289c58"
    assert connection.auth_event_id == "d99ecdfe-391d-43d2-b834-17636ba90e8d"
    assert connection.created_date_utc == datetime(2019, 12, 7, 18, 46, 19, 516540, tzinfo=UTC)


def test_pagination() -> None:
    pagination = Pagination.model_validate({"page": 2, "pageSize": 100, "pageCount": 3, "itemCount": 250})
    assert (pagination.page, pagination.page_size, pagination.page_count, pagination.item_count) == (
        2,
        100,
        3,
        250,
    )


class TestPaymentCreate:
    def test_to_xero_keeps_decimals_and_writes_dates(self) -> None:
        payment = PaymentCreate(
            invoice_id="i1",
            account_code="090",
            date=date(2019, 3, 12),
            amount=Decimal("1234.5678"),
            reference="AR-1",
            currency_rate=Decimal("0.123456"),
        )
        assert payment.to_xero() == {
            "Invoice": {"InvoiceID": "i1"},
            "Account": {"Code": "090"},
            "Date": "2019-03-12",
            "Amount": Decimal("1234.5678"),
            "Reference": "AR-1",
            "CurrencyRate": Decimal("0.123456"),
        }

    def test_account_by_id(self) -> None:
        payment = PaymentCreate(invoice_id="i1", account_id="a1", date=date(2019, 3, 12), amount=Decimal(1))
        assert payment.to_xero()["Account"] == {"AccountID": "a1"}
        assert "Reference" not in payment.to_xero()

    @pytest.mark.parametrize(
        "changes",
        [
            {"account_id": None, "account_code": None},
            {"account_id": "a1", "account_code": "090"},
            {"amount": Decimal(0)},
            {"amount": Decimal(-1)},
            {"amount": Decimal("NaN")},
            {"invoice_id": ""},
        ],
    )
    def test_invalid_payments_are_refused(self, changes: dict[str, Any]) -> None:
        fields: dict[str, Any] = {
            "invoice_id": "i1",
            "account_id": "a1",
            "date": date(2019, 3, 12),
            "amount": Decimal("10.00"),
        }
        with pytest.raises(ValidationError):
            PaymentCreate(**(fields | changes))


def test_payment_result_ok() -> None:
    assert PaymentResult(index=0, payment_id="p1").ok
    assert not PaymentResult(index=0, validation_errors=["Invoice not of valid status"]).ok
