"""The app-wide Xero limiter: every function's calls, across every tenant, within Xero's per-app minute.

It stands beside the per-tenant limiter (:mod:`xero_bridge.adapters.aws.rate_limiter`): a call first takes
its tenant's slot, then one unit of the app's budget (:meth:`AppLimiter.try_acquire`), with a priority.
The arithmetic (buckets, shards, ceilings, squeezes) is :mod:`xero_bridge.domain.app_budget`.

Items (``ConnectionsTable``, TTL ``expires_at``)
------------------------------------------------
=================  =========================  ===============  =============================================
item               pk                         sk               attributes
=================  =========================  ===============  =============================================
budget bucket      ``RATE#APP#{shard:02d}``   ``B#{bucket}``   ``n`` calls granted, ``expires_at`` (2 min)
signal             ``RATE#APP``               ``SIGNAL``       ``blocked_until``, ``squeeze``,
                                                               ``squeeze_until``, ``app_remaining``,
                                                               ``pressed``, ``pressed_until``,
                                                               ``observed_at`` (epoch ms)
=================  =========================  ===============  =============================================

A grant is one ``UpdateItem`` (``ADD n 1`` if ``n`` is under the priority's cap): no read, no retry loop,
no version. A caller starts at a random shard and tries at most ``tries`` shards; a shard found full is
remembered for the rest of its bucket, so a saturated second costs each container a few refused writes,
not one per call. The signal is written only when Xero's answers say something (a low
``X-AppMinLimit-Remaining``, an app-minute 429) and read at most once a second per container.

:class:`InMemoryBudgetStore` is the same store in a dict: the scale simulation (``make bench BENCH=scale``)
runs this limiter over it with a simulated clock, counting the DynamoDB requests it would make.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

from botocore.exceptions import ClientError

from xero_bridge.adapters.aws.dynamodb import DynamoDBTableAdapter, is_conditional_check_failure
from xero_bridge.domain.app_budget import AppLimits, AppSignal, Priority
from xero_bridge.errors import RateLimiterUnavailable, RateLimitWaitExceeded
from xero_bridge.observability import logger

__all__ = ["AppGrant", "AppLimiter", "AppWait", "BudgetStore", "DynamoDBBudgetStore", "InMemoryBudgetStore"]

BUCKET_TTL_SECONDS = 120
#: How many buckets a refused caller spreads its next try over, by priority (see ``AppLimiter._spread``).
RETRY_SPREAD_BUCKETS = {Priority.URGENT: 0, Priority.CATCH_UP: 1, Priority.SYNC: 2}
#: Priorities whose refusals make lower ones give way (``AppLimiter._press``). Not the urgent one: it has its
#: own reserve in every bucket and comes back at the next, and a bucket it finds full for a moment would
#: otherwise halve everyone else's share while it used little of what it freed.
PRESSING = frozenset({Priority.CATCH_UP})
#: ... growing with the refusals in a row up to this many times.
RETRY_SPREAD_MAX = 8


@dataclass(frozen=True)
class AppGrant:
    """One unit of the app's budget, taken at ``at_ms``."""

    shard: int
    bucket: int
    at_ms: int


@dataclass(frozen=True)
class AppWait:
    """No unit now: look again at ``at_ms``; ``reason`` is ``budget``, ``squeezed`` or ``appminute``."""

    at_ms: int
    reason: str

    def exceeded(self, tenant_id: str) -> RateLimitWaitExceeded:
        """The error of a caller that cannot wait until ``at_ms`` (``reason`` ``app_budget``, ``app_squeezed``
        or ``appminute``)."""
        reason = self.reason if self.reason == "appminute" else f"app_{self.reason}"
        return RateLimitWaitExceeded(tenant_id, _to_datetime(self.at_ms), reason)


class _Moment(NamedTuple):
    """Where a grant or a peek starts (see ``AppLimiter._moment``)."""

    now_ms: int
    level: int
    pressed: Priority | None
    bucket: int
    next_bucket_ms: int
    squeeze_until: int


class BudgetStore(Protocol):
    """Where the buckets and the signal live (DynamoDB; a dict in the simulation)."""

    def take(self, shard: int, bucket: int, cap: int, expires_at: int) -> bool:
        """Add one to the bucket's count if it is under ``cap``; False when it is not."""
        ...

    def count(self, shard: int, bucket: int) -> int:
        """The bucket's count as last written (an eventually consistent read is enough)."""
        ...

    def read_signal(self) -> AppSignal: ...

    def write_signal(self, signal: AppSignal) -> None:
        """Store ``signal`` unless a later observation is already stored."""
        ...


