"""The export queues (SQS): payments on their way to the exporter, the backoff of a message that failed for
a transient reason, and the dead-letter queues a message that can never succeed is moved to, with why.

A transient failure (Xero unavailable, rate limited, timed out) sets the message's visibility to the
backoff (``ChangeMessageVisibility``) before the exporter reports it failed: Lambda leaves it on the queue,
and it comes back after that delay, not after the queue's whole visibility timeout. After
``maxReceiveCount`` receives SQS itself moves it to the queue's DLQ (the payment showing its error code
meanwhile). A message that is malformed is moved to the DLQ at once by
:class:`~xero_bridge.adapters.aws.sqs.SqsDeadLetters`, with its
reason as a message attribute, instead of being received again and again for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from xero_bridge.adapters.aws.sqs import BatchSendingQueue
from xero_bridge.errors import ExportQueueError
from xero_bridge.models.payments import ExportMessage
from xero_bridge.observability import logger

__all__ = ["PAYMENTS_PER_MESSAGE", "SqsExportQueue"]

PAYMENTS_PER_MESSAGE = 50
"""Payment ids per export message: one message can fill one Xero batch."""


class SqsExportQueue(BatchSendingQueue):
    """The export queue (``EXPORT_QUEUE_URL``; implements ``ExportQueue``); constructed as any
    :class:`~xero_bridge.adapters.aws.sqs.BatchSendingQueue`."""

    error = ExportQueueError

    def send(self, org_id: str, payment_ids: Sequence[str], *, trigger: str = "recorded") -> int:
        """Queue ``payment_ids`` of ``org_id`` for export, 50 to a message; returns the messages sent.

        Raises
        ------
        ExportQueueError
            SQS kept refusing (nothing says which messages went: sending them again is harmless, the
            ledger lets a payment be sent to Xero once).
        """
        ids = list(dict.fromkeys(payment_ids))
        bodies = [
            ExportMessage.model_validate(
                {
                    "org_id": org_id,
                    "payment_ids": ids[start : start + PAYMENTS_PER_MESSAGE],
                    "trigger": trigger,
                }
            ).to_json()
            for start in range(0, len(ids), PAYMENTS_PER_MESSAGE)
        ]
        self._sender.send(bodies)
        return len(bodies)

    def retry_later(self, receipt_handle: str, seconds: int) -> None:
        """Bring a received message back after ``seconds`` (its backoff) instead of the visibility timeout.

        A failure here is only logged: the message then comes back after the queue's visibility timeout,
        later but just as safely.
        """
        try:
            self.client.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning("could not set the message's backoff", extra={"error": type(exc).__name__})
