"""Signed webhook delivery, as Xero does it.

- The store's :class:`ChangeEvent` s are batched per tenant: events of one tenant arriving within
  ``webhook_batch_real_seconds`` go in one payload (up to ``webhook_max_batch``), each payload with the next
  ``firstEventSequence``..``lastEventSequence`` of the subscription (one counter for the whole app, from 1).
- Body: ``{"events":[...],"firstEventSequence","lastEventSequence","entropy"}`` (xero-webhooks.yaml),
  ``eventDateUtc`` like ``2024-06-21T01:15:39.902`` (UTC, no zone), ``resourceUrl`` on the emulator's own
  host so a receiver can fetch it; credit-note events carry ``data: {Type, Status}`` as the spec requires.
- ``x-xero-signature`` = base64(HMAC-SHA256(webhook key, raw body)); ``wrong_signature`` signs with a
  wrong key.
- A receiver must answer 2xx within 5 s. Otherwise the payload is retried with backoff on the emulator
  clock (``webhook_retry_base_seconds`` doubling, capped), in order: later payloads wait behind a failing
  one. After ``webhook_retry_for_seconds`` (Xero: 24 h) or ``webhook_max_attempts`` the subscription is
  DISABLED: nothing more is sent until it is registered again.
- Intent to receive (``register``): one correctly and one wrongly signed payload with no events and
  sequence 0 (what Xero sends); the receiver passes when it answers 200 and 401. A subscription that
  failed it sends nothing until it passes.
- :meth:`WebhookDispatcher.redeliver` re-sends an old payload: a duplicate, out of order, on purpose.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx

from xero_emulator.clock import Clock
from xero_emulator.config import EmulatorConfig
from xero_emulator.httputil import webhook_datetime

API_PATH = "/api.xro/2.0/"
#: How long :meth:`WebhookDispatcher.stop` waits for the delivery thread (real seconds).
STOP_WAIT_REAL_SECONDS = 1.0
RESOURCE_PATHS = {
    "CONTACT": "Contacts",
    "INVOICE": "Invoices",
    "CREDITNOTE": "CreditNotes",
    "PREPAYMENT": "Prepayments",
    "OVERPAYMENT": "Overpayments",
}


class ChangeEventLike(Protocol):
    """What the dispatcher reads from the store's ``ChangeEvent`` (a frozen dataclass)."""

    @property
    def tenant_id(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def resource_id(self) -> str: ...
    @property
    def event_date(self) -> datetime: ...


def sign(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def _entropy() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))


@dataclass
class Delivery:
    """One payload and its delivery history (admin output never includes the key or the signature)."""

    first_sequence: int
    last_sequence: int
    tenant_id: str
    body: bytes
    created_at: datetime
    event_count: int
    status: str = "pending"  # pending | retrying | delivered | failed | abandoned
    attempts: int = 0
    first_attempt_at: float | None = None
    next_attempt_at: float = 0.0
    last_status_code: int | None = None
    last_error: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "firstEventSequence": self.first_sequence,
            "lastEventSequence": self.last_sequence,
            "tenantId": self.tenant_id,
            "eventCount": self.event_count,
            "status": self.status,
            "attempts": self.attempts,
            "lastStatusCode": self.last_status_code,
            "lastError": self.last_error,
            "createdAt": self.created_at.isoformat(),
            "history": list(self.history),
        }


