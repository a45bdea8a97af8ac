"""The exporter over in-memory fakes: a payment reaches Xero at most once, and every one it takes ends
exported, closed or in error with its code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from tests.unit.services.export.fakes import (
    GBP_BANK,
    NOW,
    ORG,
    TENANT,
    USD_BANK,
    Clock,
    FakeLedger,
    FakeRecords,
    FakeSettings,
    FakeXero,
    invoice_id,
    payment,
)
from xero_bridge.domain.payment_ledger import claim
from xero_bridge.errors import (
    NeedsReconnect,
    RateLimitWaitExceeded,
    XeroForbidden,
    XeroRateLimited,
    XeroServerError,
    XeroValidationError,
)
from xero_bridge.models.payments import ClosedReason, ExportErrorCode, LedgerState, PaymentRecord
from xero_bridge.services.export.exporter import ExportPayments, ExportReport


@dataclass
class World:
    ledger: FakeLedger
    settings: FakeSettings
    records: FakeRecords
    xero: FakeXero
    clock: Clock

    def exporter(self, batch_size: int = 50) -> ExportPayments:
        return ExportPayments(
            ledger=self.ledger,
            settings=self.settings,
            records=self.records,
            xero=self.xero,
            batch_size=batch_size,
            lease_seconds=150,
            now=self.clock,
        )

    def record(self, *payments: PaymentRecord) -> None:
        for item in payments:
            assert self.ledger.create(item)

    def export(self, *payment_ids: str, last_try: frozenset[str] = frozenset()) -> ExportReport:
        return self.exporter().export(ORG, list(payment_ids), last_try=last_try)


@pytest.fixture
def world() -> Iterator[World]:
    yield World(FakeLedger(), FakeSettings(), FakeRecords(), FakeXero(), Clock())


def test_a_batch_goes_to_xero_in_one_call_each_payment_with_its_own_result(world: World) -> None:
    # Given three invoices, one of them a draft, and three payments against them
    for n in (1, 2, 3):
        world.xero.add_invoice(n, status="DRAFT" if n == 3 else "AUTHORISED")
    world.record(*(payment(f"pay-{n}", invoice=invoice_id(n), amount="40.00") for n in (1, 2, 3)))

    # When the exporter runs
    report = world.export("pay-1", "pay-2", "pay-3")

    # Then one PUT carried the three, and each payment has its own outcome
    assert world.xero.puts() == 1 and report.batch_sizes == [3]
    assert world.ledger.one("pay-1").state == LedgerState.EXPORTED
    assert world.ledger.one("pay-1").xero_payment_id == world.xero.payments_on(1)[0][0]
    assert world.xero.payments_on(1)[0][2] == "Cheque 1042 [AR:pay-1]"  # our tag beside the reference
    draft = world.ledger.one("pay-3")
    assert draft.state == LedgerState.ERROR and draft.error_code == ExportErrorCode.INVOICE_NOT_AUTHORISED
    assert draft.xero_message == "Payments can only be made against Authorised documents"
    assert world.xero.payments_on(3) == []
    assert (report.exported, report.failed) == (2, 1)


def test_no_bank_account_for_the_currency_fails_without_calling_xero(world: World) -> None:
    world.xero.add_invoice(1, currency="USD")
    world.record(payment(currency="USD"))

    world.export("pay-1")

    failed = world.ledger.one("pay-1")
    assert failed.error_code == ExportErrorCode.MISSING_BANK_ACCOUNT
    assert "bank_accounts.USD" in (failed.error_message or "")
    assert world.xero.calls == []


def _submitted(xero: FakeXero) -> None:
    xero.add_invoice(1, status="SUBMITTED")


def _voided(xero: FakeXero) -> None:
    xero.add_invoice(1, status="VOIDED")


def _less_due(xero: FakeXero) -> None:
    xero.add_invoice(1, "60.00")


def _locked(xero: FakeXero) -> None:
    xero.add_invoice(1)
    xero.lock_date = date(2026, 11, 30)


def _no_invoice(xero: FakeXero) -> None:
    pass


def _bank_in_another_currency(xero: FakeXero) -> None:
    xero.add_invoice(1)
    xero.accounts[GBP_BANK] = "EUR"  # the account chosen for GBP was changed to EUR in Xero since


@pytest.mark.parametrize(
    ("arrange", "code"),
    [
        (_submitted, ExportErrorCode.INVOICE_NOT_AUTHORISED),
        (_voided, ExportErrorCode.INVOICE_NOT_AUTHORISED),
        (_less_due, ExportErrorCode.AMOUNT_EXCEEDS_DUE),
        (_locked, ExportErrorCode.PERIOD_LOCKED),
        (_no_invoice, ExportErrorCode.INVOICE_NOT_FOUND),
        (_bank_in_another_currency, ExportErrorCode.CURRENCY_MISMATCH),
    ],
    ids=["submitted", "voided", "exceeds", "locked", "not_found", "bank_currency"],
)
def test_each_xero_refusal_has_its_own_code_and_keeps_xeros_words(
    world: World, arrange: Callable[[FakeXero], None], code: ExportErrorCode
) -> None:
    arrange(world.xero)
    world.record(payment())

    world.export("pay-1")

    failed = world.ledger.one("pay-1")
    assert failed.state == LedgerState.ERROR and failed.error_code == code
    assert failed.error_message and failed.xero_message
    assert not failed.retryable and not failed.in_doubt
    assert world.xero.puts() == 1
    if invoice_id(1) in world.xero.invoices_by_id:
        assert world.xero.payments_on(1) == []


def test_paid_by_hand_and_seen_by_the_sync_closes_the_payment_without_sending_it(world: World) -> None:
    # Given an invoice paid by hand in Xero, which the real-time sync has already seen
    world.xero.add_invoice(1)
    world.xero.pay_by_hand(1, "100.00")
    world.records.sync(world.xero, "INV-0001")
    world.record(payment())

    world.export("pay-1")

    # Then the payment is closed, and Xero was only read, never written
    closed = world.ledger.one("pay-1")
    assert closed.state == LedgerState.CLOSED and closed.closed_reason == ClosedReason.PAID_IN_XERO
    assert "INV-0001" in (closed.closed_detail or "")
    assert world.xero.puts() == 0 and len(world.xero.payments_on(1)) == 1


def test_paid_by_hand_before_the_sync_saw_it_closes_the_payment_on_xeros_answer(world: World) -> None:
    # Given the sync still holds the invoice as open, but it was paid by hand in Xero since
    world.xero.add_invoice(1)
    world.records.sync(world.xero, "INV-0001")
    world.xero.pay_by_hand(1, "100.00")
    world.record(payment())

    world.export("pay-1")

    # Then Xero's refusal sent the exporter to the invoice, and the payment is closed: one payment in Xero
    assert world.ledger.one("pay-1").closed_reason == ClosedReason.PAID_IN_XERO
    assert len(world.xero.payments_on(1)) == 1


def test_an_invoice_paid_by_credits_is_an_error_for_a_person_to_look_at(world: World) -> None:
    world.xero.add_invoice(1)
    world.xero.credit(1, "100.00")
    world.record(payment())

    world.export("pay-1")

    failed = world.ledger.one("pay-1")
    assert failed.error_code == ExportErrorCode.INVOICE_PAID
    assert "credit notes" in (failed.error_message or "")


def test_a_payment_in_another_currency_than_its_invoice_is_never_sent(world: World) -> None:
    world.xero.add_invoice(1, currency="USD")
    world.settings.bank_accounts["GBP"] = USD_BANK
    world.record(payment(currency="GBP"))

    world.export("pay-1")

    assert world.ledger.one("pay-1").error_code == ExportErrorCode.CURRENCY_MISMATCH
    assert world.xero.puts() == 0


def test_an_answer_lost_after_xero_saved_it_is_found_and_adopted_never_posted_twice(world: World) -> None:
    # Given Xero saves the payment but the answer never arrives
    world.xero.add_invoice(1)
    world.record(payment())
    world.xero.lose_answers = 1

    first = world.export("pay-1")

    lost = world.ledger.one("pay-1")
    assert lost.error_code == ExportErrorCode.XERO_TIMEOUT and lost.in_doubt and lost.auto_retry
    assert first.retrying == {(ORG, "pay-1")}

    # When the message comes back (long after Xero forgot the Idempotency-Key)
    second = world.export("pay-1")

    # Then the exporter looked in Xero, found its own payment and adopted it
    adopted = world.ledger.one("pay-1")
    assert (
        adopted.state == LedgerState.EXPORTED and adopted.xero_payment_id == world.xero.payments_on(1)[0][0]
    )
    assert [e.event for e in adopted.history][-2:] == ["sending", "found_in_xero"]
    assert len(world.xero.payments_on(1)) == 1 and world.xero.puts() == 1
    assert second.found_in_xero == 1


@pytest.mark.parametrize(
    "retry_meets",
    [
        XeroRateLimited("429", problem="appminute", retry_after_seconds=20),
        RateLimitWaitExceeded(TENANT, NOW, "appminute"),
    ],
    ids=["a 429", "a rate-limiter wait too long"],
)
def test_a_lost_answer_whose_retry_was_refused_is_in_doubt_never_posted_twice(
    world: World, retry_meets: Exception
) -> None:
    # Given Xero saves the payment, its answer is lost (a 500), and the transport's retry of the PUT meets
    # a 429 (or the rate limiter cannot give it a slot in time): the error the exporter sees says "refused"
    world.xero.add_invoice(1)
    world.record(payment())
    world.xero.lose_answers, world.xero.retry_meets = 1, retry_meets

    world.export("pay-1")

    # Then the payment is in doubt all the same, and the next attempt finds it instead of posting it again
    assert world.ledger.one("pay-1").in_doubt
    world.export("pay-1")
    assert world.ledger.one("pay-1").state == LedgerState.EXPORTED
    assert len(world.xero.payments_on(1)) == 1 and world.xero.puts() == 1


def test_an_attempt_that_died_after_its_claim_is_searched_for_then_posted(world: World) -> None:
    # Given an exporter claimed the payment and died (its lease ran out; Xero never got the request)
    world.xero.add_invoice(1)
    world.record(payment())
    taken = claim(world.ledger.one("pay-1"), world.clock(), lease_seconds=150)
    assert taken is not None and world.ledger.save(taken, previous_version=1)
    world.clock.advance(151)

    world.export("pay-1")

    # Then the next attempt searched Xero (nothing there) and posted it, once
    assert [kind for kind, _ in world.xero.calls] == ["GET", "PUT"]
    assert world.ledger.one("pay-1").state == LedgerState.EXPORTED
    assert world.ledger.one("pay-1").attempt == 2 and len(world.xero.payments_on(1)) == 1


def test_a_payment_another_exporter_holds_is_left_alone(world: World) -> None:
    world.xero.add_invoice(1)
    world.record(payment())
    taken = claim(world.ledger.one("pay-1"), world.clock(), lease_seconds=150)
    assert taken is not None and world.ledger.save(taken, previous_version=1)

    report = world.export("pay-1")

    assert report.skipped == {"pay-1": "sending"} and world.xero.calls == []


def test_two_exporters_racing_for_one_payment_only_one_sends_it(world: World) -> None:
    # Given a second exporter claims the payment between our read and our claim
    world.xero.add_invoice(1)
    world.record(payment())
    rival = claim(world.ledger.one("pay-1"), world.clock(), lease_seconds=150)
    assert rival is not None

    def rival_claims_first(_: PaymentRecord) -> None:
        world.ledger.items[(ORG, "pay-1")] = rival

    world.ledger.before_save = rival_claims_first

    report = world.export("pay-1")

    assert report.skipped == {"pay-1": "claimed by another exporter"} and world.xero.calls == []


@pytest.mark.parametrize(
    ("failure", "code", "in_doubt"),
    [
        (
            XeroRateLimited("429", problem="minute", retry_after_seconds=60),
            ExportErrorCode.XERO_RATE_LIMITED,
            False,
        ),
        (
            XeroServerError("PUT /Payments: Xero answered 500 after 4 attempt(s)"),
            ExportErrorCode.XERO_UNAVAILABLE,
            True,
        ),
    ],
    ids=["429", "500"],
)
def test_a_transient_failure_is_retried_and_says_whether_xero_may_hold_it(
    world: World, failure: Exception, code: ExportErrorCode, in_doubt: bool
) -> None:
    world.xero.add_invoice(1)
    world.records.sync(world.xero, "INV-0001")  # synced: the PUT is the batch's first call
    world.record(payment())
    world.xero.fail = [failure]

    report = world.export("pay-1")

    failed = world.ledger.one("pay-1")
    assert failed.error_code == code and failed.retryable and failed.auto_retry
    assert failed.in_doubt is in_doubt
    assert report.retrying == {(ORG, "pay-1")}


def test_the_last_try_says_the_export_waits_in_the_dead_letter_queue(world: World) -> None:
    world.xero.add_invoice(1)
    world.records.sync(world.xero, "INV-0001")
    world.record(payment())
    world.xero.fail = [XeroServerError("PUT /Payments: Xero answered 503 after 4 attempt(s)")]

    world.export("pay-1", last_try=frozenset({"pay-1"}))

    failed = world.ledger.one("pay-1")
    assert failed.error_code == ExportErrorCode.XERO_UNAVAILABLE and not failed.auto_retry
    assert "dead-letter queue" in (failed.error_message or "")
    # And a redrive of the DLQ may still take it (a transient error is not final)
    assert failed.retryable


@pytest.mark.parametrize(
    "failure",
    [NeedsReconnect("token revoked or expired: reconnect Xero"), XeroForbidden("AuthenticationUnsuccessful")],
)
def test_a_refused_connection_is_needs_reconnect_and_final(world: World, failure: Exception) -> None:
    world.xero.add_invoice(1)
    world.record(payment())
    world.xero.fail = [failure]

    report = world.export("pay-1")

    failed = world.ledger.one("pay-1")
    assert failed.error_code == ExportErrorCode.NEEDS_RECONNECT and not failed.retryable
    assert report.retrying == set() and report.failed == 1


def test_a_request_xero_refuses_whole_is_xero_rejected_with_its_words(world: World) -> None:
    world.xero.add_invoice(1)
    world.records.sync(world.xero, "INV-0001")
    world.record(payment())
    world.xero.fail = [XeroValidationError("400", messages=["Something Xero dislikes"], elements=[])]

    world.export("pay-1")

    failed = world.ledger.one("pay-1")
    assert (
        failed.error_code == ExportErrorCode.XERO_REJECTED
        and failed.xero_message == "Something Xero dislikes"
    )


def test_a_final_error_is_not_sent_again_by_a_redelivery(world: World) -> None:
    world.xero.add_invoice(1, status="DRAFT")
    world.record(payment())
    world.export("pay-1")
    calls = len(world.xero.calls)

    report = world.export("pay-1")

    assert report.skipped == {"pay-1": "error"} and len(world.xero.calls) == calls


def test_payments_of_one_org_go_in_batches_of_the_batch_size(world: World) -> None:
    for n in range(1, 8):
        world.xero.add_invoice(n)
        world.records.sync(world.xero, f"INV-{n:04d}")
    world.record(*(payment(f"pay-{n}", invoice=invoice_id(n), amount="10.00") for n in range(1, 8)))

    report = world.exporter(batch_size=3).export(ORG, [f"pay-{n}" for n in range(1, 8)])

    assert report.batch_sizes == [3, 3, 1] and report.xero_calls == 3 and report.exported == 7
    assert len(set(world.xero.keys)) == 3


def test_unknown_payment_ids_are_reported_and_nothing_is_sent(world: World) -> None:
    report = world.export("nope")

    assert report.unknown == ["nope"] and world.xero.calls == []


def test_amounts_reach_xero_exactly(world: World) -> None:
    world.xero.add_invoice(1, "0.30")
    world.record(payment(amount="0.10"), payment("pay-2", amount="0.20"))

    world.export("pay-1", "pay-2")

    assert [amount for _, amount, _ in world.xero.payments_on(1)] == [Decimal("0.10"), Decimal("0.20")]
    assert world.xero.invoices_by_id[invoice_id(1)].status == "PAID"
