"""What DynamoDB must hold against what it holds: the emulator's organisation through the import rules.

Shared by the demo, the integration tests and the benchmarks, so "nothing lost" means one thing everywhere.
"""

from __future__ import annotations

from typing import Any

from xero_bridge.adapters.aws.records_table import RecordsTable
from xero_bridge.domain.import_rules import map_records, source_filter
from xero_bridge.models.records import RESOURCE_OF, RecordSource, RecordType
from xero_emulator.store import XeroStore

#: Every record type a sync writes (the organisation is read for its settings, not stored as a record).
SYNCED_TYPES = [t for t in RecordType if t is not RecordType.ORGANISATION]
_PAGE = 1000

Records = dict[RecordType, dict[str, dict[str, Any]]]


def _xero_items(store: XeroStore, tenant_id: str, resource: str) -> list[dict[str, Any]]:
    """Every record the sync asks Xero for, with the same source filters, read from the emulator's store."""
    options = source_filter(resource, incremental=False)
    where = options.get("where")
    if resource == "Accounts":
        return list(store.list_resource(tenant_id, resource, where=where)["Accounts"])
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        body = store.list_resource(
            tenant_id,
            resource,
            page=page,
            page_size=_PAGE,
            where=where,
            include_archived=bool(options.get("include_archived")),
        )
        chunk = body.get(resource, [])
        items += chunk
        if len(chunk) < _PAGE:
            return items
        page += 1


def expected_records(store: XeroStore, tenant_id: str) -> Records:
    """The emulator's organisation through the import rules: what DynamoDB must hold, per type and id."""
    out: Records = {}
    for record_type in SYNCED_TYPES:
        resource = RESOURCE_OF[record_type]
        source = RecordSource(kind="page", run_id="expected", resource=resource, page=1)
        batch = map_records(resource, _xero_items(store, tenant_id, resource), source, incremental=False)
        out[record_type] = {r.xero_id: r.payload.model_dump(mode="json") for r in batch.records}
    return out


def held_records(records: RecordsTable, tenant_id: str) -> Records:
    """What the records table holds for the tenant, in the same shape."""
    return {
        t: {r.xero_id: r.payload.model_dump(mode="json") for r in records.list_items(tenant_id, t)}
        for t in SYNCED_TYPES
    }


def differences(expected: Records, held: Records) -> dict[RecordType, dict[str, int]]:
    """Per type: records missing, extra, or held with other field values (empty when they are equal)."""
    out: dict[RecordType, dict[str, int]] = {}
    for record_type in SYNCED_TYPES:
        want, have = expected.get(record_type, {}), held.get(record_type, {})
        missing = len(want.keys() - have.keys())
        extra = len(have.keys() - want.keys())
        changed = sum(1 for key in want.keys() & have.keys() if want[key] != have[key])
        if missing or extra or changed:
            out[record_type] = {"missing": missing, "extra": extra, "different": changed}
    return out
