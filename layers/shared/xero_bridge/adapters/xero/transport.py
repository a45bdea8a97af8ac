"""Sending one request to Xero, with the retries Xero's limits call for.

httpx does the transport work (connection pooling, timeouts, HTTP/1.1); this module only adds the small
retry loop that httpx cannot provide because it must understand Xero's answers: a 429 says *which* limit was
hit (``X-Rate-Limit-Problem``: minute, concurrent, appminute or day) and when to come back (``Retry-After``),
and only the day limit is not worth waiting for in a Lambda. 5xx answers and dropped connections are retried
with exponential backoff and jitter, but only when sending the request again cannot do a thing twice (a GET,
a request carrying an ``Idempotency-Key``, or a connection that never opened).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from xero_bridge.errors import XeroRateLimited, XeroServerError, XeroTimeout

__all__ = [
    "DEFAULT_RETRY",
    "RATE_LIMIT_PROBLEMS",
    "AttemptLimiter",
    "RetryPolicy",
    "dumps_exact",
    "parse_retry_after",
    "send",
    "utc_now",
    "xero_message",
]

RATE_LIMIT_PROBLEMS = ("minute", "day", "concurrent", "appminute")
"""The values of Xero's ``X-Rate-Limit-Problem`` header."""

_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_MESSAGE_LIMIT = 500


DEFAULT_RETRY: RetryPolicy


class AttemptLimiter(Protocol):
    """Held around every HTTP attempt (the shared per-tenant rate limiter's concurrency slot).

    :meth:`attempt` is entered right before the request goes out and left when its answer (or its failure)
    is in, so a slot is held exactly while Xero may count the call as in flight. The callable it yields is
    given the response, when one came, before the slot is released (quota headers, a 429's problem).
    """

    def attempt(self) -> AbstractContextManager[Callable[[httpx.Response], None]]:
        """A context around one attempt, yielding the response observer."""
        ...


def _ignore(response: httpx.Response) -> None:
    """The observer of an attempt made without a limiter."""


_NO_LIMITER: AbstractContextManager[Callable[[httpx.Response], None]] = nullcontext(_ignore)


