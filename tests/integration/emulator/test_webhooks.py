"""Webhook delivery to a real local receiver: signature, batching, sequences, retries, intent to receive."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.integration.emulator.conftest import Xero, add_customers

KEY = "local-webhook-key"


@dataclass
class Receiver:
    """A webhook receiver like the product's: 401 on a bad signature, else the next scripted status."""

    key: str = KEY
    script: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        raw = request.get_data()
        expected = base64.b64encode(hmac.new(self.key.encode(), raw, hashlib.sha256).digest()).decode()
        valid = hmac.compare_digest(expected, request.headers.get("x-xero-signature", ""))
        with self.lock:
            status = 401 if not valid else (self.script.pop(0) if self.script else 200)
            self.received.append({"raw": raw, "valid": valid, "status": status, "body": json.loads(raw)})
        return Response(b"", status=status)(environ, start_response)

    def event_payloads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r["body"] for r in self.received if r["body"]["events"] and r["status"] == 200]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} deliveries, got {len(self.received)}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    app = Receiver()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.url = f"http://127.0.0.1:{server.server_port}/webhooks/xero"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield app
    server.shutdown()
    server.server_close()


@pytest.fixture
def hooked(make_xero: Any, receiver: Receiver) -> Xero:
    return make_xero(
        tenants=2,
        webhook_url=receiver.url,
        webhook_batch_real_seconds=0.2,
        webhook_retry_base_seconds=1.0,
        webhook_max_attempts=4,
    )


def test_intent_to_receive_passes_with_a_correct_receiver(hooked: Xero, receiver: Receiver) -> None:
    result = hooked.admin.register_webhook()
    assert result["passed"] is True
    assert result["correct_signature_status"] == 200
    assert result["wrong_signature_status"] == 401
    bodies = [r["body"] for r in receiver.received]
    assert all(b["events"] == [] for b in bodies)
    assert [r["valid"] for r in receiver.received] == [True, False]
    assert hooked.admin.webhooks()["status"] == "OK"


def test_intent_to_receive_fails_when_the_receiver_accepts_anything(
    make_xero: Any, receiver: Receiver
) -> None:
    receiver.key = "not-the-key-the-emulator-uses"  # so it answers 401 to both
    xero: Xero = make_xero(tenants=1, webhook_url=receiver.url)
    result = xero.admin.register_webhook()
    assert result["passed"] is False
    assert xero.admin.webhooks()["status"] == "FAILED"


def test_changes_are_delivered_signed_batched_per_tenant_with_increasing_sequences(
    hooked: Xero, receiver: Receiver
) -> None:
    hooked.admin.register_webhook()
    receiver.received.clear()
    # Given three contacts created in tenant 0 and one in tenant 1 within the batch window
    ids0 = add_customers(hooked.em, hooked.tenants[0], 3)
    ids1 = add_customers(hooked.em, hooked.tenants[1], 1)
    assert hooked.admin.wait_webhooks(5)
    payloads = receiver.event_payloads()
    # Then one payload per tenant, each correctly signed, sequences contiguous and increasing
    assert len(payloads) == 2
    assert all(r["valid"] for r in receiver.received)
    by_tenant = {p["events"][0]["tenantId"]: p for p in payloads}
    assert sorted(e["resourceId"] for e in by_tenant[hooked.tenants[0]]["events"]) == sorted(ids0)
    assert [e["resourceId"] for e in by_tenant[hooked.tenants[1]]["events"]] == ids1
    ordered = sorted(payloads, key=lambda p: p["firstEventSequence"])
    assert ordered[0]["firstEventSequence"] == 1
    assert ordered[1]["firstEventSequence"] == ordered[0]["lastEventSequence"] + 1
    for payload in payloads:
        assert payload["lastEventSequence"] - payload["firstEventSequence"] + 1 == len(payload["events"])
        assert payload["entropy"]
    event = by_tenant[hooked.tenants[1]]["events"][0]
    assert event["eventCategory"] == "CONTACT" and event["eventType"] == "CREATE"
    assert event["tenantType"] == "ORGANISATION"
    assert event["resourceUrl"] == f"{hooked.base}/api.xro/2.0/Contacts/{ids1[0]}"
    assert len(event["eventDateUtc"]) == len("2024-06-21T01:15:39.902")


def test_the_resource_url_can_be_fetched(hooked: Xero, receiver: Receiver) -> None:
    token = hooked.connect()["access_token"]
    add_customers(hooked.em, hooked.tenants[0], 1)
    assert hooked.admin.wait_webhooks(5)
    event = receiver.event_payloads()[0]["events"][0]
    response = hooked.http.get(
        event["resourceUrl"],
        headers={"Authorization": f"Bearer {token}", "xero-tenant-id": event["tenantId"]},
    )
    assert response.json()["Contacts"][0]["ContactID"] == event["resourceId"]


