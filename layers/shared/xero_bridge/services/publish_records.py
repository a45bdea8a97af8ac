"""The step every reading flow shares: map a batch of Xero records, send them to the writer, checkpoint.

The initial sync (a page), the change fetcher (records fetched for webhook events) and the catch-up (a page
of what changed since a cursor) all end the same way: the import rules map the Xero records into ours, the
records (and the ones left out, with why) go to the writes queue, and only once the queue has accepted every
one of them is the work marked done — a page checkpoint, an event batch acknowledged, a cursor moved. A
caller that dies between the two re-sends the batch; the writer's conditional upserts make that harmless.

:func:`every_page` is the read before it where a flow reads a whole list (the catch-up's sweep of a
resource, the payments that follow their invoices, the re-fetch of one customer's documents).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from xero_bridge.domain.import_rules import MappedBatch, map_records
from xero_bridge.models.pages import BadRecord, Page
from xero_bridge.models.records import RecordSource, SkipReason, SyncedRecord
from xero_bridge.models.xero import XeroModel
from xero_bridge.observability import logger
from xero_bridge.services.ports import Clock, WritesQueue, XeroReader, utc_now

__all__ = ["Published", "RecordPublisher", "every_page"]


@dataclass(frozen=True)
class Published:
    """What one batch became: records sent to the writer, records the rules left out, unreadable ones, and
    the records sent themselves (for a caller that also looks at them, as the re-fetch does)."""

    records_sent: int
    skipped: int
    malformed: int
    records: tuple[SyncedRecord, ...] = ()


class RecordPublisher:
    """Map → send → checkpoint, for one batch of Xero records of one resource.

    Parameters
    ----------
    queue
        The writes queue.
    mapper
        The import rules (``domain.import_rules.map_records``), as ``mapper(resource, records, source,
        incremental=...)``.
    clock
        Aware-UTC clock (the ``fetched_at`` of each batch's source).
    """

    def __init__(
        self,
        *,
        queue: WritesQueue,
        mapper: Callable[..., MappedBatch] = map_records,
        clock: Clock = utc_now,
    ) -> None:
        self._queue = queue
        self._map = mapper
        self._now = clock

    def now(self) -> datetime:
        return self._now()

    def publish(
        self,
        *,
        org_id: str,
        tenant_id: str,
        resource: str,
        records: Sequence[XeroModel],
        source: RecordSource,
        bad_records: Sequence[BadRecord] = (),
        incremental: bool = False,
        checkpoint: Callable[[Published], object] | None = None,
        sources: Mapping[str, RecordSource] | None = None,
    ) -> Published:
        """Map ``records`` of ``resource``, send them to the writer, then call ``checkpoint``.

        Parameters
        ----------
        org_id, tenant_id
            Whose records they are.
        resource
            Xero's resource name (``"Invoices"``...).
        records
            The Xero records, as the client read them.
        source
            Where this version came from (page of a run, webhook events, catch-up), kept on every record.
        bad_records
            Records of the same answer that the client could not read: counted and logged, never sent.
        incremental
            Records of a change (webhook, catch-up) rather than a full import: the rules then also see
            archived contacts, to mark them inactive.
        checkpoint
            Called with the counts once every record was accepted by the queue (never when sending
            failed: the caller retries the batch).
        sources
            A source of its own per record (by Xero id), where records of one batch came for different
            reasons (the webhook events of each); the others keep ``source``.

        Returns
        -------
        Published
            Records sent, skipped by the rules (with their reasons sent along), malformed.

        Raises
        ------
        WritesQueueError, RecordTooLargeError
            The queue did not take the batch; nothing was checkpointed.
        """
        batch = self._map(resource, list(records), source, incremental=incremental)
        if sources:
            batch = MappedBatch(
                records=[
                    r.model_copy(update={"source": sources[r.xero_id]}) if r.xero_id in sources else r
                    for r in batch.records
                ],
                skipped=batch.skipped,
            )
        unreadable = sum(1 for s in batch.skipped if s.reason == SkipReason.MALFORMED)
        for bad in bad_records:
            # Where and why, never the record's content.
            logger.warning(
                "malformed Xero record skipped",
                extra={
                    "org_id": org_id,
                    "run_id": source.run_id,
                    "resource": resource,
                    "page": source.page,
                    "index": bad.index,
                    "record_id": bad.record_id,
                    "error": bad.error,
                },
            )
        if batch.records or batch.skipped:
            self._queue.send_records(
                batch.records,
                org_id=org_id,
                tenant_id=tenant_id,
                source=source,
                run_id=source.run_id,
                skipped=batch.skipped,
            )
        published = Published(
            records_sent=len(batch.records),
            skipped=len(batch.skipped) - unreadable,
            malformed=len(bad_records) + unreadable,
            records=tuple(batch.records),
        )
        if checkpoint is not None:
            checkpoint(published)
        return published


def every_page(
    reader: XeroReader, resource: str, *, page_size: int, max_pages: int | None = None, **query: Any
) -> Iterator[Page[XeroModel]]:
    """Pages 1, 2, ... of ``resource`` with ``query`` (``where``, ``if_modified_since``...), each yielded as
    soon as it is read, until Xero says one is the last (or ``max_pages`` were read)."""
    page_number = 1
    while True:
        page = reader.list_page(resource, page=page_number, page_size=page_size, **query)
        yield page
        if page.is_last or page_number == max_pages:
            return
        page_number += 1