def utc_now() -> datetime:
    """The current time, aware UTC (the default clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a request to Xero.

    Parameters
    ----------
    max_attempts
        Attempts in all (the first one included) for one request.
    base_seconds, cap_seconds
        Exponential backoff: attempt ``n`` waits between half and all of ``min(cap, base * 2 ** (n - 1))``.
    max_wait_seconds
        The longest ``Retry-After`` worth waiting for in process; a longer one raises
        :class:`~xero_bridge.errors.XeroRateLimited` at once (a day-limit 429 always does).
    sleep
        Called with the seconds to wait; tests pass a recorder so that nothing sleeps.
    random
        Source of jitter in ``[0, 1)``.
    """

    max_attempts: int = 4
    base_seconds: float = 0.5
    cap_seconds: float = 20.0
    max_wait_seconds: float = 65.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    random: Callable[[], float] = field(default=random.random, repr=False)

    def backoff(self, failed_attempts: int) -> float:
        """Seconds to wait after ``failed_attempts`` failures (1 for the first), with "equal jitter"."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** max(failed_attempts - 1, 0))
        return ceiling / 2 + self.random() * ceiling / 2


DEFAULT_RETRY = RetryPolicy()
"""Four attempts, backoff from 0.5 s to 20 s, waiting at most 65 s for a Retry-After."""


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now`` (seconds or an HTTP date); None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def xero_message(response: httpx.Response) -> str:
    """Xero's own explanation of an error answer, short, for an exception message.

    Reads ``Message`` (Accounting API), ``Detail``/``Title`` (problem answers),
    ``error_description``/``error`` (identity), or the start of a plain-text body; never the request.
    """
    reason = response.reason_phrase or f"HTTP {response.status_code}"
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("Message", "Detail", "detail", "error_description", "Title", "title", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:_MESSAGE_LIMIT]
        return reason
    content_type = response.headers.get("content-type", "")
    if body is None and response.content and "html" not in content_type:
        text = response.text.strip()
        if text:
            return text[:_MESSAGE_LIMIT]
    return reason


def _dump(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("a JSON number must be finite")
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("a JSON number must be finite")
    return json.dumps(value, allow_nan=False)


def dumps_exact(value: Any) -> bytes:
    """JSON with every :class:`~decimal.Decimal` written as the exact number it holds (never via float)."""
    return _dump(value).encode()


def send(
    http: httpx.Client,
    build: Callable[[], httpx.Request],
    *,
    policy: RetryPolicy,
    replayable: bool,
    clock: Callable[[], datetime] = utc_now,
    before_request: Callable[[], None] | None = None,
    on_response: Callable[[httpx.Response], None] | None = None,
    limiter: AttemptLimiter | None = None,
) -> httpx.Response:
    """Send a request, retrying what Xero and the network make worth retrying.

    Parameters
    ----------
    http
        The httpx client (its timeouts and pool apply to every attempt).
    build
        Builds the request for one attempt (called again on each, so headers such as the token stay fresh).
    policy
        Attempts, backoff and the ``sleep`` used between attempts.
    replayable
        True when sending the request twice cannot do a thing twice (a GET, or an ``Idempotency-Key``):
        only then are 5xx answers and timeouts after the request went out retried.
    clock
        Aware-UTC clock for ``Retry-After`` dates and ``resets_at``.
    before_request
        Called before every attempt (the rate limiter waits there).
    on_response
        Called with every response received, retried ones included (quota headers).
    limiter
        Entered around every attempt (after ``before_request``), and told every response before it is left.

    Returns
    -------
    httpx.Response
        The first answer that is neither a 429 nor a 5xx (it may still be a 4xx: the caller maps it).

    Raises
    ------
    XeroRateLimited
        A day-limit 429, a ``Retry-After`` longer than ``policy.max_wait_seconds``, or 429s past the attempts.
    XeroServerError
        5xx answers past the attempts (or at once when the request is not replayable).
    XeroTimeout
        Timeouts or dropped connections past the attempts.
    """
    attempt = 0
    while True:
        attempt += 1
        if before_request is not None:
            before_request()
        request = build()
        try:
            with limiter.attempt() if limiter is not None else _NO_LIMITER as observe:
                response = http.send(request)
                observe(response)
        except _TRANSIENT as exc:
            retry = replayable or isinstance(exc, _NEVER_SENT)
            if retry and attempt < policy.max_attempts:
                policy.sleep(policy.backoff(attempt))
                continue
            raise XeroTimeout(
                f"{request.method} {request.url.path}: {type(exc).__name__} after {attempt} attempt(s)"
            ) from exc
        if on_response is not None:
            on_response(response)
        status = response.status_code
        if status == 429:
            now = clock()
            problem = response.headers.get("X-Rate-Limit-Problem", "").strip().lower() or "unknown"
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
            wait = retry_after if retry_after is not None else policy.backoff(attempt)
            if problem != "day" and attempt < policy.max_attempts and wait <= policy.max_wait_seconds:
                policy.sleep(wait)
                continue
            raise XeroRateLimited(
                f"Xero rate limit reached ({problem}): retry after {wait:g}s",
                problem=problem,
                retry_after_seconds=wait,
                resets_at=now + timedelta(seconds=wait),
            )
        if status >= 500:
            if replayable and attempt < policy.max_attempts:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), clock())
                wait = policy.backoff(attempt)
                if retry_after is not None and retry_after <= policy.max_wait_seconds:
                    wait = max(wait, retry_after)
                policy.sleep(wait)
                continue
            raise XeroServerError(
                f"{request.method} {request.url.path}: Xero answered {status} after {attempt} attempt(s): "
                f"{xero_message(response)}",
                status_code=status,
            )
        return response
