"""The initial sync's use cases over in-memory fakes: call floor, resumability, pauses, progress."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import pytest

from tests.unit.services.sync.fakes import (
    NOW,
    FakeConnections,
    FakeLimiter,
    FakeMachine,
    FakeQueue,
    FakeRuns,
    FakeXero,
    LambdaDied,
    organisation_data,
)
from xero_bridge.errors import SyncNotDrainedError
from xero_bridge.models.sync import (
    FailureInput,
    FailureOutput,
    FinishInput,
    FinishOutput,
    PageResult,
    PageTask,
    PlanInput,
    PlannedPage,
    PlanOutput,
    SyncProgressView,
    SyncRequest,
    SyncStarted,
    SyncStatus,
)
from xero_bridge.observability import logger
from xero_bridge.services.ports import TimeLeft, XeroReader
from xero_bridge.services.publish_records import RecordPublisher
from xero_bridge.services.sync.fetch_page import FetchPage
from xero_bridge.services.sync.finish import FinishSync, RecordSyncFailure
from xero_bridge.services.sync.plan import PlanSync
from xero_bridge.services.sync.progress import SyncProgressQuery
from xero_bridge.services.sync.start import StartSync
from xero_bridge.services.sync.start import run_execution_name as execution_name

ORG = "org-1"
TENANT = "tenant-1"
RUN = "run-1"
UNPAGED_CALLS = 2  # Organisation + bank Accounts
PAGED_RESOURCES = 6


class Sync:
    """The initial sync's use cases over one set of fakes, called as the state machine and the API do."""

    def __init__(
        self,
        xero: FakeXero,
        runs: FakeRuns,
        queue: FakeQueue,
        *,
        machine: FakeMachine | None = None,
        connections: FakeConnections | None = None,
        max_finish_checks: int = 60,
    ) -> None:
        def readers(tenant_id: str, *, time_left: TimeLeft | None = None) -> XeroReader:
            return xero

        publisher = RecordPublisher(queue=queue, clock=lambda: NOW)
        self.planner = PlanSync(runs=runs, xero=readers, publisher=publisher)
        self.fetcher = FetchPage(runs=runs, xero=readers, publisher=publisher)
        self.finisher = FinishSync(
            runs=runs, queue=queue, clock=lambda: NOW, max_finish_checks=max_finish_checks
        )
        self.failures = RecordSyncFailure(runs=runs, clock=lambda: NOW)
        self.starter = StartSync(
            runs=runs,
            machine=machine or FakeMachine(),
            connections=connections if connections is not None else FakeConnections(),
            clock=lambda: NOW,
        )
        self.progress = SyncProgressQuery(runs=runs, limiter=FakeLimiter(), clock=lambda: NOW)

    def plan(self, request: PlanInput) -> PlanOutput:
        return self.planner.plan(request)

    def fetch_page(self, page: PageTask) -> PageResult:
        return self.fetcher.fetch(page)

    def finish(self, request: FinishInput) -> FinishOutput:
        return self.finisher.finish(request)

    def record_failure(self, request: FailureInput) -> FailureOutput:
        return self.failures.record(request)

    def start_sync(self, org_id: str, *, resume: bool) -> SyncStarted:
        return self.starter.start(org_id, resume=resume)

    def sync_progress(self, org_id: str) -> SyncProgressView:
        return self.progress.progress(org_id)


service = Sync


def plan_input(run_id: str | None = None, trigger: str = "connect") -> PlanInput:
    return PlanInput(
        sync=SyncRequest(org_id=ORG, tenant_id=TENANT, run_id=run_id, trigger=trigger), execution_name=RUN
    )


def task(resource: str, page: int, *, tail: bool = False) -> PageTask:
    return PageTask(run_id=RUN, org_id=ORG, tenant_id=TENANT, resource=resource, page=page, tail=tail)


def run_everything(sync: Sync, pages: list[PlannedPage]) -> None:
    for planned in pages:
        result = sync.fetch_page(task(planned.resource, planned.page, tail=planned.tail))
        while result.status == "next":
            assert result.next_page is not None
            result = sync.fetch_page(task(planned.resource, result.next_page, tail=True))


