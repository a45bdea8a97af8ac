"""The webhook receiver's use case: the signature over the exact bytes decides, before anything parses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from pydantic import SecretStr

from tests.unit.services.webhooks.fakes import FakeWebhookKey, FakeWebhookQueue, event
from xero_bridge.services.webhooks.receive import (
    MAX_WEBHOOK_BYTES,
    ReceiveWebhook,
    WebhookAck,
    xero_signature,
)

KEY = "test-webhook-key"
DELIVERY = json.dumps(
    {
        "events": [event("INVOICE", "00000000-0000-4000-8000-000000000001")],
        "firstEventSequence": 5,
        "lastEventSequence": 5,
        "entropy": "ABCDEFGHIJ",
    },
    separators=(",", ":"),
).encode()
INTENT = b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"KLMNOPQRST"}'


def receiver() -> tuple[ReceiveWebhook, FakeWebhookQueue]:
    queue = FakeWebhookQueue()
    return ReceiveWebhook(key=FakeWebhookKey(KEY), queue=queue), queue


def test_the_signature_is_xeros_base64_hmac_sha256_of_the_body() -> None:
    expected = base64.b64encode(hmac.new(KEY.encode(), DELIVERY, hashlib.sha256).digest()).decode()
    assert xero_signature(KEY, DELIVERY) == expected


def test_a_signed_delivery_is_queued_exactly_as_it_came() -> None:
    receive, queue = receiver()

    ack = receive.receive(DELIVERY, xero_signature(KEY, DELIVERY))

    assert (ack, ack.status_code) == (WebhookAck.ACCEPTED, 200)
    assert queue.sent == [DELIVERY.decode()]


def test_a_signed_intent_to_receive_is_answered_and_not_queued() -> None:
    receive, queue = receiver()

    ack = receive.receive(INTENT, xero_signature(KEY, INTENT))

    assert (ack, ack.status_code) == (WebhookAck.INTENT_TO_RECEIVE, 200)
    assert queue.sent == []


@pytest.mark.parametrize(
    "body, signature",
    [
        (INTENT, xero_signature("another-key", INTENT)),  # wrong key: Xero's second intent-to-receive check
        (DELIVERY, None),
        (DELIVERY, ""),
        (DELIVERY.replace(b"INVOICE", b"INVOICF"), xero_signature(KEY, DELIVERY)),  # a byte altered
        (json.dumps(json.loads(DELIVERY)).encode(), xero_signature(KEY, DELIVERY)),  # re-serialised
        (DELIVERY, "é not ascii"),
    ],
    ids=["wrong key", "no header", "empty header", "one byte altered", "re-serialised", "not ascii"],
)
def test_anything_not_signed_over_the_exact_bytes_is_a_401_and_nothing_is_queued(
    body: bytes, signature: str | None
) -> None:
    receive, queue = receiver()

    ack = receive.receive(body, signature)

    assert (ack, ack.status_code) == (WebhookAck.BAD_SIGNATURE, 401)
    assert queue.sent == []


def test_a_body_too_large_for_the_queue_is_a_413_before_any_hmac() -> None:
    class CountingKey(FakeWebhookKey):
        reads = 0

        def key(self) -> SecretStr:
            CountingKey.reads += 1
            return super().key()

    queue = FakeWebhookQueue()
    huge = b"{" + b" " * MAX_WEBHOOK_BYTES + b"}"

    ack = ReceiveWebhook(key=CountingKey(KEY), queue=queue).receive(huge, xero_signature(KEY, huge))

    assert (ack.status_code, CountingKey.reads, queue.sent) == (413, 0, [])


@pytest.mark.parametrize("body", [b"not json", b'{"events": 3}', b"\xff\xfe", b'{"events":[{"tenantId":1}]}'])
def test_a_correctly_signed_body_that_is_no_payload_is_a_400(body: bytes) -> None:
    receive, queue = receiver()

    ack = receive.receive(body, xero_signature(KEY, body))

    assert (ack.status_code, queue.sent) == (400, [])