class DynamoDBBudgetStore(DynamoDBTableAdapter):
    """:class:`BudgetStore` over ``ConnectionsTable`` (its table and client as every table adapter's)."""

    def take(self, shard: int, bucket: int, cap: int, expires_at: int) -> bool:
        try:
            self.client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"RATE#APP#{shard:02d}"}, "sk": {"S": f"B#{bucket}"}},
                UpdateExpression="ADD #n :one SET expires_at = if_not_exists(expires_at, :ttl)",
                ConditionExpression="attribute_not_exists(#n) OR #n < :cap",
                ExpressionAttributeNames={"#n": "n"},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":cap": {"N": str(cap)},
                    ":ttl": {"N": str(expires_at)},
                },
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                return False
            raise RateLimiterUnavailable("could not take a unit of the app's Xero budget") from exc
        return True

    def count(self, shard: int, bucket: int) -> int:
        try:
            item = self.client.get_item(
                TableName=self._table,
                Key={"pk": {"S": f"RATE#APP#{shard:02d}"}, "sk": {"S": f"B#{bucket}"}},
                ProjectionExpression="#n",
                ExpressionAttributeNames={"#n": "n"},
            ).get("Item", {})
        except ClientError as exc:
            raise RateLimiterUnavailable("could not read the app's Xero budget") from exc
        return int(item["n"]["N"]) if "n" in item else 0

    def read_signal(self) -> AppSignal:
        try:
            item = self.client.get_item(TableName=self._table, Key=_SIGNAL_KEY).get("Item", {})
        except ClientError as exc:
            raise RateLimiterUnavailable("could not read the app's Xero signal") from exc
        numbers = {name: int(value["N"]) for name, value in item.items() if "N" in value}
        return AppSignal(
            blocked_until=numbers.get("blocked_until", 0),
            squeeze=numbers.get("squeeze", 0),
            squeeze_until=numbers.get("squeeze_until", 0),
            app_remaining=numbers.get("app_remaining"),
            observed_at=numbers.get("observed_at", 0),
            pressed=numbers.get("pressed", len(Priority)),
            pressed_until=numbers.get("pressed_until", 0),
        )

    def write_signal(self, signal: AppSignal) -> None:
        values = {
            "blocked_until": signal.blocked_until,
            "squeeze": signal.squeeze,
            "squeeze_until": signal.squeeze_until,
            "observed_at": signal.observed_at,
            "pressed": signal.pressed,
            "pressed_until": signal.pressed_until,
        }
        if signal.app_remaining is not None:
            values["app_remaining"] = signal.app_remaining
        try:
            self.client.update_item(
                TableName=self._table,
                Key=_SIGNAL_KEY,
                UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values),
                ConditionExpression="attribute_not_exists(#observed_at) OR #observed_at <= :observed_at",
                ExpressionAttributeNames={f"#{name}": name for name in values},
                ExpressionAttributeValues={f":{name}": {"N": str(value)} for name, value in values.items()},
            )
        except ClientError as exc:
            if not is_conditional_check_failure(exc):
                raise RateLimiterUnavailable("could not record the app's Xero signal") from exc


_SIGNAL_KEY: dict[str, dict[str, str]] = {"pk": {"S": "RATE#APP"}, "sk": {"S": "SIGNAL"}}


class InMemoryBudgetStore:
    """:class:`BudgetStore` in a dict, counting the DynamoDB requests the real one would make."""

    def __init__(self) -> None:
        self.buckets: dict[tuple[int, int], int] = {}
        self.signal = AppSignal()
        self.requests = 0
        self._lock = threading.Lock()

    def take(self, shard: int, bucket: int, cap: int, expires_at: int) -> bool:
        with self._lock:
            self.requests += 1
            count = self.buckets.get((shard, bucket), 0)
            if count >= cap:
                return False
            self.buckets[(shard, bucket)] = count + 1
            return True

    def count(self, shard: int, bucket: int) -> int:
        with self._lock:
            self.requests += 1
            return self.buckets.get((shard, bucket), 0)

    def read_signal(self) -> AppSignal:
        with self._lock:
            self.requests += 1
            return self.signal

    def write_signal(self, signal: AppSignal) -> None:
        with self._lock:
            self.requests += 1
            if signal.observed_at >= self.signal.observed_at:
                self.signal = signal


