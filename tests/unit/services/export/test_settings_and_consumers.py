"""The bank account per currency, and the two queue consumers (batching, backoff, dead letters)."""

from __future__ import annotations

import json

import pytest

from tests.unit.services.export.fakes import (
    GBP_BANK,
    NOW,
    ORG,
    USD_BANK,
    Clock,
    FakeConnections,
    FakeDeadLetters,
    FakeLedger,
    FakeQueue,
    FakeRecords,
    FakeSettings,
    FakeXero,
    invoice_id,
    payment,
)
from xero_bridge.errors import ExportQueueError, InvalidBankAccountError, NotConnectedError, XeroServerError
from xero_bridge.models import records as ours
from xero_bridge.models.payments import ExportSettingsRequest, LedgerState, QueuedMessage
from xero_bridge.services.export.consumer import ExportFromQueue, ReplayFromQueue
from xero_bridge.services.export.exporter import ExportPayments, ExportReport
from xero_bridge.services.export.replay import ReplayPayments
from xero_bridge.services.export.settings import ExportSettingsService

ARCHIVED = "0a0a0a0a-0000-4000-8000-00000000b009"
CLEARING = "0a0a0a0a-0000-4000-8000-00000000b00c"


def accounts() -> list[ours.BankAccount]:
    def account(xero_id: str, code: str, name: str, **extra: str | None) -> ours.BankAccount:
        return ours.BankAccount(xero_id=xero_id, code=code, name=name, xero_updated_at=NOW, **extra)

    return [
        account(GBP_BANK, "090", "Business Bank", status="ACTIVE", type="BANK"),  # no currency: the base one
        account(USD_BANK, "091", "USD Bank", currency="USD", status="ACTIVE", type="BANK"),
        account(ARCHIVED, "092", "Old Savings", currency="GBP", status="ARCHIVED", type="BANK"),
        account(CLEARING, "855", "Clearing", status="ACTIVE", type="CURRLIAB"),
    ]


def settings_service(
    store: FakeSettings, connections: FakeConnections | None = None
) -> ExportSettingsService:
    return ExportSettingsService(
        settings=store,
        records=FakeRecords(accounts=accounts(), base_currency="GBP"),
        connections=connections or FakeConnections(),
        now=lambda: NOW,
    )


def test_bank_accounts_list_payment_accounts_with_their_currency() -> None:
    listed = settings_service(FakeSettings()).bank_accounts(ORG)

    assert [(a.code, a.currency, a.type) for a in listed] == [
        ("090", "GBP", "BANK"),
        ("091", "USD", "BANK"),
        ("092", "GBP", "BANK"),
        ("855", "GBP", "CURRLIAB"),
    ]


def test_settings_take_an_active_synced_account_per_currency() -> None:
    store = FakeSettings(bank_accounts={})

    saved = settings_service(store).update(
        ORG,
        ExportSettingsRequest.model_validate({"bank_accounts": {"GBP": GBP_BANK.upper(), "USD": USD_BANK}}),
    )

    assert saved.bank_accounts == {"GBP": GBP_BANK, "USD": USD_BANK} and store.puts == 1


def test_settings_refuse_each_wrong_account_by_name_and_store_nothing() -> None:
    store = FakeSettings(bank_accounts={})
    unknown = "0a0a0a0a-0000-4000-8000-0000000000ff"

    with pytest.raises(InvalidBankAccountError) as refused:
        settings_service(store).update(
            ORG,
            ExportSettingsRequest.model_validate(
                {"bank_accounts": {"EUR": unknown, "GBP": ARCHIVED, "USD": GBP_BANK}}
            ),
        )

    reason = refused.value.reason
    assert f"bank_accounts.EUR: {unknown} is not a synced bank account" in reason
    assert "bank_accounts.GBP: Old Savings" in reason and "ARCHIVED" in reason
    assert "bank_accounts.USD: Business Bank" in reason and "is in GBP, not USD" in reason
    assert store.puts == 0


def test_settings_of_an_org_never_connected_are_refused() -> None:
    with pytest.raises(NotConnectedError):
        settings_service(FakeSettings(), FakeConnections(tenant_id=None)).bank_accounts(ORG)


# --- the export queue's consumer ------------------------------------------------------------------------


def message(n: int, *payment_ids: str, receives: int = 1, body: str | None = None) -> QueuedMessage:
    return QueuedMessage(
        message_id=f"m-{n}",
        body=body or json.dumps({"schema": 1, "org_id": ORG, "payment_ids": list(payment_ids)}),
        receipt_handle=f"r-{n}",
        receive_count=receives,
    )


def consumer(
    ledger: FakeLedger, xero: FakeXero, queue: FakeQueue, letters: FakeDeadLetters, *, base: int = 30
) -> ExportFromQueue:
    exporter = ExportPayments(
        ledger=ledger, settings=FakeSettings(), records=FakeRecords(), xero=xero, now=Clock()
    )
    return ExportFromQueue(
        exporter=exporter,
        queue=queue,
        dead_letters=letters,
        retry_base_seconds=base,
        max_receives=5,
        lease_seconds=150,
    )


