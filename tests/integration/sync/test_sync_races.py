"""Races between the initial sync and the other writers of records, played for real on the local stack.

The sync's pages wait in WritesQueue (its pollers held back) while another path writes a newer version of
a record through the real WriterFunction; the sync's older copy then lands last and must change nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import TypeVar

import pytest

pytestmark = pytest.mark.integration

if (
    importlib.util.find_spec("tools.local_stack") is None
    or importlib.util.find_spec("xero_emulator.testing") is None
):
    pytest.skip("needs tools/local_stack and xero_emulator.testing", allow_module_level=True)

from tests.integration.sync.harness import SyncWorld, sync_world  # noqa: E402
from tools.local_stack.sqs_poller import build_event  # noqa: E402
from tools.reconcile import differences  # noqa: E402
from xero_bridge.domain.import_rules import map_records  # noqa: E402
from xero_bridge.models.messages import RecordsMessage  # noqa: E402
from xero_bridge.models.records import RecordSource, RecordType, SyncedRecord  # noqa: E402
from xero_bridge.models.sync import SyncRun, SyncStatus  # noqa: E402
from xero_emulator.store import ChangeEvent  # noqa: E402

T = TypeVar("T")


@pytest.fixture
def world() -> Iterator[SyncWorld]:
    """A connected small org whose writer is NOT polling WritesQueue: the sync's pages wait there."""
    with sync_world(seed="small") as w:
        w.stack.stop_pollers()
        yield w


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    """``probe()`` once it is truthy; fails with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def queued_writes(world: SyncWorld) -> int:
    return world.stack.poller("WriterFunction").pending()


#: The webhook categories Xero sends and the resource the webhook path fetches for each.
RESOURCE_OF_CATEGORY = {"INVOICE": "Invoices", "CONTACT": "Contacts", "CREDITNOTE": "CreditNotes"}


def xero_change(world: SyncWorld, change: Callable[[], object]) -> list[ChangeEvent]:
    """Make a change in Xero; returns the webhook events it raised (one per record changed)."""
    events: list[ChangeEvent] = []
    world.xero.store.subscribe(events.append)
    try:
        change()
    finally:
        world.xero.store.unsubscribe(events.append)
    return [e for e in events if e.tenant_id == world.tenant_id]


def webhook_version(world: SyncWorld, event: ChangeEvent) -> SyncedRecord:
    """The record as the webhook path builds it: fetched by id from Xero, through the incremental rules."""
    resource = RESOURCE_OF_CATEGORY[event.category]
    body = world.xero.store.get_resource(world.tenant_id, resource, event.resource_id)
    source = RecordSource(kind="webhook", event_ids=(f"evt-{uuid.uuid4()}",))
    batch = map_records(resource, body[resource], source, incremental=True)
    assert not batch.skipped and len(batch.records) == 1, batch
    return batch.records[0]


def sqs_message(message_id: str, body: str) -> dict[str, object]:
    """One message as an SQS event record carries it to the writer (first receive)."""
    now = str(int(time.time() * 1000))
    return {
        "MessageId": message_id,
        "ReceiptHandle": uuid.uuid4().hex,
        "Body": body,
        "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": now,
            "SenderId": "AIDAWEBHOOKCONSUMER",
            "ApproximateFirstReceiveTimestamp": now,
        },
    }


def deliver_to_writer(world: SyncWorld, records: list[SyncedRecord]) -> None:
    """Invoke WriterFunction with the SQS event the webhook path's messages (one per record) reach it in."""
    bodies = [
        body
        for record in records
        for body in RecordsMessage.split_for_sqs(
            [record], org_id=world.org_id, tenant_id=world.tenant_id, source=record.source, run_id=None
        )
    ]
    messages = [sqs_message(str(uuid.uuid4()), body) for body in bodies]
    source = world.stack.poller("WriterFunction").source
    result = world.stack.invoke("WriterFunction", build_event(messages, source, world.stack.region))
    assert result.error is None, result.error
    assert not (result.payload or {}).get("batchItemFailures"), result.payload


