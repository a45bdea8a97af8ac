"""Pure arithmetic of Xero's per-app limit (10,000 calls in any rolling minute, across every tenant).

The app-wide budget is counted in *buckets*: one bucket per ``bucket_ms`` (1 s) and *shard*. A call takes one
unit of one shard's bucket at the time it is granted, and each bucket of each shard holds at most its share
of the per-second budget. Nothing is ever read back from other buckets, so no item is hot: at the default
budget (9,000 a minute, 10 % headroom) and 10 shards, each shard's item of the current second takes at most
15 writes.

Why the limit holds
-------------------
Xero counts calls in a rolling 60 s window when they arrive. A call granted in bucket ``b`` arrives in that
bucket or, at most ``latency_ms`` later, in a later one; so the calls Xero sees in any 60 s window were
granted in at most ``60 000 / bucket_ms + 1 + ceil(latency_ms / bucket_ms)`` consecutive buckets (62 with
1 s buckets and up to 1 s between the grant and the arrival). Their sum is at most that many buckets'
budget: 62 x 150 = 9,300 at the defaults, under 10,000. :meth:`AppLimits.worst_case_per_window` says it,
and the limits refuse a configuration where it would exceed the limit.

Priorities
----------
A bucket is shared by every flow, but a lower priority may fill it only up to its *ceiling*: initial syncs
(:attr:`Priority.SYNC`) 65 % of each bucket, catch-ups 85 %, exports and webhook fetches 100 %. So whatever
the syncs ask, 35 % of the budget stays for the rest and 15 % for exports and webhooks alone; when those
ask for nothing, the syncs and catch-ups use it up to their ceilings. And when a higher priority is refused
for want of budget, it says so (the signal's *pressure*, for ``squeeze_ms``): every lower priority's
ceiling halves per level below it, so catch-ups waiting on a wave of initial syncs get the syncs' share
down to a third of each bucket (the adapter lets only catch-ups press: exports and webhook fetches have
their reserve and retry at the next bucket).

What Xero tells us
------------------
``X-AppMinLimit-Remaining`` counts calls of the whole app, ours and any other deployment's or client's.
Our own calls leave at least ``per_minute - worst_case_per_window`` (700) remaining; fewer means someone
else spends the headroom, and the limiter *squeezes*: under ``squeeze_below`` (5 %: 500) initial syncs
pause and catch-ups get half their ceiling, under ``squeeze_hard_below`` (2 %: 200) only exports and
webhook fetches go, at half their ceiling; a squeeze lasts ``squeeze_ms`` after the last low reading. An
app-minute 429 stops every call of the app until its ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["AppLimits", "AppSignal", "Priority", "catch_up_due", "catch_up_interval_seconds"]


class Priority(IntEnum):
    """Who goes first when the app's budget is short (lower first)."""

    URGENT = 0  # payment exports, webhook fetches: a user is waiting
    CATCH_UP = 1  # the scheduled catch-up
    SYNC = 2  # initial syncs: long, and fine to slow down


