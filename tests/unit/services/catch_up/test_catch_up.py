"""The catch-up's use cases over fakes: the fan-out, one tenant's catch-up, its skips, cursors and misses."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from tests.unit.services.sync.fakes import NOW, FakeConnections, FakeQueue, FakeRuns, connected
from tests.unit.services.webhooks.fakes import (
    ORG,
    TENANT,
    FakeCatchUps,
    FakeCatchUpStates,
    FakeQuota,
    FakeRecords,
    FakeSequences,
    FakeXeroOrg,
    empty_org,
    later,
    xero_invoice,
    xero_payment,
)
from xero_bridge.domain.import_rules import map_records
from xero_bridge.models.connection import ConnectionStatus, XeroConnection
from xero_bridge.models.records import RecordSource
from xero_bridge.models.sync import CURSOR_RESOURCES
from xero_bridge.models.webhooks import CatchUpRequest
from xero_bridge.services.catch_up.fan_out import RequestCatchUps
from xero_bridge.services.catch_up.tenant import CURSOR_OVERLAP, CatchUpTenant
from xero_bridge.services.connection.status import ConnectionStatusService
from xero_bridge.services.ports import TimeLeft, XeroReader
from xero_bridge.services.publish_records import RecordPublisher

CURSOR = NOW - timedelta(hours=1)
REQUEST = CatchUpRequest(scope="tenant", org_id=ORG, tenant_id=TENANT, reason="schedule")


class World:
    def __init__(
        self, data: dict[str, list[dict[str, object]]] | None = None, *, cursors: bool = True
    ) -> None:
        self.xero = FakeXeroOrg(data or empty_org())
        self.runs = FakeRuns()
        if cursors:
            self.runs.set_cursors(ORG, "run-1", CURSOR_RESOURCES, CURSOR)
        self.states = FakeCatchUpStates()
        self.quota = FakeQuota()
        self.records = FakeRecords()
        self.queue = FakeQueue()
        self.connections = FakeConnections(connected(TENANT))

        def readers(tenant_id: str, *, time_left: TimeLeft | None = None) -> XeroReader:
            return self.xero

        self.catch_up = CatchUpTenant(
            connections=self.connections,
            runs=self.runs,
            states=self.states,
            limiter=self.quota,
            xero=readers,
            records=self.records,
            publisher=RecordPublisher(queue=self.queue, clock=lambda: NOW),
            clock=lambda: NOW,
            xero_clock=lambda: NOW,
        )

    def sent(self) -> list[dict[str, object]]:
        return [record for body in self.queue.bodies for record in json.loads(body)["records"]]


def test_the_fan_out_asks_one_catch_up_per_connected_tenant() -> None:
    catch_ups = FakeCatchUps()
    fan_out = RequestCatchUps(connections=FakeConnections(connected("tenant-9")), catch_ups=catch_ups)

    assert fan_out.everyone("schedule") == 1

    assert [(r.scope, r.tenant_id, r.reason) for r in catch_ups.requests] == [
        ("tenant", "tenant-9", "schedule")
    ]


class ManyConnections(FakeConnections):
    """``tenants`` connected organisations."""

    def __init__(self, tenants: int) -> None:
        super().__init__()
        self.many = [connected(f"tenant-{n:05d}") for n in range(tenants)]

    def list_connected(self) -> list[XeroConnection]:
        return self.many


def test_the_schedule_paces_catch_ups_to_the_apps_budget() -> None:
    # Given 10,000 connected tenants: one catch-up of each every 5 minutes would need 14,000 calls a minute
    catch_ups, states = FakeCatchUps(), FakeCatchUpStates()
    tick = NOW.replace(minute=0, second=0, microsecond=0)
    clock = [tick]
    fan_out = RequestCatchUps(
        connections=ManyConnections(10_000), catch_ups=catch_ups, states=states, clock=lambda: clock[0]
    )
    # When the schedule fires four times, five minutes apart
    asked = []
    for n in range(5):
        clock[0] = tick + timedelta(minutes=5 * n)
        asked.append(fan_out.everyone("schedule"))
    # Then each tick asks about a quarter of them, every tenant once per 20 minutes, and the pace is kept
    per_tenant = Counter(r.tenant_id for r in catch_ups.requests[: sum(asked[:4])])
    assert len(per_tenant) == 10_000 and set(per_tenant.values()) == {1}
    assert all(2_300 < n < 2_700 for n in asked)
    assert asked[4] == asked[0]  # the fifth tick starts the next round with the first group
    pace = states.pace()
    assert pace is not None and pace.interval_seconds == 1_200 and pace.tenants == 10_000
    assert sum(asked[:4]) * len(CURSOR_RESOURCES) / 20 <= 7_200 / 2  # calls a minute within the share


def test_the_connection_status_says_the_current_catch_up_interval() -> None:
    states = FakeCatchUpStates()
    status = ConnectionStatusService(FakeConnections(connected(TENANT)), states, FakeSequences(), FakeQuota())
    assert status.status(ORG).catch_up_interval_minutes is None  # the schedule has not run yet
    RequestCatchUps(connections=ManyConnections(10_000), catch_ups=FakeCatchUps(), states=states).everyone(
        "schedule"
    )
    assert status.status(ORG).catch_up_interval_minutes == 20


def test_a_few_tenants_are_caught_up_every_tick_and_a_gap_asks_everyone() -> None:
    catch_ups, states = FakeCatchUps(), FakeCatchUpStates()
    fan_out = RequestCatchUps(connections=ManyConnections(1_000), catch_ups=catch_ups, states=states)
    assert fan_out.everyone("schedule") == 1_000
    pace = states.pace()
    assert pace is not None and pace.interval_minutes == 5
    assert RequestCatchUps(connections=ManyConnections(10_000), catch_ups=catch_ups).everyone("gap") == 10_000


def test_an_unchanged_tenant_costs_one_call_per_resource_and_keeps_its_cursors() -> None:
    world = World()

    outcome = world.catch_up.run(REQUEST)

    assert outcome.status == "caught_up"
    assert world.xero.calls == outcome.calls == len(CURSOR_RESOURCES)
    assert {r for r, _ in world.xero.requests} == set(CURSOR_RESOURCES)
    assert all(asked["if_modified_since"] == CURSOR for _, asked in world.xero.requests)
    assert world.runs.get_cursors(ORG) == dict.fromkeys(CURSOR_RESOURCES, CURSOR)


def test_changes_are_sent_and_the_cursor_moves_to_the_newest_seen_less_the_overlap() -> None:
    data = empty_org()
    newest = NOW - timedelta(minutes=10)
    data["Invoices"] = [xero_invoice(1, updated=NOW - timedelta(minutes=30)), xero_invoice(2, updated=newest)]
    data["Payments"] = [xero_payment(1, str(data["Invoices"][0]["InvoiceID"]), "10.00", updated=newest)]
    world = World(data)

    outcome = world.catch_up.run(REQUEST)

    assert outcome.records_sent == 3
    sources = {r["record_type"]: r.get("source") for r in world.sent()}
    assert sources and all(s is None or s["kind"] == "catch_up" for s in sources.values())  # type: ignore[index]
    cursors = world.runs.get_cursors(ORG)
    assert cursors["Invoices"] == cursors["Payments"] == newest - CURSOR_OVERLAP
    assert cursors["Contacts"] == CURSOR  # nothing seen: unchanged, never "now"


def test_changes_we_hold_older_versions_of_count_as_missed_by_the_webhooks() -> None:
    data = empty_org()
    old = xero_invoice(1, updated=NOW - timedelta(hours=2))
    changed = xero_invoice(1, paid="5.00", updated=NOW - timedelta(minutes=30))  # the webhook never came
    recent = xero_invoice(2, updated=NOW - timedelta(seconds=20))  # its webhook may still be on its way
    data["Invoices"] = [changed, recent]
    world = World(data)
    source = RecordSource(kind="page", resource="Invoices", page=1)
    world.records.hold(map_records("Invoices", [old], source, incremental=False).records[0])

    outcome = world.catch_up.run(REQUEST)

    assert outcome.missed_by_webhooks == 1


def test_a_second_catch_up_while_one_runs_is_skipped() -> None:
    world = World()
    world.states.holder = "another-invocation"

    outcome = world.catch_up.run(REQUEST)

    assert (outcome.status, outcome.skipped_because, world.xero.calls) == ("skipped", "running", 0)


def test_the_daily_reserve_is_kept_for_exports() -> None:
    world = World()
    world.quota.day_remaining = 120

    outcome = world.catch_up.run(REQUEST)

    assert (outcome.status, outcome.skipped_because, world.xero.calls) == (
        "skipped",
        "daily_quota_reserve",
        0,
    )
    assert world.states.last_outcome(ORG) == outcome  # the status says so
    assert world.states.holder is None  # the lease is given back


def test_a_tenant_without_a_finished_initial_sync_is_left_to_it() -> None:
    world = World(cursors=False)

    outcome = world.catch_up.run(REQUEST)

    assert (outcome.skipped_because, world.xero.calls) == ("initial_sync_not_finished", 0)


def test_a_disconnected_or_other_tenant_is_not_caught_up() -> None:
    world = World()
    world.connections.connection = connected(TENANT, ConnectionStatus.DISCONNECTED)
    assert world.catch_up.run(REQUEST).skipped_because == "not_connected"

    world.connections.connection = connected("another-tenant")
    assert world.catch_up.run(REQUEST).skipped_because == "not_connected"
    assert world.xero.calls == 0


def test_a_page_that_is_full_asks_for_the_next_one() -> None:
    data = empty_org()
    data["Invoices"] = [xero_invoice(n, updated=later(-60 - n)) for n in range(1, 1501)]
    world = World(data)

    outcome = world.catch_up.run(REQUEST)

    invoice_pages = [asked["page"] for r, asked in world.xero.requests if r == "Invoices"]
    assert invoice_pages == [1, 2] and outcome.records_sent == 1500