def test_a_webhook_version_written_while_the_sync_pages_wait_is_not_overwritten(world: SyncWorld) -> None:
    # Given the initial sync started, its fetch phase done (every page in WritesQueue, nothing written yet):
    # the execution sits in its Finish / WaitForWriter loop
    started = time.monotonic()
    sync = {"org_id": world.org_id, "tenant_id": world.tenant_id, "trigger": "connect"}
    arn = world.stack.start_execution("InitialSyncStateMachine", sync)

    def writing() -> SyncRun | None:
        run = world.runs.latest_run(world.org_id)
        return run if run is not None and run.status is SyncStatus.WRITING else None

    run = wait_for("the sync to fetch every page and wait for the writer", writing)
    progress = world.runs.get_run_and_counters(world.org_id, run.run_id)
    assert progress is not None
    sent = progress[1].records_sent
    assert sent > 0 and queued_writes(world) > 0
    assert sum(len(r) for r in world.held().values()) == 0, "the writer ran while its pollers were stopped"

    # And an invoice the sync already fetched (its older version is in a queued page)
    fetched = world.expected()
    invoices = fetched[RecordType.INVOICE]
    invoice_id = next(
        i for i in sorted(invoices) if invoices[i]["status"] == "AUTHORISED" and invoices[i]["due_date"]
    )
    due = date.fromisoformat(invoices[invoice_id]["due_date"]) + timedelta(days=14)

    # When Xero changes that invoice: it and its contact (whose balance moved) get a new UpdatedDateUTC...
    events = xero_change(
        world,
        lambda: world.xero.store.admin_edit_invoice(
            world.tenant_id, invoice_id, {"Reference": "changed during the sync", "DueDate": due.isoformat()}
        ),
    )
    assert {(e.category, e.resource_id) for e in events} >= {("INVOICE", invoice_id)}, events
    # ...and the webhook path writes their newer versions through the real writer before the sync's pages land
    newer = [webhook_version(world, event) for event in events]
    for record in newer:
        older = fetched[record.record_type][record.xero_id]
        assert record.xero_updated_at > datetime.fromisoformat(older["xero_updated_at"]), record.xero_id
    deliver_to_writer(world, newer)
    assert {(r.record_type, r.xero_id) for r in newer} == {
        (t, i) for t, records in world.held().items() for i in records
    }, "the writer holds exactly the webhook's records"
    assert queued_writes(world) > 0, "the sync's pages must still be waiting"

    # And then the writer takes the sync's pages (their older copies of those records come last)
    world.stack.start_pollers()
    status, output = world.stack.wait_execution(arn, timeout=60)
    world.stack.drain(timeout=30)

    # Then the sync succeeded and DynamoDB holds the webhook's newer versions, field for field Xero's
    assert status == "SUCCEEDED", output
    current = world.expected()
    for record in newer:
        stored = world.records.get(world.tenant_id, record.record_type, record.xero_id)
        assert stored is not None, record.xero_id
        assert stored.source.kind == "webhook", (record.xero_id, stored.source)
        assert stored.source.event_ids == record.source.event_ids
        assert stored.xero_updated_at == record.xero_updated_at
        assert stored.payload == record.payload
        assert stored.payload.model_dump(mode="json") == current[record.record_type][record.xero_id]
    invoice = current[RecordType.INVOICE][invoice_id]
    assert invoice["reference"] == "changed during the sync" and invoice["due_date"] == due.isoformat()
    # And every record equals Xero's current data
    assert differences(current, world.held()) == {}
    # And the run finished having accounted for every record it sent (the late copies counted unchanged)
    found = world.runs.get_run_and_counters(world.org_id, run.run_id)
    assert found is not None
    finished, counters = found
    assert finished.status is SyncStatus.FINISHED
    assert counters.records_sent == sent
    assert counters.records_written + counters.records_unchanged >= counters.records_sent
    # (exactly the sync's copies of the records the webhook wrote first were refused as older)
    assert counters.records_unchanged == len(newer), counters
    assert counters.partition("Invoices:chase").records_unchanged == 1, counters  # it was outstanding
    assert time.monotonic() - started < 60


def test_concurrent_writer_invocations_each_report_exactly_their_own_failed_messages(
    world: SyncWorld,
) -> None:
    # Given eight SQS batches, each of good webhook records and one poison message of its own
    contacts = list(world.expected()[RecordType.CONTACT])
    source = world.stack.poller("WriterFunction").source

    def batch(index: int) -> tuple[dict[str, object], str]:
        body = world.xero.store.get_resource(world.tenant_id, "Contacts", contacts[index % len(contacts)])
        records = map_records("Contacts", body["Contacts"], RecordSource(kind="webhook"), incremental=True)
        bodies = RecordsMessage.split_for_sqs(
            records.records, org_id=world.org_id, tenant_id=world.tenant_id, source=records.records[0].source
        )
        poison = f"poison-{index}"
        good = [sqs_message(f"good-{index}-{n}", body) for n, body in enumerate(bodies * 3)]
        messages = [*good, sqs_message(poison, "{}")]
        return build_event(messages, source, world.stack.region), poison

    batches = [batch(index) for index in range(8)]
    results: dict[str, object] = {}

    # When the writer is invoked with all of them at once (a poller per batch, as Lambda would scale out)
    def invoke(event: dict[str, object], poison: str) -> None:
        results[poison] = world.stack.invoke("WriterFunction", event)

    threads = [threading.Thread(target=invoke, args=b) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then each invocation reports its own poison message as failed, and nothing else
    for _, poison in batches:
        result = results[poison]
        assert result.error is None, result.error  # type: ignore[attr-defined]
        failures = [f["itemIdentifier"] for f in result.payload["batchItemFailures"]]  # type: ignore[attr-defined]
        assert failures == [poison]
