"""Per-tenant Xero rate limiter shared by every concurrent Lambda, backed by one DynamoDB item per tenant.

Every HTTP attempt to Xero for a tenant runs inside a slot::

    limiter = DynamoDBRateLimiter(table_name)
    with limiter.slot(tenant_id) as lease:
        response = http.get(...)
        lease.record_quota(minute_remaining=..., day_remaining=..., app_minute_remaining=...)
    # on a 429: limiter.note_rate_limited(tenant_id, problem, retry_after_seconds)

A slot is granted only when the tenant's rolling minute window, its concurrency slots and its day allow a
call; otherwise the caller sleeps until exactly when the next slot frees (the window arithmetic is in
:mod:`xero_bridge.domain.rate_window`). So a sync runs at Xero's limit, not below it, and does not trip it.

The item (table keys ``pk``/``sk``, strings; one item per tenant)
------------------------------------------------------------------
=====================  ====  ========================================================================
attribute              type  meaning
=====================  ====  ========================================================================
``pk``                 S     ``RATE#{tenant_id}``
``sk``                 S     ``LIMITER``
``calls``              S     start times of recent calls, ascending, kept for ``retention_ms`` (one
                             minute + padding + one lease), packed: the first in epoch ms, then each
                             as ms after the first: ``"1767229200000,15,31,1200"`` (see below)
``leases``             M/N   calls in flight: lease id -> lease expiry (epoch ms)
``blocked_until``      N     a minute/concurrent/appminute 429's Retry-After ends (epoch ms)
``day_blocked_until``  N     a day 429's Retry-After ends (epoch ms)
``day``, ``day_count``  S, N  UTC day ``YYYY-MM-DD`` and the calls counted on it
``unseen_calls``       N     calls Xero's ``X-MinLimit-Remaining`` showed that we have no record of,
``unseen_until``       N     ... until this time (epoch ms) at the latest,
``unseen_observed_at`` N     ... from the header read at this time
``minute_remaining``   N     last ``X-MinLimit-Remaining`` seen (for the connection status API)
``day_remaining``      N     last ``X-DayLimit-Remaining`` seen
``app_minute_remaining`` N   last ``X-AppMinLimit-Remaining`` seen
``quota_observed_at``  N     when those were read (epoch ms)
``version``            N     optimistic concurrency: bumped by every write that can change a decision
=====================  ====  ========================================================================

Why ``calls`` is packed in a string: at Xero's full rate the item holds up to ~90 call times. As a DynamoDB
list of numbers that is ~1 KB (two write units on every grant); packed it is about half, one write unit,
and reading and writing it is several times cheaper for DynamoDB (and for moto in the tests).

Concurrency: granting a slot is a conditional write on ``version`` (the value just read), replacing
``calls`` and adding one ``leases`` entry. Writes that make the limiter *stricter* (a 429, unseen calls) bump
``version``, so a grant computed before them fails and is recomputed. A release only removes its own lease
entry and never bumps ``version``: a grant computed before a release is merely conservative. A lease not
released (a crashed Lambda) expires by itself after ``lease_ms``.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from xero_bridge.adapters.aws import clients
from xero_bridge.adapters.aws.dynamodb import is_conditional_check_failure
from xero_bridge.domain.rate_window import (
    RateLimits,
    Reason,
    WindowState,
    admit,
    decide,
    live_leases,
    minute_used,
    prune,
    unseen_calls,
    utc_day,
)
from xero_bridge.errors import (
    DailyLimitReached,
    RateLimiterUnavailable,
    RateLimitWaitExceeded,
)
from xero_bridge.models.pages import RateStatus
from xero_bridge.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef


#: Fixed origin of the scaled clock, so every limiter in every process agrees on the scaled time.
SCALED_CLOCK_ORIGIN = 1_767_225_600.0  # 2026-01-01T00:00:00Z

#: Rate-limit problems (``X-Rate-Limit-Problem``) that block the tenant until Retry-After ends.
SHORT_PROBLEMS = frozenset({"minute", "concurrent", "appminute"})

ATTRIBUTE_NAMES = {
    "#calls": "calls",
    "#leases": "leases",
    "#v": "version",
    "#day": "day",
    "#dc": "day_count",
}

Item = Mapping[str, Any]


# --- errors ------------------------------------------------------------------------------------------


# --- status ------------------------------------------------------------------------------------------


# --- lease -------------------------------------------------------------------------------------------


class Lease:
    """One granted call slot; release it when the HTTP attempt is over (a ``with`` block does it).

    Attributes
    ----------
    tenant_id, lease_id
        Whose slot, and its key in the item's ``leases`` map.
    started_ms, expires_ms
        Limiter-clock epoch milliseconds: when the call was recorded, and when the slot frees by itself.
    """

    def __init__(
        self, limiter: DynamoDBRateLimiter, tenant_id: str, lease_id: str, started_ms: int, expires_ms: int
    ) -> None:
        self._limiter = limiter
        self.tenant_id = tenant_id
        self.lease_id = lease_id
        self.started_ms = started_ms
        self.expires_ms = expires_ms
        self._quota: dict[str, int] = {}
        self._released = False

    @property
    def started_at(self) -> float:
        """When the call was recorded (limiter-clock epoch seconds)."""
        return self.started_ms / 1000

    @property
    def expires_at(self) -> float:
        """When the slot frees by itself if never released (limiter-clock epoch seconds)."""
        return self.expires_ms / 1000

    @property
    def released(self) -> bool:
        return self._released

    def record_quota(
        self,
        *,
        minute_remaining: int | None = None,
        day_remaining: int | None = None,
        app_minute_remaining: int | None = None,
    ) -> None:
        """Keep the response's remaining-quota headers; they are written with the release (no extra write)."""
        for name, value in (
            ("minute_remaining", minute_remaining),
            ("day_remaining", day_remaining),
            ("app_minute_remaining", app_minute_remaining),
        ):
            if value is not None:
                self._quota[name] = int(value)

    def note_rate_limited(self, problem: str, retry_after_seconds: float) -> datetime:
        """Shortcut for :meth:`DynamoDBRateLimiter.note_rate_limited` on this lease's tenant."""
        return self._limiter.note_rate_limited(self.tenant_id, problem, retry_after_seconds)

    def cancel(self) -> None:
        """Give the slot back as if the call had never been made (the app-wide budget refused it).

        Removes the call's time from the minute window and its lease; idempotent, never raises (a call
        left on record only costs its tenant one slot of one minute).
        """
        if self._released:
            return
        self._released = True
        try:
            self._limiter._cancel(self)
        except RateLimiterUnavailable:
            logger.warning(
                "could not cancel a Xero call slot; it frees by itself", extra={"tenant_id": self.tenant_id}
            )

    def restamp(self) -> None:
        """Move the call's time to now when the call starts noticeably later than its grant."""
        self.started_ms = self._limiter._late_stamp(self.tenant_id, self.started_ms)

    def release(self) -> None:
        """Free the slot (idempotent). Never raises: a lease that cannot be released expires by itself."""
        if self._released:
            return
        self._released = True
        self._limiter._release(self, dict(self._quota))

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


