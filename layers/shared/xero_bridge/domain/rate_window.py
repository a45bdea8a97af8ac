"""Pure arithmetic of Xero's per-tenant rate limits: a rolling minute window, concurrent leases, a day.

Xero allows, per app and tenant, 60 calls in any rolling 60 seconds, 5 calls in flight and 5,000 calls a day.
This module decides, from one snapshot of what every Lambda has recorded (:class:`WindowState`), whether a
call may start now and, if not, exactly when the next slot frees. It does no I/O and reads no clock: every
function takes ``now_ms`` (epoch milliseconds), so the same rules run under a real, a scaled or a fake clock.

Times are integer epoch milliseconds throughout: DynamoDB stores them exactly and comparisons are exact.

How a call occupies the minute window
-------------------------------------
A call recorded at ``t`` occupies a minute slot while ``now < t + span_ms`` and frees it at
``t + span_ms`` exactly, where ``span_ms = window_ms + padding_ms``. With ``padding_ms = 0`` the 61st call
starts exactly 60 s after the first, which is the most Xero's rule allows. ``padding_ms`` covers the one
thing our window cannot see: Xero counts a call when the request *arrives*, a few tens to hundreds of
milliseconds after we record it, and that delay varies from call to call. If the call that frees a slot
arrived late and the call that reuses it arrives early, Xero would see 61 calls in its window. A padding
of one second costs 1/61 (1.6 %) of the rate and absorbs that jitter; a count margin (``safety_margin``)
would cost a whole call per minute and protect against nothing the window does not already count exactly.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

MS_PER_DAY = 86_400_000


@dataclass(frozen=True)
class RateLimits:
    """Xero's limits for one tenant and how closely we run to them.

    Parameters
    ----------
    per_minute
        Calls allowed in any rolling window of ``window_ms`` (Xero: 60).
    concurrent
        Calls allowed in flight at once (Xero: 5).
    per_day
        Calls allowed per UTC day (Xero: 5,000); our own count is only a safety net behind Xero's 429.
    safety_margin
        Minute slots deliberately left unused (0 by default: the window is exact; see the module notes).
    window_ms
        Length of the rolling window (60,000).
    padding_ms
        Extra time a call keeps its minute slot, to absorb the jitter between recording a call and its
        arrival at Xero (1,000 by default).
    lease_ms
        How long a call may hold a concurrency slot. A lease not released by then (a crashed or timed-out
        Lambda) frees its slot by itself, so it must be longer than the HTTP client's whole timeout.
    """

    per_minute: int = 60
    concurrent: int = 5
    per_day: int = 5000
    safety_margin: int = 0
    window_ms: int = 60_000
    padding_ms: int = 1_000
    lease_ms: int = 30_000

    def __post_init__(self) -> None:
        if self.per_minute - self.safety_margin < 1:
            raise ValueError("per_minute - safety_margin must leave at least one call per window")
        if self.safety_margin < 0 or self.padding_ms < 0:
            raise ValueError("safety_margin and padding_ms cannot be negative")
        if self.concurrent < 1 or self.per_day < 1 or self.window_ms < 1 or self.lease_ms < 1:
            raise ValueError("concurrent, per_day, window_ms and lease_ms must be positive")

    @property
    def minute_capacity(self) -> int:
        """Calls we let start in one window: ``per_minute - safety_margin``."""
        return self.per_minute - self.safety_margin

    @property
    def span_ms(self) -> int:
        """How long one call keeps its minute slot: ``window_ms + padding_ms``."""
        return self.window_ms + self.padding_ms

    @property
    def retention_ms(self) -> int:
        """How long a call's start time is kept: one span plus one lease.

        A quota header read at the end of a call (at most ``lease_ms`` after it started) is compared with
        every call that Xero could have counted with it, so those must still be on record then.
        """
        return self.span_ms + self.lease_ms


@dataclass(frozen=True)
class WindowState:
    """What every Lambda has recorded for one tenant (one DynamoDB item), times in epoch ms.

    Attributes
    ----------
    calls
        Start times of recent calls, ascending.
    leases
        Calls in flight: lease id -> expiry.
    blocked_until
        Xero answered a minute, concurrent or app-minute 429: no call before this time.
    day_blocked_until
        Xero answered a day 429: no call before this time.
    day, day_count
        The UTC day (``YYYY-MM-DD``) and the calls we counted on it.
    unseen_calls, unseen_until
        Calls Xero reported (through ``X-MinLimit-Remaining``) that our window does not hold, and when the
        last of them leaves Xero's window at the latest.
    """

    calls: tuple[int, ...] = ()
    leases: Mapping[str, int] = field(default_factory=dict)
    blocked_until: int = 0
    day_blocked_until: int = 0
    day: str | None = None
    day_count: int = 0
    unseen_calls: int = 0
    unseen_until: int = 0


class Reason(StrEnum):
    """Why a call may not start now (or ``GO`` when it may)."""

    GO = "go"
    BLOCKED = "blocked"  # a 429's Retry-After is running
    MINUTE = "minute"  # the rolling window is full
    CONCURRENT = "concurrent"  # every concurrency slot is leased
    DAY = "day"  # the day's allowance is spent: waiting is not an answer, the caller must stop


@dataclass(frozen=True)
class Decision:
    """The answer of :func:`decide`.

    ``at_ms`` is ``now_ms`` for ``GO``; for a wait, the earliest time every limit allows a call (exact when
    nothing else is recorded meanwhile; earlier when a concurrency wait polls for a release, see
    :func:`decide`); for ``DAY``, when the day's allowance is expected back.
    """

    reason: Reason
    at_ms: int

    @property
    def go(self) -> bool:
        return self.reason is Reason.GO


def utc_day(now_ms: int) -> str:
    """The UTC calendar day of ``now_ms`` as ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC).date().isoformat()


