"""The records queue's message: what the page fetchers, the change fetcher and the catch-up send the writer.

The writes-queue adapter splits a batch of records into bodies of this shape (each under SQS's 256 KiB)
and the writer validates each body back into a :class:`RecordsMessage`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from xero_bridge.errors import RecordTooLargeError
from xero_bridge.models.records import RecordSource, SkippedRecord, SyncedRecord

__all__ = ["SQS_BODY_LIMIT", "RecordsMessage"]


SQS_BODY_LIMIT = 240_000
"""Default budget of one message body in bytes: under SQS's 256 KiB (262,144 bytes, attributes included)."""


class RecordsMessage(BaseModel):
    """Body of a records-queue message (schema 1).

    ``{"schema": 1, "org_id", "tenant_id", "run_id": str|null, "source": {...}, "records": [...],
    "skipped": [...]}``. A record without its own ``source`` takes the message's (page fetchers send one
    source for a whole page, which keeps a 1,000-record page in fewer messages).
    """

    # hide_input_in_errors: a rejected body's validation error names fields, never quotes the records.
    model_config = ConfigDict(frozen=True, populate_by_name=True, hide_input_in_errors=True)

    schema_version: Literal[1] = Field(default=1, alias="schema")
    org_id: str = Field(min_length=1)
    tenant_id: str = Field(min_length=1)
    run_id: str | None = None
    source: RecordSource
    records: tuple[SyncedRecord, ...] = ()
    skipped: tuple[SkippedRecord, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _records_inherit_source(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("records"), list) and "source" in data:
            data = {
                **data,
                "records": [
                    {**record, "source": data["source"]}
                    if isinstance(record, dict) and "source" not in record
                    else record
                    for record in data["records"]
                ],
            }
        return data

    def to_json(self) -> str:
        """The body, compact (a record's source is left out when it is the message's)."""
        return _body(
            _header(self.org_id, self.tenant_id, self.run_id, self.source),
            [_record_json(record, self.source) for record in self.records],
            [skip.model_dump_json(exclude_none=True) for skip in self.skipped],
        )

    @classmethod
    def split_for_sqs(
        cls,
        records: Sequence[SyncedRecord],
        *,
        org_id: str,
        tenant_id: str,
        source: RecordSource,
        run_id: str | None = None,
        skipped: Sequence[SkippedRecord] = (),
        max_bytes: int = SQS_BODY_LIMIT,
    ) -> list[str]:
        """Message bodies holding ``records`` (and ``skipped``), each at most ``max_bytes`` of UTF-8 JSON.

        Records keep their order; a page of 1,000 invoices (~650 bytes each) needs three messages by default.
        Nothing to send gives no message.

        Raises
        ------
        RecordTooLargeError
            When one record alone exceeds the budget (named by type and id).
        """
        header = _header(org_id, tenant_id, run_id, source)
        empty = len(_body(header, [], []).encode())
        items: list[tuple[str, str, SyncedRecord | SkippedRecord]] = [
            ("records", _record_json(record, source), record) for record in records
        ]
        items += [("skipped", skip.model_dump_json(exclude_none=True), skip) for skip in skipped]
        bodies: list[str] = []
        chunk: dict[str, list[str]] = {"records": [], "skipped": []}
        size = empty
        for key, text, item in items:
            cost = len(text.encode()) + 1  # the comma (one too many per array: a safe over-count)
            if empty + cost > max_bytes:
                raise RecordTooLargeError(item.record_type, item.xero_id or "?", cost - 1, max_bytes)
            if size + cost > max_bytes:
                bodies.append(_body(header, chunk["records"], chunk["skipped"]))
                chunk, size = {"records": [], "skipped": []}, empty
            chunk[key].append(text)
            size += cost
        if chunk["records"] or chunk["skipped"]:
            bodies.append(_body(header, chunk["records"], chunk["skipped"]))
        return bodies


def _header(org_id: str, tenant_id: str, run_id: str | None, source: RecordSource) -> str:
    fixed = json.dumps(
        {"schema": 1, "org_id": org_id, "tenant_id": tenant_id, "run_id": run_id}, separators=(",", ":")
    )
    return fixed[:-1] + ',"source":' + source.model_dump_json(exclude_none=True)


def _body(header: str, records: list[str], skipped: list[str]) -> str:
    return header + ',"records":[' + ",".join(records) + '],"skipped":[' + ",".join(skipped) + "]}"


def _record_json(record: SyncedRecord, source: RecordSource) -> str:
    # exclude_none only: exclude_defaults would drop the payload's record_type, its discriminator.
    exclude = {"source"} if record.source == source else None
    return record.model_dump_json(exclude=exclude, exclude_none=True)
