"""Xero's API limits, on the emulator clock, and the call statistics benchmarks read.

Per tenant: 60 calls in any rolling 60 seconds, 5 calls in flight, 5,000 calls in a rolling 24 hours; per
app: 10,000 calls in a rolling 60 seconds. A call that is refused with 429 is not counted (Xero counts the
calls it serves). Every API answer carries the remaining quota headers; a 429 also says which limit was hit
(``X-Rate-Limit-Problem``) and ``Retry-After`` in *simulated* seconds, so with ``clock_scale=60`` a
``Retry-After: 60`` is one real second.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class RollingWindow:
    """Counts events in the last ``seconds``, in buckets of ``resolution`` seconds (bounded memory)."""

    def __init__(self, seconds: float, resolution: float) -> None:
        self.seconds = seconds
        self.resolution = resolution
        self._buckets: deque[list[float]] = deque()  # [bucket_start, count]
        self.total = 0

    def _expire(self, now: float) -> None:
        horizon = now - self.seconds
        while self._buckets and self._buckets[0][0] + self.resolution <= horizon:
            self.total -= int(self._buckets.popleft()[1])

    def count(self, now: float) -> int:
        self._expire(now)
        return self.total

    def add(self, now: float) -> None:
        start = math.floor(now / self.resolution) * self.resolution
        if self._buckets and self._buckets[-1][0] == start:
            self._buckets[-1][1] += 1
        else:
            self._buckets.append([start, 1])
        self.total += 1

    def retry_after(self, now: float, limit: int) -> int:
        """Whole seconds until one more call fits under ``limit`` (at least 1)."""
        self._expire(now)
        excess = self.total - limit + 1
        for start, count in self._buckets:
            excess -= int(count)
            if excess <= 0:
                return max(1, math.ceil(start + self.resolution + self.seconds - now))
        return 1


@dataclass
class LimitSettings:
    enforce: bool = True
    minute: int = 60
    day: int = 5000
    concurrent: int = 5
    app_minute: int = 10_000


@dataclass
class Decision:
    """Outcome of :meth:`RateLimiter.acquire`: allowed, or the problem and its Retry-After."""

    allowed: bool
    headers: dict[str, str]
    problem: str | None = None
    retry_after: int | None = None


class RateLimiter:
    """Per-tenant and per-app limits. ``acquire`` before serving a call, ``release`` when it is done."""

    def __init__(self, settings: LimitSettings, now: Callable[[], float]) -> None:
        self.settings = settings
        self._now = now
        self._lock = threading.Lock()
        self._minute: dict[str, RollingWindow] = {}
        self._day: dict[str, RollingWindow] = {}
        self._in_flight: dict[str, int] = defaultdict(int)
        self._app = RollingWindow(60.0, 0.05)

    def reset(self) -> None:
        with self._lock:
            self._minute.clear()
            self._day.clear()
            self._in_flight.clear()
            self._app = RollingWindow(60.0, 0.05)

    def _windows(self, tenant_id: str) -> tuple[RollingWindow, RollingWindow]:
        minute = self._minute.get(tenant_id)
        if minute is None:
            minute = self._minute[tenant_id] = RollingWindow(60.0, 0.05)
            self._day[tenant_id] = RollingWindow(86_400.0, 1.0)
        return minute, self._day[tenant_id]

    def _headers(self, minute_used: int, day_used: int, app_used: int) -> dict[str, str]:
        s = self.settings
        return {
            "X-MinLimit-Remaining": str(max(0, s.minute - minute_used)),
            "X-DayLimit-Remaining": str(max(0, s.day - day_used)),
            "X-AppMinLimit-Remaining": str(max(0, s.app_minute - app_used)),
        }

    def acquire(self, tenant_id: str) -> Decision:
        s = self.settings
        with self._lock:
            now = self._now()
            minute, day = self._windows(tenant_id)
            m_used, d_used, a_used = minute.count(now), day.count(now), self._app.count(now)
            if s.enforce:
                problem, retry = None, 0
                if d_used >= s.day:
                    problem, retry = "day", day.retry_after(now, s.day)
                elif a_used >= s.app_minute:
                    problem, retry = "appminute", self._app.retry_after(now, s.app_minute)
                elif m_used >= s.minute:
                    problem, retry = "minute", minute.retry_after(now, s.minute)
                elif self._in_flight[tenant_id] >= s.concurrent:
                    problem, retry = "concurrent", 1
                if problem is not None:
                    return Decision(False, self._headers(m_used, d_used, a_used), problem, retry)
            minute.add(now)
            day.add(now)
            self._app.add(now)
            self._in_flight[tenant_id] += 1
            return Decision(True, self._headers(m_used + 1, d_used + 1, a_used + 1))

    def release(self, tenant_id: str) -> None:
        with self._lock:
            self._in_flight[tenant_id] = max(0, self._in_flight[tenant_id] - 1)

    def snapshot(self) -> dict[str, Any]:
        """Current usage per tenant (admin: ``GET /__admin/limits``)."""
        with self._lock:
            now = self._now()
            return {
                "settings": {
                    "enforce": self.settings.enforce,
                    "minute": self.settings.minute,
                    "day": self.settings.day,
                    "concurrent": self.settings.concurrent,
                    "app_minute": self.settings.app_minute,
                },
                "app_minute_used": self._app.count(now),
                "tenants": {
                    tenant: {
                        "minute_used": self._minute[tenant].count(now),
                        "day_used": self._day[tenant].count(now),
                        "in_flight": self._in_flight.get(tenant, 0),
                    }
                    for tenant in list(self._minute)
                },
            }


@dataclass
class _TenantStats:
    calls: int = 0
    rate_limited: int = 0
    by_problem: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_status: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_path: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "rate_limited": self.rate_limited,
            "by_problem": dict(self.by_problem),
            "by_status": dict(self.by_status),
            "by_path": dict(self.by_path),
        }


class CallStats:
    """Calls per tenant (total, 429s by problem, per status, per ``METHOD /path``) for benchmarks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tenants: dict[str, _TenantStats] = defaultdict(_TenantStats)

    def record(self, tenant_id: str, method: str, path: str, status: int, problem: str | None = None) -> None:
        with self._lock:
            stats = self._tenants[tenant_id]
            stats.calls += 1
            stats.by_status[str(status)] += 1
            stats.by_path[f"{method} {path}"] += 1
            if status == 429:
                stats.rate_limited += 1
                stats.by_problem[problem or "unknown"] += 1

    def reset(self) -> None:
        with self._lock:
            self._tenants.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            tenants = {tenant: stats.as_dict() for tenant, stats in self._tenants.items()}
        return {
            "total_calls": sum(t["calls"] for t in tenants.values()),
            "total_rate_limited": sum(t["rate_limited"] for t in tenants.values()),
            "tenants": tenants,
        }
