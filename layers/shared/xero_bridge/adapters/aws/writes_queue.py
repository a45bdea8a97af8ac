"""The writes queue (SQS): the sync, the change fetcher and the catch-up send mapped records, the writer
consumes them.

Everything SQS-shaped is here: records are split into :class:`~xero_bridge.models.messages.RecordsMessage`
bodies under SQS's 256 KiB, and the bodies grouped into ``SendMessageBatch`` calls (at most 10 entries and
256 KiB of bodies each), the entries SQS refuses sent again with backoff.
"""

from __future__ import annotations

from collections.abc import Sequence

from xero_bridge.adapters.aws.sqs import (
    MAX_SQS_BATCH_BYTES,
    MAX_SQS_BATCH_ENTRIES,
    BatchSendingQueue,
    sqs_batches,
)
from xero_bridge.errors import WritesQueueError
from xero_bridge.models.messages import RecordsMessage
from xero_bridge.models.records import RecordSource, SkippedRecord, SyncedRecord

__all__ = ["MAX_SQS_BATCH_BYTES", "MAX_SQS_BATCH_ENTRIES", "SqsWritesQueue", "sqs_batches"]


class SqsWritesQueue(BatchSendingQueue):
    """``SendMessageBatch`` with the entries SQS refuses retried, and an emptiness check for the finisher
    (``WRITES_QUEUE_URL``; constructed as any :class:`~xero_bridge.adapters.aws.sqs.BatchSendingQueue`)."""

    error = WritesQueueError

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
        self._sender.send(bodies)

    def send_batch(self, bodies: Sequence[str]) -> None:
        """Send up to 10 bodies in one batch (``WritesQueueError`` if SQS keeps refusing entries)."""
        self._sender.send_batch(bodies)

    def is_empty(self) -> bool:
        """True when SQS reports no message visible, in flight or delayed (approximate counts)."""
        attributes = self.client.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        ).get("Attributes", {})
        return all(int(value) == 0 for value in attributes.values())
