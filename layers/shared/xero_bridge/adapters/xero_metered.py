"""The Xero client of a sync: every HTTP attempt inside a slot of the shared rate limiter, and counted.

:class:`LimiterAttempts` is the client's ``limiter`` hook (``XeroClient(..., limiter=...)``): it takes the
tenant's slot right before a request goes out and gives it back when the answer is in, hands the answer's
remaining-quota headers to the limiter, and records a 429 with its ``X-Rate-Limit-Problem`` and
``Retry-After`` so that no other Lambda calls for the tenant before Xero allows it. It counts the calls made
(every attempt is a call Xero counts) and the 429s met, for the sync run's progress.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from xero_bridge.adapters.xero.client import XeroClient
from xero_bridge.adapters.xero.transport import parse_retry_after
from xero_bridge.models.pages import Page, Quota

__all__ = ["LimiterAttempts", "MeteredXero", "SlotLimiter"]

_DEFAULT_RETRY_AFTER = 60.0  # a 429 without Retry-After: Xero's minute window


class _Lease(Protocol):
    def record_quota(
        self,
        *,
        minute_remaining: int | None = None,
        day_remaining: int | None = None,
        app_minute_remaining: int | None = None,
    ) -> None: ...

    def note_rate_limited(self, problem: str, retry_after_seconds: float) -> datetime: ...


class SlotLimiter(Protocol):
    """The part of ``DynamoDBRateLimiter`` used here."""

    def slot(self, tenant_id: str, *, max_wait: float | None = None) -> AbstractContextManager[Any]: ...


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
        limiter: SlotLimiter,
        tenant_id: str,
        *,
        clock: Callable[[], datetime] | None = None,
        max_wait: Callable[[], float | None] | None = None,
    ) -> None:
        self._limiter = limiter
        self._tenant_id = tenant_id
        self._clock = clock or (lambda: datetime.now(UTC))
        self._max_wait = max_wait or (lambda: None)
        self.calls = 0
        self.rate_limited = 0

    @contextmanager
    def attempt(self) -> Iterator[Callable[[httpx.Response], None]]:
        with self._limiter.slot(self._tenant_id, max_wait=self._max_wait()) as lease:
            self.calls += 1

            def observe(response: httpx.Response) -> None:
                quota = Quota.from_headers(response.headers, self._clock())
                lease.record_quota(
                    minute_remaining=quota.minute_remaining,
                    day_remaining=quota.day_remaining,
                    app_minute_remaining=quota.app_minute_remaining,
                )
                if response.status_code == 429:
                    self.rate_limited += 1
                    problem = response.headers.get("X-Rate-Limit-Problem", "").strip().lower() or "minute"
                    retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
                    lease.note_rate_limited(
                        problem, retry_after if retry_after is not None else _DEFAULT_RETRY_AFTER
                    )

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

    def list_page(self, resource: str, **options: Any) -> Page[Any]:
        return self._client.list_page(resource, **options)

    def organisation(self) -> Any:
        return self._client.organisation()
