"""A page of a run, published and checkpointed: the same for the planner's page 1 and the fetchers' pages."""

from __future__ import annotations

from collections.abc import Sequence

from xero_bridge.models.pages import BadRecord
from xero_bridge.models.records import RecordSource
from xero_bridge.models.sync import PartitionPlan, SyncRun
from xero_bridge.models.xero import XeroModel
from xero_bridge.services.ports import RunStore
from xero_bridge.services.publish_records import Published, RecordPublisher

__all__ = ["publish_page"]


def publish_page(
    publisher: RecordPublisher,
    runs: RunStore,
    run: SyncRun,
    *,
    plan: PartitionPlan,
    page: int,
    records: Sequence[XeroModel],
    bad_records: Sequence[BadRecord],
    is_last: bool,
    item_count: int | None = None,
    repair_of: int | None = None,
) -> Published:
    """Map, send and checkpoint one read of ``plan``'s partition.

    The records of a partition of changes (the history part's, an incremental run's) are mapped as changes:
    a contact archived since is then marked inactive rather than left out. ``item_count`` (the partition's
    size as this read saw it) and ``repair_of`` (a re-read across that page boundary) go on the checkpoint.
    """
    source = RecordSource(
        kind="page",
        run_id=run.run_id,
        resource=plan.resource,
        page=page,
        part=plan.part.value,
        fetched_at=publisher.now(),
    )

    def checkpoint(published: Published) -> None:
        runs.checkpoint_page(
            run.org_id,
            run.run_id,
            plan.key,
            page,
            records=published.records_sent,
            skipped=published.skipped,
            malformed=published.malformed,
            is_last=is_last,
            item_count=item_count,
            repair_of=repair_of,
            now=publisher.now(),
        )

    return publisher.publish(
        org_id=run.org_id,
        tenant_id=run.tenant_id,
        resource=plan.resource,
        records=records,
        bad_records=bad_records,
        source=source,
        incremental=plan.incremental,
        checkpoint=checkpoint,
    )
