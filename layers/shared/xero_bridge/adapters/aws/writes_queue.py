"""The writes queue (SQS): the sync, the change fetcher and the catch-up send mapped records, the writer
consumes them.

Everything SQS-shaped is here: records are split into :class:`~xero_bridge.models.messages.RecordsMessage`
bodies under SQS's 256 KiB, and the bodies grouped into ``SendMessageBatch`` calls (at most 10 entries and
256 KiB of bodies each), the entries SQS refuses sent again with backoff.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from xero_bridge.adapters.aws import clients
from xero_bridge.errors import WritesQueueError
from xero_bridge.models.messages import RecordsMessage
from xero_bridge.models.records import RecordSource, SkippedRecord, SyncedRecord

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["MAX_SQS_BATCH_BYTES", "MAX_SQS_BATCH_ENTRIES", "SqsWritesQueue", "sqs_batches"]

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


class SqsWritesQueue:
    """``SendMessageBatch`` with the entries SQS refuses retried, and an emptiness check for the finisher.

    Parameters
    ----------
    queue_url
        ``WRITES_QUEUE_URL``.
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
        client: SQSClient | None = None,
        attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = queue_url
        self._client = client
        self._attempts = attempts
        self._sleep = sleep

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            self._client = clients.sqs()
        return self._client

    def send_records(
        self,
        records: Sequence[SyncedRecord],
        *,
        org_id: str,
        tenant_id: str,
        source: RecordSource,
        run_id: str | None = None,
        skipped: Sequence[SkippedRecord] = (),
    ) -> None:
        """Send records (and the skipped ones, kept for "why is this not imported?") to the writer.

        Raises
        ------
        RecordTooLargeError
            One record alone does not fit a message body.
        WritesQueueError
            SQS kept refusing entries (nothing tells which were written: the caller re-sends them all,
            and the writer's conditional upserts make the duplicates harmless).
        """
        bodies = RecordsMessage.split_for_sqs(
            records, org_id=org_id, tenant_id=tenant_id, source=source, run_id=run_id, skipped=skipped
        )
        for batch in sqs_batches(bodies):
            self.send_batch(batch)

    def send_batch(self, bodies: Sequence[str]) -> None:
        """Send up to 10 bodies in one batch; entries SQS refuses are sent again with backoff.

        Raises
        ------
        WritesQueueError
            Entries were still refused after ``attempts`` sends (or SQS failed altogether).
        """
        pending = {f"m{i}-{uuid.uuid4().hex[:8]}": body for i, body in enumerate(bodies)}
        for attempt in range(1, self._attempts + 1):
            try:
                response = self.client.send_message_batch(
                    QueueUrl=self._url,
                    Entries=[{"Id": entry_id, "MessageBody": body} for entry_id, body in pending.items()],
                )
            except (ClientError, BotoCoreError) as exc:
                if attempt == self._attempts:
                    raise WritesQueueError("the writes queue refused a batch") from exc
                self._sleep(min(0.2 * 2**attempt, 5.0))
                continue
            failed = response.get("Failed", [])
            sender_faults = [f for f in failed if f.get("SenderFault")]
            if sender_faults:
                # Our fault (too large, malformed): retrying cannot help.
                raise WritesQueueError(
                    f"SQS refused {len(sender_faults)} entries: {sender_faults[0].get('Code')}"
                )
            pending = {f["Id"]: pending[f["Id"]] for f in failed}
            if not pending:
                return
            self._sleep(min(0.2 * 2**attempt, 5.0))
        raise WritesQueueError(f"SQS still refused {len(pending)} entries after {self._attempts} sends")

    def is_empty(self) -> bool:
        """True when SQS reports no message visible, in flight or delayed (approximate counts)."""
        attributes = self.client.get_queue_attributes(
            QueueUrl=self._url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        ).get("Attributes", {})
        return all(int(value) == 0 for value in attributes.values())
