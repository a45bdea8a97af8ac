"""Recording a payment (once per payment_id) and "Export back to Xero" (one, a list, every failed one)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import pytest

from tests.unit.services.export.fakes import (
    NOW,
    ORG,
    Clock,
    FakeConnections,
    FakeLedger,
    FakeQueue,
    invoice_id,
    payment,
)
from xero_bridge.domain.payment_ledger import claim, exported, failed
from xero_bridge.errors import NotConnectedError, PaymentConflictError, PaymentNotFoundError
from xero_bridge.models.connection import ConnectionStatus
from xero_bridge.models.payments import (
    ExportErrorCode,
    LedgerState,
    PaymentRecord,
    PaymentRequest,
    PaymentStatus,
    ReplayRequest,
)
from xero_bridge.services.export.query import PaymentQueries
from xero_bridge.services.export.record import RecordPayment
from xero_bridge.services.export.replay import ReplayPayments


def request(**changes: object) -> PaymentRequest:
    body = {
        "payment_id": "pay-1",
        "invoice_id": invoice_id(1).upper(),  # any spelling of the GUID
        "amount": "120.50",
        "currency": "GBP",
        "date": "2026-11-20",
        "reference": "Cheque 1042",
        **changes,
    }
    return PaymentRequest.model_validate(body)


def recorder(
    ledger: FakeLedger, queue: FakeQueue, connections: FakeConnections | None = None
) -> RecordPayment:
    return RecordPayment(
        ledger=ledger, connections=connections or FakeConnections(), queue=queue, now=lambda: NOW
    )


# --- recording ------------------------------------------------------------------------------------------


def test_a_new_payment_is_pending_and_queued() -> None:
    ledger, queue = FakeLedger(), FakeQueue()

    view, created = recorder(ledger, queue).record(ORG, request())

    assert created and view.status == PaymentStatus.PENDING
    assert view.amount == Decimal("120.50") and view.invoice_id == invoice_id(1)
    assert queue.sent == [(ORG, ["pay-1"], "recorded")]
    assert ledger.one("pay-1").date == date(2026, 11, 20)


def test_the_same_payment_again_is_its_current_state_and_a_pending_one_is_queued_again() -> None:
    ledger, queue = FakeLedger(), FakeQueue()
    service = recorder(ledger, queue)
    service.record(ORG, request())

    again, created = service.record(ORG, request(invoice_id=invoice_id(1)))

    assert not created and again.status == PaymentStatus.PENDING
    assert queue.queued_ids() == ["pay-1", "pay-1"]  # a lost first queueing is healed; the ledger dedupes
    assert len(ledger.items) == 1


def test_the_same_exported_payment_again_is_not_queued() -> None:
    ledger, queue = FakeLedger(), FakeQueue()
    service = recorder(ledger, queue)
    service.record(ORG, request())
    taken = claim(ledger.one("pay-1"), NOW, lease_seconds=60)
    assert taken is not None
    ledger.items[(ORG, "pay-1")] = exported(taken, NOW, "xero-1", found=False)

    again, created = service.record(ORG, request())

    assert not created and again.status == PaymentStatus.EXPORTED and queue.queued_ids() == ["pay-1"]


def test_the_same_id_with_another_body_is_a_conflict_naming_what_differs() -> None:
    ledger, queue = FakeLedger(), FakeQueue()
    service = recorder(ledger, queue)
    service.record(ORG, request())

    with pytest.raises(PaymentConflictError) as refused:
        service.record(ORG, request(amount="120.51", date="2026-11-21"))

    assert refused.value.code == "payment_conflict"
    assert "amount, date" in refused.value.reason
    assert ledger.one("pay-1").amount == Decimal("120.50")


@pytest.mark.parametrize(
    "connections", [FakeConnections(tenant_id=None), FakeConnections(status=ConnectionStatus.DISCONNECTED)]
)
def test_a_payment_for_an_org_without_xero_is_refused_and_nothing_stored(
    connections: FakeConnections,
) -> None:
    ledger, queue = FakeLedger(), FakeQueue()

    with pytest.raises(NotConnectedError):
        recorder(ledger, queue, connections).record(ORG, request())

    assert ledger.items == {} and queue.sent == []


def test_reading_a_payment_that_does_not_exist_is_not_found() -> None:
    with pytest.raises(PaymentNotFoundError):
        PaymentQueries(FakeLedger()).payment(ORG, "nope")


# --- replays --------------------------------------------------------------------------------------------


def _in_error(payment_id: str, code: ExportErrorCode = ExportErrorCode.MISSING_BANK_ACCOUNT) -> PaymentRecord:
    taken = claim(payment(payment_id), NOW, lease_seconds=60)
    assert taken is not None
    return failed(taken, NOW, code, "no account")


def test_export_back_to_xero_reopens_an_error_and_queues_it() -> None:
    ledger, queue = FakeLedger(_in_error("pay-1")), FakeQueue()

    result = ReplayPayments(ledger=ledger, queue=queue, now=lambda: NOW).replay_one(ORG, "pay-1")

    assert result.queued == 1 and queue.sent == [(ORG, ["pay-1"], "replay")]
    reopened = ledger.one("pay-1")
    assert reopened.state == LedgerState.PENDING and reopened.replays == 1
    assert reopened.history[-1].event == "replayed"


def test_replay_of_every_failed_payment_leaves_the_others_alone() -> None:
    done = claim(payment("pay-3"), NOW, lease_seconds=60)
    assert done is not None
    ledger = FakeLedger(_in_error("pay-1"), _in_error("pay-2"), exported(done, NOW, "x-3", found=False))
    queue = FakeQueue()

    result = ReplayPayments(ledger=ledger, queue=queue, now=lambda: NOW).replay(
        ORG, ReplayRequest(status="error")
    )

    assert result.queued == 2 and sorted(queue.queued_ids()) == ["pay-1", "pay-2"]
    assert ledger.one("pay-3").state == LedgerState.EXPORTED


def test_a_replay_of_every_failed_payment_that_died_before_queueing_is_finished_by_the_same_request() -> None:
    # Given a replay of every failed payment whose Lambda died after re-opening them, before its SQS send
    ledger = FakeLedger(_in_error("pay-1"), _in_error("pay-2"))
    dying = ReplayPayments(ledger=ledger, queue=DeadQueue(), now=lambda: NOW)
    with pytest.raises(SandboxDied):
        dying.replay(ORG, ReplayRequest(status="error"))
    assert {ledger.one(p).state for p in ("pay-1", "pay-2")} == {LedgerState.PENDING}

    # When the AR app sends the same request again (its call failed)
    queue = FakeQueue()
    again = ReplayPayments(ledger=ledger, queue=queue, now=lambda: NOW)
    result = again.replay(ORG, ReplayRequest(status="error"))

    # Then the payments it left pending are queued: none is left pending with no message
    assert result.queued == 2 and sorted(queue.queued_ids()) == ["pay-1", "pay-2"]


class SandboxDied(BaseException):
    """The Lambda's sandbox went away mid-invocation."""