# --- limiter -----------------------------------------------------------------------------------------


class DynamoDBRateLimiter:
    """Xero's per-tenant limits (rolling minute, concurrency, day) enforced across every Lambda.

    Parameters
    ----------
    table_name
        A table with string keys ``pk`` and ``sk`` (the app's ConnectionsTable); the limiter owns the items
        ``pk = RATE#{tenant_id}``, ``sk = LIMITER``.
    client
        A boto3 DynamoDB client; the container's shared one (``clients.dynamodb()``) is used on first need
        when omitted (never at import).
    limits
        Xero's limits and our headroom (:class:`~xero_bridge.domain.rate_window.RateLimits`).
    clock, sleep
        Epoch seconds now, and a sleep in the same seconds. Inject both to run on the Xero emulator's clock
        (``clock=emulator.clock.timestamp, sleep=emulator.clock.sleep``) or on a fake one in tests.
    time_scale
        Test and benchmark knob only (setting ``RATE_LIMIT_TIME_SCALE``, default 1.0): without an injected
        clock, run ``time_scale`` times faster than real time, so a simulated minute lasts
        ``60 / time_scale`` real seconds. Every limiter with the same scale agrees on the time. The limits'
        ``padding_ms`` and ``lease_ms`` are scaled with it: they cover real latency and timeouts.
    jitter_seconds
        Up to this much (limiter-clock seconds) is added at random to each wait, so that waiters do not
        all wake at the same instant.
    release_poll_seconds
        While every concurrency slot is leased, look again this often (a release cannot be predicted);
        waits for the minute window or a 429 sleep exactly as long as needed.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        limits: RateLimits | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        time_scale: float = 1.0,
        jitter_seconds: float = 0.05,
        release_poll_seconds: float = 0.25,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if time_scale != 1.0 and (clock is not None or sleep is not None):
            raise ValueError("pass either time_scale or an explicit clock and sleep, not both")
        self.table_name = table_name
        self.limits = limits or RateLimits()
        if time_scale != 1.0:
            # padding_ms and lease_ms are allowances for real time (the latency between recording a call and
            # its arrival at Xero; the HTTP client's timeout), which a scaled clock does not shorten.
            self.limits = replace(
                self.limits,
                padding_ms=round(self.limits.padding_ms * time_scale),
                lease_ms=round(self.limits.lease_ms * time_scale),
            )
        self._client_instance = client
        self._clock = clock or _scaled_clock(time_scale)
        self._sleep = sleep or _scaled_sleep(time_scale)
        self._jitter_seconds = jitter_seconds
        self._release_poll_ms = max(1, math.ceil(release_poll_seconds * 1000))
        self._random = random.Random()

    # --- public API ---------------------------------------------------------------------------------

    @contextmanager
    def slot(self, tenant_id: str, *, max_wait: float | None = None) -> Iterator[Lease]:
        """``with limiter.slot(tenant_id) as lease:`` around one HTTP attempt; see :meth:`acquire`."""
        lease = self.acquire(tenant_id, max_wait=max_wait)
        try:
            yield lease
        finally:
            lease.release()

    def acquire(self, tenant_id: str, *, max_wait: float | None = None) -> Lease:
        """Wait for a call slot for ``tenant_id`` and take it.

        Parameters
        ----------
        tenant_id
            Xero tenant id.
        max_wait
            Longest wait accepted (limiter-clock seconds); ``None`` waits as long as it takes.

        Returns
        -------
        Lease
            The granted slot; the call is already counted in the minute window and the day.

        Raises
        ------
        DailyLimitReached
            Xero answered a day 429 whose Retry-After is still running, or we counted ``per_day`` calls today.
        RateLimitWaitExceeded
            The next slot frees later than ``max_wait`` from now.
        RateLimiterUnavailable
            DynamoDB failed.
        """
        deadline_ms = None if max_wait is None else self._now_ms() + math.ceil(max_wait * 1000)
        item = self._read(tenant_id)
        while True:
            now_ms = self._now_ms()
            state = prune(decode_state(item), now_ms, self.limits)
            decision = decide(state, now_ms, self.limits, release_poll_ms=self._release_poll_ms)
            if decision.reason is Reason.DAY:
                raise DailyLimitReached(tenant_id, _to_datetime(decision.at_ms))
            if decision.go:
                lease_id = uuid.uuid4().hex
                current = self._try_admit(tenant_id, item, state, now_ms, lease_id)
                if current is None:
                    started_ms = self._late_stamp(tenant_id, now_ms)
                    return Lease(self, tenant_id, lease_id, started_ms, now_ms + self.limits.lease_ms)
                item = current  # another Lambda wrote first: decide again on what it wrote
                continue
            wake_ms = decision.at_ms + math.ceil(self._random.uniform(0, self._jitter_seconds) * 1000)
            if deadline_ms is not None and wake_ms > deadline_ms:
                raise RateLimitWaitExceeded(tenant_id, _to_datetime(decision.at_ms), decision.reason.value)
            logger.debug(
                "waiting for a Xero call slot",
                extra={"tenant_id": tenant_id, "reason": decision.reason.value, "wait_ms": wake_ms - now_ms},
            )
            self._sleep((wake_ms - now_ms) / 1000)
            item = self._read(tenant_id)

    def note_rate_limited(self, tenant_id: str, problem: str, retry_after_seconds: float) -> datetime:
        """Record Xero's 429 so that no Lambda calls for this tenant before Retry-After ends.

        Parameters
        ----------
        problem
            ``X-Rate-Limit-Problem``: ``minute``, ``concurrent`` or ``appminute`` block the tenant's calls
            until Retry-After ends; ``day`` makes :meth:`acquire` raise :class:`DailyLimitReached` until then.
            Anything else is treated as ``minute``.
        retry_after_seconds
            ``Retry-After`` (limiter-clock seconds).

        Returns
        -------
        datetime
            When calls may resume (the later block wins when two are recorded).
        """
        problem = (problem or "").strip().lower()
        attribute = "day_blocked_until" if problem == "day" else "blocked_until"
        if problem not in SHORT_PROBLEMS and problem != "day":
            logger.warning("unknown X-Rate-Limit-Problem, treated as minute", extra={"problem": problem})
        until_ms = self._now_ms() + max(0, math.ceil(retry_after_seconds * 1000))
        try:
            self._client().update_item(
                TableName=self.table_name,
                Key=_key(tenant_id),
                UpdateExpression="SET #b = :b ADD #v :one",
                ConditionExpression="attribute_not_exists(#b) OR #b < :b",
                ExpressionAttributeNames={"#b": attribute, "#v": "version"},
                ExpressionAttributeValues={":b": _n(until_ms), ":one": _n(1)},
            )
        except ClientError as exc:
            if not is_conditional_check_failure(exc):
                raise RateLimiterUnavailable(f"could not record a 429 for tenant {tenant_id}") from exc
        logger.info(
            "Xero rate limit hit", extra={"tenant_id": tenant_id, "problem": problem, "until_ms": until_ms}
        )
        return _to_datetime(until_ms)

    def record_quota(
        self,
        tenant_id: str,
        *,
        minute_remaining: int | None = None,
        day_remaining: int | None = None,
        app_minute_remaining: int | None = None,
        call_started_at: float | None = None,
    ) -> None:
        """Store Xero's remaining-quota headers; trust ``minute_remaining`` when it is lower than our window.

        Inside a slot prefer :meth:`Lease.record_quota`, which costs no extra write.

        Parameters
        ----------
        call_started_at
            When the call that carried the headers was recorded (limiter-clock seconds); without it the
            oldest time it could have been (one lease ago) is assumed, which errs toward trusting our window.
        """
        now_ms = self._now_ms()
        started_ms = now_ms - self.limits.lease_ms if call_started_at is None else int(call_started_at * 1000)
        quota = {
            name: int(value)
            for name, value in (
                ("minute_remaining", minute_remaining),
                ("day_remaining", day_remaining),
                ("app_minute_remaining", app_minute_remaining),
            )
            if value is not None
        }
        if not quota:
            return
        sets, values = _quota_update(quota, now_ms)
        try:
            response = self._client().update_item(
                TableName=self.table_name,
                Key=_key(tenant_id),
                UpdateExpression="SET " + ", ".join(sets),
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            raise RateLimiterUnavailable(f"could not record Xero's quota for tenant {tenant_id}") from exc
        if minute_remaining is not None:
            self._note_unseen(tenant_id, response.get("Attributes", {}), started_ms, now_ms, minute_remaining)

    def status(self, tenant_id: str) -> RateStatus:
        """The tenant's quota for the connection status API: Xero's last headers and our own count."""
        item = self._read(tenant_id, consistent=False)
        now_ms = self._now_ms()
        state = prune(decode_state(item), now_ms, self.limits)
        observed = _int(item, "quota_observed_at")
        return RateStatus(
            tenant_id=tenant_id,
            minute_remaining=_int(item, "minute_remaining"),
            day_remaining=_int(item, "day_remaining"),
            app_minute_remaining=_int(item, "app_minute_remaining"),
            quota_observed_at=None if observed is None else _to_datetime(observed),
            calls_last_minute=minute_used(state, now_ms, self.limits),
            in_flight=live_leases(state, now_ms),
            calls_today=state.day_count,
            blocked_until=_to_datetime(state.blocked_until) if state.blocked_until else None,
            day_blocked_until=_to_datetime(state.day_blocked_until) if state.day_blocked_until else None,
        )

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of the limiter's clock (scaled when ``time_scale`` is not 1)."""
        self._sleep(seconds)

    def now(self) -> float:
        """The limiter's clock (epoch seconds; scaled when ``time_scale`` is not 1)."""
        return self._clock()

    # --- DynamoDB -----------------------------------------------------------------------------------

    def _client(self) -> DynamoDBClient:
        if self._client_instance is None:
            self._client_instance = clients.dynamodb()  # the container's one, on first use
        return self._client_instance

    def _read(self, tenant_id: str, *, consistent: bool = True) -> Item:
        try:
            response = self._client().get_item(
                TableName=self.table_name, Key=_key(tenant_id), ConsistentRead=consistent
            )
        except ClientError as exc:
            raise RateLimiterUnavailable(f"could not read the rate limiter of tenant {tenant_id}") from exc
        return response.get("Item", {})

    def _try_admit(
        self, tenant_id: str, item: Item, state: WindowState, now_ms: int, lease_id: str
    ) -> Item | None:
        """Write the grant conditionally on the version read; None on success, else the item that won."""
        after = admit(state, now_ms, lease_id, self.limits)
        version = _int(item, "version")
        names = dict(ATTRIBUTE_NAMES)
        values: dict[str, AttributeValueTypeDef] = {
            ":calls": {"S": pack_calls(after.calls)},
            ":day": {"S": after.day or ""},
            ":dc": _n(after.day_count),
            ":nv": _n((version or 0) + 1),
        }
        sets = ["#calls = :calls", "#day = :day", "#dc = :dc", "#v = :nv"]
        removes: list[str] = []
        if "leases" in item:
            names["#lid"] = lease_id
            values[":exp"] = _n(after.leases[lease_id])
            sets.append("#leases.#lid = :exp")
            for index, expired in enumerate(sorted(set(_leases(item)) - set(state.leases))):
                names[f"#x{index}"] = expired
                removes.append(f"#leases.#x{index}")
        else:
            values[":leases"] = {"M": {key: _n(exp) for key, exp in after.leases.items()}}
            sets.append("#leases = :leases")
        if version is None:
            condition = "attribute_not_exists(#v)"
        else:
            condition = "#v = :v"
            values[":v"] = _n(version)
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            self._client().update_item(
                TableName=self.table_name,
                Key=_key(tenant_id),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                return exc.response.get("Item") or self._read(tenant_id)  # type: ignore[return-value]
            raise RateLimiterUnavailable(f"could not take a call slot for tenant {tenant_id}") from exc
        return None

    def _late_stamp(self, tenant_id: str, stamped_ms: int) -> int:
        """Move this call's time forward when the grant write itself took long; returns the call's time.

        A call is recorded at the time read *before* the grant write, and reaches Xero only after it. When
        the write was slow (a throttled or retried request, a paused Lambda) that gap can exceed the
        padding, and the slot would free too early. Then the recorded time is replaced by the time now,
        which is never earlier than the call's arrival at Xero. Rare in production: costs one read and one
        write only when it happens.
        """
        now_ms = self._now_ms()
        if now_ms - stamped_ms <= self.limits.padding_ms // 2:
            return stamped_ms
        item = self._read(tenant_id)
        while True:
            calls = _calls(item)
            if stamped_ms not in calls:
                return stamped_ms  # already pruned: it can no longer free a slot early
            calls[calls.index(stamped_ms)] = now_ms
            version = _int(item, "version") or 0
            try:
                self._client().update_item(
                    TableName=self.table_name,
                    Key=_key(tenant_id),
                    UpdateExpression="SET #calls = :calls, #v = :nv",
                    ConditionExpression="#v = :v",
                    ExpressionAttributeNames={"#calls": "calls", "#v": "version"},
                    ExpressionAttributeValues={
                        ":calls": {"S": pack_calls(calls)},
                        ":nv": _n(version + 1),
                        ":v": _n(version),
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if is_conditional_check_failure(exc):
                    item = exc.response.get("Item") or self._read(tenant_id)  # type: ignore[assignment]
                    continue
                logger.warning("could not re-stamp a slow Xero call grant", extra={"tenant_id": tenant_id})
                return stamped_ms
            return now_ms

    def _cancel(self, lease: Lease) -> None:
        """Remove ``lease`` and its call's time (a conditional write on the version read; retried)."""
        item = self._read(lease.tenant_id)
        for _ in range(8):
            calls = _calls(item)
            if lease.started_ms not in calls:
                return  # pruned already: it no longer holds a slot
            calls.remove(lease.started_ms)
            version = _int(item, "version") or 0
            same_day = item.get("day", {}).get("S") == utc_day(lease.started_ms)
            day_count = max(0, (_int(item, "day_count") or 0) - (1 if same_day else 0))
            try:
                self._client().update_item(
                    TableName=self.table_name,
                    Key=_key(lease.tenant_id),
                    UpdateExpression="SET #calls = :calls, #dc = :dc, #v = :nv REMOVE #leases.#lid",
                    ConditionExpression="#v = :v",
                    ExpressionAttributeNames={
                        "#calls": "calls",
                        "#v": "version",
                        "#leases": "leases",
                        "#lid": lease.lease_id,
                        "#dc": "day_count",
                    },
                    ExpressionAttributeValues={
                        ":calls": {"S": pack_calls(calls)},
                        ":dc": _n(day_count),
                        ":nv": _n(version + 1),
                        ":v": _n(version),
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if is_conditional_check_failure(exc):
                    item = exc.response.get("Item") or self._read(lease.tenant_id)  # type: ignore[assignment]
                    continue
                break
            return
        logger.warning(
            "could not cancel a Xero call slot; it frees by itself", extra={"tenant_id": lease.tenant_id}
        )

    def _release(self, lease: Lease, quota: dict[str, int]) -> None:
        now_ms = self._now_ms()
        if now_ms > lease.expires_ms:
            logger.warning(
                "a Xero call outlived its rate-limit lease; raise lease_ms above the HTTP timeout",
                extra={"tenant_id": lease.tenant_id, "held_ms": now_ms - lease.started_ms},
            )
        expression = "REMOVE #leases.#lid"
        values: dict[str, AttributeValueTypeDef] = {}
        if quota:
            sets, values = _quota_update(quota, now_ms)
            expression += " SET " + ", ".join(sets)
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": _key(lease.tenant_id),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(#leases)",
            "ExpressionAttributeNames": {"#leases": "leases", "#lid": lease.lease_id},
            "ReturnValues": "ALL_NEW" if "minute_remaining" in quota else "NONE",
        }
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            response = self._client().update_item(**request)
        except ClientError as exc:
            # Never raise from a release: the call already happened, and the lease expires by itself.
            logger.warning(
                "could not release a Xero call slot; it frees when its lease expires",
                extra={"tenant_id": lease.tenant_id, "error": exc.response.get("Error", {}).get("Code")},
            )
            return
        if "minute_remaining" in quota and now_ms <= lease.expires_ms:
            attributes = response.get("Attributes", {})
            self._note_unseen(
                lease.tenant_id, attributes, lease.started_ms, now_ms, quota["minute_remaining"]
            )

    def _note_unseen(
        self, tenant_id: str, item: Item, started_ms: int, observed_ms: int, minute_remaining: int
    ) -> None:
        """Trust ``X-MinLimit-Remaining`` when it shows calls our window lacks (rare: one extra write)."""
        count = unseen_calls(
            _calls(item),
            call_started_ms=started_ms,
            observed_ms=observed_ms,
            minute_remaining=minute_remaining,
            limits=self.limits,
        )
        active = (_int(item, "unseen_calls") or 0) if (_int(item, "unseen_until") or 0) > observed_ms else 0
        if count == 0 and active == 0:
            return
        if count:
            logger.warning(
                "Xero counts calls this limiter did not record",
                extra={"tenant_id": tenant_id, "unseen_calls": count, "minute_remaining": minute_remaining},
            )
        try:
            self._client().update_item(
                TableName=self.table_name,
                Key=_key(tenant_id),
                UpdateExpression="SET #n = :n, #u = :u, #o = :o ADD #v :one",
                ConditionExpression="attribute_not_exists(#o) OR #o < :o",
                ExpressionAttributeNames={
                    "#n": "unseen_calls",
                    "#u": "unseen_until",
                    "#o": "unseen_observed_at",
                    "#v": "version",
                },
                ExpressionAttributeValues={
                    ":n": _n(count),
                    ":u": _n(observed_ms + self.limits.span_ms if count else 0),
                    ":o": _n(observed_ms),
                    ":one": _n(1),
                },
            )
        except ClientError as exc:
            if not is_conditional_check_failure(exc):
                logger.warning("could not record unseen Xero calls", extra={"tenant_id": tenant_id})

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


# --- encoding ----------------------------------------------------------------------------------------


def decode_state(item: Item) -> WindowState:
    """The :class:`WindowState` held in a DynamoDB item (low-level attribute values); empty when absent."""
    return WindowState(
        calls=tuple(sorted(_calls(item))),
        leases=_leases(item),
        blocked_until=_int(item, "blocked_until") or 0,
        day_blocked_until=_int(item, "day_blocked_until") or 0,
        day=item["day"]["S"] if "day" in item else None,
        day_count=_int(item, "day_count") or 0,
        unseen_calls=_int(item, "unseen_calls") or 0,
        unseen_until=_int(item, "unseen_until") or 0,
    )


def _key(tenant_id: str) -> dict[str, AttributeValueTypeDef]:
    return {"pk": {"S": f"RATE#{tenant_id}"}, "sk": {"S": "LIMITER"}}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(int(value))}


def _int(item: Item, name: str) -> int | None:
    value = item.get(name)
    if value is None or "N" not in value:
        return None
    return int(Decimal(value["N"]))


def pack_calls(calls: Iterable[int]) -> str:
    """``[1000, 1015, 2200]`` -> ``"1000,15,1200"``: the first time, then each as milliseconds after it."""
    ordered = sorted(calls)
    if not ordered:
        return ""
    first = ordered[0]
    return ",".join([str(first), *(str(t - first) for t in ordered[1:])])


def unpack_calls(packed: str) -> list[int]:
    """The inverse of :func:`pack_calls`."""
    if not packed:
        return []
    first, *offsets = (int(part) for part in packed.split(","))
    return [first, *(first + offset for offset in offsets)]


def _calls(item: Item) -> list[int]:
    value = item.get("calls", {})
    if "S" in value:
        return unpack_calls(value["S"])
    return [int(Decimal(v["N"])) for v in value.get("L", [])]  # a list of numbers is read too


def _leases(item: Item) -> dict[str, int]:
    return {key: int(Decimal(v["N"])) for key, v in item.get("leases", {}).get("M", {}).items()}


def _quota_update(
    quota: Mapping[str, int], now_ms: int
) -> tuple[list[str], dict[str, AttributeValueTypeDef]]:
    """``SET`` clauses and values for the quota attributes (their names need no placeholders)."""
    sets = [f"{name} = :{name}" for name in quota] + ["quota_observed_at = :quota_observed_at"]
    values: dict[str, AttributeValueTypeDef] = {f":{name}": _n(value) for name, value in quota.items()}
    values[":quota_observed_at"] = _n(now_ms)
    return sets, values


def _to_datetime(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def _scaled_clock(scale: float) -> Callable[[], float]:
    if scale == 1.0:
        return time.time

    def clock() -> float:
        return SCALED_CLOCK_ORIGIN + (time.time() - SCALED_CLOCK_ORIGIN) * scale

    return clock


def _scaled_sleep(scale: float) -> Callable[[float], None]:
    if scale == 1.0:
        return time.sleep

    def sleep(seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / scale)

    return sleep
