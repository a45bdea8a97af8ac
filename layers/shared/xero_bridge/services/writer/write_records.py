"""Use case: write a batch of synced records — the writer's only job.

Page fetchers (initial sync), the change fetcher (webhooks) and the catch-up send
:class:`~xero_bridge.models.messages.RecordsMessage` bodies through the records queue (the shared step
:mod:`xero_bridge.services.publish_records`); the writer function hands each to :func:`write_batch`.

Idempotency is the write itself: each record is stored only if its version (``xero_updated_at``) is newer
than what we hold for (tenant, record type, Xero id) — the business identity. A redelivered message, a
replayed one with a new SQS message id, or an old page arriving after a webhook all end as ``stale``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from xero_bridge.models.messages import RecordsMessage
from xero_bridge.models.records import RESOURCE_OF, SyncedRecord, WriteOutcome
from xero_bridge.models.sync import Part, partition_key
from xero_bridge.services.chase_ready import record_chase_ready
from xero_bridge.services.ports import Clock, RecordsStore, RunStore, StaleLog, utc_now

__all__ = ["WriteSummary", "write_batch"]


def _counted_as(record: SyncedRecord) -> str:
    """The run counter a record's write adds to: its partition (``Invoices:chase``), or its resource."""
    resource = record.source.resource or RESOURCE_OF[record.record_type]
    return partition_key(resource, record.source.part) if record.source.part else resource


@dataclass(frozen=True)
class WriteSummary:
    """What one message did: records stored, already held (same or newer), only-if-exists absent, skipped."""

    written: int = 0
    stale: int = 0
    skipped_missing: int = 0
    not_imported: int = 0


def write_batch(
    message: RecordsMessage,
    repo: RecordsStore,
    progress: RunStore,
    stale: StaleLog | None = None,
    *,
    clock: Clock = utc_now,
) -> WriteSummary:
    """Write the message's records (newer versions only) and add what was written to the run's progress.

    A message of a run's chase part may hold the last records the part was waiting for: the run's
    ``chase_ready_at`` is then recorded (the shared step :mod:`xero_bridge.services.chase_ready`).

    Parameters
    ----------
    message
        The records and where they came from.
    repo
        The records repository (conditional writes).
    progress
        The sync-run counters; only called for a message of a run (``run_id``): per partition, versions
        written, and versions unchanged (stale, or only-if-exists of a record we never held) — together,
        every record the run sent, which is how the run knows the writer drained it (each part of it).
    stale
        Where deliveries that came stale are noted for the record's trail (only those: a normal write
        costs nothing more).
    clock
        Aware-UTC clock (the moment recorded as chase-ready).

    Returns
    -------
    WriteSummary

    Raises
    ------
    botocore.exceptions.ClientError
        A DynamoDB failure: the message is retried whole and counted only then (nothing is counted for
        an attempt that failed); what the failed attempt wrote comes back ``stale`` and counts as unchanged.
    """
    outcomes = repo.upsert_many(message.tenant_id, message.org_id, message.records)
    if stale is not None:
        came_stale = [r for r, o in zip(message.records, outcomes, strict=True) if o is WriteOutcome.STALE]
        if came_stale:
            stale.record_stale(message.tenant_id, came_stale)
    for skipped in message.skipped:
        repo.record_skipped(message.tenant_id, message.org_id, skipped, message.source)
    if message.run_id:
        written: Counter[str] = Counter()
        unchanged: Counter[str] = Counter()
        for record, outcome in zip(message.records, outcomes, strict=True):
            (written if outcome is WriteOutcome.WRITTEN else unchanged)[_counted_as(record)] += 1
        for partition, count in sorted(written.items()):
            progress.records_written(message.org_id, message.run_id, partition, count)
        for partition, count in sorted(unchanged.items()):
            progress.records_unchanged(message.org_id, message.run_id, partition, count)
        if any(record.source.part == Part.CHASE.value for record in message.records):
            record_chase_ready(progress, message.org_id, message.run_id, now=clock())
    counts = Counter(outcomes)
    return WriteSummary(
        written=counts[WriteOutcome.WRITTEN],
        stale=counts[WriteOutcome.STALE],
        skipped_missing=counts[WriteOutcome.MISSING_FOR_UPDATE],
        not_imported=len(message.skipped),
    )
