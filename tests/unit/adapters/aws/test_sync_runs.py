"""The DynamoDB run store on moto, with ConnectionsTable exactly as template.yaml declares it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from tests.support.tables import create_template_table
from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
from xero_bridge.models.sync import ResourcePlan, SyncRun, SyncStatus

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


def test_run_plan_checkpoints_and_counters(table: SyncRunsTable) -> None:
    assert table.create_run(new_run())
    assert not table.create_run(new_run())  # once
    table.save_resource_plan("org-1", "run-1", "Invoices", ResourcePlan(pages_total=3, item_count=2500))
    assert table.get_run("org-1", "run-1").plan is None  # type: ignore[union-attr]  # not complete yet
    assert table.partial_plan("org-1", "run-1")["Invoices"].pages_total == 3
    table.mark_planned("org-1", "run-1", base_currency="AUD", timezone="AUSEASTERNSTANDARDTIME")
    planned = table.get_run("org-1", "run-1")
    assert planned is not None and planned.plan is not None
    assert (planned.base_currency, planned.timezone) == ("AUD", "AUSEASTERNSTANDARDTIME")

    assert table.checkpoint_page(
        "org-1", "run-1", "Invoices", 1, records=1000, skipped=2, malformed=1, is_last=False, now=NOW
    )
    assert not table.checkpoint_page(
        "org-1", "run-1", "Invoices", 1, records=1000, skipped=2, malformed=1, is_last=False, now=NOW
    )
    table.add_usage("org-1", "run-1", calls=3, rate_limited=1)
    # The writer's own adapter adds to the same item
    assert SyncRunsTable(TABLE, client=table.client).records_written("org-1", "run-1", "Invoices", 400)
    assert table.records_unchanged("org-1", "run-1", "Invoices", 600)

    found = table.get_run_and_counters("org-1", "run-1")
    assert found is not None
    run, counters = found
    assert run.plan is not None and run.plan["Invoices"].pages_total == 3 and run.base_currency == "AUD"
    assert run.status == SyncStatus.FETCHING
    assert counters.records_sent == counters.resource("Invoices").records_sent == 1000
    assert counters.pages_done == 1 and counters.skipped == 2 and counters.malformed == 1
    assert counters.resource("Invoices").records_written == 400 and counters.records_unchanged == 600
    assert counters.calls == 3 and counters.rate_limited == 1
    checkpoint = table.page_checkpoint("run-1", "Invoices", 1)
    assert checkpoint is not None and checkpoint.records == 1000 and not checkpoint.is_last
    assert [c.page for c in table.checkpoints("run-1")] == [1]
    assert table.latest_run_id("org-1") == "run-1"


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
    assert not table.records_written("org-1", "missing", "Invoices", 3)  # no stub item