class DeadQueue(FakeQueue):
    def send(self, org_id: str, payment_ids: Sequence[str], *, trigger: str = "recorded") -> int:
        raise SandboxDied


def test_replay_of_a_list_says_why_each_other_one_was_not_queued() -> None:
    done = claim(payment("pay-2"), NOW, lease_seconds=60)
    sending = claim(payment("pay-3"), NOW, lease_seconds=60)
    assert done is not None and sending is not None
    ledger = FakeLedger(
        _in_error("pay-1"), exported(done, NOW, "x-2", found=False), sending, payment("pay-4")
    )
    queue = FakeQueue()

    result = ReplayPayments(ledger=ledger, queue=queue, now=lambda: NOW).replay(
        ORG, ReplayRequest(payment_ids=("pay-1", "pay-2", "pay-3", "pay-4", "pay-9"))
    )

    assert result.queued == 2 and queue.queued_ids() == ["pay-1", "pay-4"]
    assert result.skipped == {"pay-2": "exported", "pay-3": "sending"}
    assert result.not_found == ["pay-9"]


def test_an_attempt_that_died_is_reopened_with_its_doubt_kept() -> None:
    clock = Clock()
    sending = claim(payment("pay-1"), clock(), lease_seconds=60)
    assert sending is not None
    ledger, queue = FakeLedger(sending), FakeQueue()
    clock.advance(61)

    result = ReplayPayments(ledger=ledger, queue=queue, now=clock).replay_one(ORG, "pay-1")

    assert result.queued == 1 and ledger.one("pay-1").in_doubt  # the exporter searches Xero first


def test_two_concurrent_replays_reopen_the_payment_once() -> None:
    ledger, queue = FakeLedger(_in_error("pay-1")), FakeQueue()
    first = ReplayPayments(ledger=ledger, queue=queue, now=lambda: NOW)
    second = ReplayPayments(ledger=ledger, queue=queue, now=lambda: NOW)

    def other_replay_wins(_: PaymentRecord) -> None:
        ledger.before_save = None
        second.replay_one(ORG, "pay-1")

    ledger.before_save = other_replay_wins
    result = first.replay_one(ORG, "pay-1")

    # Both queued it (the exporter's claim lets one of them send it); it was re-opened once
    assert result.queued == 1 and queue.queued_ids() == ["pay-1", "pay-1"]
    assert ledger.one("pay-1").replays == 1


def test_replay_of_an_unknown_payment_is_not_found() -> None:
    with pytest.raises(PaymentNotFoundError):
        ReplayPayments(ledger=FakeLedger(), queue=FakeQueue()).replay_one(ORG, "nope")
