"""The Xero client of a sync: every HTTP attempt inside a slot of the shared rate limiter, and counted.

:class:`LimiterAttempts` is the client's ``limiter`` hook (``XeroClient(..., limiter=...)``): it takes the
tenant's slot right before a request goes out and gives it back when the answer is in, hands the answer's
remaining-quota headers to the limiter, and records a 429 with its ``X-Rate-Limit-Problem`` and
``Retry-After`` so that no other Lambda calls for the tenant before Xero allows it. It counts the calls made
(every attempt is a call Xero counts) and the 429s met, for the sync run's progress.

With an app-wide limiter (:class:`~xero_bridge.adapters.aws.app_limiter.AppLimiter`), each attempt also
takes one unit of the app's budget at its flow's priority, right after the tenant's slot: a unit that does
not come within :data:`APP_HOLD_SECONDS` gives the tenant's slot back (``Lease.cancel``) and waits without
holding it. ``X-AppMinLimit-Remaining`` and app-minute 429s go to the app-wide limiter, not the tenant's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx

from xero_bridge.adapters.aws.app_limiter import AppLimiter
from xero_bridge.adapters.aws.rate_limiter import DynamoDBRateLimiter, Lease
from xero_bridge.adapters.xero.client import XeroClient
from xero_bridge.adapters.xero.oauth import XeroEndpoints
from xero_bridge.adapters.xero.transport import RetryPolicy, parse_retry_after
from xero_bridge.domain.app_budget import Priority
from xero_bridge.errors import RateLimitWaitExceeded
from xero_bridge.models.pages import Page, Quota
from xero_bridge.models.xero import Organisation
from xero_bridge.observability import count
from xero_bridge.services.ports import TokenProvider

__all__ = ["APP_HOLD_SECONDS", "CALL_RESERVE_SECONDS", "LimiterAttempts", "MeteredXero", "MeteredXeroFactory"]

#: Of a Lambda's remaining time, what one Xero attempt (15 s read timeout, a slow 1,000-record answer) and
#: the work after it (mapping, SQS sends, a checkpoint) may need once the limiter grants a slot.
CALL_RESERVE_SECONDS = 30.0

#: How long (limiter seconds) an attempt holding its tenant's slot waits for the app's budget before it gives
#: the slot back: within the padding the tenant's window allows between a grant and the call.
APP_HOLD_SECONDS = 0.5

_LIMITS = {"minute", "day", "concurrent", "appminute"}  # a metric dimension: never anything else
_DEFAULT_RETRY_AFTER = 60.0  # a 429 without Retry-After: Xero's minute window


class LimiterAttempts:
    """``AttemptLimiter`` of the Xero client over the shared per-tenant limiter, counting calls and 429s.

    Parameters
    ----------
    limiter
        The shared limiter (``slot(tenant_id)`` yields a lease with ``record_quota`` and
        ``note_rate_limited``).
    tenant_id
        The tenant every attempt is for.
    clock
        Aware-UTC clock of ``Retry-After`` dates (the limiter's, when it is scaled).
    max_wait
        Called before each attempt: the longest the limiter may make it wait (limiter-clock seconds), or
        None for as long as it takes. A Lambda passes what its remaining time allows, so that a wait it
        could not finish ends in ``RateLimitWaitExceeded`` (retried by the state machine) instead of the
        Lambda being killed by its timeout mid-wait or mid-call.
    """

    def __init__(
        self,
        limiter: DynamoDBRateLimiter,
        tenant_id: str,
        *,
        clock: Callable[[], datetime] | None = None,
        max_wait: Callable[[], float | None] | None = None,
        app: AppLimiter | None = None,
        priority: Priority = Priority.URGENT,
    ) -> None:
        self._limiter = limiter
        self._tenant_id = tenant_id
        self._clock = clock or (lambda: datetime.now(UTC))
        self._max_wait = max_wait or (lambda: None)
        self._app = app
        self._priority = priority
        self.calls = 0
        self.rate_limited = 0

    def _slot(self) -> Lease:
        """The tenant's slot, and the app's unit when there is an app-wide limiter."""
        app, tenant_id = self._app, self._tenant_id
        deadline = None if (wait := self._max_wait()) is None else self._limiter.now() + wait
        refusals = 0
        while True:
            left = None if deadline is None else max(0.0, deadline - self._limiter.now())
            if app is None:
                return self._limiter.acquire(tenant_id, max_wait=left)
            full = app.peek(self._priority, refusals=refusals)
            if full is not None:  # the app's budget is spent for now: wait without taking the tenant's slot
                refused = full.exceeded(tenant_id)
            else:
                lease = self._limiter.acquire(tenant_id, max_wait=left)
                hold = APP_HOLD_SECONDS if left is None else min(APP_HOLD_SECONDS, left)
                try:
                    app.acquire(self._priority, tenant_id=tenant_id, max_wait=hold, refusals=refusals)
                except RateLimitWaitExceeded as exc:
                    lease.cancel()
                    refused = exc
                else:
                    lease.restamp()
                    return lease
            refusals += 1
            retry_at = refused.retry_at.timestamp()
            if deadline is not None and retry_at > deadline:
                raise refused
            self._limiter.sleep(max(0.0, retry_at - self._limiter.now()))

    @contextmanager
    def attempt(self) -> Iterator[Callable[[httpx.Response], None]]:
        with self._slot() as lease:
            self.calls += 1

            def observe(response: httpx.Response) -> None:
                quota = Quota.from_headers(response.headers, self._clock())
                lease.record_quota(
                    minute_remaining=quota.minute_remaining,
                    day_remaining=quota.day_remaining,
                    app_minute_remaining=quota.app_minute_remaining,
                )
                if self._app is not None:
                    self._app.observe(quota.app_minute_remaining)
                count("XeroApiCalls")
                if response.status_code == 429:
                    self.rate_limited += 1
                    problem = response.headers.get("X-Rate-Limit-Problem", "").strip().lower() or "minute"
                    count("XeroApi429s")
                    count("XeroRateLimited", limit=problem if problem in _LIMITS else "other")
                    retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
                    seconds = retry_after if retry_after is not None else _DEFAULT_RETRY_AFTER
                    if problem == "appminute" and self._app is not None:
                        self._app.note_app_limited(seconds)
                    else:
                        lease.note_rate_limited(problem, seconds)

            yield observe


class MeteredXero:
    """A :class:`XeroClient` whose attempts go through :class:`LimiterAttempts` (a sync's ``XeroReader``)."""

    def __init__(self, client: XeroClient, attempts: LimiterAttempts) -> None:
        self._client = client
        self._attempts = attempts

    @property
    def calls(self) -> int:
        return self._attempts.calls

    @property
    def rate_limited(self) -> int:
        return self._attempts.rate_limited

    def list_page(
        self,
        resource: str,
        *,
        page: int | None = None,
        page_size: int | None = None,
        if_modified_since: datetime | None = None,
        where: str | None = None,
        statuses: Sequence[str] | None = None,
        include_archived: bool = False,
        summary_only: bool = False,
        order: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> Page[Any]:
        return self._client.list_page(
            resource,
            page=page,
            page_size=page_size,
            if_modified_since=if_modified_since,
            where=where,
            statuses=statuses,
            include_archived=include_archived,
            summary_only=summary_only,
            order=order,
            ids=ids,
        )

    def fetch_by_ids(self, resource: str, ids: Sequence[str]) -> Page[Any]:
        return self._client.fetch_by_ids(resource, ids)

    def organisation(self) -> Organisation:
        return self._client.organisation()


class MeteredXeroFactory:
    """``xero(tenant_id)``: a fresh metered client per task (its call and 429 counts are the task's).

    ``time_left`` (real seconds, e.g. the Lambda context's remaining time) bounds each limiter wait to what
    leaves :data:`CALL_RESERVE_SECONDS` for the call and the work after it.

    Parameters
    ----------
    limiter
        The shared per-tenant rate limiter (its clock is the limiter's, scaled in benchmarks).
    tokens
        The token vault.
    endpoints
        Xero's base URLs.
    http
        The container's shared httpx client.
    time_scale
        ``RATE_LIMIT_TIME_SCALE`` (1 in AWS): Retry-After and backoff are slept scaled, as the limiter's.
    app, priority
        The app-wide limiter (on the limiter's clock) and the priority this flow's calls take from it.
    """

    def __init__(
        self,
        *,
        limiter: DynamoDBRateLimiter,
        tokens: TokenProvider,
        endpoints: XeroEndpoints,
        http: httpx.Client,
        time_scale: float = 1.0,
        app: AppLimiter | None = None,
        priority: Priority = Priority.URGENT,
    ) -> None:
        self._app = app
        self._priority = priority
        self._limiter = limiter
        self._tokens = tokens
        self._endpoints = endpoints
        self._http = http
        self._scale = time_scale
        # Retry-After and backoff are in Xero's (possibly scaled) seconds: sleep them scaled too.
        self._retry = RetryPolicy(sleep=lambda seconds: _sleep(seconds / time_scale))

    def __call__(self, tenant_id: str, *, time_left: Callable[[], float] | None = None) -> MeteredXero:
        return MeteredXero(*self.client(tenant_id, time_left=time_left))

    def client(
        self, tenant_id: str, *, time_left: Callable[[], float] | None = None
    ) -> tuple[XeroClient, LimiterAttempts]:
        """A Xero client for ``tenant_id`` whose every attempt goes through the limiter, and its meter."""
        limiter, scale = self._limiter, self._scale

        def clock() -> datetime:
            return datetime.fromtimestamp(limiter.now(), UTC)

        def max_wait() -> float | None:
            if time_left is None:
                return None
            return max(0.0, time_left() - CALL_RESERVE_SECONDS) * scale  # in the limiter's seconds

        attempts = LimiterAttempts(
            limiter, tenant_id, clock=clock, max_wait=max_wait, app=self._app, priority=self._priority
        )
        client = XeroClient(
            self._tokens,
            tenant_id,
            self._endpoints,
            http=self._http,
            retry=self._retry,
            clock=clock,
            limiter=attempts,
        )
        return client, attempts


def _sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)
