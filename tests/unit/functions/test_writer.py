"""The writer function with its events/ files, on moto: what lands in DynamoDB, and what goes back to SQS."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from conftest import FakeLambdaContext, load_event
from functions.writer import app as writer
from tests.support.tables import create_template_table
from xero_bridge.adapters.aws.clients import reset_clients
from xero_bridge.adapters.aws.records_table import RecordsTable
from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
from xero_bridge.models.records import Customer, Invoice, RecordType
from xero_bridge.models.sync import Part, PartitionPlan, Share, SyncRun, SyncStatus
from xero_bridge.settings import reset_settings
from xero_bridge.wiring import reset_wiring

ROOT = Path(__file__).resolve().parents[3]
REGION = "eu-west-1"
TENANT = "a3b6c1d2-4e5f-4a7b-8c9d-0e1f2a3b4c5d"
ORG = "org_7Hq2Lx"
RUN = "run-20261121T101500Z-7f3a"
STARTED = datetime(2026, 11, 21, 10, 15, tzinfo=UTC)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        env = {
            "TABLE_NAME": create_template_table(dynamodb, "ConnectionsTable", "connections-test"),
            "RECORDS_TABLE_NAME": create_template_table(dynamodb, "RecordsTable", "records-test"),
            "TOKEN_KEY_ID": "alias/test",
            "XERO_CLIENT_ID": "test-client-id",
            "XERO_CLIENT_SECRET_NAME": "xero-bridge-test/xero-client-secret",
            "APP_RETURN_URL": "https://app.example.test/settings/xero",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        # The sync planner creates the run item; the writer only adds to it.
        SyncRunsTable("connections-test", client=dynamodb).create_run(
            SyncRun(org_id=ORG, run_id=RUN, tenant_id=TENANT, status=SyncStatus.FETCHING, started_at=STARTED)
        )
        reset_settings()
        reset_clients()
        reset_wiring()
        yield dynamodb
        reset_wiring()
        reset_clients()
        reset_settings()


def held(dynamodb: Any) -> RecordsTable:
    return RecordsTable("records-test", client=dynamodb, workers=1)


def test_records_batch_lands_in_dynamodb(stack: Any, lambda_context: FakeLambdaContext) -> None:
    response = writer.lambda_handler(load_event("writer/records_batch"), lambda_context)

    assert response == {"batchItemFailures": []}
    repo = held(stack)
    assert repo.count_by_type(TENANT) == {"INVOICE": 2, "CONTACT": 1, "SKIPPED": 1}
    invoice = repo.get(TENANT, RecordType.INVOICE, "5f0d8a57-6b53-4c1e-9a0e-1d2c3b4a5f60")
    assert invoice is not None and isinstance(invoice.payload, Invoice)
    assert str(invoice.payload.total) == "1234.55"
    assert invoice.source.kind == "page" and invoice.source.page == 1
    customer = repo.get(TENANT, RecordType.CONTACT, "9b1c2d3e-0f4a-4b5c-8d6e-7f8091a2b3c4")
    assert customer is not None and isinstance(customer.payload, Customer)
    assert customer.payload.mobile_phone == "+64 21 555 0101"
    assert customer.source.kind == "webhook" and customer.source.event_sequence == 18734
    skip = repo.get_skipped(TENANT, RecordType.CONTACT, "4d5e6f70-8192-4a3b-8c4d-5e6f708192a3")
    assert skip is not None and skip.reason == "supplier_only"
    # The run's progress counts what the page wrote
    run = stack.get_item(
        TableName="connections-test", Key={"pk": {"S": f"ORG#{ORG}"}, "sk": {"S": f"SYNC#{RUN}"}}
    )
    assert run["Item"]["records_written"] == {"M": {"Invoices:chase": {"N": "2"}}}


def test_the_write_that_completes_the_chase_part_records_chase_ready(
    stack: Any, lambda_context: FakeLambdaContext
) -> None:
    # Given a run whose chase part is read: its only page sent the two invoices of the event's page
    runs = SyncRunsTable("connections-test", client=stack)
    plan = PartitionPlan(resource="Invoices", part=Part.CHASE, share=Share.OPEN, pages_total=1)
    runs.save_partition_plan(ORG, RUN, plan)
    runs.checkpoint_page(
        ORG, RUN, plan.key, 1, records=2, skipped=0, malformed=0, is_last=True, now=STARTED, item_count=2
    )
    runs.mark_part_fetched(ORG, RUN, Part.CHASE, now=STARTED)
    assert runs.get_run(ORG, RUN).chase_ready_at is None  # type: ignore[union-attr]

    # When the writer writes them
    writer.lambda_handler(load_event("writer/records_batch"), lambda_context)

    # Then the run is chase-ready, from that moment
    run = runs.get_run(ORG, RUN)
    assert run is not None and run.chase_ready_at is not None and run.chase_ready_at > STARTED


def test_poison_message_fails_alone(
    stack: Any, lambda_context: FakeLambdaContext, caplog: pytest.LogCaptureFixture
) -> None:
    event = load_event("writer/poison_message")

    response = writer.lambda_handler(event, lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "db37cc61-1bb0-4e77-b6f3-7cf87f44a72a"}]}
    assert held(stack).get(TENANT, RecordType.CONTACT, "9b1c2d3e-0f4a-4b5c-8d6e-7f8091a2b3c4") is not None
    # Its reason is logged, not its body
    failure = next(record for record in caplog.records if record.getMessage() == "records message failed")
    assert failure.__dict__["message_id"] == "db37cc61-1bb0-4e77-b6f3-7cf87f44a72a"
    assert "body.records" in failure.__dict__["reason"]
    everything = " ".join(str(record.__dict__) for record in caplog.records)
    assert "not-a-list" not in everything


def test_same_message_delivered_twice_is_one_record(stack: Any, lambda_context: FakeLambdaContext) -> None:
    event = load_event("writer/records_batch")
    first = writer.lambda_handler(event, lambda_context)
    # SQS redelivers (visibility timeout) or a replay resends with a new message id
    again = copy.deepcopy(event)
    again["Records"][0]["messageId"] = "7d1c9a0e-5b4f-4e3d-8c2b-1a0f9e8d7c6b"
    second = writer.lambda_handler(again, lambda_context)

    assert first == second == {"batchItemFailures": []}
    assert held(stack).count_by_type(TENANT) == {"INVOICE": 2, "CONTACT": 1, "SKIPPED": 1}
    run = stack.get_item(
        TableName="connections-test", Key={"pk": {"S": f"ORG#{ORG}"}, "sk": {"S": f"SYNC#{RUN}"}}
    )
    assert run["Item"]["records_written"] == {"M": {"Invoices:chase": {"N": "2"}}}  # not written twice
    assert run["Item"]["records_unchanged"] == {"M": {"Invoices:chase": {"N": "2"}}}


def test_older_version_arriving_late_never_replaces_newer(
    stack: Any, lambda_context: FakeLambdaContext
) -> None:
    event = load_event("writer/records_batch")
    older = event["Records"][0]
    body = json.loads(older["body"])
    # Given a newer version of INV-0001 already written (from a webhook: paid since the page was read)
    newer_body = copy.deepcopy(body)
    record = newer_body["records"][0]
    record["xero_updated_at"] = record["payload"]["xero_updated_at"] = "2026-11-21T10:20:00.000000Z"
    record["payload"] |= {"status": "PAID", "amount_due": "0.00", "amount_paid": "1234.55"}
    newer_body["records"] = [record]
    newer = copy.deepcopy(older) | {
        "messageId": "8e2d0b1f-6c5a-4f4e-9d3c-2b1a0f9e8d7c",
        "body": json.dumps(newer_body),
    }
    writer.lambda_handler({"Records": [newer]}, lambda_context)

    # When the initial-sync page, read earlier, arrives after it
    response = writer.lambda_handler({"Records": [older]}, lambda_context)

    # Then it is accepted (no retry) and the newer version stays
    assert response == {"batchItemFailures": []}
    stored = held(stack).get(TENANT, RecordType.INVOICE, "5f0d8a57-6b53-4c1e-9a0e-1d2c3b4a5f60")
    assert stored is not None and isinstance(stored.payload, Invoice)
    assert stored.payload.status == "PAID"


def test_missing_setting_fails_with_its_name(
    stack: Any, lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xero_bridge.errors import SettingsError

    monkeypatch.delenv("RECORDS_TABLE_NAME")
    reset_settings()
    with pytest.raises(SettingsError, match="RECORDS_TABLE_NAME"):
        writer.lambda_handler(load_event("writer/records_batch"), lambda_context)


# --- The message ---------------------------------------------------------------------------------------


def _page(count: int) -> tuple[list[Any], Any]:
    from datetime import UTC, datetime
    from decimal import Decimal

    from xero_bridge.models.records import RecordSource, SyncedRecord

    source = RecordSource(kind="page", run_id=RUN, resource="Invoices", page=2)
    records = [
        SyncedRecord.of(
            Invoice(
                xero_id=f"inv-{n:04d}",
                status="AUTHORISED",
                total=Decimal("1234.5678"),
                reference="Ünïcødé ref",
                xero_updated_at=datetime(2026, 11, 1, tzinfo=UTC),
            ),
            source,
        )
        for n in range(count)
    ]
    return records, source


def test_split_for_sqs_keeps_every_body_under_the_budget_and_every_record() -> None:
    from xero_bridge.models.messages import RecordsMessage

    records, source = _page(300)
    bodies = RecordsMessage.split_for_sqs(
        records, org_id=ORG, tenant_id=TENANT, run_id=RUN, source=source, max_bytes=20_000
    )
    assert len(bodies) > 1
    assert all(len(body.encode()) <= 20_000 for body in bodies)
    parsed = [RecordsMessage.model_validate_json(body) for body in bodies]
    assert [r for message in parsed for r in message.records] == records  # order, values, source inherited
    assert '"source"' not in json.loads(bodies[0])["records"][0]  # the page's source is sent once


def test_split_for_sqs_names_a_record_too_large() -> None:
    from xero_bridge.errors import RecordTooLargeError
    from xero_bridge.models.messages import RecordsMessage

    records, source = _page(1)
    with pytest.raises(RecordTooLargeError, match="inv-0000"):
        RecordsMessage.split_for_sqs(records, org_id=ORG, tenant_id=TENANT, source=source, max_bytes=500)


def test_nothing_to_send_is_no_message() -> None:
    from xero_bridge.models.messages import RecordsMessage

    _, source = _page(0)
    assert RecordsMessage.split_for_sqs([], org_id=ORG, tenant_id=TENANT, source=source) == []