class WebhookDispatcher:
    """Batches change events and delivers them from one background thread."""

    def __init__(
        self,
        config: EmulatorConfig,
        clock: Clock,
        api_base: Callable[[], str],
        event_data: Callable[[str, str, str], dict[str, Any] | None],
    ) -> None:
        self._config = config
        self._clock = clock
        self._api_base = api_base
        self._event_data = event_data
        self._lock = threading.Condition()
        self.url: str | None = config.webhook_url or None
        self._key = config.webhook_key
        self.wrong_signature = False
        self.status = "PENDING"  # PENDING (never checked) | OK | FAILED (intent to receive) | DISABLED
        self.intent_result: dict[str, Any] | None = None
        self.dropped_events = 0
        self._sequence = 0
        self._pending: dict[str, list[tuple[dict[str, Any], float]]] = {}
        self._outbox: deque[Delivery] = deque()
        self._deliveries: list[Delivery] = []
        self._busy = False
        self._muted = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=config.webhook_timeout_real_seconds)

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._stop = threading.Event()  # one per run: a restart never revives a loop that was told to stop
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), name="xero-emulator-webhooks", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop delivering, within about a second even while a receiver is slow to answer.

        A POST in flight can take the receiver's whole 5 s timeout and cannot be interrupted, so it is not
        waited for: the thread is a daemon, drops that attempt (the payload stays queued, as it would if
        Xero's own sender died) and closes the HTTP client itself when it ends.
        """
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=STOP_WAIT_REAL_SECONDS)
            if self._thread.is_alive():
                return
        self._http.close()

    def reset(self) -> None:
        with self._lock:
            self._pending.clear()
            self._outbox.clear()
            self._deliveries.clear()
            self._sequence = 0
            self.dropped_events = 0
            self.wrong_signature = False
            self.intent_result = None
            self.status = "PENDING"

    # --- configuration -------------------------------------------------------------------------------

    def configure(
        self,
        *,
        url: str | None = None,
        key: str | None = None,
        wrong_signature: bool | None = None,
        clear_url: bool = False,
    ) -> None:
        with self._lock:
            if clear_url:
                self.url = None
            elif url is not None:
                self.url = url or None
                self.status = "PENDING"
            if key is not None:
                self._key = key
            if wrong_signature is not None:
                self.wrong_signature = wrong_signature

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "url": self.url,
                "key_configured": bool(self._key),
                "wrong_signature": self.wrong_signature,
                "status": self.status,
                "intent_to_receive": self.intent_result,
                "next_sequence": self._sequence + 1,
                "pending_events": sum(len(v) for v in self._pending.values()),
                "queued_deliveries": len(self._outbox),
                "dropped_events": self.dropped_events,
                "categories": list(self._config.webhook_categories),
            }

    # --- intake --------------------------------------------------------------------------------------

    @contextmanager
    def muted(self) -> Iterator[None]:
        """No webhooks for store changes made inside (seeding loads history, it does not "happen")."""
        with self._lock:
            self._muted += 1
        try:
            yield
        finally:
            with self._lock:
                self._muted -= 1

    def on_change(self, event: ChangeEventLike) -> None:
        """Store listener: called inside a store write, so it only queues."""
        if event.category not in self._config.webhook_categories or event.category not in RESOURCE_PATHS:
            return
        path = f"{API_PATH}{RESOURCE_PATHS[event.category]}/{event.resource_id}"
        item = {
            "resourceUrl": f"{self._api_base()}{path}",
            "resourceId": event.resource_id,
            "eventDateUtc": webhook_datetime(event.event_date),
            "eventType": event.event_type,
            "eventCategory": event.category,
            "tenantId": event.tenant_id,
            "tenantType": "ORGANISATION",
        }
        with self._lock:
            if self._muted:
                return
            if self.url is None or self.status in ("DISABLED", "FAILED"):
                self.dropped_events += 1
                return
            self._pending.setdefault(event.tenant_id, []).append((item, time.monotonic()))
            self._lock.notify_all()

    # --- intent to receive ---------------------------------------------------------------------------

    def register(self, url: str | None = None, key: str | None = None) -> dict[str, Any]:
        """Xero's intent-to-receive check; sets the subscription OK or FAILED and returns the result."""
        with self._lock:
            if url is not None:
                self.url = url
            if key is not None:
                self._key = key
            target, signing_key = self.url, self._key
        if not target:
            raise ValueError("no webhook URL configured")
        body = json.dumps(
            {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": _entropy()},
            separators=(",", ":"),
        ).encode()
        good = self._post(target, body, sign(signing_key, body))
        bad = self._post(target, body, sign(signing_key + "-wrong", body))
        passed = good[0] == 200 and bad[0] == 401
        result = {
            "passed": passed,
            "correct_signature_status": good[0],
            "wrong_signature_status": bad[0],
            "errors": [e for e in (good[1], bad[1]) if e],
            "at": self._clock.now().isoformat(),
        }
        with self._lock:
            self.intent_result = result
            self.status = "OK" if passed else "FAILED"
        return result

    def _post(self, url: str, body: bytes, signature: str) -> tuple[int | None, str | None]:
        try:
            response = self._http.post(
                url,
                content=body,
                headers={"Content-Type": "application/json; charset=utf-8", "x-xero-signature": signature},
            )
        except httpx.HTTPError as exc:
            return None, type(exc).__name__
        return response.status_code, None

    # --- delivery ------------------------------------------------------------------------------------

    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [d.as_dict() for d in self._deliveries]

    def delivery_body(self, first_sequence: int) -> bytes | None:
        with self._lock:
            found = next((d for d in self._deliveries if d.first_sequence == first_sequence), None)
            return found.body if found else None

    def redeliver(self, first_sequence: int) -> dict[str, Any]:
        """Send an already delivered payload again, now (a duplicate, possibly out of order)."""
        with self._lock:
            found = next((d for d in self._deliveries if d.first_sequence == first_sequence), None)
            target, key = self.url, self._key
        if found is None or not target:
            raise LookupError(f"no delivery with firstEventSequence {first_sequence}")
        status, error = self._post(target, found.body, sign(key, found.body))
        return {"firstEventSequence": first_sequence, "status_code": status, "error": error}

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is pending, queued or being sent (True), or ``timeout`` real seconds pass."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending or self._outbox or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.05))
            return True

    def _form_batches(self, force: bool = False) -> list[Delivery]:
        """Under the lock: turn ripe per-tenant event lists into payloads with sequence numbers."""
        formed: list[Delivery] = []
        now_real = time.monotonic()
        window = self._config.webhook_batch_real_seconds
        for tenant_id in list(self._pending):
            items = self._pending[tenant_id]
            if not items or not (force or now_real - items[0][1] >= window):
                continue
            while items:
                chunk, items = (
                    items[: self._config.webhook_max_batch],
                    items[self._config.webhook_max_batch :],
                )
                events = [event for event, _ in chunk]
                first = self._sequence + 1
                self._sequence += len(events)
                delivery = Delivery(
                    first_sequence=first,
                    last_sequence=self._sequence,
                    tenant_id=tenant_id,
                    body=b"",
                    created_at=self._clock.now(),
                    event_count=len(events),
                    events=events,
                )
                formed.append(delivery)
            del self._pending[tenant_id]
        return formed

    def _build_body(self, delivery: Delivery) -> None:
        events, delivery.events = delivery.events, []
        for event in events:
            if event["eventCategory"] == "CREDITNOTE":
                data = self._event_data(event["tenantId"], "CreditNotes", event["resourceId"])
                if data is not None:
                    event["data"] = data
        payload = {
            "events": events,
            "firstEventSequence": delivery.first_sequence,
            "lastEventSequence": delivery.last_sequence,
            "entropy": _entropy(),
        }
        delivery.body = json.dumps(payload, separators=(",", ":")).encode("utf-8")

    def _run(self, stop: threading.Event) -> None:
        try:
            self._deliver_until(stop)
        finally:
            if stop.is_set() and stop is self._stop:  # not if a new run has started with the same client
                self._http.close()

    def _deliver_until(self, stop: threading.Event) -> None:
        while not stop.is_set():
            with self._lock:
                formed = self._form_batches()
                self._busy = bool(formed)
            for delivery in formed:
                self._build_body(delivery)
            with self._lock:
                self._outbox.extend(formed)
                self._deliveries.extend(formed)
                head = self._outbox[0] if self._outbox else None
                due = head is not None and self._clock.timestamp() >= head.next_attempt_at
                self._busy = due
                target, key, wrong = self.url, self._key, self.wrong_signature
                if head is None or not due:
                    self._lock.notify_all()
                    self._lock.wait(0.02)
                    continue
            assert head is not None
            if not target:
                with self._lock:
                    self._busy = False
                    self._lock.wait(0.02)
                continue
            signature = sign(key + "-wrong" if wrong else key, head.body)
            status, error = self._post(target, head.body, signature)
            if stop.is_set():
                return  # stopped while sending: the attempt does not count, the payload stays queued
            self._record_attempt(head, status, error)

    def _record_attempt(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        cfg = self._config
        now = self._clock.timestamp()
        with self._lock:
            delivery.attempts += 1
            if delivery.first_attempt_at is None:
                delivery.first_attempt_at = now
            delivery.last_status_code, delivery.last_error = status, error
            delivery.history.append(
                {
                    "attempt": delivery.attempts,
                    "status_code": status,
                    "error": error,
                    "at": self._clock.now().isoformat(),
                }
            )
            if status is not None and 200 <= status < 300:
                delivery.status = "delivered"
                self._outbox.popleft()
            else:
                out_of_time = now - delivery.first_attempt_at >= cfg.webhook_retry_for_seconds
                out_of_attempts = (
                    cfg.webhook_max_attempts is not None and delivery.attempts >= cfg.webhook_max_attempts
                )
                if out_of_time or out_of_attempts:
                    delivery.status = "failed"
                    self._outbox.popleft()
                    self.status = "DISABLED"
                    for queued in self._outbox:
                        queued.status = "abandoned"
                    self.dropped_events += sum(q.event_count for q in self._outbox)
                    self._outbox.clear()
                    self.dropped_events += sum(len(v) for v in self._pending.values())
                    self._pending.clear()
                else:
                    delivery.status = "retrying"
                    backoff = min(
                        cfg.webhook_retry_base_seconds * 2 ** (delivery.attempts - 1),
                        cfg.webhook_retry_max_seconds,
                    )
                    delivery.next_attempt_at = now + backoff
            self._busy = False
            self._lock.notify_all()