def test_planning_reuses_page_one_and_costs_no_extra_call() -> None:
    # Given an organisation with 2,500 invoices (3 pages of 1,000) and 10 customers
    xero, runs, queue = FakeXero(organisation_data(invoices=2500, contacts=10)), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)

    # When the run is planned
    out = sync.plan(plan_input())

    # Then one call per resource's page 1 plus the two unpaged calls, and only pages 2.. are left
    assert out.calls == xero.calls == UNPAGED_CALLS + PAGED_RESOURCES
    assert [(p.resource, p.page) for p in out.pages] == [("Invoices", 2), ("Invoices", 3)]
    # page 1 was asked with pageSize=1000 and the source filter, and its records already went to the queue
    invoices_page_1 = next(o for r, p, o in xero.requests if r == "Invoices" and p == 1)
    assert invoices_page_1["page_size"] == 1000 and invoices_page_1["where"] == 'Type=="ACCREC"'
    assert len(queue.record_ids("INVOICE")) == 1000 and len(queue.record_ids("CONTACT")) == 10
    assert len(queue.record_ids("BANK_ACCOUNT")) == 1 and len(queue.record_ids("ORGANISATION")) == 1
    assert runs.page_checkpoint(RUN, "Invoices", 1) is not None
    run = runs.get_run(ORG, RUN)
    assert run is not None and run.plan is not None and run.plan["Invoices"].pages_total == 3
    assert run.status == SyncStatus.FETCHING and run.base_currency == "AUD"


def test_all_pages_fetched_reach_the_call_floor_and_send_every_record_once() -> None:
    xero, runs, queue = FakeXero(organisation_data(invoices=2500, contacts=10)), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)
    out = sync.plan(plan_input())
    run_everything(sync, out.pages)
    assert xero.calls == UNPAGED_CALLS + PAGED_RESOURCES + 2  # floor: ceil(2500 / 1000) = 3 invoice pages
    ids = queue.record_ids("INVOICE")
    assert len(ids) == len(set(ids)) == 2500


def test_server_ignoring_page_size_is_planned_from_the_envelope() -> None:
    # Given a server that serves 100 per page whatever pageSize says
    xero, runs, queue = (
        FakeXero(organisation_data(invoices=250), served_page_size=100),
        FakeRuns(),
        FakeQueue(),
    )
    sync = service(xero, runs, queue)

    out = sync.plan(plan_input())

    assert [(p.resource, p.page) for p in out.pages] == [("Invoices", 2), ("Invoices", 3)]
    run_everything(sync, out.pages)
    assert sorted(queue.record_ids("INVOICE")) == [f"inv-{n:05d}" for n in range(1, 251)]


def test_no_envelope_falls_back_to_a_sequential_tail() -> None:
    # Given a server without a pagination envelope, serving 100 a page
    xero = FakeXero(organisation_data(invoices=250), served_page_size=100, envelope=False)
    runs, queue = FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)

    out = sync.plan(plan_input())
    assert [(p.resource, p.page, p.tail) for p in out.pages] == [("Invoices", 2, True)]

    # Then page 2 is full and asks for page 3, which is short and ends the tail
    second = sync.fetch_page(task("Invoices", 2, tail=True))
    assert (second.status, second.next_page) == ("next", 3)
    third = sync.fetch_page(task("Invoices", 3, tail=True))
    assert (third.status, third.next_page, third.records_sent) == ("fetched", None, 50)
    assert len(set(queue.record_ids("INVOICE"))) == 250


def test_a_done_page_is_skipped_without_a_call() -> None:
    xero, runs, queue = FakeXero(organisation_data(invoices=2500)), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)
    sync.plan(plan_input())
    sync.fetch_page(task("Invoices", 2))
    calls = xero.calls

    again = sync.fetch_page(task("Invoices", 2))

    assert again.status == "skipped" and xero.calls == calls


def test_a_resumed_run_plans_with_no_call_and_only_the_pages_left() -> None:
    xero, runs, queue = FakeXero(organisation_data(invoices=3500)), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)
    sync.plan(plan_input())
    sync.fetch_page(task("Invoices", 3))
    calls = xero.calls

    # When the run is taken up again (a resume names the run)
    out = sync.plan(plan_input(run_id=RUN, trigger="resume"))

    assert out.calls == 0 and xero.calls == calls and out.resumed
    assert [(p.resource, p.page) for p in out.pages] == [("Invoices", 2), ("Invoices", 4)]


def test_a_planner_retried_half_way_does_not_ask_again_what_it_learnt() -> None:
    # Given a planner that died after Organisation, Accounts, Contacts and Invoices (the limiter stopped it)
    xero, runs, queue = (
        FakeXero(organisation_data(invoices=1500), daily_limit_after=4),
        FakeRuns(),
        FakeQueue(),
    )
    sync = service(xero, runs, queue)
    with pytest.raises(Exception, match="daily"):
        sync.plan(plan_input())
    # When Step Functions retries it
    xero.daily_limit_after = None
    out = sync.plan(plan_input())
    # Then each unpaged call and page 1 were asked once in all
    assert xero.calls == UNPAGED_CALLS + PAGED_RESOURCES
    assert [(p.resource, p.page) for p in out.pages] == [("Invoices", 2)]