def test_payments_of_many_messages_go_to_xero_in_one_batch() -> None:
    xero = FakeXero()
    for n in (1, 2, 3):
        xero.add_invoice(n)
    ledger = FakeLedger(*(payment(f"pay-{n}", invoice=invoice_id(n), amount="10.00") for n in (1, 2, 3)))
    queue, letters = FakeQueue(), FakeDeadLetters()

    outcome = consumer(ledger, xero, queue, letters).handle(
        [message(1, "pay-1"), message(2, "pay-2"), message(3, "pay-3", "pay-1")]
    )

    assert outcome.retry == set() and outcome.report.batch_sizes == [3] and xero.puts() == 1
    assert all(ledger.one(f"pay-{n}").state == LedgerState.EXPORTED for n in (1, 2, 3))


def test_a_message_that_is_not_an_export_message_goes_to_the_dlq_with_its_reason() -> None:
    queue, letters = FakeQueue(), FakeDeadLetters()
    poison = '{"schema": 1, "org_id": "acme-ar", "payment_ids": "pay-1"}'

    outcome = consumer(FakeLedger(), FakeXero(), queue, letters).handle([message(1, body=poison)])

    assert outcome.retry == set() and outcome.dead_lettered == 1
    assert letters.letters[0][0] == poison
    assert letters.letters[0][1].startswith("not an export message: payment_ids")
    assert "pay-1" not in letters.letters[0][1]  # the reason names the field, never quotes the message


def test_a_transient_failure_retries_only_its_messages_with_backoff() -> None:
    xero = FakeXero()
    xero.add_invoice(1)
    ledger = FakeLedger(payment("pay-1"))
    xero.fail = [XeroServerError("GET /Invoices: Xero answered 502 after 4 attempt(s)")]
    queue, letters = FakeQueue(), FakeDeadLetters()

    outcome = consumer(ledger, xero, queue, letters).handle([message(1, "pay-1", receives=3)])

    assert outcome.retry == {"m-1"} and queue.delays == {"r-1": 120}  # 30 s, 60 s, then 120 s
    assert ledger.one("pay-1").auto_retry


def test_when_its_receives_are_spent_a_message_goes_to_the_dlq_with_its_reason() -> None:
    # Given Xero fails the fifth receive of a message too
    xero = FakeXero()
    xero.add_invoice(1)
    ledger = FakeLedger(payment("pay-1"))
    xero.fail = [XeroServerError("GET /Invoices: Xero answered 502 after 4 attempt(s): Bad Gateway")]
    queue, letters = FakeQueue(), FakeDeadLetters()

    outcome = consumer(ledger, xero, queue, letters).handle([message(1, "pay-1", receives=5)])

    # Then the message is in the DLQ, saying why, and the payment says where it waits
    assert outcome.retry == set() and outcome.dead_lettered == 1 and queue.delays == {}
    body, reason = letters.letters[0]
    assert json.loads(body)["payment_ids"] == ["pay-1"]
    assert reason == (
        "retries spent after 5 receives: pay-1: xero_unavailable: "
        "GET /Invoices: Xero answered 502 after 4 attempt(s): Bad Gateway"
    )
    assert not ledger.one("pay-1").auto_retry and "dead-letter" in (ledger.one("pay-1").error_message or "")


def test_a_message_the_dlq_refuses_is_left_to_the_queues_redrive() -> None:
    class RefusingDeadLetters(FakeDeadLetters):
        def send(self, body: str, reason: str) -> None:
            raise ExportQueueError("SQS refused")

    xero = FakeXero()
    xero.add_invoice(1)
    xero.fail = [XeroServerError("GET /Invoices: Xero answered 502 after 4 attempt(s)")]
    queue = FakeQueue()

    outcome = consumer(FakeLedger(payment("pay-1")), xero, queue, RefusingDeadLetters()).handle(
        [message(1, "pay-1", receives=5)]
    )

    assert outcome.retry == {"m-1"} and queue.delays == {"r-1": 0}


class BrokenExporter(ExportPayments):
    def export(self, org_id: str, payment_ids, *, last_try=frozenset(), time_left=None) -> ExportReport:
        raise RuntimeError("DynamoDB is down")


def test_an_exporter_that_stops_unexpectedly_has_its_messages_back_after_the_lease() -> None:
    queue = FakeQueue()
    broken = BrokenExporter(
        ledger=FakeLedger(), settings=FakeSettings(), records=FakeRecords(), xero=FakeXero()
    )
    service = ExportFromQueue(
        exporter=broken,
        queue=queue,
        dead_letters=FakeDeadLetters(),
        retry_base_seconds=30,
        max_receives=5,
        lease_seconds=150,
    )

    outcome = service.handle([message(1, "pay-1")])

    assert outcome.retry == {"m-1"} and queue.delays == {"r-1": 151}


def test_a_replay_message_replays_and_a_bad_one_is_dead_lettered() -> None:
    ledger, queue, letters = FakeLedger(payment("pay-1")), FakeQueue(), FakeDeadLetters()
    service = ReplayFromQueue(replay=ReplayPayments(ledger=ledger, queue=queue), dead_letters=letters)

    done = service.handle(message(1, body=json.dumps({"org_id": ORG, "payment_ids": ["pay-1"]})))
    bad = service.handle(message(2, body=json.dumps({"org_id": ORG})))

    assert done is not None and done.queued == 1 and queue.queued_ids() == ["pay-1"]
    assert bad is None and letters.letters[0][1].startswith("not a replay message")
