"""The real-time sync's AWS adapters on moto: the webhook sequence mark, the catch-up lease and outcome, the
two queues, the connected-org scan and the batched record reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.support.tables import create_template_table
from xero_bridge.adapters.aws.catch_up_state import CatchUpStateTable
from xero_bridge.adapters.aws.connections_table import ConnectionsTable
from xero_bridge.adapters.aws.queues import SqsCatchUpQueue, SqsWebhookQueue
from xero_bridge.adapters.aws.records_table import RecordsTable
from xero_bridge.adapters.aws.webhooks_table import WebhookSequenceTable
from xero_bridge.domain.import_rules import map_records
from xero_bridge.models.connection import ConnectionStatus, XeroConnection
from xero_bridge.models.records import RecordSource, RecordType
from xero_bridge.models.webhooks import CatchUpOutcome, CatchUpPace, CatchUpRequest

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def aws_clients() -> Iterator[dict[str, Any]]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
        create_template_table(dynamodb, "ConnectionsTable", "connections")
        create_template_table(dynamodb, "RecordsTable", "records")
        yield {"dynamodb": dynamodb, "sqs": boto3.client("sqs", region_name="eu-west-1")}


def test_the_sequence_mark_moves_forward_only_and_a_skip_is_a_gap(aws_clients: dict[str, Any]) -> None:
    sequences = WebhookSequenceTable("connections", aws_clients["dynamodb"])

    assert not sequences.record(1, 4, now=NOW).gap  # the first delivery ever
    assert not sequences.record(5, 5, now=NOW).gap
    assert not sequences.record(2, 3, now=NOW).gap  # a retried older delivery leaves the mark
    check = sequences.record(9, 10, now=NOW + timedelta(seconds=1))
    assert (check.gap, check.expected_first) == (True, 6)
    assert not sequences.record(1, 1, now=NOW).gap  # a new subscription numbers from 1 again

    health = sequences.health()
    assert (health.deliveries, health.gaps, health.last_sequence) == (5, 1, 1)
    assert health.last_gap_at == NOW + timedelta(seconds=1)


def test_the_catch_up_lease_is_one_at_a_time_and_the_outcome_is_kept(aws_clients: dict[str, Any]) -> None:
    states = CatchUpStateTable("connections", aws_clients["dynamodb"])

    assert states.acquire("org-1", "a", now=NOW, seconds=60)
    assert not states.acquire("org-1", "b", now=NOW + timedelta(seconds=30), seconds=60)
    assert states.acquire("org-1", "b", now=NOW + timedelta(seconds=61), seconds=60)  # a's lease ran out
    states.release("org-1", "a")  # not a's any more: nothing happens
    assert not states.acquire("org-1", "c", now=NOW + timedelta(seconds=62), seconds=60)
    states.release("org-1", "b")
    assert states.acquire("org-1", "c", now=NOW + timedelta(seconds=62), seconds=60)

    outcome = CatchUpOutcome(
        org_id="org-1",
        tenant_id="t-1",
        reason="schedule",
        status="caught_up",
        calls=7,
        started_at=NOW,
        finished_at=NOW,
    )
    assert states.last_outcome("org-1") is None
    states.save_outcome(outcome)
    assert states.last_outcome("org-1") == outcome


def test_the_catch_up_pace_is_kept_for_the_status(aws_clients: dict[str, Any]) -> None:
    states = CatchUpStateTable("connections", aws_clients["dynamodb"])
    assert states.pace() is None
    pace = CatchUpPace(interval_seconds=1_200, tenants=10_000, calls_per_catch_up=7, decided_at=NOW)
    states.save_pace(pace)
    assert states.pace() == pace and pace.interval_minutes == 20


def test_a_poison_delivery_reaches_the_dlq_with_its_reason_and_a_delayed_one_hides(
    aws_clients: dict[str, Any],
) -> None:
    sqs = aws_clients["sqs"]
    queue_url = sqs.create_queue(QueueName="webhooks")["QueueUrl"]
    dlq_url = sqs.create_queue(QueueName="webhooks-dlq")["QueueUrl"]
    queue = SqsWebhookQueue(queue_url, dlq_url, client=sqs)

    queue.send_delivery('{"events":[]}')
    received = sqs.receive_message(QueueUrl=queue_url)["Messages"][0]
    queue.return_later(received["ReceiptHandle"], 30)
    assert sqs.receive_message(QueueUrl=queue_url).get("Messages", []) == []  # hidden for 30 s

    queue.dead_letter("not json", "not a Xero webhook payload: body")
    dead = sqs.receive_message(QueueUrl=dlq_url, MessageAttributeNames=["All"])["Messages"][0]
    assert dead["Body"] == "not json"
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "not a Xero webhook payload: body"


def test_catch_up_requests_go_out_in_batches_of_ten(aws_clients: dict[str, Any]) -> None:
    sqs = aws_clients["sqs"]
    url = sqs.create_queue(QueueName="catch-up")["QueueUrl"]
    requests = [CatchUpRequest(org_id=f"org-{n}", tenant_id=f"t-{n}", reason="schedule") for n in range(23)]

    SqsCatchUpQueue(url, client=sqs).request_many(requests)

    bodies = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [CatchUpRequest.model_validate_json(m["Body"]) for m in batch]
    assert sorted(r.org_id or "" for r in bodies) == sorted(r.org_id or "" for r in requests)


def test_only_connected_orgs_are_listed(aws_clients: dict[str, Any]) -> None:
    table = ConnectionsTable("connections", aws_clients["dynamodb"])
    for n, status in enumerate(
        [ConnectionStatus.CONNECTED, ConnectionStatus.DISCONNECTED, ConnectionStatus.CONNECTED]
    ):
        table.save_connection(
            XeroConnection(
                org_id=f"org-{n}",
                tenant_id=f"t-{n}",
                status=status,
                first_connected_at=NOW,
                connected_at=NOW,
                updated_at=NOW,
            ),
            ciphertext=b"blob",
            access_expires_at=NOW,
            now=NOW,
        )

    assert sorted(c.org_id for c in table.list_connected()) == ["org-0", "org-2"]


def test_get_many_reads_what_we_hold_in_batches(aws_clients: dict[str, Any]) -> None:
    records = RecordsTable("records", aws_clients["dynamodb"], workers=1)
    invoices = [
        {
            "InvoiceID": f"00000000-0000-4000-8000-{n:012d}",
            "Type": "ACCREC",
            "Status": "AUTHORISED",
            "Total": "10.00",
            "UpdatedDateUTC": "/Date(1764579600000+0000)/",
        }
        for n in range(150)
    ]
    batch = map_records(
        "Invoices", invoices, RecordSource(kind="page", resource="Invoices", page=1), incremental=False
    )
    records.upsert_many("t-1", "org-1", batch.records)

    keys = [(RecordType.INVOICE, str(i["InvoiceID"])) for i in invoices] + [(RecordType.INVOICE, "missing")]
    found = records.get_many("t-1", keys)

    assert len(found) == 150 and (RecordType.INVOICE, "missing") not in found
