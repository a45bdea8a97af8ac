"""Off balance's rules (domain/balances.py): the emulator's and Xero's figure, and the explanations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from xero_bridge.domain.balances import (
    BalanceDocument,
    HeldDocument,
    balance_of,
    compare_with_xero,
    describe_source,
    explain_locally,
)
from xero_bridge.models.balances import BalanceCause
from xero_bridge.models.records import (
    Allocation,
    CreditNote,
    Customer,
    Invoice,
    Overpayment,
    Payment,
    Prepayment,
    RecordSource,
    RecordType,
    SkippedRecord,
    SkipReason,
)

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WEBHOOK = RecordSource(kind="webhook", resource="Invoices", event_ids=("e1",), event_sequence=17)


def customer(
    outstanding: str | None, *, at: datetime = T0 + timedelta(hours=1), currency: str | None = None
) -> Customer:
    return Customer(
        xero_id="c1",
        name="Acme",
        ar_outstanding=None if outstanding is None else Decimal(outstanding),
        default_currency=currency,
        xero_updated_at=at,
    )


def inv(
    xero_id: str,
    due: str,
    *,
    status: str = "AUTHORISED",
    total: str | None = None,
    paid: str = "0",
    currency: str = "GBP",
    at: datetime = T0,
) -> Invoice:
    return Invoice(
        xero_id=xero_id,
        number=f"INV-{xero_id}",
        contact_id="c1",
        status=status,
        currency=currency,
        total=Decimal(total or due),
        amount_due=Decimal(due),
        amount_paid=Decimal(paid),
        amount_credited=Decimal(0),
        xero_updated_at=at,
    )


def test_the_balance_follows_xeros_rules_raw_across_currencies() -> None:
    documents: list[BalanceDocument] = [
        inv("1", "100.00"),
        inv("2", "50.00", currency="USD"),
        inv("3", "999.00", status="DRAFT"),
        inv("4", "0", status="PAID", total="10.00"),
        CreditNote(
            xero_id="5",
            contact_id="c1",
            status="AUTHORISED",
            currency="GBP",
            total=Decimal(30),
            remaining_credit=Decimal("20.00"),
            xero_updated_at=T0,
        ),
        Overpayment(
            xero_id="6",
            type="RECEIVE-OVERPAYMENT",
            contact_id="c1",
            status="AUTHORISED",
            currency="GBP",
            remaining_credit=Decimal("5.00"),
            xero_updated_at=T0,
        ),
        Prepayment(
            xero_id="7",
            type="RECEIVE-PREPAYMENT",
            contact_id="c1",
            status="PAID",
            currency="USD",
            remaining_credit=Decimal("0"),
            xero_updated_at=T0,
        ),
    ]

    found = balance_of(customer("125.00"), documents, checked_at=NOW)

    assert found.computed == Decimal("125.00") and found.difference == 0 and not found.off_balance
    assert found.by_currency == {"GBP": Decimal("75.00"), "USD": Decimal("50.00")}
    assert found.documents_counted == 4


def test_a_customer_without_xeros_figure_is_never_flagged() -> None:
    found = balance_of(customer(None), [inv("1", "10.00")], checked_at=NOW)
    assert found.off_balance is False and found.difference is None


def test_payments_we_hold_that_an_invoice_does_not_show_make_it_older_than_xeros() -> None:
    held = [HeldDocument(inv("1", "100.00"), WEBHOOK)]
    payments = [
        Payment(
            xero_id="p1", invoice_id="1", amount=Decimal("40.00"), status="AUTHORISED", xero_updated_at=T0
        )
    ]
    cust = customer("60.00")
    found = balance_of(cust, [h.payload for h in held], checked_at=NOW)

    findings = explain_locally(cust, held, payments, found)

    assert [(f.cause, f.xero_id, f.amount) for f in findings] == [
        (BalanceCause.OLDER_THAN_XERO, "1", Decimal("40"))
    ]
    assert "event sequence 17" in findings[0].explanation


def test_credit_allocated_to_an_invoice_that_does_not_show_it_is_found_too() -> None:
    note = CreditNote(
        xero_id="n1",
        contact_id="c1",
        status="PAID",
        currency="GBP",
        total=Decimal(25),
        remaining_credit=Decimal(0),
        allocations=(Allocation(invoice_id="1", amount=Decimal("25.00"), date=T0.date()),),
        xero_updated_at=T0,
    )
    held = [HeldDocument(inv("1", "100.00")), HeldDocument(note)]
    cust = customer("75.00")
    found = balance_of(cust, [h.payload for h in held], checked_at=NOW)
    assert [f.cause for f in explain_locally(cust, held, [], found)] == [BalanceCause.OLDER_THAN_XERO]


def test_one_document_whose_amount_is_the_difference_is_named_either_way_with_a_currency_note() -> None:
    held = [HeldDocument(inv("1", "100.00", currency="USD")), HeldDocument(inv("2", "70.00", status="DRAFT"))]
    cust = customer("0.00", currency="GBP")
    found = balance_of(cust, [h.payload for h in held], checked_at=NOW)
    causes = [(f.cause, f.xero_id) for f in explain_locally(cust, held, [], found)]
    assert causes == [(BalanceCause.COUNTED_HERE_NOT_IN_XERO, "1"), (BalanceCause.CURRENCY_MISMATCH, "1")]

    cust = customer("170.00")
    found = balance_of(cust, [h.payload for h in held], checked_at=NOW)
    findings = explain_locally(cust, held, [], found)
    assert [(f.cause, f.xero_id) for f in findings] == [(BalanceCause.COUNTED_IN_XERO_NOT_HERE, "2")]
    assert "DRAFT here" in findings[0].explanation


def test_nothing_held_explains_an_odd_difference() -> None:
    held = [HeldDocument(inv("1", "100.00"))]
    cust = customer("63.17")
    found = balance_of(cust, [h.payload for h in held], checked_at=NOW)
    assert found.off_balance and explain_locally(cust, held, [], found) == []


def test_compared_with_xero_each_document_that_differs_says_why() -> None:
    later = T0 + timedelta(days=1)
    held = {
        "1": HeldDocument(inv("1", "100.00"), WEBHOOK),
        "2": HeldDocument(inv("2", "10.00")),
        "3": HeldDocument(inv("3", "5.00")),
    }
    in_xero = [
        inv("1", "0", status="PAID", total="100.00", paid="100.00", at=later),
        inv("2", "10.00", currency="USD", at=later),
        inv("4", "30.00", at=later),
    ]
    skipped = {
        "4": SkippedRecord(
            record_type=RecordType.INVOICE,
            xero_id="4",
            reason=SkipReason.MALFORMED,
            detail="Status is missing",
        )
    }

    findings = compare_with_xero(customer("40.00"), customer("40.00"), held, in_xero, skipped)

    assert [(f.cause, f.xero_id) for f in findings] == [
        (BalanceCause.OLDER_THAN_XERO, "1"),
        (BalanceCause.CURRENCY_MISMATCH, "2"),
        (BalanceCause.MISSING_HERE, "4"),
        (BalanceCause.COUNTED_HERE_NOT_IN_XERO, "3"),
    ]
    assert (
        "AUTHORISED here, PAID in Xero" in findings[0].explanation
        and "event sequence 17" in findings[0].explanation
    )
    assert findings[2].skip_reason == "malformed" and "Status is missing" in findings[2].explanation


def test_sources_read_as_a_finance_user_would_say_them() -> None:
    page = RecordSource(kind="page", run_id="run-1", resource="Invoices", page=3)
    catch_up = RecordSource(kind="catch_up", cursor=T0)
    assert describe_source(page) == "page 3 of Invoices in sync run run-1"
    assert describe_source(WEBHOOK) == "webhook events (event sequence 17)"
    assert describe_source(catch_up).startswith("the catch-up from 2026-11-01")
    assert describe_source(None) == "an unknown delivery"
