"""Injected failures, switched on per test through ``/__admin/faults``.

A :class:`Fault` matches requests by path prefix (default: the accounting API), optionally method and
tenant, and fires for its next ``count`` matches (``None``: until cleared). Kinds:

- ``error``: answer ``status`` (500, 503 ...) with a Xero-like body and do nothing else;
- ``slow``: wait ``delay_ms`` real milliseconds, then serve normally (the call is in flight meanwhile, so it
  counts against the 5-concurrent limit);
- ``drop``: close the socket without an answer (a client sees ``RemoteProtocolError``);
- ``rate_limit``: answer 429 with ``problem`` and ``retry_after`` (simulated seconds).

``phase="after"`` (``error`` and ``drop`` only) serves the call first -- the write happens -- and then
fails the answer: the "response lost after Xero saved it" case that Idempotency-Key exists for.

Connection faults (a tenant disconnected inside Xero, a user removed from the organisation) are state
changes rather than rules; they live on the admin API (``/__admin/faults/revoke-connection`` and
``/__admin/faults/remove-user``).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass
from typing import Any

KINDS = frozenset({"error", "slow", "drop", "rate_limit"})
PROBLEMS = frozenset({"minute", "day", "concurrent", "appminute"})


@dataclass
class Fault:
    kind: str
    count: int | None = 1
    status: int = 500
    delay_ms: int = 0
    problem: str = "minute"
    retry_after: int = 60
    path_prefix: str = "/api.xro/"
    method: str | None = None
    tenant_id: str | None = None
    phase: str = "before"
    id: int = 0
    fired: int = 0

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {sorted(KINDS)}")
        if self.kind == "rate_limit" and self.problem not in PROBLEMS:
            raise ValueError(f"rate_limit problem must be one of {sorted(PROBLEMS)}")
        if self.phase not in ("before", "after"):
            raise ValueError("phase must be before or after")
        if self.phase == "after" and self.kind not in ("error", "drop"):
            raise ValueError("phase=after only applies to error and drop faults")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1 (or null for until cleared)")

    def matches(self, method: str, path: str, tenant_id: str | None, phase: str) -> bool:
        return (
            self.phase == phase
            and path.lower().startswith(self.path_prefix.lower())
            and (self.method is None or self.method.upper() == method.upper())
            and (self.tenant_id is None or self.tenant_id == tenant_id)
        )


class FaultBook:
    """The active faults; :meth:`take` consumes the first matching one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: dict[str, Any]) -> Fault:
        allowed = {k: v for k, v in spec.items() if k not in ("id", "fired")}
        fault = Fault(**allowed)
        fault.validate()
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def take(self, method: str, path: str, tenant_id: str | None, phase: str = "before") -> Fault | None:
        with self._lock:
            if not self._faults:
                return None
            for fault in self._faults:
                if fault.matches(method, path, tenant_id, phase):
                    fault.fired += 1
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def has_after(self) -> bool:
        with self._lock:
            return any(f.phase == "after" for f in self._faults)
