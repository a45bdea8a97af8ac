"""The initial sync's use cases over in-memory fakes: call floor, resumability, pauses, progress."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from tests.support.logs import captured_logs
from tests.unit.services.sync.fakes import (
    NOW,
    FakeConnections,
    FakeLimiter,
    FakeMachine,
    FakeQueue,
    FakeRuns,
    FakeXero,
    LambdaDied,
    invoice,
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
    Part,
    PlanInput,
    PlannedPage,
    PlanOutput,
    SyncProgressView,
    SyncRequest,
    SyncStarted,
    SyncStatus,
)
from xero_bridge.services.chase_ready import record_chase_ready
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
CHASE_PARTITIONS = 5  # customers, open invoices, credit notes, overpayments, prepayments
HISTORY_PARTITIONS = 6  # the same five resources' rest, and every payment


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


def task(
    resource: str, page: int, *, part: str = "chase", tail: bool = False, repair_of: int | None = None
) -> PageTask:
    return PageTask(
        run_id=RUN,
        org_id=ORG,
        tenant_id=TENANT,
        partition=f"{resource}:{part}",
        resource=resource,
        page=page,
        tail=tail,
        repair_of=repair_of,
    )


def fetch(sync: Sync, pages: list[PlannedPage]) -> None:
    """The Map: every page handed out (a tail page chaining to the next)."""
    for planned in pages:
        part = planned.partition.split(":")[1]
        result = sync.fetch_page(
            task(planned.resource, planned.page, part=part, tail=planned.tail, repair_of=planned.repair_of)
        )
        while result.status == "next":
            assert result.next_page is not None
            result = sync.fetch_page(task(planned.resource, result.next_page, part=part, tail=True))


def run_everything(sync: Sync, first: PlanOutput) -> PlanOutput:
    """The machine after its first Plan: Map, then Plan again with its own output, until done."""
    out = first
    while not out.done:
        fetch(sync, out.pages)
        out = sync.plan(PlanInput(sync=SyncRequest.model_validate(out.model_dump()), execution_name=RUN))
    return out


def pages_of(out: PlanOutput) -> list[tuple[str, int]]:
    return [(p.partition, p.page) for p in out.pages]


def test_planning_the_chase_part_reuses_page_one_and_costs_no_extra_call() -> None:
    # Given an organisation with 2,500 outstanding invoices (3 pages of 1,000) and 10 customers
    xero = FakeXero(organisation_data(invoices=2500, contacts=10), server_time=NOW)
    runs, queue = FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)

    # When the run is planned
    out = sync.plan(plan_input())

    # Then only the chase part is planned: page 1 of each of its partitions plus the two unpaged calls,
    # and its pages left are handed out from the last one down
    assert out.part == "chase" and not out.done
    assert out.calls == xero.calls == UNPAGED_CALLS + CHASE_PARTITIONS
    assert pages_of(out) == [("Invoices:chase", 3), ("Invoices:chase", 2)]
    # page 1 was asked with pageSize=1000, the invoices still to chase as they stood at the snapshot (Xero's
    # clock less a margin), in the id order; its records already went to the queue
    invoices_page_1 = next(o for r, p, o in xero.requests if r == "Invoices" and p == 1)
    assert invoices_page_1["page_size"] == 1000 and invoices_page_1["statuses"] == ["AUTHORISED", "SUBMITTED"]
    assert invoices_page_1["where"] == (
        '(Type=="ACCREC") AND UpdatedDateUTC <= DateTime(2026, 11, 21, 09, 59, 30)'
    )
    assert invoices_page_1["order"] == "InvoiceID"
    assert len(queue.record_ids("INVOICE")) == 1000 and len(queue.record_ids("CONTACT")) == 10
    assert len(queue.record_ids("BANK_ACCOUNT")) == 1 and len(queue.record_ids("ORGANISATION")) == 1
    assert runs.page_checkpoint(RUN, "Invoices:chase", 1) is not None
    run = runs.get_run(ORG, RUN)
    assert run is not None and run.plan["Invoices:chase"].pages_total == 3
    assert run.snapshot_at == NOW - timedelta(seconds=30)
    assert run.part(Part.CHASE).planned_at == NOW and run.part(Part.HISTORY).planned_at is None
    assert run.status == SyncStatus.FETCHING
    assert (run.base_currency, run.timezone) == ("AUD", "AUSEASTERNSTANDARDTIME")
    # And nothing of the history part was asked yet
    assert not any("history" in r.partition for r in runs.checkpoints(RUN))


def test_all_pages_fetched_reach_the_call_floor_of_the_split_and_send_every_record_once() -> None:
    xero, runs, queue = FakeXero(organisation_data(invoices=2500, contacts=10)), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)
    out = run_everything(sync, sync.plan(plan_input()))
    assert out.done and out.part is None
    # floor of the split: one call a page of each partition, at least one each: 3 invoice pages
    assert xero.calls == UNPAGED_CALLS + CHASE_PARTITIONS + 2 + HISTORY_PARTITIONS
    ids = queue.record_ids("INVOICE")
    assert len(ids) == len(set(ids)) == 2500
    run = runs.get_run(ORG, RUN)
    assert run is not None and run.part(Part.CHASE).fetched_at and run.part(Part.HISTORY).fetched_at


def test_server_ignoring_page_size_is_planned_from_the_envelope() -> None:
    # Given a server that serves 100 per page whatever pageSize says
    xero, runs, queue = (
        FakeXero(organisation_data(invoices=250), served_page_size=100),
        FakeRuns(),
        FakeQueue(),
    )
    sync = service(xero, runs, queue)

    out = sync.plan(plan_input())

    assert pages_of(out) == [("Invoices:chase", 3), ("Invoices:chase", 2)]
    run_everything(sync, out)
    assert sorted(queue.record_ids("INVOICE")) == [f"inv-{n:05d}" for n in range(1, 251)]


def test_no_envelope_falls_back_to_a_sequential_tail() -> None:
    # Given a server without a pagination envelope, serving 100 a page
    xero = FakeXero(organisation_data(invoices=250), served_page_size=100, envelope=False)
    runs, queue = FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)

    out = sync.plan(plan_input())
    assert [(p.partition, p.page, p.tail) for p in out.pages] == [("Invoices:chase", 2, True)]

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
    runs.restart_run(ORG, RUN, attempt=2, trigger="resume")
    out = sync.plan(plan_input(run_id=RUN, trigger="resume"))

    assert out.calls == 0 and xero.calls == calls and out.resumed
    assert pages_of(out) == [("Invoices:chase", 4), ("Invoices:chase", 2)]


def test_a_resumed_run_skips_the_part_it_finished() -> None:
    # Given a run whose chase part was read, and which failed in the history part
    data = organisation_data(invoices=1500, contacts=3)
    data["Invoices"] += [invoice(n) | {"Status": "PAID", "AmountDue": "0.00"} for n in range(2000, 4500)]
    xero, runs, queue = FakeXero(data), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)
    chase = sync.plan(plan_input())
    fetch(sync, chase.pages)
    history = sync.plan(PlanInput(sync=SyncRequest.model_validate(chase.model_dump()), execution_name=RUN))
    assert history.part == "history" and pages_of(history) == [
        ("Invoices:history", 2),
        ("Invoices:history", 3),
    ]
    sync.fetch_page(task("Invoices", 2, part="history"))
    runs.fail_run(ORG, RUN, "XeroServerError", now=NOW)
    chase_calls = [r for r in xero.requests if r[2].get("statuses")]
    calls = xero.calls

    # When it is resumed
    runs.restart_run(ORG, RUN, attempt=2, trigger="resume")
    out = sync.plan(plan_input(run_id=RUN, trigger="resume"))

    # Then it goes straight on with what was left of the history part, asking Xero nothing
    assert out.part == "history" and out.resumed and out.calls == 0 and xero.calls == calls
    assert pages_of(out) == [("Invoices:history", 3)]
    run_everything(sync, out)
    assert [r for r in xero.requests if r[2].get("statuses")] == chase_calls  # the chase part: never again
    assert xero.calls == calls + 1
    assert len(set(queue.record_ids("INVOICE"))) == 4000


def test_a_planner_retried_half_way_does_not_ask_again_what_it_learnt() -> None:
    # Given a planner that died after Accounts, Organisation, customers and invoices (the limiter stopped it)
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
    assert xero.calls == UNPAGED_CALLS + CHASE_PARTITIONS
    assert pages_of(out) == [("Invoices:chase", 2)]


def test_a_fetcher_dying_after_half_the_messages_is_retried_and_checkpoints_once() -> None:
    # Given a 1,000-invoice page (several SQS batches), and a Lambda that dies after its first batch
    xero, runs, queue = FakeXero(organisation_data(invoices=2000)), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)
    sync.plan(plan_input())
    before = len(queue.record_ids("INVOICE"))
    queue.die_after_batches = queue.batches + 1
    with pytest.raises(LambdaDied):
        sync.fetch_page(task("Invoices", 2))
    assert runs.page_checkpoint(RUN, "Invoices:chase", 2) is None  # not done: nothing checkpointed
    half = len(queue.record_ids("INVOICE")) - before
    assert 0 < half < 1000

    # When Step Functions retries the task
    result = sync.fetch_page(task("Invoices", 2))

    # Then the whole page is sent again (the writer's conditional upserts absorb the duplicates), once counted
    assert result.status == "fetched" and result.records_sent == 1000
    assert set(queue.record_ids("INVOICE")) == {f"inv-{n:05d}" for n in range(1, 2001)}
    assert runs.checkpoint_writes == UNPAGED_CALLS + CHASE_PARTITIONS + 1
    assert runs.counters[(ORG, RUN)]["records_sent#Invoices:chase"] == 2000


def test_daily_limit_pauses_the_page_until_the_reset() -> None:
    xero, runs, queue = FakeXero(organisation_data(invoices=2500)), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)
    sync.plan(plan_input())
    xero.daily_limit_after = xero.calls  # the next call finds the day spent

    result = sync.fetch_page(task("Invoices", 2))

    assert result.status == "paused" and result.paused_until == "2026-11-21T13:00:00Z"
    assert runs.page_checkpoint(RUN, "Invoices:chase", 2) is None
    progress = sync.sync_progress(ORG)
    assert progress.status == "paused_daily_limit" and progress.paused_until == NOW + timedelta(hours=3)


def test_a_malformed_record_is_counted_and_does_not_sink_the_page() -> None:
    data = organisation_data(invoices=5)
    del data["Invoices"][1]["InvoiceID"]  # does not match Xero's model
    # matches, but its version cannot be ordered: Xero filtered it by its UpdatedDateUTC, then left it out
    xero, runs, queue = FakeXero(data, left_out={"inv-00004": "UpdatedDateUTC"}), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)

    sync.plan(plan_input())

    assert len(queue.record_ids("INVOICE")) == 3
    progress = sync.sync_progress(ORG)
    assert progress.resources["Invoices"].malformed == 2
    assert (
        progress.resources["Invoices"].records_sent == 3 and progress.resources["Invoices"].pages_done == 2
    )  # its page 1 in each part


def test_progress_figures_chase_ready_and_finish() -> None:
    # Given 2,500 outstanding invoices, 3 customers and 1,200 paid invoices, all read
    data = organisation_data(invoices=2500, contacts=3)
    data["Invoices"] += [invoice(n) | {"Status": "PAID", "AmountDue": "0.00"} for n in range(3000, 4200)]
    xero, runs, queue = FakeXero(data), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue, max_finish_checks=2)
    run_everything(sync, sync.plan(plan_input()))

    # Then the progress shows both parts read, page for page, and nothing written yet
    progress = sync.sync_progress(ORG)
    assert progress.status == "fetching" and progress.chase_ready_at is None
    chase, history = progress.parts[Part.CHASE], progress.parts[Part.HISTORY]
    assert (chase.pages_total, chase.pages_done) == (UNPAGED_CALLS + 3 + 4, UNPAGED_CALLS + 3 + 4)
    assert (history.pages_total, history.pages_done) == (2 + 5, 2 + 5)
    assert chase.records_sent == 2500 + 3 + 2 and history.records_sent == 1200  # + bank account, organisation
    assert chase.fetched_at == NOW and chase.ready_at is None
    invoices = progress.resources["Invoices"]
    assert (invoices.pages_total, invoices.pages_done, invoices.records_sent) == (3 + 2, 5, 3700)
    both = (chase.pages_total or 0) + (history.pages_total or 0)
    assert progress.pages_total == progress.pages_done == both
    assert progress.calls_made == xero.calls and progress.records_written == 0

    # When the writer has written the chase part's records but for a few
    for partition, count in (("Invoices:chase", 2000), ("Contacts:chase", 3), ("Accounts:chase", 1)):
        runs.records_written(ORG, RUN, partition, count)
    runs.records_written(ORG, RUN, "Organisation:chase", 1)
    assert record_chase_ready(runs, ORG, RUN, now=NOW) is None
    # ... and the rest: the chase part is written, the AR team can chase
    runs.records_written(ORG, RUN, "Invoices:chase", 500)
    ready = NOW + timedelta(seconds=4)
    assert record_chase_ready(runs, ORG, RUN, now=ready) == ready
    assert record_chase_ready(runs, ORG, RUN, now=ready + timedelta(seconds=9)) == ready  # the first moment
    assert sync.sync_progress(ORG).chase_ready_at == ready

    # The history part is not written yet: not drained
    queue.is_empty = lambda: False  # type: ignore[method-assign]
    first = sync.finish(FinishInput(run_id=RUN, org_id=ORG))
    assert not first.drained and sync.sync_progress(ORG).status == "writing"
    # ... and then all of it, 200 of its records held already as sent (unchanged: done too)
    runs.records_written(ORG, RUN, "Invoices:history", 1000)
    runs.records_unchanged(ORG, RUN, "Invoices:history", 200)
    done = sync.finish(FinishInput(run_id=RUN, org_id=ORG))
    assert done.drained
    final = sync.sync_progress(ORG)
    assert final.status == "finished" and final.finished_at == NOW
    assert (final.records_written, final.records_unchanged) == (3505, 200)
    assert final.parts[Part.HISTORY].records_unchanged == final.resources["Invoices"].records_unchanged == 200
    assert final.chase_ready_at == ready and final.parts[Part.HISTORY].ready_at == NOW
    # the run's snapshot (Xero's clock, less its margin; ours here): changes since are caught up from it
    assert runs.get_cursors(ORG)["Invoices"] == NOW - timedelta(seconds=30)


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
    run_everything(sync, sync.plan(plan_input()))
    for partition, count in (("Invoices:chase", 3), ("Accounts:chase", 1), ("Organisation:chase", 1)):
        runs.records_written(ORG, RUN, partition, count)
    assert sync.finish(FinishInput(run_id=RUN, org_id=ORG)).drained
    xero.requests.clear()

    out = sync.plan(
        PlanInput(sync=SyncRequest(org_id=ORG, tenant_id=TENANT, trigger="reconnect"), execution_name="run-2")
    )

    assert out.run_id == "run-2" and out.done  # every change fits page 1 of each resource
    invoices = next(o for r, p, o in xero.requests if r == "Invoices")
    assert invoices["if_modified_since"] == NOW - timedelta(seconds=30)
    assert "statuses" not in invoices and invoices["where"] == 'Type=="ACCREC"'  # every change, not split


def test_a_synced_page_logs_json_lines_with_its_org_and_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a run planned over an organisation whose invoices page 2 holds a record Xero got wrong
    data = organisation_data(invoices=1500, contacts=2)
    data["Invoices"][1200]["Total"] = "not money"
    xero, runs, queue = FakeXero(data), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)
    sync.plan(plan_input())
    with captured_logs() as buffer:
        # When its page 2 is fetched
        sync.fetch_page(task("Invoices", 2))

    # Then every line is Powertools JSON naming the org and the run, the bad record by index, not content
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    messages = [line["message"] for line in lines]
    assert messages == ["malformed Xero record skipped", "page synced"]
    assert all(line["org_id"] == ORG and line["run_id"] == RUN for line in lines)
    assert all({"level", "timestamp", "service"} <= line.keys() for line in lines)
    assert lines[0]["index"] == 200 and "not money" not in buffer.getvalue()
    assert lines[1]["records_sent"] == 499 and lines[1]["malformed"] == 1


def xero_date(when: datetime) -> str:
    return f"/Date({int(when.timestamp() * 1000)}+0000)/"


def test_invoices_paid_while_the_chase_part_is_read_are_lost_by_no_one() -> None:
    # Given 2,500 outstanding invoices: the chase part's invoices are 3 pages, handed out from page 3 down
    xero, runs, queue = FakeXero(organisation_data(invoices=2500, contacts=3)), FakeRuns(), FakeQueue()
    sync = service(xero, runs, queue)
    chase = sync.plan(plan_input())
    assert pages_of(chase) == [("Invoices:chase", 3), ("Invoices:chase", 2)]
    paid = [f"inv-{n:05d}" for n in (3, 10, 400, 777, 999)]  # all on page 1, read by the planner already

    def pay_them(resource: str, page: int | None) -> None:
        # When five of page 1's invoices are paid in Xero just before page 3 is read: every invoice after
        # them moves up five places, so page 2's first five slide onto page 1, which was read before
        if (resource, page) == ("Invoices", 3):
            for item in xero.data["Invoices"]:
                if item["InvoiceID"] in paid:
                    item |= {
                        "Status": "PAID",
                        "AmountDue": "0.00",
                        "UpdatedDateUTC": xero_date(NOW + timedelta(minutes=1)),
                    }

    xero.before_call = pay_them
    fetch(sync, chase.pages)
    xero.before_call = None
    again = sync.plan(PlanInput(sync=SyncRequest.model_validate(chase.model_dump()), execution_name=RUN))

    # Then the planner sees from the counts that records left between the reads of pages 1 and 2, and reads
    # page 1 again before the chase part is done: the five invoices that slid onto it are read
    assert again.part == "chase" and [(p.partition, p.page, p.repair_of) for p in again.pages] == [
        ("Invoices:chase", 1, 1)
    ]
    slid = {f"inv-{n:05d}" for n in range(1001, 1006)}
    before_reread = set(queue.record_ids("INVOICE"))
    assert not slid & before_reread, "without the re-read these five would be missing"
    out = run_everything(sync, again)

    # And every invoice was sent, the paid ones last at their newest version (the history part read them)
    assert set(queue.record_ids("INVOICE")) == {f"inv-{n:05d}" for n in range(1, 2501)}
    last_status: dict[str, str] = {}
    for body in queue.bodies:
        for record in json.loads(body)["records"]:
            if record["record_type"] == "INVOICE":
                last_status[record["xero_id"]] = record["payload"]["status"]
    assert {i: last_status[i] for i in paid} == dict.fromkeys(paid, "PAID")
    progress = sync.sync_progress(ORG)
    assert out.done and progress.parts[Part.CHASE].pages_reread == 1
    assert progress.resources["Invoices"].pages_reread == 1
