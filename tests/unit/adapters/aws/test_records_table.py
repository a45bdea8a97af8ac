"""RecordsTable and SyncRunsTable on moto, with RecordsTable's key schema from template.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.support.tables import create_template_table
from xero_bridge.adapters.aws.records_table import RecordsTable, format_instant
from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
from xero_bridge.models.records import (
    Customer,
    Invoice,
    RecordSource,
    RecordType,
    SkippedRecord,
    SkipReason,
    SyncedRecord,
    WriteOutcome,
)

REGION = "eu-west-1"
TENANT = "tenant-1"
ORG = "org-1"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
PAGE = RecordSource(kind="page", run_id="run-1", resource="Invoices", page=3, fetched_at=T0)
WEBHOOK = RecordSource(kind="webhook", event_ids=("INVOICE:i-1:2026-11-01T10:00:00Z",), event_sequence=42)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def repo(dynamodb: Any) -> Iterator[RecordsTable]:
    repository = RecordsTable(
        create_template_table(dynamodb, "RecordsTable", "records"), client=dynamodb, workers=4
    )
    yield repository
    repository.close()


def invoice(
    updated: datetime, *, total: str = "1150.00", status: str = "AUTHORISED", **extra: Any
) -> SyncedRecord:
    payload = Invoice(
        xero_id="i-1",
        number="INV-0001",
        contact_id="c-1",
        status=status,
        date=date(2026, 10, 1),
        currency="NZD",
        total=Decimal(total),
        xero_updated_at=updated,
        **extra,
    )
    return SyncedRecord.of(payload, PAGE)


def raw_item(dynamodb: Any, sk: str) -> dict[str, Any]:
    return dynamodb.get_item(TableName="records", Key={"pk": {"S": f"TENANT#{TENANT}"}, "sk": {"S": sk}})[
        "Item"
    ]


def test_newer_version_overwrites_older(repo: RecordsTable) -> None:
    assert repo.upsert(TENANT, ORG, invoice(T0)) is WriteOutcome.WRITTEN
    assert repo.upsert(TENANT, ORG, invoice(T0 + timedelta(seconds=1), status="PAID")) is WriteOutcome.WRITTEN
    stored = repo.get(TENANT, RecordType.INVOICE, "i-1")
    assert stored is not None
    assert isinstance(stored.payload, Invoice) and stored.payload.status == "PAID"


def test_older_version_never_overwrites_newer(repo: RecordsTable) -> None:
    repo.upsert(TENANT, ORG, invoice(T0, status="PAID"))
    assert repo.upsert(TENANT, ORG, invoice(T0 - timedelta(microseconds=1))) is WriteOutcome.STALE
    stored = repo.get(TENANT, RecordType.INVOICE, "i-1")
    assert stored is not None and isinstance(stored.payload, Invoice)
    assert stored.payload.status == "PAID"


def test_duplicate_delivery_is_harmless(repo: RecordsTable, dynamodb: Any) -> None:
    repo.upsert(TENANT, ORG, invoice(T0))
    before = raw_item(dynamodb, "INVOICE#i-1")
    # Same version again, even with different content: we keep what we hold
    assert repo.upsert(TENANT, ORG, invoice(T0, total="1.00")) is WriteOutcome.STALE
    assert raw_item(dynamodb, "INVOICE#i-1") == before


def test_only_if_exists_never_creates(repo: RecordsTable) -> None:
    archived = SyncedRecord.of(
        Customer(xero_id="c-9", name="Gone Ltd", active=False, xero_updated_at=T0),
        WEBHOOK,
        only_if_exists=True,
    )
    assert repo.upsert(TENANT, ORG, archived) is WriteOutcome.MISSING_FOR_UPDATE
    assert repo.get(TENANT, RecordType.CONTACT, "c-9") is None


def test_only_if_exists_updates_what_we_hold(repo: RecordsTable) -> None:
    active = SyncedRecord.of(Customer(xero_id="c-1", name="Boom FM", xero_updated_at=T0), PAGE)
    archived = SyncedRecord.of(
        Customer(xero_id="c-1", name="Boom FM", active=False, xero_updated_at=T0 + timedelta(days=1)),
        WEBHOOK,
        only_if_exists=True,
    )
    repo.upsert(TENANT, ORG, active)
    assert repo.upsert(TENANT, ORG, archived) is WriteOutcome.WRITTEN
    stored = repo.get(TENANT, RecordType.CONTACT, "c-1")
    assert stored is not None and isinstance(stored.payload, Customer)
    assert stored.payload.active is False
    # and an older archived version is stale, not "missing"
    assert repo.upsert(TENANT, ORG, archived) is WriteOutcome.STALE


def test_decimal_stored_and_read_back_exactly(repo: RecordsTable, dynamodb: Any) -> None:
    repo.upsert(TENANT, ORG, invoice(T0, total="1234.5678", currency_rate=Decimal("0.592340123456789")))
    item = raw_item(dynamodb, "INVOICE#i-1")
    assert item["data"]["M"]["total"] == {"N": "1234.5678"}  # a number, not a string
    stored = repo.get(TENANT, RecordType.INVOICE, "i-1")
    assert stored is not None and isinstance(stored.payload, Invoice)
    assert stored.payload.total == Decimal("1234.5678")
    assert stored.payload.currency_rate == Decimal("0.592340123456789")


def test_sync_trail_is_stored(repo: RecordsTable, dynamodb: Any) -> None:
    received = datetime(2026, 11, 21, 10, 15, 3, tzinfo=UTC)
    trail_repo = RecordsTable("records", client=dynamodb, workers=1, clock=lambda: received)
    trail_repo.upsert(TENANT, ORG, invoice(T0))
    item = raw_item(dynamodb, "INVOICE#i-1")
    assert item["xero_updated_at"] == {"S": "2026-11-01T09:00:00.000000Z"}
    assert item["received_at"] == {"S": "2026-11-21T10:15:03.000000Z"}
    assert item["org_id"] == {"S": ORG}
    assert item["source"]["M"]["kind"] == {"S": "page"}
    assert item["source"]["M"]["page"] == {"N": "3"}
    assert item["data"]["M"]["date"] == {"S": "2026-10-01"}
    stored = trail_repo.get(TENANT, RecordType.INVOICE, "i-1")
    assert stored is not None
    assert (stored.source, stored.org_id, stored.received_at) == (PAGE, ORG, received)


def test_customer_documents_are_listed_on_gsi1(repo: RecordsTable, dynamodb: Any) -> None:
    repo.upsert(TENANT, ORG, invoice(T0))
    item = raw_item(dynamodb, "INVOICE#i-1")
    assert item["gsi1pk"] == {"S": f"TENANT#{TENANT}#CONTACT#c-1"}
    assert item["gsi1sk"] == {"S": "INVOICE#2026-10-01#i-1"}


def test_document_without_a_customer_leaves_the_customer_listing(repo: RecordsTable, dynamodb: Any) -> None:
    repo.upsert(TENANT, ORG, invoice(T0))
    repo.upsert(
        TENANT,
        ORG,
        invoice(T0 + timedelta(hours=1)).model_copy(
            update={
                "payload": Invoice(xero_id="i-1", status="DRAFT", xero_updated_at=T0 + timedelta(hours=1))
            }
        ),
    )
    assert "gsi1pk" not in raw_item(dynamodb, "INVOICE#i-1")


def test_dates_before_1970_round_trip(repo: RecordsTable) -> None:
    repo.upsert(
        TENANT,
        ORG,
        SyncedRecord.of(
            Invoice(xero_id="old", status="PAID", date=date(1969, 7, 3), xero_updated_at=T0), PAGE
        ),
    )
    stored = repo.get(TENANT, RecordType.INVOICE, "old")
    assert stored is not None and isinstance(stored.payload, Invoice)
    assert stored.payload.date == date(1969, 7, 3)


def test_upsert_many_keeps_order_and_counts(repo: RecordsTable) -> None:
    records = [
        SyncedRecord.of(Invoice(xero_id=f"i-{n}", status="DRAFT", xero_updated_at=T0), PAGE)
        for n in range(25)
    ]
    assert repo.upsert_many(TENANT, ORG, records) == [WriteOutcome.WRITTEN] * 25
    assert repo.upsert_many(TENANT, ORG, records) == [WriteOutcome.STALE] * 25
    assert repo.count_by_type(TENANT) == {"INVOICE": 25}
    assert len(list(repo.list_items(TENANT, RecordType.INVOICE))) == 25


def test_skipped_records_keep_their_reason(repo: RecordsTable) -> None:
    skip = SkippedRecord(
        record_type=RecordType.CONTACT,
        xero_id="c-7",
        reason=SkipReason.SUPPLIER_ONLY,
        detail="a supplier only",
    )
    repo.record_skipped(TENANT, ORG, skip, WEBHOOK)
    assert repo.get_skipped(TENANT, RecordType.CONTACT, "c-7") == skip
    assert repo.get(TENANT, RecordType.CONTACT, "c-7") is None


def test_format_instant_sorts_like_time() -> None:
    instants = [datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), T0, T0 + timedelta(microseconds=1)]
    texts = [format_instant(value) for value in instants]
    assert texts == sorted(texts) and len({len(text) for text in texts}) == 1
    with pytest.raises(ValueError, match="naive"):
        format_instant(datetime(2026, 1, 1))


# --- Sync progress -----------------------------------------------------------------------------------------


def test_progress_adds_records_written_per_resource(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName="connections",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    progress = SyncRunsTable("connections", client=dynamodb)
    # No run item: nothing is created
    assert progress.records_written(ORG, "run-1", "Invoices", 5) is False
    assert "Item" not in dynamodb.get_item(
        TableName="connections", Key={"pk": {"S": f"ORG#{ORG}"}, "sk": {"S": "SYNC#run-1"}}
    )
    # Given the planner created the run
    dynamodb.put_item(TableName="connections", Item={"pk": {"S": f"ORG#{ORG}"}, "sk": {"S": "SYNC#run-1"}})
    assert progress.records_written(ORG, "run-1", "Invoices", 1000)
    assert progress.records_written(ORG, "run-1", "Invoices", 250)
    assert progress.records_written(ORG, "run-1", "Contacts", 7)
    item = dynamodb.get_item(
        TableName="connections", Key={"pk": {"S": f"ORG#{ORG}"}, "sk": {"S": "SYNC#run-1"}}
    )
    assert item["Item"]["records_written"] == {"M": {"Invoices": {"N": "1250"}, "Contacts": {"N": "7"}}}
    assert progress.records_unchanged(ORG, "run-1", "Invoices", 3)
    item = dynamodb.get_item(
        TableName="connections", Key={"pk": {"S": f"ORG#{ORG}"}, "sk": {"S": "SYNC#run-1"}}
    )
    assert item["Item"]["records_unchanged"] == {"M": {"Invoices": {"N": "3"}}}
