"""A page of a run, published and checkpointed: the same for the planner's page 1 and the fetchers' pages."""

from __future__ import annotations

from collections.abc import Sequence

from xero_bridge.models.pages import BadRecord
from xero_bridge.models.records import RecordSource
from xero_bridge.models.sync import ResourcePlan, SyncRun
from xero_bridge.models.xero import XeroModel
from xero_bridge.services.ports import RunStore
from xero_bridge.services.publish_records import Published, RecordPublisher

__all__ = ["publish_page"]


def publish_page(
    publisher: RecordPublisher,
    runs: RunStore,
    run: SyncRun,
    *,
    resource: str,
    page: int,
    records: Sequence[XeroModel],
    bad_records: Sequence[BadRecord],
    is_last: bool,
    plan: ResourcePlan | None = None,
) -> Published:
    """Map, send and checkpoint one page of ``run`` (incremental when its plan has a ``modified_since``)."""
    source = RecordSource(
        kind="page", run_id=run.run_id, resource=resource, page=page, fetched_at=publisher.now()
    )
    resource_plan = plan or (run.plan or {}).get(resource) or ResourcePlan()

    def checkpoint(published: Published) -> None:
        runs.checkpoint_page(
            run.org_id,
            run.run_id,
            resource,
            page,
            records=published.records_sent,
            skipped=published.skipped,
            malformed=published.malformed,
            is_last=is_last,
            now=publisher.now(),
        )

    return publisher.publish(
        org_id=run.org_id,
        tenant_id=run.tenant_id,
        resource=resource,
        records=records,
        bad_records=bad_records,
        source=source,
        incremental=resource_plan.modified_since is not None,
        checkpoint=checkpoint,
    )
