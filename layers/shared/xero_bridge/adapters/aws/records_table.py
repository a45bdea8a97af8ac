"""The DynamoDB repository of synced records (``RecordsTable``) — used by the writer, the only code that
writes them.

Item layout (one item per record; ``template.yaml`` declares the keys and ``GSI1``):

================  ====  =====================================================================================
attribute         type  value
================  ====  =====================================================================================
pk                S     ``TENANT#{tenant_id}``
sk                S     ``{RECORD_TYPE}#{xero_id}`` (``CONTACT#...``, ``INVOICE#...``, ``CREDIT_NOTE#...``,
                        ``PAYMENT#``, ``OVERPAYMENT#``, ``PREPAYMENT#``, ``BANK_ACCOUNT#``, ``ORGANISATION#``)
record_type       S     the type, again (filters and exports without parsing ``sk``)
xero_id           S     Xero's id
tenant_id         S     Xero tenant id
org_id            S     the AR org the tenant is connected to
xero_updated_at   S     the version: Xero's UpdatedDateUTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (fixed width)
received_at       S     when the writer stored this version (same format)
source            M     where this version came from (:class:`~xero_bridge.models.records.RecordSource`):
                        kind, run_id, resource, page, event_ids, event_sequence, cursor, fetched_at
data              M     the record (:mod:`xero_bridge.models.records`): money as numbers, dates as
                        ``YYYY-MM-DD``, instants as above; absent fields are left out
gsi1pk, gsi1sk    S     documents with a customer: ``TENANT#{tenant_id}#CONTACT#{contact_id}`` and
                        ``{RECORD_TYPE}#{date or 0000-00-00}#{xero_id}`` — a customer's documents by type and
                        date (the template's GSI1 pattern)
================  ====  =====================================================================================

Versions are ordered by ``xero_updated_at`` as a **string**: a fixed-width ISO-8601 UTC instant with
microseconds sorts exactly like the instant (years 0001-9999), stays readable in the console, and needs no
second attribute. Every write is conditional on that order (``attribute_not_exists(pk) OR xero_updated_at <
:new``), so a late, duplicated or replayed delivery can never replace newer data: its condition fails and
that is a normal outcome (:attr:`WriteOutcome.STALE`), not an error. Equal versions keep what we hold.

Why a record was left out is kept beside the records: ``sk = SKIPPED#{RECORD_TYPE}#{xero_id}`` with
``reason``, ``detail``, ``source`` and ``received_at`` (support's "why is it not in the AR platform?").

Money is stored as DynamoDB numbers, exactly (38 significant digits). DynamoDB keeps the value, not the
written scale: ``1234.50`` reads back as ``1234.5`` — the same Decimal for every comparison.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from xero_bridge.adapters.aws.dynamodb import (
    DynamoDBTableAdapter,
    from_item,
    is_conditional_check_failure,
    to_item,
)
from xero_bridge.models.records import (
    RecordSource,
    RecordType,
    SkippedRecord,
    StoredRecord,
    SyncedRecord,
    WriteOutcome,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "RecordsTable",
    "WriteOutcome",
    "format_instant",
    "record_sk",
    "records_of",
    "stored_record",
    "tenant_pk",
]


# Documents listed per customer on GSI1 (payments are found through their invoice).
_CUSTOMER_DOCUMENTS = frozenset(
    {RecordType.INVOICE, RecordType.CREDIT_NOTE, RecordType.OVERPAYMENT, RecordType.PREPAYMENT}
)
_NO_DATE = "0000-00-00"  # sorts before every real date


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def record_sk(record_type: RecordType | str, xero_id: str) -> str:
    return f"{RecordType(record_type).value}#{xero_id}"


def format_instant(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC: fixed width, so string order is time order.

    Raises
    ------
    ValueError
        For a naive datetime (its zone would be a guess).
    """
    if value.tzinfo is None:
        raise ValueError("a naive datetime has no place in RecordsTable")
    # isoformat pads the year to four digits, strftime("%Y") does not on every libc.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _storable(value: Any) -> Any:
    """A model dump (python mode) → values the DynamoDB serializer takes, exactly."""
    if isinstance(value, dict):
        return {key: _storable(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    if isinstance(value, datetime):  # before date: a datetime is a date
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float):  # never expected (money is Decimal); exact if it ever happens
        return Decimal(str(value))
    return value


def stored_record(item: Mapping[str, Any]) -> StoredRecord:
    """A ``RecordsTable`` item (DynamoDB attribute values) as the record it holds."""
    values = from_item(item)
    return StoredRecord.model_validate({**values, "payload": values["data"]})


def records_of(
    client: DynamoDBClient,
    table: str,
    tenant_id: str,
    record_type: RecordType | str,
    *,
    consistent: bool = False,
) -> Iterator[StoredRecord]:
    """Every record of one type for a tenant (a ``Query`` on ``begins_with(sk, "{TYPE}#")``), page by page."""
    paginator = client.get_paginator("query")
    pages = paginator.paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={
            ":pk": {"S": tenant_pk(tenant_id)},
            ":prefix": {"S": f"{RecordType(record_type).value}#"},
        },
        ConsistentRead=consistent,
    )
    for page in pages:
        for item in page.get("Items", []):
            yield stored_record(item)


