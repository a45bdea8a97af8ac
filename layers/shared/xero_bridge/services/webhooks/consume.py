"""One ``WebhooksQueue`` message, consumed: fetched, set back for later, or set aside with its reason.

* A body that is not a webhook payload can never succeed: it goes to the dead-letter queue at once, with
  the reason as a message attribute (SQS's own redrive would carry none), and the batch goes on.
* A rate limit (a 429, the limiter's budget, Xero's daily limit) hides the message until Xero allows the
  next call, then fails it: it comes back then, not in a tight loop, and nothing is lost. Other transient
  failures (5xx, timeouts) fail it for the queue's own visibility timeout and redrive.
"""

from __future__ import annotations

from pydantic import ValidationError

from xero_bridge.errors import DailyLimitReached, RateLimitWaitExceeded, RetryLater, XeroRateLimited
from xero_bridge.models.webhooks import QueuedDelivery, WebhookPayload
from xero_bridge.observability import logger
from xero_bridge.services.ports import Clock, TimeLeft, WebhookQueue, utc_now
from xero_bridge.services.webhooks.fetch_changes import ChangesFetched, FetchChanges

__all__ = ["MAX_RATE_LIMIT_DELAY", "ConsumeDelivery"]

MAX_RATE_LIMIT_DELAY = 15 * 60
"""Seconds a rate-limited message is hidden at most (a spent daily limit: the catch-up covers the rest)."""


class ConsumeDelivery:
    """The change fetcher's record handler.

    Parameters
    ----------
    fetch
        The use case that fetches a delivery's changes.
    queue
        ``WebhooksQueue`` (to hide a rate-limited message) and its dead-letter queue.
    limiter_clock
        The rate limiter's aware-UTC clock (the times a rate-limit error names are on it).
    time_scale
        ``RATE_LIMIT_TIME_SCALE``: Xero's seconds per real second (1 in AWS; the emulator's scaled clock in
        tests), so that a delay in Xero's seconds hides the message for the right real time.
    """

    def __init__(
        self,
        *,
        fetch: FetchChanges,
        queue: WebhookQueue,
        limiter_clock: Clock = utc_now,
        time_scale: float = 1.0,
    ) -> None:
        self._fetch = fetch
        self._queue = queue
        self._now = limiter_clock
        self._scale = time_scale

    def consume(self, message: QueuedDelivery, *, time_left: TimeLeft | None = None) -> ChangesFetched | None:
        """Fetch the delivery's changes; None when the message was set aside as poison.

        Raises
        ------
        RetryLater
            The message is to be received again (after the rate limit's delay when there is one).
        """
        try:
            payload = WebhookPayload.model_validate_json(message.body)
        except ValidationError as exc:
            fields = sorted({".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors()})
            reason = "not a Xero webhook payload: " + ", ".join(fields)[:500]
            self._queue.dead_letter(message.body, reason)
            logger.error(
                "webhook message set aside in the dead-letter queue",
                extra={"message_id": message.message_id, "reason": reason},
            )
            return None
        try:
            return self._fetch.handle(payload, time_left=time_left)
        except RetryLater as exc:
            delay = self._delay(exc)
            if delay is not None:
                self._queue.return_later(message.receipt_handle, delay)
            logger.warning(
                "webhook changes to fetch again later",
                extra={
                    "message_id": message.message_id,
                    "error": type(exc).__name__,
                    "retry_in_seconds": delay,
                    "receive_count": message.receive_count,
                },
            )
            raise

    def _delay(self, exc: RetryLater) -> int | None:
        """Seconds until Xero allows the next call, when the error says; None for the queue's own timeout."""
        seconds: float | None = None
        if isinstance(exc, XeroRateLimited):
            seconds = exc.retry_after_seconds
        elif isinstance(exc, RateLimitWaitExceeded):
            seconds = (exc.retry_at - self._now()).total_seconds()
        elif isinstance(exc, DailyLimitReached):
            seconds = (exc.resets_at - self._now()).total_seconds()
        if seconds is None:
            return None
        return max(1, min(int(seconds / self._scale) + 1, MAX_RATE_LIMIT_DELAY))