def test_a_fetcher_dying_after_half_the_messages_is_retried_and_checkpoints_once() -> None:
    # Given a 1,000-invoice page (several SQS batches), and a Lambda that dies after its first batch
    xero, runs, queue = FakeXero(organisation_data(invoices=2000)), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)
    sync.plan(plan_input())
    before = len(queue.record_ids("INVOICE"))
    queue.die_after_batches = queue.batches + 1
    with pytest.raises(LambdaDied):
        sync.fetch_page(task("Invoices", 2))
    assert runs.page_checkpoint(RUN, "Invoices", 2) is None  # not done: nothing checkpointed
    half = len(queue.record_ids("INVOICE")) - before
    assert 0 < half < 1000

    # When Step Functions retries the task
    result = sync.fetch_page(task("Invoices", 2))

    # Then the whole page is sent again (the writer's conditional upserts absorb the duplicates), once counted
    assert result.status == "fetched" and result.records_sent == 1000
    assert set(queue.record_ids("INVOICE")) == {f"inv-{n:05d}" for n in range(1, 2001)}
    assert runs.checkpoint_writes == UNPAGED_CALLS + PAGED_RESOURCES + 1
    assert runs.counters[(ORG, RUN)]["records_sent#Invoices"] == 2000


def test_daily_limit_pauses_the_page_until_the_reset() -> None:
    xero, runs, queue = FakeXero(organisation_data(invoices=2500)), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)
    sync.plan(plan_input())
    xero.daily_limit_after = xero.calls  # the next call finds the day spent

    result = sync.fetch_page(task("Invoices", 2))

    assert result.status == "paused" and result.paused_until == "2026-11-21T13:00:00Z"
    assert runs.page_checkpoint(RUN, "Invoices", 2) is None
    progress = sync.sync_progress(ORG)
    assert progress.status == "paused_daily_limit" and progress.paused_until == NOW + timedelta(hours=3)


def test_a_malformed_record_is_counted_and_does_not_sink_the_page() -> None:
    data = organisation_data(invoices=5)
    del data["Invoices"][1]["InvoiceID"]  # does not match Xero's model
    del data["Invoices"][3]["UpdatedDateUTC"]  # matches, but its version cannot be ordered
    xero, runs, queue = FakeXero(data), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)

    sync.plan(plan_input())

    assert len(queue.record_ids("INVOICE")) == 3
    progress = sync.sync_progress(ORG)
    assert progress.resources["Invoices"].malformed == 2
    assert progress.resources["Invoices"].records_sent == 3 and progress.resources["Invoices"].pages_done == 1


def test_progress_figures_and_finish() -> None:
    xero, runs, queue = FakeXero(organisation_data(invoices=2500, contacts=3)), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue, max_finish_checks=2)
    out = sync.plan(plan_input())
    run_everything(sync, out.pages)

    progress = sync.sync_progress(ORG)
    assert progress.status == "fetching"
    assert progress.resources["Invoices"].pages_total == 3 and progress.resources["Invoices"].pages_done == 3
    assert progress.pages_total == progress.pages_done == 3 + 5
    assert progress.records_sent == 2500 + 3 + 2  # + the bank account and the organisation
    assert progress.calls_made == xero.calls and progress.records_written == 0

    # The writer has written part of it: not drained yet
    runs.records_written(ORG, RUN, "Invoices", 2000)
    queue.is_empty = lambda: False  # type: ignore[method-assign]
    first = sync.finish(FinishInput(run_id=RUN, org_id=ORG))
    assert not first.drained and sync.sync_progress(ORG).status == "writing"
    # ... and then all of it
    runs.records_written(ORG, RUN, "Invoices", 505)
    done = sync.finish(FinishInput(run_id=RUN, org_id=ORG))
    assert done.drained
    final = sync.sync_progress(ORG)
    assert final.status == "finished" and final.finished_at == NOW and final.records_written == 2505
    assert runs.get_cursors(ORG)["Invoices"] == NOW  # the run's start: changes since are caught up


def test_finish_gives_up_after_its_bound() -> None:
    xero, runs, queue = FakeXero(organisation_data(invoices=10)), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue, max_finish_checks=2)
    sync.plan(plan_input())
    queue.is_empty = lambda: False  # type: ignore[method-assign]
    assert not sync.finish(FinishInput(run_id=RUN, org_id=ORG)).drained
    with pytest.raises(SyncNotDrainedError):
        sync.finish(FinishInput(run_id=RUN, org_id=ORG))