class RecordsTable(DynamoDBTableAdapter):
    """Every write of synced records to ``RecordsTable``, and the few reads tests and support need.

    Parameters
    ----------
    table_name
        The physical table name (``RECORDS_TABLE_NAME``).
    client
        A DynamoDB client; the container's shared one (``adapters.aws.clients``) is created on first use
        when omitted, never at import.
    workers
        Threads :meth:`upsert_many` writes with (1 writes in the calling thread).
    clock
        Aware-UTC clock for ``received_at``.
    """

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        *,
        workers: int = 8,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        super().__init__(table_name, client)
        self._workers = workers
        self._clock = clock or (lambda: datetime.now(UTC))
        self._pool: ThreadPoolExecutor | None = None

    # --- Writes --------------------------------------------------------------------------------------------

    def upsert(self, tenant_id: str, org_id: str, record: SyncedRecord) -> WriteOutcome:
        """Store ``record`` unless we hold the same or a newer version of it.

        One conditional ``PutItem``: ``attribute_not_exists(pk) OR xero_updated_at < :new`` (for an
        ``only_if_exists`` record, ``attribute_exists(pk) AND xero_updated_at < :new``). The item is the
        writer's alone and is replaced whole: state other features keep about a record (an export status,
        an off-balance flag) lives in items of their own, never on this one. (``UpdateItem`` would keep such
        attributes, but costs 5-10x more per write on the local stack's moto, which the sync benchmarks run
        on; on DynamoDB both cost one write unit per KB.)

        Returns
        -------
        WriteOutcome
            ``written``, ``stale`` (same or newer held), or ``missing_for_update`` (only-if-exists, absent).

        Raises
        ------
        botocore.exceptions.ClientError
            Any DynamoDB error other than the condition (throttling past the client's retries...): the
            caller's message goes back to its queue and is retried; what was written stays written.
        """
        new_version = format_instant(record.xero_updated_at)
        item: dict[str, Any] = {
            "pk": tenant_pk(tenant_id),
            "sk": record_sk(record.record_type, record.xero_id),
            "record_type": record.record_type.value,
            "xero_id": record.xero_id,
            "tenant_id": tenant_id,
            "org_id": org_id,
            "xero_updated_at": new_version,
            "received_at": format_instant(self._clock()),
            "source": _storable(record.source.model_dump(exclude_none=True)),
            "data": _storable(record.payload.model_dump(exclude_none=True)),
        }
        index_keys = self._gsi1(tenant_id, record)
        if index_keys is not None:
            item["gsi1pk"], item["gsi1sk"] = index_keys
        if record.only_if_exists:
            condition = "attribute_exists(pk) AND xero_updated_at < :new"
        else:
            condition = "attribute_not_exists(pk) OR xero_updated_at < :new"
        try:
            self.client.put_item(
                TableName=self._table,
                Item=to_item(item),
                ConditionExpression=condition,
                ExpressionAttributeValues={":new": {"S": new_version}},
                # Tells "stale" from "missing" for only-if-exists writes without a second read.
                ReturnValuesOnConditionCheckFailure="ALL_OLD" if record.only_if_exists else "NONE",
            )
        except ClientError as exc:
            if not is_conditional_check_failure(exc):
                raise
            if record.only_if_exists and "Item" not in exc.response:
                return WriteOutcome.MISSING_FOR_UPDATE
            return WriteOutcome.STALE
        return WriteOutcome.WRITTEN

    def upsert_many(self, tenant_id: str, org_id: str, records: Sequence[SyncedRecord]) -> list[WriteOutcome]:
        """:meth:`upsert` each record, ``workers`` at a time; outcomes in the order of ``records``.

        ``BatchWriteItem`` would be fewer requests, but it takes no condition: it would let an older version
        overwrite a newer one (a late page after a webhook). Concurrent conditional writes keep the rule and
        most of the speed (boto3 clients are thread-safe).

        Raises
        ------
        botocore.exceptions.ClientError
            The first DynamoDB error, after the other writes of the batch finished (they are harmless: a
            retried message finds them stale).
        """
        if self._workers == 1 or len(records) <= 1:
            return [self.upsert(tenant_id, org_id, record) for record in records]
        if self._pool is None:
            # Lives as long as the container: threads are reused across invocations.
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="records-writer")
        futures = [self._pool.submit(self.upsert, tenant_id, org_id, record) for record in records]
        return [future.result() for future in futures]

    def record_skipped(
        self, tenant_id: str, org_id: str, skipped: SkippedRecord, source: RecordSource
    ) -> None:
        """Keep why a Xero record was left out (``SKIPPED#{RECORD_TYPE}#{xero_id}``), for support.

        Unconditional: the latest verdict is the answer. A record imported later is found first under its
        own key, so a leftover skip item never hides it. A skip without a readable id is not stored.
        """
        if not skipped.xero_id:
            return
        item = {
            "pk": tenant_pk(tenant_id),
            "sk": f"SKIPPED#{record_sk(skipped.record_type, skipped.xero_id)}",
            "record_type": skipped.record_type.value,
            "xero_id": skipped.xero_id,
            "tenant_id": tenant_id,
            "org_id": org_id,
            "reason": skipped.reason.value,
            "detail": skipped.detail,
            "received_at": format_instant(self._clock()),
            "source": _storable(source.model_dump(exclude_none=True)),
        }
        self.client.put_item(TableName=self._table, Item=to_item(item))

    def get_skipped(
        self, tenant_id: str, record_type: RecordType | str, xero_id: str
    ) -> SkippedRecord | None:
        """Why we last left this record out, if we did."""
        response = self.client.get_item(
            TableName=self._table,
            Key={
                "pk": {"S": tenant_pk(tenant_id)},
                "sk": {"S": f"SKIPPED#{record_sk(record_type, xero_id)}"},
            },
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None:
            return None
        values = from_item(item)
        return SkippedRecord.model_validate(values)

    @staticmethod
    def _gsi1(tenant_id: str, record: SyncedRecord) -> tuple[str, str] | None:
        if record.record_type not in _CUSTOMER_DOCUMENTS:
            return None
        contact_id = getattr(record.payload, "contact_id", None)
        if not contact_id:
            return None
        when: date | None = getattr(record.payload, "date", None)
        day = when.isoformat() if when is not None else _NO_DATE
        return (
            f"{tenant_pk(tenant_id)}#CONTACT#{contact_id}",
            f"{record.record_type.value}#{day}#{record.xero_id}",
        )

    # --- Reads ---------------------------------------------------------------------------------------------

    def get(self, tenant_id: str, record_type: RecordType | str, xero_id: str) -> StoredRecord | None:
        """The record we hold (strongly consistent read), or None."""
        response = self.client.get_item(
            TableName=self._table,
            Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": record_sk(record_type, xero_id)}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return None if item is None else stored_record(item)

    def get_many(
        self, tenant_id: str, keys: Sequence[tuple[RecordType, str]]
    ) -> dict[tuple[RecordType, str], StoredRecord]:
        """The records we hold among ``keys``: ``BatchGetItem`` of 100 keys a call, strongly consistent,
        the keys DynamoDB leaves unprocessed asked again."""
        found: dict[tuple[RecordType, str], StoredRecord] = {}
        unique = list(dict.fromkeys((RecordType(kind), xero_id) for kind, xero_id in keys))
        for start in range(0, len(unique), 100):
            pending: dict[str, Any] = {
                self._table: {
                    "Keys": [
                        {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": record_sk(kind, xero_id)}}
                        for kind, xero_id in unique[start : start + 100]
                    ],
                    "ConsistentRead": True,
                }
            }
            for _ in range(8):
                response = self.client.batch_get_item(RequestItems=pending)
                for item in response.get("Responses", {}).get(self._table, []):
                    stored = stored_record(item)
                    found[(stored.record_type, stored.xero_id)] = stored
                pending = dict(response.get("UnprocessedKeys") or {})
                if not pending:
                    break
        return found

    def count_by_type(self, tenant_id: str) -> dict[str, int]:
        """Records held per type for a tenant (tests, the demo): a paginated ``Query`` on ``pk``."""
        counts: dict[str, int] = {}
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": tenant_pk(tenant_id)}},
            ProjectionExpression="sk",
        )
        for page in pages:
            for item in page.get("Items", []):
                kind = item["sk"]["S"].split("#", 1)[0]
                counts[kind] = counts.get(kind, 0) + 1
        return counts

    def list_items(self, tenant_id: str, record_type: RecordType | str) -> Iterable[StoredRecord]:
        """Every record of one type for a tenant (``begins_with(sk, "{TYPE}#")``), paginated."""
        return records_of(self.client, self._table, tenant_id, record_type)

    def close(self) -> None:
        """Stop the writer threads (tests, benchmarks)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
