"""What every SQS adapter shares: grouping bodies into ``SendMessageBatch`` calls (at most 10 entries and
256 KiB of bodies each), sending them with the entries SQS refuses sent again with backoff, and moving a
message that can never succeed to a dead-letter queue with its reason."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

from xero_bridge.adapters.aws import clients
from xero_bridge.errors import RetryLater

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = [
    "MAX_SQS_BATCH_BYTES",
    "MAX_SQS_BATCH_ENTRIES",
    "BatchSender",
    "BatchSendingQueue",
    "SqsDeadLetters",
    "SqsQueueAdapter",
    "sqs_batches",
]

MAX_SQS_BATCH_ENTRIES = 10
"""SQS ``SendMessageBatch`` takes at most 10 entries..."""
MAX_SQS_BATCH_BYTES = 256 * 1024
"""... and at most 256 KiB of bodies in all."""


def sqs_batches(bodies: Sequence[str]) -> Iterator[list[str]]:
    """Group bodies into ``SendMessageBatch`` calls: ≤ 10 entries and ≤ 256 KiB of bodies each."""
    batch: list[str] = []
    size = 0
    for body in bodies:
        length = len(body.encode())
        if batch and (len(batch) == MAX_SQS_BATCH_ENTRIES or size + length > MAX_SQS_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(body)
        size += length
    if batch:
        yield batch


class SqsQueueAdapter:
    """Base of the adapters over one queue: its URL, and an SQS client (tests pass their own; the
    container's shared one, ``clients.sqs()``, is used on first need when omitted, never at import)."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            self._client = clients.sqs()
        return self._client


class BatchSender(SqsQueueAdapter):
    """``SendMessageBatch`` to one queue, the entries SQS refuses sent again with backoff.

    Parameters
    ----------
    queue_url
        The queue.
    error
        Raised (a :class:`~xero_bridge.errors.RetryLater`) when SQS keeps refusing.
    client
        An SQS client; the container's shared one is created on first use when omitted.
    attempts
        Sends of the refused entries of one batch before giving up.
    sleep
        Backoff between those sends (tests pass a recorder).
    """

    def __init__(
        self,
        queue_url: str,
        *,
        error: type[RetryLater],
        client: SQSClient | None = None,
        attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(queue_url, client)
        self._error = error
        self._attempts = attempts
        self._sleep = sleep

    def send(self, bodies: Sequence[str]) -> None:
        """Send every body, in as few batches as SQS allows."""
        for batch in sqs_batches(bodies):
            self.send_batch(batch)

    def send_batch(self, bodies: Sequence[str]) -> None:
        """Send up to 10 bodies in one batch; entries SQS refuses are sent again with backoff.

        Raises
        ------
        RetryLater
            ``error``: entries were still refused after ``attempts`` sends (or SQS failed altogether).
        """
        pending = {f"m{i}-{uuid.uuid4().hex[:8]}": body for i, body in enumerate(bodies)}
        for attempt in range(1, self._attempts + 1):
            try:
                response = self.client.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": entry_id, "MessageBody": body} for entry_id, body in pending.items()],
                )
            except (ClientError, BotoCoreError) as exc:
                if attempt == self._attempts:
                    raise self._error("the queue refused a batch") from exc
                self._sleep(min(0.2 * 2**attempt, 5.0))
                continue
            failed = response.get("Failed", [])
            sender_faults = [f for f in failed if f.get("SenderFault")]
            if sender_faults:
                # Our fault (too large, malformed): retrying cannot help.
                raise self._error(f"SQS refused {len(sender_faults)} entries: {sender_faults[0].get('Code')}")
            pending = {f["Id"]: pending[f["Id"]] for f in failed}
            if not pending:
                return
            self._sleep(min(0.2 * 2**attempt, 5.0))
        raise self._error(f"SQS still refused {len(pending)} entries after {self._attempts} sends")


class BatchSendingQueue:
    """Base of a queue adapter that sends through a :class:`BatchSender` raising the adapter's ``error``.

    Parameters
    ----------
    queue_url
        The queue.
    client, attempts, sleep
        As :class:`BatchSender`.
    """

    error: ClassVar[type[RetryLater]]

    def __init__(
        self,
        queue_url: str,
        *,
        client: SQSClient | None = None,
        attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sender = BatchSender(queue_url, error=self.error, client=client, attempts=attempts, sleep=sleep)

    @property
    def client(self) -> SQSClient:
        return self._sender.client

    @property
    def queue_url(self) -> str:
        return self._sender.queue_url


class SqsDeadLetters(SqsQueueAdapter):
    """A dead-letter queue a consumer moves a message to itself, with why (implements ``DeadLetters``).

    SQS's own redrive would carry no reason; this keeps the body as it came and says why beside it.

    Parameters
    ----------
    queue_url
        The dead-letter queue.
    error
        Raised (a :class:`~xero_bridge.errors.RetryLater`) when SQS refuses: the consumer then fails the
        message, and the source queue's own redrive moves it later.
    client
        An SQS client; the container's shared one is created on first use when omitted.
    """

    def __init__(self, queue_url: str, *, error: type[RetryLater], client: SQSClient | None = None) -> None:
        super().__init__(queue_url, client)
        self._error = error

    def send(self, body: str, reason: str) -> None:
        """Keep ``body`` as it came, with ``reason`` (and when) as message attributes."""
        if not self.queue_url:
            raise self._error("no dead-letter queue is configured: a poison message cannot be set aside")
        try:
            self.client.send_message(
                QueueUrl=self.queue_url,
                MessageBody=body,
                MessageAttributes={
                    "reason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"},
                    "dead_lettered_at": {"DataType": "String", "StringValue": datetime.now(UTC).isoformat()},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error("the dead-letter queue refused a message") from exc
