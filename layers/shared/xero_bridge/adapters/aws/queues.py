"""The real-time sync's queues (SQS): webhook deliveries on their way to the change fetcher, and catch-ups.

The writes queue has its own adapter (:mod:`.writes_queue`): it splits records into messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from xero_bridge.adapters.aws.sqs import BatchSender, SqsDeadLetters, SqsQueueAdapter
from xero_bridge.errors import CatchUpQueueError, WebhookQueueError
from xero_bridge.models.webhooks import CatchUpRequest

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["MAX_VISIBILITY_SECONDS", "SqsCatchUpQueue", "SqsWebhookQueue"]

MAX_VISIBILITY_SECONDS = 12 * 60 * 60
"""SQS's longest visibility timeout (12 hours)."""


class SqsWebhookQueue(SqsQueueAdapter):
    """``WebhooksQueue`` and its dead-letter queue (``WEBHOOKS_QUEUE_URL``, ``WEBHOOKS_DLQ_URL``).

    Parameters
    ----------
    queue_url
        The queue the receiver sends to and the change fetcher reads.
    dead_letter_url
        Its dead-letter queue (only the change fetcher needs it: poison messages go there with a reason).
    client
        An SQS client; the container's shared one is created on first use when omitted.
    """

    def __init__(self, queue_url: str, dead_letter_url: str = "", client: SQSClient | None = None) -> None:
        super().__init__(queue_url, client)
        self._dead_letters = SqsDeadLetters(dead_letter_url, error=WebhookQueueError, client=client)

    def send_delivery(self, body: str) -> None:
        try:
            self.client.send_message(QueueUrl=self.queue_url, MessageBody=body)
        except (ClientError, BotoCoreError) as exc:
            raise WebhookQueueError("the webhooks queue refused a delivery") from exc

    def return_later(self, receipt_handle: str, seconds: int) -> None:
        """Hide the message for ``seconds`` (it is then received again, counting one more receive)."""
        self.client.change_message_visibility(
            QueueUrl=self.queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(0, min(int(seconds), MAX_VISIBILITY_SECONDS)),
        )

    def dead_letter(self, body: str, reason: str) -> None:
        """Send ``body`` to the DLQ with a ``reason`` attribute (SQS's own redrive would carry no reason)."""
        self._dead_letters.send(body, reason)


class SqsCatchUpQueue(SqsQueueAdapter):
    """``CatchUpQueue`` (``CATCH_UP_QUEUE_URL``): one message per catch-up asked for."""

    def request(self, request: CatchUpRequest) -> None:
        self.request_many([request])

    def request_many(self, requests: Sequence[CatchUpRequest]) -> None:
        """Send the requests in ``SendMessageBatch`` calls, the refused entries again with backoff."""
        sender = BatchSender(self.queue_url, error=CatchUpQueueError, client=self._client, attempts=2)
        sender.send([request.model_dump_json() for request in requests])
