"""The DynamoDB run store on moto, with ConnectionsTable exactly as template.yaml declares it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from tests.support.tables import create_template_table
from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
from xero_bridge.models.sync import Part, PartitionPlan, Share, SyncRun, SyncStatus

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
TABLE = "connections"


@pytest.fixture
def table() -> Iterator[SyncRunsTable]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_template_table(client, "ConnectionsTable", TABLE)
        yield SyncRunsTable(TABLE, client=client)


def new_run(run_id: str = "run-1") -> SyncRun:
    return SyncRun(org_id="org-1", run_id=run_id, tenant_id="t-1", status=SyncStatus.PLANNING, started_at=NOW)


def test_run_plan_parts_checkpoints_and_counters(table: SyncRunsTable) -> None:
    assert table.create_run(new_run())
    assert not table.create_run(new_run())  # once
    # the snapshot: the first one set is kept
    assert table.set_snapshot("org-1", "run-1", NOW) == NOW
    assert table.set_snapshot("org-1", "run-1", NOW + timedelta(minutes=1)) == NOW
    plan = PartitionPlan(
        resource="Invoices", part=Part.CHASE, share=Share.OPEN, pages_total=3, item_count=2500
    )
    table.save_partition_plan("org-1", "run-1", plan)
    saved = table.get_run("org-1", "run-1")
    assert saved is not None and saved.plan == {"Invoices:chase": plan} and saved.snapshot_at == NOW
    assert saved.part(Part.CHASE).planned_at is None and saved.current_part is Part.CHASE
    table.mark_part_planned(
        "org-1", "run-1", Part.CHASE, now=NOW, base_currency="AUD", timezone="AUSEASTERNSTANDARDTIME"
    )
    assert table.add_part_pass("org-1", "run-1", Part.CHASE) == 1
    assert table.add_part_pass("org-1", "run-1", Part.CHASE) == 2
    planned = table.get_run("org-1", "run-1")
    assert planned is not None and planned.part(Part.CHASE).planned_at == NOW
    assert planned.part(Part.CHASE).passes == 2 and planned.part(Part.HISTORY).planned_at is None
    assert (planned.base_currency, planned.timezone) == ("AUD", "AUSEASTERNSTANDARDTIME")

    assert table.checkpoint_page(
        "org-1",
        "run-1",
        "Invoices:chase",
        1,
        records=1000,
        skipped=2,
        malformed=1,
        is_last=False,
        now=NOW,
        item_count=2500,
    )
    assert not table.checkpoint_page(
        "org-1", "run-1", "Invoices:chase", 1, records=1000, skipped=2, malformed=1, is_last=False, now=NOW
    )
    # a re-read of the same page across a boundary is a checkpoint of its own, counted as a page re-read
    assert table.checkpoint_page(
        "org-1",
        "run-1",
        "Invoices:chase",
        1,
        records=990,
        skipped=0,
        malformed=0,
        is_last=False,
        now=NOW,
        item_count=2490,
        repair_of=1,
    )
    table.add_usage("org-1", "run-1", calls=3, rate_limited=1)
    # The writer's own adapter adds to the same item
    assert SyncRunsTable(TABLE, client=table.client).records_written("org-1", "run-1", "Invoices:chase", 400)
    assert table.records_unchanged("org-1", "run-1", "Invoices:chase", 600)

    found = table.get_run_and_counters("org-1", "run-1")
    assert found is not None
    run, counters = found
    assert run.plan["Invoices:chase"].pages_total == 3 and run.base_currency == "AUD"
    assert run.status == SyncStatus.FETCHING
    assert counters.records_sent == counters.partition("Invoices:chase").records_sent == 1990
    assert counters.pages_done == 1 and counters.pages_reread == 1
    assert counters.skipped == 2 and counters.malformed == 1
    assert counters.partition("Invoices:chase").records_written == 400 and counters.records_unchanged == 600
    assert counters.calls == 3 and counters.rate_limited == 1
    checkpoint = table.page_checkpoint("run-1", "Invoices:chase", 1)
    assert checkpoint is not None and checkpoint.records == 1000 and not checkpoint.is_last
    assert checkpoint.item_count == 2500 and checkpoint.repair_of is None
    reread = table.page_checkpoint("run-1", "Invoices:chase", 1, repair_of=1)
    assert reread is not None and reread.item_count == 2490 and reread.repair_of == 1
    assert sorted((c.page, c.repair_of or 0) for c in table.checkpoints("run-1")) == [(1, 0), (1, 1)]
    assert table.latest_run_id("org-1") == "run-1"

    # the part fetched (the first time counts), then written: chase-ready, once
    table.mark_part_fetched("org-1", "run-1", Part.CHASE, now=NOW)
    table.mark_part_fetched("org-1", "run-1", Part.CHASE, now=NOW + timedelta(seconds=5))
    assert table.mark_part_ready("org-1", "run-1", Part.CHASE, now=NOW + timedelta(seconds=7))
    assert not table.mark_part_ready("org-1", "run-1", Part.CHASE, now=NOW + timedelta(seconds=9))
    ready = table.get_run("org-1", "run-1")
    assert ready is not None and ready.part(Part.CHASE).fetched_at == NOW
    assert ready.chase_ready_at == NOW + timedelta(seconds=7) and ready.current_part is Part.HISTORY


def test_failure_restart_and_cursors(table: SyncRunsTable) -> None:
    table.create_run(new_run())
    assert table.fail_run("org-1", "run-1", "first", now=NOW)
    table.fail_run("org-1", "run-1", "second", now=NOW)
    assert table.get_run("org-1", "run-1").failure_reason == "first"  # type: ignore[union-attr]
    assert table.restart_run("org-1", "run-1", attempt=2, trigger="resume")
    assert not table.restart_run("org-1", "run-1", attempt=2, trigger="resume")  # only one wins
    run = table.get_run("org-1", "run-1")
    assert run is not None and run.attempt == 2 and run.failure_reason is None
    assert run.status == SyncStatus.PLANNING

    table.set_cursors("org-1", "run-1", ["Invoices"], NOW)
    table.set_cursors("org-1", "run-0", ["Invoices"], NOW - timedelta(days=1))  # never moves back
    assert table.get_cursors("org-1") == {"Invoices": NOW}
    assert not table.records_written("org-1", "missing", "Invoices:chase", 3)  # no stub item
    assert not table.mark_part_ready("org-1", "missing", Part.CHASE, now=NOW)
