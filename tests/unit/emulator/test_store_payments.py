"""PUT/POST /Payments: each of Xero's refusals, with its own message, in Xero's body shape."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.unit.emulator.conftest import authorised_invoice
from xero_emulator.errors import BadRequest
from xero_emulator.store import (
    MSG_ACCOUNT_TYPE_INVALID,
    MSG_INVOICE_NOT_FOUND,
    MSG_NOT_VALID_STATUS,
    MSG_PAYMENT_EXCEEDS,
    MSG_PAYMENT_NOT_AUTHORISED,
    XeroStore,
)

Org = tuple[XeroStore, str, dict[str, Any]]


def _payment(invoice_id: str, amount: str = "10.00", **account: str) -> dict[str, Any]:
    return {
        "Invoice": {"InvoiceID": invoice_id},
        "Account": account or {"Code": "090"},
        "Date": "2026-03-10",
        "Amount": Decimal(amount),
        "Reference": "AR platform",
    }


def _refusal(store: XeroStore, tenant: str, element: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    with pytest.raises(BadRequest) as caught:
        store.create_payments(tenant, {"Payments": [element]})
    body = caught.value.body
    assert caught.value.status == 400 and body is not None
    assert (body["ErrorNumber"], body["Type"], body["Message"]) == (
        10,
        "ValidationException",
        "A validation exception occurred",
    )
    assert len(body["Elements"]) == 1
    return body, [e["Message"] for e in body["Elements"][0]["ValidationErrors"]]


def test_a_valid_payment_by_account_code_or_id(org: Org) -> None:
    store, tenant, ids = org
    invoice = authorised_invoice(store, tenant, ids["contact"])

    status, body = store.create_payments(tenant, {"Payments": [_payment(invoice["InvoiceID"], "10.00")]})
    by_id = store.create_payments(
        tenant, {"Payments": [_payment(invoice["InvoiceID"], "5.00", AccountID=ids["bank"])]}
    )

    assert status == 200
    payment = body["Payments"][0]
    assert payment["PaymentType"] == "ACCRECPAYMENT" and payment["Status"] == "AUTHORISED"
    assert payment["Amount"] == Decimal("10.00") and payment["Reference"] == "AR platform"
    assert payment["Account"] == {"AccountID": ids["bank"], "Code": "090"}
    assert payment["Invoice"]["InvoiceID"] == invoice["InvoiceID"]
    assert payment["Date"] == "/Date(1773100800000+0000)/"
    assert by_id[1]["Payments"][0]["Account"]["AccountID"] == ids["bank"]
    assert store.get_resource(tenant, "Invoices", invoice["InvoiceID"])["Invoices"][0][
        "AmountDue"
    ] == Decimal("85.00")


def test_payment_to_a_payments_enabled_account_and_by_invoice_number(org: Org) -> None:
    store, tenant, ids = org
    invoice = authorised_invoice(store, tenant, ids["contact"])
    element = _payment(invoice["InvoiceID"], Code="855")
    element["Invoice"] = {"InvoiceNumber": invoice["InvoiceNumber"]}
    status, body = store.create_payments(tenant, {"Payments": [element]})
    assert status == 200 and body["Payments"][0]["Account"]["Code"] == "855"


def test_amount_above_amount_due(org: Org) -> None:
    store, tenant, ids = org
    invoice = authorised_invoice(store, tenant, ids["contact"], "100.00")
    body, messages = _refusal(store, tenant, _payment(invoice["InvoiceID"], "100.01"))
    assert (
        messages
        == [MSG_PAYMENT_EXCEEDS]
        == ["Payment amount exceeds the amount outstanding on this document"]
    )
    assert body["Elements"][0]["Invoice"] == {"InvoiceID": invoice["InvoiceID"]}  # the element is echoed


def test_two_payments_in_one_batch_cannot_together_exceed_the_amount_due(org: Org) -> None:
    store, tenant, ids = org
    invoice = authorised_invoice(store, tenant, ids["contact"], "100.00")
    status, body = store.create_payments(
        tenant,
        {"Payments": [_payment(invoice["InvoiceID"], "60.00"), _payment(invoice["InvoiceID"], "60.00")]},
        summarize_errors=False,
    )
    assert status == 200
    assert [p["StatusAttributeString"] for p in body["Payments"]] == ["OK", "ERROR"]
    assert body["Payments"][1]["ValidationErrors"] == [{"Message": MSG_PAYMENT_EXCEEDS}]


def test_invoice_not_authorised_or_already_paid(org: Org) -> None:
    store, tenant, ids = org
    draft = store.admin_create_invoice(
        tenant,
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": ids["contact"]},
            "LineItems": [{"Description": "x", "UnitAmount": 5}],
        },
    )
    assert _refusal(store, tenant, _payment(draft["InvoiceID"], "1.00"))[1] == [MSG_PAYMENT_NOT_AUTHORISED]
    paid = authorised_invoice(store, tenant, ids["contact"], "10.00")
    store.admin_record_payment(tenant, paid["InvoiceID"], Decimal("10.00"))
    assert _refusal(store, tenant, _payment(paid["InvoiceID"], "1.00"))[1] == [MSG_NOT_VALID_STATUS]
    assert _refusal(store, tenant, _payment("00000000-0000-0000-0000-000000000000"))[1] == [
        MSG_INVOICE_NOT_FOUND
    ]


def test_account_not_found_not_a_bank_or_archived(org: Org) -> None:
    store, tenant, ids = org
    invoice = authorised_invoice(store, tenant, ids["contact"])
    assert _refusal(store, tenant, _payment(invoice["InvoiceID"], Code="999"))[1] == [
        "Account code '999' is not a valid code for this document"
    ]
    assert _refusal(store, tenant, _payment(invoice["InvoiceID"], Code="200"))[1] == [
        MSG_ACCOUNT_TYPE_INVALID
    ]
    assert _refusal(store, tenant, _payment(invoice["InvoiceID"], Code="092"))[1] == [
        "Account code '092' is not a valid code for this document"
    ]
    assert _refusal(
        store, tenant, _payment(invoice["InvoiceID"], AccountID="00000000-0000-0000-0000-000000000001")
    )[1] == ["Account could not be found"]


def test_date_on_or_before_the_period_lock(org: Org) -> None:
    store, tenant, ids = org
    invoice = authorised_invoice(store, tenant, ids["contact"])
    store.set_period_lock(tenant, date(2026, 3, 10))
    assert _refusal(store, tenant, _payment(invoice["InvoiceID"]))[1] == [
        "The document date cannot be before the period lock date of 10 Mar 2026"
    ]
    element = _payment(invoice["InvoiceID"])
    element["Date"] = "2026-03-11"
    assert store.create_payments(tenant, {"Payments": [element]})[0] == 200


def test_date_on_or_before_the_end_of_year_lock_names_that_lock(org: Org) -> None:
    store, tenant, ids = org
    invoice = authorised_invoice(store, tenant, ids["contact"])
    store.set_lock_dates(tenant, period_lock_date=date(2026, 3, 31), end_of_year_lock_date=date(2026, 3, 10))

    assert _refusal(store, tenant, _payment(invoice["InvoiceID"]))[1] == [
        "The document date cannot be before the end of year lock date of 10 Mar 2026"
    ]
    element = _payment(invoice["InvoiceID"])
    element["Date"] = "2026-03-20"  # after the end of year lock, still inside the period lock
    assert _refusal(store, tenant, element)[1] == [
        "The document date cannot be before the period lock date of 31 Mar 2026"
    ]
    organisation = store.list_resource(tenant, "Organisation")["Organisations"][0]
    assert organisation["PeriodLockDate"] and organisation["EndOfYearLockDate"]


def test_foreign_bank_account_for_another_currency_is_refused(org: Org) -> None:
    store, tenant, ids = org
    aud_invoice = authorised_invoice(store, tenant, ids["contact"])
    messages = _refusal(store, tenant, _payment(aud_invoice["InvoiceID"], Code="091"))[1]
    assert messages == [
        "The currency of the bank account (USD) must be the same as the currency of the document (AUD) "
        "or the organisation's base currency"
    ]
    usd_invoice = authorised_invoice(store, tenant, ids["contact"], CurrencyCode="USD", CurrencyRate="0.65")
    assert usd_invoice["CurrencyRate"] == Decimal("0.650000")
    _, usd_into_usd = store.create_payments(
        tenant, {"Payments": [_payment(usd_invoice["InvoiceID"], Code="091")]}
    )
    _, usd_into_aud = store.create_payments(
        tenant, {"Payments": [_payment(usd_invoice["InvoiceID"], "6.50")]}
    )
    assert usd_into_usd["Payments"][0]["BankAmount"] == Decimal("10.00")
    assert usd_into_aud["Payments"][0]["BankAmount"] == Decimal("10.00")  # 6.50 USD at 0.65 = 10 AUD


def test_several_problems_are_all_reported(org: Org) -> None:
    store, tenant, ids = org
    invoice = authorised_invoice(store, tenant, ids["contact"], "10.00")
    store.set_period_lock(tenant, date(2026, 3, 31))
    messages = _refusal(store, tenant, _payment(invoice["InvoiceID"], "50.00", Code="200"))[1]
    assert set(messages) == {
        MSG_ACCOUNT_TYPE_INVALID,
        MSG_PAYMENT_EXCEEDS,
        "The document date cannot be before the period lock date of 31 Mar 2026",
    }


def test_missing_amount_and_date(org: Org) -> None:
    store, tenant, ids = org
    invoice = authorised_invoice(store, tenant, ids["contact"])
    element = _payment(invoice["InvoiceID"])
    del element["Amount"], element["Date"]
    assert set(_refusal(store, tenant, element)[1]) == {
        "Payment amount must be specified",
        "A valid payment Date must be specified",
    }
    assert _refusal(store, tenant, _payment(invoice["InvoiceID"], "0"))[1] == [
        "Payment amount must be greater than zero"
    ]
