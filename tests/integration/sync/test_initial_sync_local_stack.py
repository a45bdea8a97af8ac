"""The initial sync on the local stack (template.yaml on moto) against the Xero emulator, end to end."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.integration

if (
    importlib.util.find_spec("tools.local_stack") is None
    or importlib.util.find_spec("xero_emulator.testing") is None
):
    pytest.skip("needs tools/local_stack and xero_emulator.testing", allow_module_level=True)

from tests.integration.sync.harness import SyncWorld, sync_world  # noqa: E402
from xero_bridge.models.records import RecordType  # noqa: E402


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
    assert run.plan is not None
    pages = sum(p.pages_total or 0 for r, p in run.plan.items() if r not in ("Organisation", "Accounts"))
    calls = world.xero.stats.snapshot()["tenants"][world.tenant_id]["calls"]
    assert calls <= pages + 2  # the floor (pages per resource) plus Organisation and Accounts
    cursors = world.runs.get_cursors(world.org_id)
    assert cursors["Invoices"] == run.started_at
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


def test_a_restarted_sync_makes_no_more_calls_than_the_pages_it_had_left(world: SyncWorld) -> None:
    from xero_emulator.admin_client import AdminClient

    # Given a sync that fails for good at Invoices (after Organisation, Accounts and Contacts were done)
    with AdminClient(world.xero.base_url) as admin:
        admin.fail_next(1, status=400, path_prefix="/api.xro/2.0/Invoices")
        status, output = world.run_sync(name="first-attempt")
    assert status == "FAILED", output
    run_id = world.runs.latest_run_id(world.org_id)
    assert run_id is not None
    failed = world.runs.get_run(world.org_id, run_id)
    assert (
        failed is not None
        and failed.status.value == "failed"
        and "XeroValidationError" in (failed.failure_reason or "")
    )
    before = world.xero.stats.snapshot()["tenants"][world.tenant_id]["calls"]

    # When it is resumed (what POST /orgs/{org_id}/sync?resume=true does)
    assert world.runs.restart_run(world.org_id, run_id, attempt=2, trigger="resume")
    status, output = world.run_sync(name="resumed", run_id=run_id, trigger="resume")

    # Then only what was left is asked: page 1 of the five resources not planned yet
    assert status == "SUCCEEDED", output
    assert world.xero.stats.snapshot()["tenants"][world.tenant_id]["calls"] - before == 5
    assert_dynamodb_equals_xero(world)
