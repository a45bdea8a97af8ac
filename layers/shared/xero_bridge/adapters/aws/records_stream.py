"""``RecordsTable``'s DynamoDB stream, read: each stream record as the :class:`RecordChange` it tells.

Only synced records' items are changes (``{TYPE}#{xero_id}``); the writer's notes beside them (``SKIPPED#``,
``STALE#``) are not. Images are DynamoDB JSON, decoded with the table's own codec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xero_bridge.adapters.aws.dynamodb import from_item
from xero_bridge.adapters.aws.records_table import stored_record
from xero_bridge.models.balances import RecordChange
from xero_bridge.models.records import RecordType

__all__ = ["decode_change"]

_TYPES = {kind.value for kind in RecordType}


def decode_change(event_name: str, dynamodb: Mapping[str, Any]) -> RecordChange | None:
    """The change a stream record tells, or None for an item that is not a synced record.

    Raises
    ------
    pydantic.ValidationError
        An image that is not a record we wrote (the batch is retried, then sent to the DLQ).
    """
    keys = from_item(dynamodb.get("Keys") or {})
    pk, sk = str(keys.get("pk", "")), str(keys.get("sk", ""))
    kind, _, xero_id = sk.partition("#")
    if not pk.startswith("TENANT#") or kind not in _TYPES or not xero_id:
        return None
    new_image = dynamodb.get("NewImage")
    old_image = dynamodb.get("OldImage")
    new = stored_record(new_image) if new_image and event_name != "REMOVE" else None
    old_contact = None
    if old_image:
        old_contact = (from_item(old_image).get("data") or {}).get("contact_id")
    org_id = new.org_id if new is not None else str(from_item(old_image or {}).get("org_id", ""))
    return RecordChange(
        tenant_id=pk.removeprefix("TENANT#"),
        org_id=org_id,
        record_type=RecordType(kind),
        xero_id=xero_id,
        new=new,
        old_contact_id=str(old_contact) if old_contact else None,
    )
