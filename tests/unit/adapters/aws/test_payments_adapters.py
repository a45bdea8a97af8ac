"""The export's AWS adapters on moto: the ledger's conditional versions and listings, the settings, the
synced-records reads, the export queue's messages, backoff and dead letters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.support.tables import create_template_table
from xero_bridge.adapters.aws.export_queue import SqsExportQueue
from xero_bridge.adapters.aws.payments_table import ExportSettingsTable, PaymentLedgerTable
from xero_bridge.adapters.aws.records_table import RecordsTable
from xero_bridge.adapters.aws.sqs import SqsDeadLetters
from xero_bridge.adapters.aws.synced_records import SyncedRecordsReader
from xero_bridge.domain.payment_ledger import claim, failed
from xero_bridge.errors import ExportQueueError, InvalidCursorError
from xero_bridge.models.payments import (
    ExportErrorCode,
    ExportMessage,
    ExportSettings,
    HistoryEntry,
    PaymentRecord,
    PaymentStatus,
)
from xero_bridge.models.records import BankAccount, Invoice, Organisation, RecordSource, SyncedRecord

REGION = "eu-west-1"
NOW = datetime(2026, 11, 21, 10, tzinfo=UTC)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def ledger(dynamodb: Any) -> PaymentLedgerTable:
    return PaymentLedgerTable(create_template_table(dynamodb, "PaymentsTable", "payments"), client=dynamodb)


def payment(payment_id: str, *, org: str = "acme", amount: str = "120.50", minute: int = 0) -> PaymentRecord:
    at = NOW.replace(minute=minute)
    return PaymentRecord(
        org_id=org,
        payment_id=payment_id,
        tenant_id="t-1",
        invoice_id="1b1b1b1b-0000-4000-8000-000000000001",
        amount=Decimal(amount),
        currency="GBP",
        date=date(2026, 11, 20),
        reference="Cheque 1",
        created_at=at,
        updated_at=at,
        history=(HistoryEntry(at=at, event="recorded"),),
    )


def test_a_payment_is_stored_once_and_read_back_exactly(ledger: PaymentLedgerTable) -> None:
    assert ledger.create(payment("pay-1"))
    assert not ledger.create(payment("pay-1", amount="1.00"))

    stored = ledger.get("acme", "pay-1")

    assert stored == payment("pay-1")
    assert str(stored.amount) == "120.50"  # the scale it was recorded with, not DynamoDB's 120.5
    assert ledger.get("acme", "pay-2") is None and ledger.get("other", "pay-1") is None


def test_a_new_version_is_written_only_over_the_version_it_was_made_from(ledger: PaymentLedgerTable) -> None:
    ledger.create(payment("pay-1"))
    taken = claim(payment("pay-1"), NOW, lease_seconds=60)
    assert taken is not None

    assert ledger.save(taken, previous_version=1)
    assert not ledger.save(taken, previous_version=1)  # a second exporter's claim loses
    stored = ledger.get("acme", "pay-1")
    assert stored is not None and stored.state.value == "sending" and stored.lease_until == taken.lease_until


def test_payments_are_listed_by_status_newest_first_in_pages(ledger: PaymentLedgerTable) -> None:
    for n in range(5):
        ledger.create(payment(f"pay-{n}", minute=n))
    taken = claim(payment("pay-3", minute=3), NOW, lease_seconds=60)
    assert taken is not None
    ledger.save(failed(taken, NOW, ExportErrorCode.PERIOD_LOCKED, "locked"), previous_version=1)

    first, cursor = ledger.page("acme", status=PaymentStatus.PENDING, limit=2, cursor=None)
    second, _ = ledger.page("acme", status=PaymentStatus.PENDING, limit=2, cursor=cursor)
    errors, _ = ledger.page("acme", status=PaymentStatus.ERROR, limit=10, cursor=None)
    everything, _ = ledger.page("acme", status=None, limit=10, cursor=None)

    assert [p.payment_id for p in first] == ["pay-4", "pay-2"] and cursor is not None
    assert [p.payment_id for p in second] == ["pay-1", "pay-0"]
    assert [p.payment_id for p in errors] == ["pay-3"]
    assert [p.payment_id for p in everything] == [f"pay-{n}" for n in range(5)]
    assert list(ledger.ids_with_status("acme", PaymentStatus.ERROR)) == ["pay-3"]


def test_a_cursor_of_another_listing_or_altered_is_refused(ledger: PaymentLedgerTable) -> None:
    for n in range(3):
        ledger.create(payment(f"pay-{n}", minute=n))
        ledger.create(payment(f"pay-{n}", org="other", minute=n))
    _, cursor = ledger.page("acme", status=PaymentStatus.PENDING, limit=1, cursor=None)
    assert cursor is not None

    for bad in ("not-base64!", cursor[:-3], "e30"):
        with pytest.raises(InvalidCursorError):
            ledger.page("acme", status=PaymentStatus.PENDING, limit=1, cursor=bad)
    with pytest.raises(InvalidCursorError):  # another org's listing
        ledger.page("other", status=PaymentStatus.PENDING, limit=1, cursor=cursor)
    with pytest.raises(InvalidCursorError):  # another status
        ledger.page("acme", status=PaymentStatus.ERROR, limit=1, cursor=cursor)


def test_export_settings_round_trip(dynamodb: Any) -> None:
    settings = ExportSettingsTable(
        create_template_table(dynamodb, "PaymentsTable", "payments"), client=dynamodb
    )
    assert settings.get_settings("acme") == ExportSettings()

    settings.put_settings("acme", ExportSettings(bank_accounts={"GBP": "a-1"}, updated_at=NOW))

    assert settings.get_settings("acme") == ExportSettings(bank_accounts={"GBP": "a-1"}, updated_at=NOW)
    assert settings.get_settings("other").bank_accounts == {}


def test_synced_records_are_read_by_id_and_by_kind(dynamodb: Any) -> None:
    name = create_template_table(dynamodb, "RecordsTable", "records")
    writer = RecordsTable(name, client=dynamodb, workers=1)
    source = RecordSource(kind="page", run_id="r", resource="Invoices", page=1, fetched_at=NOW)
    invoices = [
        Invoice(
            xero_id=f"inv-{n}",
            status="AUTHORISED",
            currency="GBP",
            amount_due=Decimal("10"),
            xero_updated_at=NOW,
        )
        for n in range(120)
    ]
    bank = BankAccount(xero_id="a-1", code="090", name="Bank", type="BANK", xero_updated_at=NOW)
    organisation = Organisation(xero_id="t-1", base_currency="GBP", xero_updated_at=NOW)
    records = [SyncedRecord.of(r, source) for r in invoices]
    records += [SyncedRecord.of(bank, source), SyncedRecord.of(organisation, source)]
    writer.upsert_many("t-1", "acme", records)
    reader = SyncedRecordsReader(name, client=dynamodb)

    found = reader.invoices("t-1", [f"inv-{n}" for n in range(0, 130, 2)])

    assert sorted(found) == sorted(f"inv-{n}" for n in range(0, 120, 2))  # more than one BatchGetItem
    assert [a.code for a in reader.payment_accounts("t-1")] == ["090"]
    synced = reader.organisation("t-1")
    assert synced is not None and synced.base_currency == "GBP"
    assert reader.organisation("t-2") is None


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def test_the_export_queue_sends_fifty_payments_to_a_message(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="exports")["QueueUrl"]

    sent = SqsExportQueue(url, client=sqs).send(
        "acme", [f"pay-{n}" for n in range(120)] + ["pay-0"], trigger="replay"
    )

    bodies = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [ExportMessage.model_validate_json(m["Body"]) for m in batch]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    assert sent == 3 and sorted(len(b.payment_ids) for b in bodies) == [20, 50, 50]
    assert {b.trigger for b in bodies} == {"replay"} and sum(len(b.payment_ids) for b in bodies) == 120


def test_a_retried_message_comes_back_after_its_backoff(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="exports", Attributes={"VisibilityTimeout": "720"})["QueueUrl"]
    queue = SqsExportQueue(url, client=sqs)
    queue.send("acme", ["pay-1"])
    received = sqs.receive_message(QueueUrl=url)["Messages"][0]

    queue.retry_later(received["ReceiptHandle"], 0)

    again = sqs.receive_message(QueueUrl=url).get("Messages", [])
    assert [m["MessageId"] for m in again] == [received["MessageId"]]  # not after the 720 s timeout
    queue.retry_later("not-a-receipt-handle", 5)  # refused by SQS: logged, never raised


def test_a_dead_letter_keeps_the_body_and_says_why(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="exports-dlq")["QueueUrl"]

    SqsDeadLetters(url, error=ExportQueueError, client=sqs).send(
        '{"broken": true}', "not an export message: org_id: Field required"
    )

    message = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"][0]
    assert json.loads(message["Body"]) == {"broken": True}
    assert message["MessageAttributes"]["reason"]["StringValue"].startswith("not an export message")
    assert "dead_lettered_at" in message["MessageAttributes"]