def next_utc_midnight_ms(now_ms: int) -> int:
    """The first UTC midnight strictly after ``now_ms``."""
    return (now_ms // MS_PER_DAY + 1) * MS_PER_DAY


def prune(state: WindowState, now_ms: int, limits: RateLimits) -> WindowState:
    """Forget what no longer matters at ``now_ms``.

    Drops call times older than :attr:`RateLimits.retention_ms`, expired leases, elapsed blocks and unseen
    calls, and restarts the day count on a new UTC day. Pruning never changes a :func:`decide` answer.
    """
    horizon = now_ms - limits.retention_ms
    today = utc_day(now_ms)
    return replace(
        state,
        calls=tuple(sorted(t for t in state.calls if t > horizon)),
        leases={lease_id: exp for lease_id, exp in state.leases.items() if exp > now_ms},
        blocked_until=state.blocked_until if state.blocked_until > now_ms else 0,
        day_blocked_until=state.day_blocked_until if state.day_blocked_until > now_ms else 0,
        day=today,
        day_count=state.day_count if state.day == today else 0,
        unseen_calls=state.unseen_calls if state.unseen_until > now_ms else 0,
        unseen_until=state.unseen_until if state.unseen_until > now_ms else 0,
    )


def minute_used(state: WindowState, now_ms: int, limits: RateLimits) -> int:
    """Minute slots taken at ``now_ms``: recorded calls still in the window plus unseen ones."""
    in_window = sum(1 for t in state.calls if t + limits.span_ms > now_ms)
    unseen = state.unseen_calls if state.unseen_until > now_ms else 0
    return in_window + unseen


def live_leases(state: WindowState, now_ms: int) -> int:
    """Calls in flight at ``now_ms`` (leases not yet expired)."""
    return sum(1 for exp in state.leases.values() if exp > now_ms)


def minute_free_at(state: WindowState, now_ms: int, limits: RateLimits) -> int:
    """Earliest time ``>= now_ms`` at which the minute window has a free slot, if nothing new is recorded."""
    capacity = limits.minute_capacity
    if minute_used(state, now_ms, limits) < capacity:
        return now_ms
    # Slots free only when a call leaves the window or the unseen calls expire: try those instants in order.
    instants = sorted({t + limits.span_ms for t in state.calls if t + limits.span_ms > now_ms})
    if state.unseen_calls and state.unseen_until > now_ms:
        bisect.insort(instants, state.unseen_until)
    for instant in instants:
        if minute_used(state, instant, limits) < capacity:
            return instant
    # Unreachable: once every call and the unseen ones have left, the window is empty.
    return instants[-1] if instants else now_ms


def concurrency_free_at(state: WindowState, now_ms: int, limits: RateLimits) -> int:
    """Earliest time ``>= now_ms`` at which fewer than ``concurrent`` leases are live (none released)."""
    live = sorted(exp for exp in state.leases.values() if exp > now_ms)
    if len(live) < limits.concurrent:
        return now_ms
    return live[len(live) - limits.concurrent]


def decide(
    state: WindowState, now_ms: int, limits: RateLimits, *, release_poll_ms: int | None = None
) -> Decision:
    """May a call start at ``now_ms``? If not, when should the caller look again, or must it stop?

    Each limit, once satisfied, stays satisfied while nothing new is recorded (calls and leases only
    expire), so the earliest time all are satisfied is the latest of their individual times.

    Parameters
    ----------
    release_poll_ms
        A concurrency slot usually frees when its call ends and releases the lease, long before the
        lease expires, and nobody can predict when. With this set, a wait bound by concurrency looks again
        after at most this long instead of waiting for the earliest expiry. Waits bound by the minute
        window or a 429 are exact and never shortened.
    """
    if state.day_blocked_until > now_ms:
        return Decision(Reason.DAY, state.day_blocked_until)
    if state.day == utc_day(now_ms) and state.day_count >= limits.per_day:
        return Decision(Reason.DAY, next_utc_midnight_ms(now_ms))
    concurrency_at = concurrency_free_at(state, now_ms, limits)
    if release_poll_ms is not None and concurrency_at > now_ms:
        concurrency_at = min(concurrency_at, now_ms + max(1, release_poll_ms))
    candidates = (
        (max(state.blocked_until, now_ms), Reason.BLOCKED),
        (minute_free_at(state, now_ms, limits), Reason.MINUTE),
        (concurrency_at, Reason.CONCURRENT),
    )
    at_ms, reason = max(candidates, key=lambda c: c[0])
    if at_ms <= now_ms:
        return Decision(Reason.GO, now_ms)
    return Decision(reason, at_ms)


def admit(state: WindowState, now_ms: int, lease_id: str, limits: RateLimits) -> WindowState:
    """The state after a call starts at ``now_ms`` under ``lease_id`` (the caller checked :func:`decide`)."""
    today = utc_day(now_ms)
    return replace(
        state,
        calls=tuple(sorted((*state.calls, now_ms))),
        leases={**state.leases, lease_id: now_ms + limits.lease_ms},
        day=today,
        day_count=(state.day_count if state.day == today else 0) + 1,
    )


def unseen_calls(
    calls: Iterable[int],
    *,
    call_started_ms: int,
    observed_ms: int,
    minute_remaining: int,
    limits: RateLimits,
) -> int:
    """Calls Xero counted in its window that we have no record of, from one ``X-MinLimit-Remaining``.

    Xero counted ``per_minute - minute_remaining`` calls in its window when the request that started at
    ``call_started_ms`` arrived (some time up to ``observed_ms``, when we read the answer). Of our own calls,
    at most those started in ``(call_started_ms - span_ms, observed_ms]`` can be among them. Whatever Xero
    counted beyond that we did not record (an unlimited retry, a crashed writer, another code path) and is
    returned; it leaves Xero's window by ``observed_ms + span_ms`` at the latest. The estimate errs low, so
    a wrong hint can never cost capacity: the window alone is exact for every call we record.
    """
    xero_used = limits.per_minute - minute_remaining
    ours = sum(1 for t in calls if call_started_ms - limits.span_ms < t <= observed_ms)
    return max(0, xero_used - ours)