def test_failing_receiver_gets_retries_until_it_answers(hooked: Xero, receiver: Receiver) -> None:
    # Given a receiver that fails twice
    receiver.script = [500, 503]
    add_customers(hooked.em, hooked.tenants[0], 1)
    receiver.wait_for(1)
    # When the simulated clock passes the backoff (1 s, then 2 s)
    for _ in range(10):
        hooked.admin.advance_clock(3)
        if len(receiver.received) >= 3:
            break
        time.sleep(0.1)
    assert hooked.admin.wait_webhooks(5)
    # Then the same payload arrived three times and is recorded as delivered after 3 attempts
    assert [r["status"] for r in receiver.received] == [500, 503, 200]
    assert len({r["raw"] for r in receiver.received}) == 1 or all(
        r["body"]["firstEventSequence"] == 1 for r in receiver.received
    )
    [delivery] = hooked.admin.deliveries()
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 3
    assert [h["status_code"] for h in delivery["history"]] == [500, 503, 200]


def test_receiver_failing_for_too_long_disables_the_subscription(hooked: Xero, receiver: Receiver) -> None:
    receiver.script = [500] * 10
    add_customers(hooked.em, hooked.tenants[0], 1)
    receiver.wait_for(1)
    for _ in range(20):
        hooked.admin.advance_clock(10)
        if hooked.admin.webhooks()["status"] == "DISABLED":
            break
        time.sleep(0.1)
    state = hooked.admin.webhooks()
    assert state["status"] == "DISABLED"
    [delivery] = hooked.admin.deliveries()
    assert delivery["status"] == "failed" and delivery["attempts"] == 4
    # And later changes are not sent until the webhook is registered again
    add_customers(hooked.em, hooked.tenants[0], 1, prefix="After")
    time.sleep(0.4)
    assert len(receiver.received) == 4
    receiver.script = []
    assert hooked.admin.register_webhook()["passed"] is True
    assert hooked.admin.webhooks()["status"] == "OK"


def test_retry_for_24_hours_rule(make_xero: Any, receiver: Receiver) -> None:
    xero: Xero = make_xero(tenants=1, webhook_url=receiver.url, webhook_batch_real_seconds=0.1)
    receiver.script = [500] * 100
    add_customers(xero.em, xero.tenants[0], 1)
    receiver.wait_for(1)
    # Backoff is capped at an hour, so 25 simulated hours cover every retry Xero would make
    for _ in range(60):
        xero.admin.advance_clock(3600)
        if xero.admin.webhooks()["status"] == "DISABLED":
            break
        time.sleep(0.05)
    assert xero.admin.webhooks()["status"] == "DISABLED"
    assert xero.admin.deliveries()[0]["attempts"] > 5


def test_wrong_signature_switch(hooked: Xero, receiver: Receiver) -> None:
    hooked.admin.configure_webhooks(wrong_signature=True)
    add_customers(hooked.em, hooked.tenants[0], 1)
    receiver.wait_for(1)
    assert receiver.received[0]["valid"] is False
    assert receiver.received[0]["status"] == 401
    hooked.admin.configure_webhooks(wrong_signature=False)
    hooked.admin.advance_clock(2)
    assert hooked.admin.wait_webhooks(5)
    assert receiver.received[-1]["valid"] is True


def test_deliveries_listing_has_no_key_or_signature(hooked: Xero, receiver: Receiver) -> None:
    add_customers(hooked.em, hooked.tenants[0], 2)
    assert hooked.admin.wait_webhooks(5)
    listing = hooked.admin.deliveries()
    assert listing[0]["firstEventSequence"] == 1 and listing[0]["lastEventSequence"] == 2
    assert listing[0]["status"] == "delivered" and listing[0]["attempts"] == 1
    signature = receiver.received[0]
    dumped = json.dumps(listing) + json.dumps(hooked.admin.webhooks())
    assert KEY not in dumped
    assert (
        base64.b64encode(hmac.new(KEY.encode(), signature["raw"], hashlib.sha256).digest()).decode()
        not in dumped
    )


def test_redeliver_sends_a_duplicate(hooked: Xero, receiver: Receiver) -> None:
    add_customers(hooked.em, hooked.tenants[0], 1)
    assert hooked.admin.wait_webhooks(5)
    result = hooked.admin.redeliver(1)
    assert result["status_code"] == 200
    assert receiver.received[0]["raw"] == receiver.received[1]["raw"]


def test_invoice_and_archive_events(hooked: Xero, receiver: Receiver) -> None:
    [contact_id] = add_customers(hooked.em, hooked.tenants[0], 1)
    assert hooked.admin.wait_webhooks(5)
    receiver.received.clear()
    hooked.admin.archive_contact(hooked.tenants[0], contact_id)
    assert hooked.admin.wait_webhooks(5)
    [payload] = receiver.event_payloads()
    assert [(e["eventCategory"], e["eventType"]) for e in payload["events"]] == [("CONTACT", "UPDATE")]
    assert payload["firstEventSequence"] == 2


def test_seeding_sends_no_webhooks(hooked: Xero, receiver: Receiver) -> None:
    pytest.importorskip("xero_emulator.seed")
    hooked.admin.seed("small")
    time.sleep(0.4)
    assert receiver.received == []
