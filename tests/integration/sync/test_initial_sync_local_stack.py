"""The initial sync on the local stack (template.yaml on moto) against the Xero emulator, end to end."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

pytestmark = pytest.mark.integration

if (
    importlib.util.find_spec("tools.local_stack") is None
    or importlib.util.find_spec("xero_emulator.testing") is None
):
    pytest.skip("needs tools/local_stack and xero_emulator.testing", allow_module_level=True)

from tests.integration.sync.harness import SyncWorld, sync_world  # noqa: E402
from xero_bridge.models.records import RecordType  # noqa: E402
from xero_bridge.models.sync import Part  # noqa: E402


@pytest.fixture
def world() -> Iterator[SyncWorld]:
    with sync_world(seed="small") as w:
        yield w


def assert_dynamodb_equals_xero(world: SyncWorld) -> None:
    world.stack.drain(timeout=60)
    expected, held = world.expected(), world.held()
    for record_type, records in expected.items():
        assert set(held[record_type]) == set(records), record_type
        for xero_id, payload in records.items():
            assert held[record_type][xero_id] == payload, (record_type, xero_id)
    assert sum(len(r) for r in expected.values()) > 0


def test_initial_sync_imports_the_organisation_record_for_record(world: SyncWorld) -> None:
    # When the callback's sync runs
    status, output = world.run_sync()

    # Then it succeeded at the call floor, and DynamoDB holds exactly the customer-facing data
    assert status == "SUCCEEDED", output
    assert_dynamodb_equals_xero(world)
    run = world.runs.latest_run(world.org_id)
    assert run is not None and run.status.value == "finished"
    pages = sum(p.pages_total or 0 for p in run.plan.values() if p.share is not None)
    calls = world.xero.stats.snapshot()["tenants"][world.tenant_id]["calls"]
    assert calls <= pages + 2  # the floor of the split (pages per partition) plus Organisation and Accounts
    # And the catch-up starts from the run's snapshot (Xero's clock when it began): nothing changed since
    # the snapshot is older than what the run read
    cursors = world.runs.get_cursors(world.org_id)
    assert run.snapshot_at is not None and cursors["Invoices"] == run.snapshot_at
    assert run.chase_ready_at is not None and run.finished_at is not None
    assert run.chase_ready_at <= run.finished_at
    # And the run shows the organisation's base currency and timezone, as Xero gives them
    organisation = world.xero.store.list_resource(world.tenant_id, "Organisation")["Organisations"][0]
    assert (run.base_currency, run.timezone) == (organisation["BaseCurrency"], organisation["Timezone"])


def test_sync_survives_429_bursts_5xx_timeouts_and_dropped_connections(world: SyncWorld) -> None:
    from xero_emulator.admin_client import AdminClient

    with AdminClient(world.xero.base_url) as admin:
        admin.rate_limit_next(3, problem="minute", retry_after=2)
        admin.fail_next(2, status=503)
        admin.drop_next(2)
        admin.slow(20_000, count=1)  # over the client's 15 s read timeout: a timeout, retried
        status, output = world.run_sync()
    assert status == "SUCCEEDED", output
    assert_dynamodb_equals_xero(world)
    progress = world.runs.get_run_and_counters(world.org_id, world.runs.latest_run_id(world.org_id) or "")
    assert progress is not None and progress[1].rate_limited >= 1


def test_sqs_delivering_a_message_twice_changes_nothing(world: SyncWorld) -> None:
    from xero_bridge.domain.import_rules import map_records
    from xero_bridge.models.messages import RecordsMessage
    from xero_bridge.models.records import RecordSource

    status, _ = world.run_sync()
    assert status == "SUCCEEDED"
    world.stack.drain(timeout=60)
    run_id = world.runs.latest_run_id(world.org_id)
    # Given a page's messages delivered again, twice (SQS is at least once), after the sync wrote them
    invoices = world.xero.store.list_resource(world.tenant_id, "Invoices", page=1, page_size=1000)["Invoices"]
    source = RecordSource(kind="page", run_id=run_id, resource="Invoices", page=1)
    batch = map_records("Invoices", invoices, source, incremental=False)
    bodies = RecordsMessage.split_for_sqs(
        batch.records, org_id=world.org_id, tenant_id=world.tenant_id, source=source, run_id=run_id
    )
    sqs = world.stack.client("sqs")
    url = world.stack.physical_id("WritesQueue")
    for body in bodies * 2:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    # Then DynamoDB still equals Xero (each version is written once; duplicates are no-ops)
    assert_dynamodb_equals_xero(world)


def test_a_newer_version_written_during_the_sync_survives(world: SyncWorld) -> None:
    # Given an invoice edited in Xero and written (as a webhook would) before the sync's older page lands
    status, _ = world.run_sync()
    assert status == "SUCCEEDED"
    world.stack.drain(timeout=60)
    invoice_id = next(iter(world.expected()[RecordType.INVOICE]))
    world.xero.store.admin_edit_invoice(world.tenant_id, invoice_id, {"Reference": "edited in Xero"})
    newer = world.expected()[RecordType.INVOICE][invoice_id]
    # When a re-sync runs (its page versions are never older than what we hold)
    status, _ = world.run_sync(name="resync-1")
    assert status == "SUCCEEDED"
    world.stack.drain(timeout=60)
    assert world.held()[RecordType.INVOICE][invoice_id] == newer


def test_a_resumed_run_skips_the_part_it_finished(world: SyncWorld) -> None:
    from xero_emulator.admin_client import AdminClient

    # Given a sync that fails for good in its history part: at Payments, which only that part reads (the
    # chase part read, the history part's other partitions planned beside the one that failed)
    with AdminClient(world.xero.base_url) as admin:
        admin.fail_next(1, status=400, path_prefix="/api.xro/2.0/Payments")
        status, output = world.run_sync(name="first-attempt")
    assert status == "FAILED", output
    run_id = world.runs.latest_run_id(world.org_id)
    assert run_id is not None
    world.stack.drain(timeout=60)  # the writer goes on with what was sent
    failed = world.runs.get_run(world.org_id, run_id)
    assert failed is not None and failed.status.value == "failed"
    assert "XeroValidationError" in (failed.failure_reason or "")
    assert failed.part(Part.CHASE).fetched_at is not None and failed.part(Part.HISTORY).fetched_at is None
    # (its chase part was read before it failed: once the writer wrote it, the run was chase-ready)
    assert failed.chase_ready_at is not None
    before = calls_by_resource(world)

    # When it is resumed (what POST /orgs/{org_id}/sync?resume=true does)
    assert world.runs.restart_run(world.org_id, run_id, attempt=2, trigger="resume")
    status, output = world.run_sync(name="resumed", run_id=run_id, trigger="resume")

    # Then only what was left is asked: page 1 of the payments; nothing of the chase part, nor of the
    # history partitions planned before the failure
    assert status == "SUCCEEDED", output
    after = calls_by_resource(world)
    asked = {r: after.get(r, 0) - before.get(r, 0) for r in after if after.get(r, 0) != before.get(r, 0)}
    assert asked == {"Payments": 1}
    assert_dynamodb_equals_xero(world)
    resumed = world.runs.get_run(world.org_id, run_id)
    assert resumed is not None and resumed.chase_ready_at == failed.chase_ready_at  # the first attempt's


def test_xero_changing_between_the_parts_loses_nothing_and_the_newest_version_wins(world: SyncWorld) -> None:
    store = world.xero.store
    invoices = {i["InvoiceID"]: i for i in store.list_resource(world.tenant_id, "Invoices")["Invoices"]}
    receivable = {k: v for k, v in invoices.items() if v["Type"] == "ACCREC"}
    outstanding = next(k for k, v in receivable.items() if v["Status"] == "AUTHORISED" and v["AmountDue"])
    paid = next(k for k, v in receivable.items() if v["Status"] == "PAID")
    paid_payment = store.get_resource(world.tenant_id, "Invoices", paid)["Invoices"][0]["Payments"][0]
    draft = next(k for k, v in receivable.items() if v["Status"] == "DRAFT")
    asked: list[str] = []  # each list request of the run, as the chase or the history part's
    original = store.list_resource

    def xero_answering(tenant_id: str, resource: str, **query: Any) -> dict[str, Any]:
        part = (
            "history" if "UpdatedDateUTC >" in str(query.get("where")) or resource == "Payments" else "chase"
        )
        if part == "history" and "history" not in asked:
            # When, while the history part waits, a finance user changes Xero: the outstanding invoice (read
            # by the chase part) is paid in full, the paid one's payment is deleted (it is AUTHORISED again:
            # the chase part, read already, would now select it), and the draft is approved
            store.admin_record_payment(
                world.tenant_id, outstanding, Decimal(str(receivable[outstanding]["AmountDue"]))
            )
            store.admin_delete_payment(world.tenant_id, paid_payment["PaymentID"])
            store.admin_edit_invoice(world.tenant_id, draft, {"Status": "AUTHORISED"})
        if resource in ("Contacts", "Invoices", "CreditNotes", "Payments", "Overpayments", "Prepayments"):
            asked.append(part)
        return original(tenant_id, resource, **query)

    store.list_resource = xero_answering  # type: ignore[method-assign]
    try:
        status, output = world.run_sync()
    finally:
        store.list_resource = original  # type: ignore[method-assign]

    # Then the chase part was read whole before anything of the history part
    assert status == "SUCCEEDED", output
    assert "history" in asked and asked.index("history") == asked.count("chase")
    # And DynamoDB holds every record Xero holds now, at its newest version, every status and every type
    assert_dynamodb_equals_xero(world)
    held = world.held()
    statuses = {record["status"] for record in held[RecordType.INVOICE].values()}
    assert statuses == {"DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED"}
    assert all(
        held[record_type] for record_type in (RecordType.CONTACT, RecordType.CREDIT_NOTE, RecordType.PAYMENT)
    )
    changed = {i: held[RecordType.INVOICE][i]["status"] for i in (outstanding, paid, draft)}
    assert changed == {outstanding: "PAID", paid: "AUTHORISED", draft: "AUTHORISED"}
    # And the run was chase-ready before it finished
    run = world.runs.latest_run(world.org_id)
    assert run is not None and run.chase_ready_at is not None and run.finished_at is not None
    assert run.part(Part.CHASE).fetched_at is not None and run.chase_ready_at <= run.finished_at


def calls_by_resource(world: SyncWorld) -> dict[str, int]:
    by_path = world.xero.stats.snapshot()["tenants"][world.tenant_id]["by_path"]
    out: dict[str, int] = {}
    for path, n in by_path.items():
        resource = path.rstrip("/").rsplit("/", 1)[-1]
        out[resource] = out.get(resource, 0) + n
    return out
