"""Use case: write a batch of synced records — the writer's only job — and the message that carries them.

Page fetchers (initial sync), the change fetcher (webhooks) and the catch-up send :class:`RecordsMessage`
bodies through the records queue; the writer function hands each to :func:`write_batch`.

Idempotency is the write itself: each record is stored only if its version (``xero_updated_at``) is newer
than what we hold for (tenant, record type, Xero id) — the business identity. A redelivered message, a
replayed one with a new SQS message id, or an old page arriving after a webhook all end as ``stale``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from xero_bridge.errors import RecordTooLargeError
from xero_bridge.models.records import (
    RESOURCE_OF,
    RecordSource,
    SkippedRecord,
    SyncedRecord,
    WriteOutcome,
)

__all__ = ["SQS_BODY_LIMIT", "RecordsMessage", "RecordsWriter", "SyncProgress", "WriteSummary", "write_batch"]

SQS_BODY_LIMIT = 240_000
"""Default budget of one message body in bytes: under SQS's 256 KiB (262,144 bytes, attributes included)."""


# --- Ports ---------------------------------------------------------------------------------------------


class RecordsWriter(Protocol):
    """Writes records under the "never overwrite newer" rule (``RecordsRepository``)."""

    def upsert_many(
        self, tenant_id: str, org_id: str, records: Sequence[SyncedRecord]
    ) -> list[WriteOutcome]: ...

    def record_skipped(
        self, tenant_id: str, org_id: str, skipped: SkippedRecord, source: RecordSource
    ) -> None: ...


class SyncProgress(Protocol):
    """Counts, per resource, what the writer did with a run's records (progress, and "drained?")."""

    def records_written(self, org_id: str, run_id: str, resource: str, count: int) -> bool: ...

    def records_unchanged(self, org_id: str, run_id: str, resource: str, count: int) -> bool: ...


# --- The message -----------------------------------------------------------------------------------------


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


# --- The use case ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteSummary:
    """What one message did: records stored, already held (same or newer), only-if-exists absent, skipped."""

    written: int = 0
    stale: int = 0
    skipped_missing: int = 0
    not_imported: int = 0


def write_batch(message: RecordsMessage, repo: RecordsWriter, progress: SyncProgress) -> WriteSummary:
    """Write the message's records (newer versions only) and add what was written to the run's progress.

    Parameters
    ----------
    message
        The records and where they came from.
    repo
        The records repository (conditional writes).
    progress
        The sync-run counters; only called for a message of a run (``run_id``): per resource, versions
        written, and versions unchanged (stale, or only-if-exists of a record we never held) — together,
        every record the run sent, which is how the run knows the writer drained it.

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
    for skipped in message.skipped:
        repo.record_skipped(message.tenant_id, message.org_id, skipped, message.source)
    if message.run_id:
        written: Counter[str] = Counter()
        unchanged: Counter[str] = Counter()
        for record, outcome in zip(message.records, outcomes, strict=True):
            resource = record.source.resource or RESOURCE_OF[record.record_type]
            (written if outcome is WriteOutcome.WRITTEN else unchanged)[resource] += 1
        for resource, count in sorted(written.items()):
            progress.records_written(message.org_id, message.run_id, resource, count)
        for resource, count in sorted(unchanged.items()):
            progress.records_unchanged(message.org_id, message.run_id, resource, count)
    counts = Counter(outcomes)
    return WriteSummary(
        written=counts[WriteOutcome.WRITTEN],
        stale=counts[WriteOutcome.STALE],
        skipped_missing=counts[WriteOutcome.MISSING_FOR_UPDATE],
        not_imported=len(message.skipped),
    )