class AppLimiter:
    """Xero's per-app minute limit, shared by every Lambda of the stack.

    Parameters
    ----------
    store
        The buckets and the signal (:class:`DynamoDBBudgetStore` in AWS).
    limits
        The budget, its shards and ceilings (:class:`~xero_bridge.domain.app_budget.AppLimits`).
    clock, sleep
        Epoch seconds and a sleep in the same seconds (the per-tenant limiter's, so both agree when scaled).
    tries
        Shards tried before a caller waits for the next bucket.
    signal_max_age_ms
        How long a container reuses the signal it read.
    rng
        Randomness (the first shard, the jitter); seeded in the simulation.
    """

    def __init__(
        self,
        store: BudgetStore,
        *,
        limits: AppLimits | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        tries: int = 3,
        signal_max_age_ms: int = 1_000,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.limits = limits or AppLimits()
        self._clock = clock
        self._sleep = sleep
        self._tries = max(1, min(tries, self.limits.shards))
        self._signal_max_age_ms = signal_max_age_ms
        self._random = rng or random.Random()
        self._signal: AppSignal | None = None
        self._signal_read_ms = -(10**15)
        self._full: set[tuple[int, int, int]] = set()  # (bucket, shard, cap) found full
        self._full_bucket = -1
        self._lock = threading.Lock()
        self.granted = 0

    # --- taking the budget ----------------------------------------------------------------------------

    def try_acquire(
        self, priority: Priority, now_ms: int | None = None, *, refusals: int = 0
    ) -> AppGrant | AppWait:
        """One unit of the budget for a call about to start, or when to ask again (never sleeps).

        ``refusals``: how many times in a row this caller was refused; its next try is spread wider
        (see :meth:`_spread`).
        """
        moment = self._moment(now_ms)
        if isinstance(moment, AppWait):
            return moment
        now_ms, level, pressed, bucket, next_bucket_ms, _ = moment
        limits = self.limits
        if limits.cap(0, priority, level, pressed) <= 0:  # this priority is paused by the squeeze
            return self._squeezed(moment, priority, refusals)
        with self._lock:
            if bucket != self._full_bucket:
                self._full.clear()
                self._full_bucket = bucket
        start = self._random.randrange(limits.shards)
        tried = 0
        for offset in range(limits.shards):
            shard = (start + offset) % limits.shards
            cap = limits.cap(shard, priority, level, pressed)
            if cap <= 0 or (bucket, shard, cap) in self._full:
                continue
            expires_at = math.ceil(next_bucket_ms / 1000) + BUCKET_TTL_SECONDS
            if self.store.take(shard, bucket, cap, expires_at):
                self.granted += 1
                return AppGrant(shard, bucket, now_ms)
            with self._lock:
                self._full.add((bucket, shard, cap))
            tried += 1
            if tried >= self._tries:
                break
        self._press(priority, now_ms)
        at_ms = self._spread(next_bucket_ms, priority, refusals)
        return AppWait(at_ms, "budget" if level == 0 else "squeezed")

    def peek(self, priority: Priority, now_ms: int | None = None, *, refusals: int = 0) -> AppWait | None:
        """Is there likely room for ``priority`` now? None if so, else when to look again (one read).

        Reads one random shard's count of the current bucket: shards fill evenly, so a full one means a
        spent bucket. A caller peeks before it takes its tenant's slot, so that waiting on a spent budget
        costs a read, not a slot granted and cancelled.
        """
        moment = self._moment(now_ms)
        if isinstance(moment, AppWait):
            return moment
        now_ms, level, pressed, bucket, next_bucket_ms, _ = moment
        limits = self.limits
        shard = self._random.randrange(limits.shards)
        cap = limits.cap(shard, priority, level, pressed)
        if cap <= 0:
            return self._squeezed(moment, priority, refusals)
        if (bucket, shard, cap) in self._full or self.store.count(shard, bucket) >= cap:
            self._press(priority, now_ms)
            return AppWait(self._spread(next_bucket_ms, priority, refusals), "budget")
        return None

    def acquire(
        self, priority: Priority, *, tenant_id: str = "", max_wait: float | None = None, refusals: int = 0
    ) -> AppGrant:
        """Wait for a unit of the budget (at most ``max_wait`` seconds of the limiter's clock).

        ``refusals``: the caller's refusals in a row so far (its backoff; see :meth:`try_acquire`).

        Raises
        ------
        RateLimitWaitExceeded
            No unit before ``max_wait`` ends (``reason`` ``app_budget``, ``app_squeezed`` or ``appminute``).
        """
        deadline_ms = None if max_wait is None else self._now_ms() + math.ceil(max_wait * 1000)
        refused = refusals
        while True:
            now_ms = self._now_ms()
            answer = self.try_acquire(priority, now_ms, refusals=refused)
            if isinstance(answer, AppGrant):
                return answer
            refused += 1
            wake_ms = answer.at_ms + self._random.randrange(0, max(1, self.limits.bucket_ms // 4))
            if deadline_ms is not None and wake_ms > deadline_ms:
                raise answer.exceeded(tenant_id or "(app)")
            self._sleep(max(0, wake_ms - now_ms) / 1000)

    # --- what Xero says -------------------------------------------------------------------------------

    def observe(self, app_remaining: int | None, now_ms: int | None = None) -> None:
        """Read ``X-AppMinLimit-Remaining``: a low one squeezes every Lambda for ``squeeze_ms``.

        Writes only when the reading raises the squeeze or the stored one is half spent, so a squeezed app
        writes the signal a few times a squeeze, not once a call.
        """
        if app_remaining is None:
            return
        now_ms = self._now_ms() if now_ms is None else now_ms
        level = self.limits.squeeze_level(app_remaining)
        if level == 0:
            return
        current = self.signal(now_ms)
        half_spent = current.squeeze_until - now_ms < self.limits.squeeze_ms // 2
        if level <= current.level(now_ms) and not half_spent:
            return
        logger.warning(
            "Xero's app-wide minute is nearly spent: lower priorities wait",
            extra={"app_minute_remaining": app_remaining, "squeeze": level},
        )
        self._publish(
            replace(
                current,
                squeeze=max(level, current.level(now_ms)),
                squeeze_until=now_ms + self.limits.squeeze_ms,
                app_remaining=app_remaining,
                observed_at=now_ms,
            )
        )

    def _press(self, priority: Priority, now_ms: int) -> None:
        """A catch-up or an urgent call found no budget: lower priorities give way for ``squeeze_ms``.

        Written only when it raises the pressure or the stored one is half spent.
        """
        if priority not in PRESSING:
            return
        current = self.signal(now_ms)
        pressed = current.pressure(now_ms)
        half_spent = current.pressed_until - now_ms < self.limits.squeeze_ms // 2
        if pressed is not None and pressed <= priority and not half_spent:
            return
        self._publish(
            replace(
                current,
                pressed=min(priority, pressed if pressed is not None else priority),
                pressed_until=now_ms + self.limits.squeeze_ms,
                observed_at=now_ms,
            )
        )

    def note_app_limited(self, retry_after_seconds: float, now_ms: int | None = None) -> datetime:
        """An app-minute 429: no Lambda calls Xero, for any tenant, before ``Retry-After`` ends."""
        now_ms = self._now_ms() if now_ms is None else now_ms
        until = now_ms + max(0, math.ceil(retry_after_seconds * 1000))
        current = self.signal(now_ms)
        if current.blocked_until < until:
            logger.warning("Xero's app-wide minute limit hit: every call waits", extra={"until_ms": until})
            self._publish(replace(current, blocked_until=until, observed_at=now_ms))
        return _to_datetime(until)

    def signal(self, now_ms: int | None = None) -> AppSignal:
        """The signal, read at most once per ``signal_max_age_ms``."""
        now_ms = self._now_ms() if now_ms is None else now_ms
        if self._signal is None or now_ms - self._signal_read_ms >= self._signal_max_age_ms:
            self._signal = self.store.read_signal()
            self._signal_read_ms = now_ms
        return self._signal

    # --- inside -----------------------------------------------------------------------------------------

    def _moment(self, now_ms: int | None) -> _Moment | AppWait:
        """What a grant and a peek both start from: the squeeze and pressure now and the current bucket, or
        the wait for the end of an app-minute block."""
        now_ms = self._now_ms() if now_ms is None else now_ms
        signal = self.signal(now_ms)
        if signal.blocked_until > now_ms:
            return AppWait(signal.blocked_until, "appminute")
        bucket = now_ms // self.limits.bucket_ms
        next_bucket_ms = (bucket + 1) * self.limits.bucket_ms
        return _Moment(
            now_ms,
            signal.level(now_ms),
            signal.pressure(now_ms),
            bucket,
            next_bucket_ms,
            signal.squeeze_until,
        )

    def _squeezed(self, moment: _Moment, priority: Priority, refusals: int) -> AppWait:
        """The wait of a priority the squeeze pauses: past the squeeze, and at least to the next bucket."""
        at_ms = self._spread(max(moment.squeeze_until, moment.next_bucket_ms), priority, refusals)
        return AppWait(at_ms, "squeezed")

    def _publish(self, signal: AppSignal) -> None:
        self.store.write_signal(signal)
        self._signal = signal  # this container sees it at once; the others within a second

    def _spread(self, at_ms: int, priority: Priority, refusals: int) -> int:
        """When a refused caller tries again: ``at_ms`` plus a random share of its backoff.

        Urgent callers come back at the next bucket. Catch-ups and syncs back off exponentially with their
        refusals in a row (from :data:`RETRY_SPREAD_BUCKETS` buckets up to :data:`RETRY_SPREAD_MAX`
        times that), so that a thousand page fetchers waiting on a spent budget knock about as often as
        units free, not each every second; every one of them is drawn from the same range, so no tenant's
        sync is favoured.
        """
        base = RETRY_SPREAD_BUCKETS[priority] * self.limits.bucket_ms
        if not base:
            return at_ms
        spread = base * min(2 ** max(0, refusals), RETRY_SPREAD_MAX)
        return at_ms + self._random.randrange(spread)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


def _to_datetime(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
