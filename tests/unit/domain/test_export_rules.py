"""What Xero's answers mean for a payment, the reference tag, the idempotency key, the backoff, and the
ledger's transitions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from xero_bridge.domain.export_rules import (
    classify,
    currency_mismatch,
    decide_on_invoice,
    find_ours,
    idempotency_key,
    retry_delay_seconds,
    xero_reference,
)
from xero_bridge.domain.payment_ledger import claim, exported, failed, not_claimable_because, reopened
from xero_bridge.models.payments import (
    ClosedReason,
    ExportErrorCode,
    InvoiceFacts,
    LedgerState,
    PaymentRecord,
    PaymentRequest,
    XeroPaymentRef,
)

NOW = datetime(2026, 11, 21, 10, tzinfo=UTC)


def record(**changes: object) -> PaymentRecord:
    values: dict[str, object] = {
        "org_id": "acme",
        "payment_id": "pay-7",
        "tenant_id": "t-1",
        "invoice_id": "inv-1",
        "amount": Decimal("100.00"),
        "currency": "GBP",
        "date": date(2026, 11, 20),
        "reference": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(changes)
    return PaymentRecord.model_validate(values)


def invoice(**changes: object) -> InvoiceFacts:
    values: dict[str, object] = {
        "invoice_id": "inv-1",
        "number": "INV-0042",
        "status": "AUTHORISED",
        "currency": "GBP",
        "amount_due": Decimal("100.00"),
        "payments": (),
    }
    values.update(changes)
    return InvoiceFacts.model_validate(values)


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        (["Invoice could not be found"], ExportErrorCode.INVOICE_NOT_FOUND),
        (["Payments can only be made against Authorised documents"], ExportErrorCode.INVOICE_NOT_AUTHORISED),
        (
            ["The document date cannot be before the period lock date of 31 Mar 2026"],
            ExportErrorCode.PERIOD_LOCKED,
        ),
        (
            ["The document date cannot be before the end of year lock date of 30 Jun 2025"],
            ExportErrorCode.PERIOD_LOCKED,
        ),
        (
            [
                "The currency of the bank account (USD) must be the same as the currency of the document "
                "(GBP) or the organisation's base currency"
            ],
            ExportErrorCode.CURRENCY_MISMATCH,
        ),
        (["Invoice not of valid status for modification"], None),
        (["Payment amount exceeds the amount outstanding on this document"], None),
        (["Account type is invalid for making a payment to/from"], ExportErrorCode.XERO_REJECTED),
        (
            [
                "Payment amount exceeds the amount outstanding on this document",
                "The document date cannot be before the period lock date of 31 Mar 2026",
            ],
            ExportErrorCode.PERIOD_LOCKED,
        ),
    ],
)
def test_xeros_words_map_to_a_code_or_to_the_invoice(
    messages: list[str], code: ExportErrorCode | None
) -> None:
    assert classify(messages) == code


def test_our_tag_finds_our_payment_and_only_ours() -> None:
    ours = record(reference="Cheque 9")
    assert xero_reference(ours) == "Cheque 9 [AR:pay-7]"
    assert xero_reference(record()) == "[AR:pay-7]"
    held = invoice(
        payments=(
            XeroPaymentRef(payment_id="x-1", reference="[AR:pay-70]"),
            XeroPaymentRef(payment_id="x-2", reference="Cheque 9 [AR:pay-7]"),
        )
    )
    found = find_ours(held, "pay-7")
    assert found is not None and found.payment_id == "x-2"
    assert find_ours(held, "pay-8") is None


def test_the_idempotency_key_names_the_payments_and_their_attempts() -> None:
    key = idempotency_key("t-1", [("pay-1", 1), ("pay-2", 1)])
    assert key == idempotency_key("t-1", [("pay-2", 1), ("pay-1", 1)])  # order does not matter
    assert key != idempotency_key("t-1", [("pay-1", 2), ("pay-2", 1)])  # a new attempt: a new key
    assert key != idempotency_key("t-2", [("pay-1", 1), ("pay-2", 1)])
    assert len(key) <= 128 and key.isascii() and key.startswith("xb-pay-")


def test_backoff_doubles_per_receive_up_to_fifteen_minutes() -> None:
    assert [retry_delay_seconds(n, 30) for n in (1, 2, 3, 4, 5, 10)] == [30, 60, 120, 240, 480, 900]
    assert retry_delay_seconds(3, 0) == 0


def test_a_fully_paid_invoice_with_a_payment_entered_by_hand_closes_the_payment() -> None:
    paid = invoice(
        status="PAID", amount_due=Decimal(0), payments=(XeroPaymentRef(payment_id="x", amount=Decimal(100)),)
    )
    decision = decide_on_invoice(record(), paid)
    assert decision is not None and decision.closed == ClosedReason.PAID_IN_XERO
    assert "INV-0042" in decision.message and "100.00 GBP" in decision.message


def test_an_invoice_paid_by_our_own_exports_or_by_credits_is_invoice_paid() -> None:
    by_us = invoice(
        status="PAID",
        amount_due=Decimal(0),
        payments=(XeroPaymentRef(payment_id="x", reference="[AR:pay-1]"),),
    )
    by_credits = invoice(status="PAID", amount_due=Decimal(0), payments=())
    for paid in (by_us, by_credits):
        decision = decide_on_invoice(record(), paid)
        assert decision is not None and decision.code == ExportErrorCode.INVOICE_PAID


def test_other_invoice_states_decide_what_they_can() -> None:
    draft = decide_on_invoice(record(), invoice(status="DRAFT"))
    less_due = decide_on_invoice(record(), invoice(amount_due=Decimal("40.00")))
    assert draft is not None and draft.code == ExportErrorCode.INVOICE_NOT_AUTHORISED
    assert less_due is not None and less_due.code == ExportErrorCode.AMOUNT_EXCEEDS_DUE
    assert "40.00 GBP" in less_due.message
    assert decide_on_invoice(record(), invoice()) is None
    mismatch = currency_mismatch(record(), invoice(currency="USD"))
    assert mismatch is not None and mismatch.code == ExportErrorCode.CURRENCY_MISMATCH
    assert currency_mismatch(record(), invoice()) is None


# --- the ledger's transitions ---------------------------------------------------------------------------


def test_a_claim_is_one_attempt_under_a_lease_and_in_doubt_until_its_outcome() -> None:
    taken = claim(record(), NOW, lease_seconds=150)
    assert taken is not None and taken.state == LedgerState.SENDING and taken.attempt == 1
    assert taken.in_doubt and taken.lease_until == NOW + timedelta(seconds=150) and taken.version == 2
    assert claim(taken, NOW + timedelta(seconds=10), lease_seconds=150) is None
    assert not_claimable_because(taken, NOW) == "sending"
    again = claim(
        taken, NOW + timedelta(seconds=151), lease_seconds=150
    )  # the lease ran out: that attempt died
    assert again is not None and again.attempt == 2


def test_final_states_are_never_claimed_and_a_transient_error_is() -> None:
    taken = claim(record(), NOW, lease_seconds=150)
    assert taken is not None
    done = exported(taken, NOW, "x-1", found=False)
    refused = failed(taken, NOW, ExportErrorCode.PERIOD_LOCKED, "locked")
    transient = failed(taken, NOW, ExportErrorCode.XERO_TIMEOUT, "timeout", in_doubt=True, auto_retry=True)
    assert claim(done, NOW, lease_seconds=1) is None and claim(refused, NOW, lease_seconds=1) is None
    assert claim(transient, NOW, lease_seconds=1) is not None
    assert reopened(done, NOW, by="api") is None
    opened = reopened(refused, NOW, by="api")
    assert opened is not None and opened.state == LedgerState.PENDING and opened.error_code is None


def test_history_keeps_the_latest_twenty_entries() -> None:
    current = record()
    for n in range(30):
        current = current.changed(NOW, f"event-{n}")
    assert len(current.history) == 20 and current.history[-1].event == "event-29"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": 120.5}, "amount"),
        ({"amount": "12.345"}, "amount"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"currency": "gbp"}, "currency"),
        ({"date": "21/11/2026"}, "date"),
        ({"invoice_id": "INV-42"}, "invoice_id"),
        ({"payment_id": "has space"}, "payment_id"),
        ({"payment_id": "replay"}, "payment_id"),
        ({"reference": "two\nlines"}, "reference"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_malformed_payment_request_names_the_field(changes: dict[str, object], field: str) -> None:
    body = {
        "payment_id": "pay-1",
        "invoice_id": "1b1b1b1b-0000-4000-8000-000000000001",
        "amount": "120.50",
        "currency": "GBP",
        "date": "2026-11-20",
        **changes,
    }
    with pytest.raises(ValidationError) as invalid:
        PaymentRequest.model_validate(body)
    assert {str(e["loc"][0]) for e in invalid.value.errors()} == {field}