def test_record_failure_keeps_the_first_reason_and_reads_lambdas_cause() -> None:
    xero, runs, queue = FakeXero(organisation_data()), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)
    sync.plan(plan_input())
    cause = json.dumps({"errorMessage": "Xero answered 500", "errorType": "XeroServerError"})
    state = {"org_id": ORG, "run_id": RUN, "error": {"Error": "XeroServerError", "Cause": cause}}

    out = sync.record_failure(FailureInput.model_validate({"state": state, "execution_name": RUN}))
    sync.record_failure(FailureInput(org_id=ORG, run_id=RUN, error={"Error": "States.Timeout"}))

    assert out.reason == "XeroServerError: Xero answered 500"
    progress = sync.sync_progress(ORG)
    assert progress.status == "failed" and progress.failed_reason == "XeroServerError: Xero answered 500"


def test_record_failure_of_a_planner_started_without_run_id() -> None:
    xero, runs, queue = FakeXero(organisation_data()), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)
    sync.plan(plan_input())  # the run is named after the execution
    state = {"org_id": ORG, "tenant_id": TENANT, "trigger": "connect", "error": {"Error": "NeedsReconnect"}}
    out = sync.record_failure(FailureInput.model_validate({"state": state, "execution_name": RUN}))
    assert out.run_id == RUN and sync.sync_progress(ORG).status == "failed"


def test_start_sync_new_running_and_resumed() -> None:
    xero, runs, queue, machine = FakeXero(organisation_data()), FakeRuns(), FakeQueue(), FakeMachine()
    sync = service(xero, runs, queue, machine=machine)

    started = sync.start_sync(ORG, resume=False)
    assert not started.already_running and machine.started[0][0] == execution_name(started.run_id, 1)
    assert machine.started[0][1] == {
        "org_id": ORG,
        "tenant_id": TENANT,
        "run_id": started.run_id,
        "trigger": "manual",
    }

    # A second request while it runs starts nothing
    again = sync.start_sync(ORG, resume=False)
    assert again.already_running and again.run_id == started.run_id and len(machine.started) == 1

    # After a failure, a resume takes the same run up again under a new, deterministic execution name
    runs.fail_run(ORG, started.run_id, "XeroServerError", now=NOW)
    resumed = sync.start_sync(ORG, resume=True)
    assert resumed.resumed and resumed.run_id == started.run_id
    assert machine.started[-1][0] == execution_name(started.run_id, 2)
    run = runs.get_run(ORG, started.run_id)
    assert run is not None and run.attempt == 2 and run.failure_reason is None

    # An execution that stopped without recording anything does not block a new sync
    machine.running = False
    fresh = sync.start_sync(ORG, resume=False)
    assert not fresh.already_running and fresh.run_id != started.run_id


def test_start_sync_refuses_an_org_without_connection() -> None:
    from xero_bridge.errors import NotConnectedError

    sync = service(FakeXero(organisation_data()), FakeRuns(), FakeQueue(), connections=FakeConnections(None))
    with pytest.raises(NotConnectedError):
        sync.start_sync(ORG, resume=False)


def test_reconnect_after_a_finished_run_syncs_only_changes() -> None:
    xero, runs, queue = FakeXero(organisation_data(invoices=3)), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)
    sync.plan(plan_input())
    runs.records_written(ORG, RUN, "Invoices", 10)
    assert sync.finish(FinishInput(run_id=RUN, org_id=ORG)).drained
    xero.requests.clear()

    out = sync.plan(
        PlanInput(sync=SyncRequest(org_id=ORG, tenant_id=TENANT, trigger="reconnect"), execution_name="run-2")
    )

    assert out.run_id == "run-2"
    invoices = next(o for r, p, o in xero.requests if r == "Invoices")
    assert invoices["if_modified_since"] == NOW


def test_a_synced_page_logs_json_lines_with_its_org_and_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a run planned over an organisation whose invoices page 2 holds a record Xero got wrong
    data = organisation_data(invoices=1500, contacts=2)
    data["Invoices"][1200]["Total"] = "not money"
    xero, runs, queue = FakeXero(data), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)
    sync.plan(plan_input())
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(handler)
    try:
        # When its page 2 is fetched
        sync.fetch_page(task("Invoices", 2))
    finally:
        logging.getLogger(logger.name).removeHandler(handler)

    # Then every line is Powertools JSON naming the org and the run, the bad record by index, not content
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    messages = [line["message"] for line in lines]
    assert messages == ["malformed Xero record skipped", "page synced"]
    assert all(line["org_id"] == ORG and line["run_id"] == RUN for line in lines)
    assert all({"level", "timestamp", "service"} <= line.keys() for line in lines)
    assert lines[0]["index"] == 200 and "not money" not in buffer.getvalue()
    assert lines[1]["records_sent"] == 499 and lines[1]["malformed"] == 1
