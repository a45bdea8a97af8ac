"""Xero's ``Idempotency-Key`` on POST and PUT: a retried write is answered from memory, not done twice.

Keys are per tenant and at most 128 characters. The same key with the same request (method, path, query
and body bytes) within the window gets the stored answer again; the same key with a different request is a
400; a key past the window is forgotten, so a late retry writes again -- which is why xero-bridge keeps its
own record of exported payments. Only answers the store produced are stored (2xx and validation 4xx);
auth failures, 429s, injected faults and 5xx are not, so a retry after them is processed.
A second request with a key that is still being processed waits for the first one's answer.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_KEY_LENGTH = 128


@dataclass
class StoredAnswer:
    fingerprint: str
    stored_at: float
    status: int = 0
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    done: threading.Event = field(default_factory=threading.Event)


class KeyReusedError(Exception):
    """The key was used for a different request."""


class IdempotencyStore:
    def __init__(self, window_seconds: float, now: Callable[[], float]) -> None:
        self.window_seconds = window_seconds
        self._now = now
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], StoredAnswer] = {}

    @staticmethod
    def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
        digest = hashlib.sha256()
        for part in (method.upper().encode(), path.lower().encode(), query, body):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        return digest.hexdigest()

    def reset(self) -> None:
        with self._lock:
            self._answers.clear()

    def begin(self, tenant_id: str, key: str, fingerprint: str) -> tuple[StoredAnswer, bool]:
        """(slot, is_new). Not new: wait on ``slot.done`` and replay it. Raises :class:`KeyReusedError`."""
        now = self._now()
        with self._lock:
            slot = self._answers.get((tenant_id, key))
            if slot is not None and now - slot.stored_at > self.window_seconds and slot.done.is_set():
                slot = None
            if slot is None:
                slot = StoredAnswer(fingerprint=fingerprint, stored_at=now)
                self._answers[(tenant_id, key)] = slot
                return slot, True
            if slot.fingerprint != fingerprint:
                raise KeyReusedError(key)
            return slot, False

    def finish(self, slot: StoredAnswer, status: int, body: bytes, content_type: str) -> None:
        slot.status, slot.body, slot.content_type = status, body, content_type
        slot.stored_at = self._now()
        slot.done.set()

    def abandon(self, tenant_id: str, key: str, slot: StoredAnswer) -> None:
        """The request was not processed (fault, 5xx): forget the key so a retry is processed."""
        with self._lock:
            if self._answers.get((tenant_id, key)) is slot:
                del self._answers[(tenant_id, key)]
        slot.status = 0
        slot.done.set()

    def count(self) -> int:
        with self._lock:
            return len(self._answers)
