"""Fetching what a delivery says changed: grouped fetches, the trail, payments that follow, gaps, drops."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from tests.unit.services.sync.fakes import NOW, FakeConnections, FakeQueue, connected
from tests.unit.services.webhooks.fakes import (
    TENANT,
    FakeCatchUps,
    FakeRecords,
    FakeSequences,
    FakeWebhookQueue,
    FakeXeroOrg,
    empty_org,
    event,
    later,
    xero_contact,
    xero_invoice,
    xero_payment,
)
from xero_bridge.domain.import_rules import map_records
from xero_bridge.errors import NeedsReconnect, XeroRateLimited
from xero_bridge.models.connection import ConnectionStatus
from xero_bridge.models.pages import Page
from xero_bridge.models.records import RecordSource
from xero_bridge.models.webhooks import QueuedDelivery, WebhookPayload
from xero_bridge.services.ports import TimeLeft, XeroReader
from xero_bridge.services.publish_records import RecordPublisher
from xero_bridge.services.webhooks.consume import ConsumeDelivery
from xero_bridge.services.webhooks.fetch_changes import FetchChanges


class World:
    def __init__(self, data: dict[str, list[dict[str, object]]] | None = None) -> None:
        self.xero = FakeXeroOrg(data or empty_org())
        self.queue = FakeQueue()
        self.records = FakeRecords()
        self.sequences = FakeSequences()
        self.catch_ups = FakeCatchUps()
        self.connections = FakeConnections(connected(TENANT))
        self.webhook_queue = FakeWebhookQueue()

        def readers(tenant_id: str, *, time_left: TimeLeft | None = None) -> XeroReader:
            return self.xero

        self.fetch = FetchChanges(
            connections=self.connections,
            sequences=self.sequences,
            catch_ups=self.catch_ups,
            xero=readers,
            records=self.records,
            publisher=RecordPublisher(queue=self.queue, clock=lambda: later(5)),
        )
        self.consume = ConsumeDelivery(fetch=self.fetch, queue=self.webhook_queue, limiter_clock=lambda: NOW)

    def sent(self) -> list[dict[str, object]]:
        return [record for body in self.queue.bodies for record in json.loads(body)["records"]]

    def hold_invoice(self, invoice: dict[str, object]) -> None:
        batch = map_records(
            "Invoices", [invoice], RecordSource(kind="page", resource="Invoices", page=1), incremental=False
        )
        self.records.hold(batch.records[0])


def payload(*events: dict[str, object], first: int = 10, last: int = 10) -> WebhookPayload:
    return WebhookPayload.model_validate(
        {"events": list(events), "firstEventSequence": first, "lastEventSequence": last, "entropy": "X"}
    )


def test_events_are_fetched_once_per_resource_and_each_record_names_its_own_events() -> None:
    data = empty_org()
    data["Invoices"] = [xero_invoice(1), xero_invoice(2)]
    data["Contacts"] = [xero_contact(1)]
    world = World(data)
    inv1, inv2 = (str(i["InvoiceID"]) for i in data["Invoices"])
    contact = str(data["Contacts"][0]["ContactID"])

    done = world.fetch.handle(
        payload(
            event("INVOICE", inv1),
            event("INVOICE", inv1, at=later(1)),
            event("INVOICE", inv2),
            event("CONTACT", contact),
        )
    )

    # one call per resource, duplicates of a record coalesced
    assert [(r, asked.get("ids")) for r, asked in world.xero.requests] == [
        ("Invoices", sorted([inv1, inv2])),
        ("Contacts", [contact]),
    ]
    assert done.records_sent == 3 and done.tenants == 1 and done.calls == 2
    trail = {r["xero_id"]: r.get("source") for r in world.sent()}
    assert trail[inv1] is not None and len(trail[inv1]["event_ids"]) == 2  # type: ignore[index]
    assert all(inv1 in e for e in trail[inv1]["event_ids"])  # type: ignore[index]
    assert trail[inv2]["event_ids"] == [e for e in trail[inv2]["event_ids"] if inv2 in e]  # type: ignore[index]
    assert {s["kind"] for s in trail.values() if s} == {"webhook"}  # type: ignore[index]


def test_payments_follow_an_invoice_whose_amount_paid_changed_only() -> None:
    data = empty_org()
    paid_now, unchanged = xero_invoice(1, paid="40.00"), xero_invoice(2)
    data["Invoices"] = [paid_now, unchanged]
    data["Payments"] = [xero_payment(1, str(paid_now["InvoiceID"]), "40.00")]
    world = World(data)
    world.hold_invoice(xero_invoice(1))  # we held it unpaid
    world.hold_invoice(unchanged)

    done = world.fetch.handle(
        payload(event("INVOICE", str(paid_now["InvoiceID"])), event("INVOICE", str(unchanged["InvoiceID"])))
    )

    assert done.payments_followed == 1
    payments_asked = [asked["where"] for r, asked in world.xero.requests if r == "Payments"]
    assert payments_asked == [f'Invoice.InvoiceID==Guid("{paid_now["InvoiceID"]}")']
    payment = next(r for r in world.sent() if r["record_type"] == "PAYMENT")
    assert Decimal(str(payment["payload"]["amount"])) == Decimal("40.00")  # type: ignore[index]


def test_events_of_a_tenant_that_is_not_connected_are_dropped_without_a_call() -> None:
    world = World()
    world.connections.connection = connected(TENANT, ConnectionStatus.DISCONNECTED)

    done = world.fetch.handle(payload(event("INVOICE", "00000000-0000-4000-8000-000000000001")))

    assert (done.dropped_events, world.xero.calls, world.queue.bodies) == (1, 0, [])


def test_events_of_an_unknown_tenant_are_dropped_too() -> None:
    world = World()

    done = world.fetch.handle(
        payload(event("CONTACT", "00000000-0000-4000-8000-000000000001", tenant_id="other"))
    )

    assert (done.dropped_events, world.xero.calls) == (1, 0)


def test_a_connection_that_needs_a_reconnect_drops_its_events() -> None:
    class DeadGrant(FakeXeroOrg):
        def fetch_by_ids(self, resource: str, ids: Sequence[str]) -> Page[Any]:
            raise NeedsReconnect("token revoked or expired: reconnect Xero")

    world = World()
    world.xero = DeadGrant(empty_org())

    done = world.fetch.handle(payload(event("INVOICE", "00000000-0000-4000-8000-000000000001")))

    assert done.dropped_events == 1 and world.queue.bodies == []


def test_a_sequence_gap_asks_a_catch_up_of_every_tenant_once() -> None:
    world = World()
    world.fetch.handle(payload(first=1, last=5))
    world.fetch.handle(payload(first=6, last=6))
    assert world.catch_ups.requests == []

    gap = world.fetch.handle(payload(first=9, last=12))
    late = world.fetch.handle(payload(first=7, last=8))  # the missing ones, late: no second catch-up

    assert gap.sequence_gap and not late.sequence_gap
    assert [(r.scope, r.reason) for r in world.catch_ups.requests] == [("all", "sequence_gap")]


def message(body: str) -> QueuedDelivery:
    return QueuedDelivery(message_id="m-1", body=body, receipt_handle="rh-1", receive_count=1)


def test_a_poison_message_is_set_aside_with_its_reason_and_never_retried() -> None:
    world = World()

    assert world.consume.consume(message('{"events": "many"}')) is None

    assert len(world.webhook_queue.dead) == 1
    body, reason = world.webhook_queue.dead[0]
    assert body == '{"events": "many"}' and reason == "not a Xero webhook payload: events"


def test_a_rate_limited_fetch_hides_its_message_until_xero_allows_the_next_call() -> None:
    data = empty_org()
    data["Invoices"] = [xero_invoice(1)]
    world = World(data)
    world.xero.rate_limit_next, world.xero.retry_after = 1, 42.0
    body = payload(event("INVOICE", str(data["Invoices"][0]["InvoiceID"]))).model_dump_json(by_alias=True)

    with pytest.raises(XeroRateLimited):
        world.consume.consume(message(body))

    assert world.webhook_queue.hidden == [("rh-1", 43)]
    assert world.webhook_queue.dead == []
    # and the next receive fetches it
    assert world.consume.consume(message(body)) is not None
    assert [r["xero_id"] for r in world.sent()] == [data["Invoices"][0]["InvoiceID"]]