@dataclass(frozen=True)
class AppLimits:
    """Xero's per-app limit and how the app-wide limiter shares it.

    Parameters
    ----------
    per_minute
        Xero's calls per rolling minute for the whole app (10,000).
    headroom
        Share of ``per_minute`` never planned for (0.10): absorbs the bucket edges, latency and calls made
        outside this stack.
    shards
        Items the budget of one bucket is spread over (10): the write rate one item takes is the app's rate
        divided by this.
    bucket_ms
        Length of a bucket (1,000).
    ceilings
        Share of each bucket a priority may fill, by :class:`Priority` value.
    max_latency_ms
        Longest time assumed between a grant and the call's arrival at Xero (the per-tenant limiter's grant
        is re-stamped when it is later than that).
    squeeze_below, squeeze_hard_below, squeeze_ms
        Shares of ``per_minute`` (5 %, 2 %) and a duration: see the module notes.
    """

    per_minute: int = 10_000
    headroom: float = 0.10
    shards: int = 10
    bucket_ms: int = 1_000
    ceilings: tuple[float, float, float] = (1.0, 0.85, 0.65)
    max_latency_ms: int = 1_000
    squeeze_below: float = 0.05
    squeeze_hard_below: float = 0.02
    squeeze_ms: int = 5_000

    def __post_init__(self) -> None:
        if not 0 <= self.headroom < 1:
            raise ValueError("headroom must be in [0, 1)")
        if self.shards < 1 or self.bucket_ms < 1 or self.per_minute < 1:
            raise ValueError("per_minute, shards and bucket_ms must be positive")
        if len(self.ceilings) != len(Priority) or not all(0 <= c <= 1 for c in self.ceilings):
            raise ValueError("one ceiling in [0, 1] per priority")
        if self.bucket_budget < 1:
            raise ValueError("the budget must leave at least one call per bucket")
        if self.worst_case_per_window() > self.per_minute:
            raise ValueError(
                f"{self.worst_case_per_window()} calls could reach Xero in one minute, over"
                f" {self.per_minute}: raise the headroom or shorten the buckets"
            )

    @property
    def budget_per_minute(self) -> int:
        """Calls a minute the limiter plans for: ``per_minute`` less the headroom."""
        return math.floor(self.per_minute * (1 - self.headroom))

    @property
    def buckets_per_window(self) -> int:
        return math.ceil(60_000 / self.bucket_ms)

    @property
    def bucket_budget(self) -> int:
        """Calls granted per bucket, over every shard."""
        return self.budget_per_minute // self.buckets_per_window

    def worst_case_per_window(self) -> int:
        """The most calls Xero can count in one rolling minute from what this limiter grants."""
        buckets = self.buckets_per_window + 1 + math.ceil(self.max_latency_ms / self.bucket_ms)
        return buckets * self.bucket_budget

    def shard_capacity(self, shard: int) -> int:
        """One shard's share of a bucket (the remainder goes to the first shards)."""
        base, extra = divmod(self.bucket_budget, self.shards)
        return base + (1 if shard < extra else 0)

    def cap(self, shard: int, priority: Priority, squeeze: int = 0, pressed: Priority | None = None) -> int:
        """How far ``priority`` may fill ``shard``'s bucket under a squeeze level (0 none, 1, 2) and while
        a higher priority is short of budget (``pressed``: each level below it gets half the ceiling of the
        level above)."""
        ceiling = self.ceilings[priority]
        if pressed is not None and priority > pressed:
            ceiling = ceiling * 0.5 ** (priority - pressed)
        if squeeze >= 2:
            ceiling = ceiling / 2 if priority is Priority.URGENT else 0.0
        elif squeeze == 1:
            ceiling = {Priority.URGENT: ceiling, Priority.CATCH_UP: ceiling / 2}.get(priority, 0.0)
        return math.floor(self.shard_capacity(shard) * ceiling)

    def squeeze_level(self, app_remaining: int) -> int:
        """The squeeze an ``X-AppMinLimit-Remaining`` reading asks for (0: none)."""
        if app_remaining < self.per_minute * self.squeeze_hard_below:
            return 2
        if app_remaining < self.per_minute * self.squeeze_below:
            return 1
        return 0

    def priority_budget_per_minute(self, priority: Priority) -> int:
        """Calls a minute ``priority`` can get when nothing else asks (its ceiling of every bucket)."""
        per_bucket = sum(self.cap(shard, priority) for shard in range(self.shards))
        return per_bucket * self.buckets_per_window


@dataclass(frozen=True)
class AppSignal:
    """What Xero told the app lately (one DynamoDB item every Lambda reads, cached for a second)."""

    blocked_until: int = 0  # an app-minute 429: no call before this (epoch ms)
    squeeze: int = 0  # the level of the last low ``X-AppMinLimit-Remaining``
    squeeze_until: int = 0  # ... and how long it holds (epoch ms)
    app_remaining: int | None = None  # the last low reading
    observed_at: int = 0
    pressed: int = len(Priority)  # the highest priority refused lately for want of budget (none: past them)
    pressed_until: int = 0

    def level(self, now_ms: int) -> int:
        return self.squeeze if self.squeeze_until > now_ms else 0

    def pressure(self, now_ms: int) -> Priority | None:
        """The priority short of budget now, whose lower ones give way to it."""
        return (
            Priority(self.pressed) if self.pressed_until > now_ms and self.pressed < len(Priority) else None
        )


def catch_up_interval_seconds(
    tenants: int,
    *,
    calls_per_catch_up: float,
    limits: AppLimits,
    share: float = 0.5,
    minimum_seconds: int = 300,
) -> int:
    """How often each tenant can be caught up so that catch-ups take at most ``share`` of the budget.

    Every connected tenant is caught up once per interval at ``calls_per_catch_up`` calls each; the interval
    is the schedule's own (``minimum_seconds``, 5 minutes) until the tenants' calls would need more than
    ``share`` of what catch-ups may use (their ceiling of every bucket), then it grows with the tenants,
    in whole schedule ticks: 10,000 tenants at 7 calls each, half of 7,200 a minute: 20 minutes.
    """
    if tenants <= 0:
        return minimum_seconds
    per_minute = limits.priority_budget_per_minute(Priority.CATCH_UP) * share
    needed = tenants * calls_per_catch_up / per_minute * 60
    return max(1, math.ceil(needed / minimum_seconds)) * minimum_seconds


def catch_up_due(tenant_id: str, *, now_s: float, interval_seconds: int, tick_seconds: int) -> bool:
    """Is ``tenant_id``'s catch-up due at the schedule tick of ``now_s``?

    An interval of ``k`` ticks splits the tenants into ``k`` stable groups (by a hash of the tenant id) and
    catches one group up per tick, so each tenant is caught up once per interval and every tick costs
    about the same.
    """
    rounds = max(1, math.ceil(interval_seconds / tick_seconds))
    if rounds == 1:
        return True
    slot = int.from_bytes(hashlib.sha256(tenant_id.encode()).digest()[:8], "big") % rounds
    return slot == math.floor(now_s / tick_seconds) % rounds
