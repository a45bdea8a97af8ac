"""Receive one webhook delivery: verify Xero's signature over the raw bytes, then only enqueue it.

Xero gives a receiver 5 seconds and disables a webhook that keeps failing, so the hot path does the least
that is safe: check the size, check ``x-xero-signature`` (base64 HMAC-SHA256 of the body exactly as received,
with the webhook key) with :func:`hmac.compare_digest` before anything reads the body, tell an
intent-to-receive (no events) from a real delivery, and put the body on ``WebhooksQueue`` as it came. The
change fetcher does the rest. Nothing here touches DynamoDB or Xero.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from enum import StrEnum

from pydantic import ValidationError

from xero_bridge.models.webhooks import WebhookPayload
from xero_bridge.observability import logger
from xero_bridge.services.ports import SigningKeySource, WebhookQueue

__all__ = ["MAX_WEBHOOK_BYTES", "ReceiveWebhook", "WebhookAck", "xero_signature"]

MAX_WEBHOOK_BYTES = 240_000
"""The largest body we take: it goes on SQS as it is (256 KiB with its attributes). Xero's are far smaller."""


class WebhookAck(StrEnum):
    """What the receiver did with a delivery; :attr:`status_code` is its answer (always an empty body)."""

    ACCEPTED = "accepted"
    INTENT_TO_RECEIVE = "intent_to_receive"
    BAD_SIGNATURE = "bad_signature"
    MALFORMED = "malformed"
    TOO_LARGE = "too_large"

    @property
    def status_code(self) -> int:
        return _STATUS[self]


_STATUS = {
    WebhookAck.ACCEPTED: 200,
    WebhookAck.INTENT_TO_RECEIVE: 200,
    WebhookAck.BAD_SIGNATURE: 401,
    WebhookAck.MALFORMED: 400,
    WebhookAck.TOO_LARGE: 413,
}


def xero_signature(key: str, body: bytes) -> str:
    """``x-xero-signature`` of ``body``: base64 of HMAC-SHA256 with the webhook key."""
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


class ReceiveWebhook:
    """``POST /webhooks/xero``.

    Parameters
    ----------
    key
        The webhook signing key (Secrets Manager, cached per container).
    queue
        ``WebhooksQueue``, consumed by the change fetcher.
    """

    def __init__(self, *, key: SigningKeySource, queue: WebhookQueue) -> None:
        self._key = key
        self._queue = queue

    def receive(self, body: bytes, signature: str | None) -> WebhookAck:
        """Verify, then enqueue; the answer's status (the body is always empty).

        Returns
        -------
        WebhookAck
            401 for a missing or wrong signature (before anything parses the body), 413 for a body larger
            than a queue message, 400 for a signed body that is not a payload, 200 for an intent-to-receive
            (nothing enqueued) or a delivery (enqueued as it came).

        Raises
        ------
        WebhookQueueError
            SQS refused the message: Xero gets a 5xx and delivers again.
        """
        if len(body) > MAX_WEBHOOK_BYTES:
            logger.warning("webhook refused: body too large", extra={"bytes": len(body)})
            return WebhookAck.TOO_LARGE
        expected = xero_signature(self._key.key().get_secret_value(), body)
        if not signature or not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8")):
            logger.warning("webhook refused: bad signature", extra={"signed": bool(signature)})
            return WebhookAck.BAD_SIGNATURE
        try:
            payload = WebhookPayload.model_validate_json(body)
        except ValidationError:
            logger.warning("webhook refused: a signed body that is not a webhook payload")
            return WebhookAck.MALFORMED
        if payload.is_intent_to_receive:
            logger.info("webhook intent-to-receive answered")
            return WebhookAck.INTENT_TO_RECEIVE
        self._queue.send_delivery(body.decode("utf-8"))
        logger.info(
            "webhook delivery queued",
            extra={
                "events": len(payload.events),
                "first_sequence": payload.first_sequence,
                "last_sequence": payload.last_sequence,
            },
        )
        return WebhookAck.ACCEPTED
