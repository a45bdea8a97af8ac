"""The DynamoDB repository of synced records (``RecordsTable``) — used by the writer, the only code that
writes them, and by the integration API, which reads them one by one and in paged listings.

Item layout (one item per record; ``template.yaml`` declares the keys, ``GSI1`` and ``GSI2``):

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
gsi2pk, gsi2sk    S     customers and invoices by state, in the order Xero changed them:
                        ``TENANT#{tenant_id}#{RECORD_TYPE}#{STATE}`` and ``{xero_updated_at}#{xero_id}``;
                        STATE is ``ACTIVE``/``INACTIVE`` for a customer, the status for an invoice
                        (``OTHER`` for a status Xero may add): each is in exactly one partition
================  ====  =====================================================================================

Listings (``list_page``) never filter what a key can select. Without a filter they read the table's own key
(``begins_with(sk, "{TYPE}#")``, one partition per tenant); ``active`` or ``status`` read one ``GSI2``
partition; ``updated_since`` alone reads each state's partition of ``GSI2`` from that instant and merges them
by ``gsi2sk`` (one query per state, ``limit`` items each: the page's ``limit`` smallest are among them); a
``customer_id`` reads that customer's ``GSI1`` partition, where a ``status`` or ``updated_since`` is a filter
on the customer's own documents only, read in growing batches until the page is full. Pages are therefore
full until the last one, and no listing reads another customer's, another type's or another state's items.
Listing reads are eventually consistent (an index is never anything else): a version the writer stored a
moment ago may show on the next page read.

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
from xero_bridge.errors import InvalidCursorError
from xero_bridge.models.listings import Position, RecordQuery, RecordsPage
from xero_bridge.models.records import (
    Customer,
    Invoice,
    InvoiceStatus,
    RecordPayload,
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
    "GSI1",
    "GSI2",
    "RecordsTable",
    "WriteOutcome",
    "format_instant",
    "record_sk",
    "records_of",
    "stored_record",
    "tenant_pk",
]


# A customer's documents on GSI1: what moves its balance, and its payments (the off-balance check reads
# them all in one query; the invoice listing reads only the INVOICE# part of the partition).
_CUSTOMER_DOCUMENTS = frozenset(
    {
        RecordType.INVOICE,
        RecordType.CREDIT_NOTE,
        RecordType.OVERPAYMENT,
        RecordType.PREPAYMENT,
        RecordType.PAYMENT,
    }
)
_STALE_KEPT = 20  # stale deliveries kept per record (the latest)
_NO_DATE = "0000-00-00"  # sorts before every real date
GSI1 = "GSI1"
GSI2 = "GSI2"
# Every state a record of a type may be listed under on GSI2: a listing by change reads them all.
_OTHER_STATUS = "OTHER"
_STATES: dict[RecordType, tuple[str, ...]] = {
    RecordType.CONTACT: ("ACTIVE", "INACTIVE"),
    RecordType.INVOICE: (*(status.value for status in InvoiceStatus), _OTHER_STATUS),
}
# A filtered read (a customer's documents by status or date) asks for twice what the page still lacks, then
# doubles up to 1,000 items (~1 MB, DynamoDB's own cap on one read): few reads when most items match, few
# reads too when almost none do. At most _MAX_FILTERED_READS reads a page; past that the page ends early
# with a cursor (a customer with more than ~16,000 documents in one listing).
_FIRST_FILTERED_READ = 2
_MAX_FILTERED_BATCH = 1000
_MAX_FILTERED_READS = 16


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def record_sk(record_type: RecordType | str, xero_id: str) -> str:
    return f"{RecordType(record_type).value}#{xero_id}"


def _listing_state(payload: RecordPayload) -> str | None:
    """The GSI2 state a record is listed under, or None for a type not listed by state."""
    if isinstance(payload, Customer):
        return "ACTIVE" if payload.active else "INACTIVE"
    if isinstance(payload, Invoice):
        return payload.status if payload.status in _STATES[RecordType.INVOICE] else _OTHER_STATUS
    return None


def _state_pk(tenant_id: str, record_type: RecordType, state: str) -> str:
    return f"{tenant_pk(tenant_id)}#{record_type.value}#{state}"


def _position(values: Mapping[str, Any], names: Sequence[str]) -> Position:
    """A listing position: the sort-key values of an item (or of a LastEvaluatedKey) a page stopped at."""
    return {name: str(values[name]["S"]) for name in names}


def _checked(resume_at: Position | None, names: set[str], prefixes: tuple[str, ...]) -> Position | None:
    """``resume_at`` if it has exactly the shape this listing's index gives, else a refused cursor.

    Only positions we sealed reach here (the cursor's MAC), so a misfit means the listing's index changed
    since the cursor was given out: the AR app is told to start again, never handed a DynamoDB error.
    """
    if resume_at is None:
        return None
    if set(resume_at) != names or not all(value.startswith(prefixes) for value in resume_at.values()):
        raise InvalidCursorError("invalid: cursor (the listing changed since it was given out; start again)")
    return resume_at


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
        state = _listing_state(record.payload)
        if state is not None:
            item["gsi2pk"] = _state_pk(tenant_id, record.record_type, state)
            item["gsi2sk"] = f"{new_version}#{record.xero_id}"
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

    def record_stale(self, tenant_id: str, records: Sequence[SyncedRecord]) -> None:
        """Note deliveries that came when we already held the same or a newer version (the sync trail's
        "skipped as stale"): ``STALE#{RECORD_TYPE}#{xero_id}``, the latest :data:`_STALE_KEPT` of them.

        One ``UpdateItem`` per record (``list_append``), only for stale outcomes: a normal write costs
        nothing more.
        """
        for record in records:
            note = {
                "xero_updated_at": format_instant(record.xero_updated_at),
                "received_at": format_instant(self._clock()),
                "source": _storable(record.source.model_dump(exclude_none=True)),
            }
            response = self.client.update_item(
                TableName=self._table,
                Key={
                    "pk": {"S": tenant_pk(tenant_id)},
                    "sk": {"S": f"STALE#{record_sk(record.record_type, record.xero_id)}"},
                },
                UpdateExpression="SET deliveries = list_append(if_not_exists(deliveries, :empty), :note)",
                ExpressionAttributeValues={":empty": {"L": []}, ":note": to_item({"n": [note]})["n"]},
                ReturnValues="UPDATED_NEW",
            )
            kept = response.get("Attributes", {}).get("deliveries", {}).get("L", [])
            if len(kept) > _STALE_KEPT:
                self.client.update_item(
                    TableName=self._table,
                    Key={
                        "pk": {"S": tenant_pk(tenant_id)},
                        "sk": {"S": f"STALE#{record_sk(record.record_type, record.xero_id)}"},
                    },
                    UpdateExpression="REMOVE "
                    + ", ".join(f"deliveries[{i}]" for i in range(len(kept) - _STALE_KEPT)),
                )

    def stale_deliveries(
        self, tenant_id: str, record_type: RecordType | str, xero_id: str
    ) -> list[dict[str, Any]]:
        """The stale deliveries noted for a record, oldest first (``xero_updated_at``, ``received_at``,
        ``source``)."""
        response = self.client.get_item(
            TableName=self._table,
            Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": f"STALE#{record_sk(record_type, xero_id)}"}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return [] if item is None else list(from_item(item).get("deliveries", []))

    def find_any(
        self, tenant_id: str, xero_id: str, record_types: Sequence[RecordType]
    ) -> tuple[StoredRecord | None, SkippedRecord | None]:
        """The record of ``xero_id`` we hold under any of ``record_types``, and why we left it out if we did:
        one ``BatchGetItem`` over both kinds of keys."""
        keys = [record_sk(kind, xero_id) for kind in record_types]
        keys += [f"SKIPPED#{sk}" for sk in keys]
        items = self.batch_get([{"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": sk}} for sk in keys])
        held: StoredRecord | None = None
        skipped: SkippedRecord | None = None
        for item in items:
            if item["sk"]["S"].startswith("SKIPPED#"):
                skipped = SkippedRecord.model_validate(from_item(item))
            else:
                held = stored_record(item)
        return held, skipped

    def customer_documents(self, tenant_id: str, contact_id: str) -> list[StoredRecord]:
        """Every document of one customer (invoices, credit notes, overpayments, prepayments, payments): its
        whole ``GSI1`` partition, page by page."""
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            IndexName=GSI1,
            KeyConditionExpression="gsi1pk = :customer",
            ExpressionAttributeValues={":customer": {"S": f"{tenant_pk(tenant_id)}#CONTACT#{contact_id}"}},
        )
        return [stored_record(item) for page in pages for item in page.get("Items", [])]

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

    # --- Listings (the integration API) ---------------------------------------------------------------------

    def list_page(
        self, tenant_id: str, query: RecordQuery, *, resume_at: Position | None, limit: int
    ) -> RecordsPage:
        """Up to ``limit`` records of ``query``, from ``resume_at``; the index is chosen by the filters (see
        the module's docstring), so no listing reads what its key cannot select.

        Raises
        ------
        InvalidCursorError
            ``resume_at`` is not a position of this listing's index.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if query.customer_id is not None:
            return self._customer_invoices(tenant_id, query, resume_at, limit)
        kind = query.record_types[0] if len(query.record_types) == 1 else None
        if kind is not None and (query.status is not None or query.active is not None):
            active = "ACTIVE" if query.active else "INACTIVE"
            state = query.status.value if query.status is not None else active
            return self._by_state(
                tenant_id, kind, (state,), since=query.updated_since, resume_at=resume_at, limit=limit
            )
        if kind is not None and query.updated_since is not None:
            return self._by_state(
                tenant_id, kind, _STATES[kind], since=query.updated_since, resume_at=resume_at, limit=limit
            )
        return self._by_key(tenant_id, query.record_types, resume_at, limit)

    def _by_key(
        self, tenant_id: str, kinds: Sequence[RecordType], resume_at: Position | None, limit: int
    ) -> RecordsPage:
        """Kinds one after the other, each in Xero-id order on the table's key (no index, no filter)."""
        prefixes = tuple(f"{kind.value}#" for kind in kinds)
        first = 0
        start: dict[str, Any] | None = None
        resume_at = _checked(resume_at, {"sk"}, prefixes)
        if resume_at is not None:
            sk = resume_at["sk"]
            first = next(i for i, prefix in enumerate(prefixes) if sk.startswith(prefix))
            start = {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": sk}}
        items: list[dict[str, Any]] = []
        for index in range(first, len(prefixes)):
            more = self._read(
                items,
                limit,
                start if index == first else None,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={
                    ":pk": {"S": tenant_pk(tenant_id)},
                    ":prefix": {"S": prefixes[index]},
                },
            )
            if len(items) == limit:
                # Full: the next page goes on after the last record (finding out then if this kind is over).
                ends = more is None and index == len(prefixes) - 1
                return self._page(items, None if ends else _position(items[-1], ["sk"]))
        return self._page(items, None)

    def _by_state(
        self,
        tenant_id: str,
        kind: RecordType,
        states: Sequence[str],
        *,
        since: datetime | None,
        resume_at: Position | None,
        limit: int,
    ) -> RecordsPage:
        """GSI2 partitions of ``states``, oldest change first, merged on ``gsi2sk``.

        Each partition gives at most ``limit`` items after the position: whatever the page's ``limit``
        smallest ``gsi2sk`` are, each is among its own partition's first ``limit``.
        """
        resume_at = _checked(resume_at, {"gsi2sk"}, ("",))
        condition = "gsi2pk = :state"
        bound: dict[str, Any] = {}
        if resume_at is not None:
            condition += " AND gsi2sk > :from"
            bound = {":from": {"S": resume_at["gsi2sk"]}}
        elif since is not None:
            condition += " AND gsi2sk >= :from"
            bound = {":from": {"S": format_instant(since)}}
        candidates: list[dict[str, Any]] = []
        more = False
        for state in states:
            found: list[dict[str, Any]] = []
            left = self._read(
                found,
                limit,
                None,
                IndexName=GSI2,
                KeyConditionExpression=condition,
                ExpressionAttributeValues={":state": {"S": _state_pk(tenant_id, kind, state)}, **bound},
            )
            more = more or left is not None
            candidates.extend(found)
        candidates.sort(key=lambda item: str(item["gsi2sk"]["S"]))
        page = candidates[:limit]
        more = more or len(candidates) > limit
        return self._page(page, _position(page[-1], ["gsi2sk"]) if more and page else None)

    def _customer_invoices(
        self, tenant_id: str, query: RecordQuery, resume_at: Position | None, limit: int
    ) -> RecordsPage:
        """One customer's invoices on GSI1 (by invoice date); a status or a date filters theirs only."""
        prefix = f"{RecordType.INVOICE.value}#"
        resume_at = _checked(resume_at, {"sk", "gsi1sk"}, (prefix,))
        gsi1pk = f"{tenant_pk(tenant_id)}#CONTACT#{query.customer_id}"
        start = None
        if resume_at is not None:
            start = {
                "pk": {"S": tenant_pk(tenant_id)},
                "gsi1pk": {"S": gsi1pk},
                **{name: {"S": value} for name, value in resume_at.items()},
            }
        filters: list[str] = []
        names: dict[str, str] = {}
        values: dict[str, Any] = {":customer": {"S": gsi1pk}, ":prefix": {"S": prefix}}
        if query.status is not None:
            filters.append("#data.#status = :status")
            names.update({"#data": "data", "#status": "status"})
            values[":status"] = {"S": query.status.value}
        if query.updated_since is not None:
            filters.append("xero_updated_at >= :since")
            values[":since"] = {"S": format_instant(query.updated_since)}
        extra: dict[str, Any] = {}
        if filters:
            extra = {"FilterExpression": " AND ".join(filters)}
            if names:
                extra["ExpressionAttributeNames"] = names
        items: list[dict[str, Any]] = []
        more = self._read(
            items,
            limit,
            start,
            filtered=bool(filters),
            IndexName=GSI1,
            KeyConditionExpression="gsi1pk = :customer AND begins_with(gsi1sk, :prefix)",
            ExpressionAttributeValues=values,
            **extra,
        )
        if len(items) == limit:
            return self._page(items, _position(items[-1], ["sk", "gsi1sk"]) if more is not None else None)
        # Short: the end, or the read budget spent (then the next page starts where the reads stopped).
        return self._page(items, None if more is None else _position(more, ["sk", "gsi1sk"]))

    def _read(
        self,
        into: list[dict[str, Any]],
        limit: int,
        start: dict[str, Any] | None,
        *,
        filtered: bool = False,
        **query: Any,
    ) -> dict[str, Any] | None:
        """Query into ``into`` until it holds ``limit`` items or the partition ends.

        Returns the key to read on from (a ``LastEvaluatedKey``, or the last item kept when a read found more
        than the page needed), or None when the partition is over.

        Unfiltered, each read asks for exactly what is missing (DynamoDB's ``Limit`` counts items read). A
        filtered read asks for more than is missing, growing each time (``Limit`` counts items *read*, not
        kept), and stops after ``_MAX_FILTERED_READS`` reads.
        """
        batch = _FIRST_FILTERED_READ
        reads = 0
        while True:
            missing = limit - len(into)
            ask = min(missing * batch, max(missing, _MAX_FILTERED_BATCH)) if filtered else missing
            request: dict[str, Any] = {"TableName": self._table, "Limit": ask, **query}
            if start is not None:
                request["ExclusiveStartKey"] = start
            response = self.client.query(**request)
            reads += 1
            found = response.get("Items", [])
            into.extend(found[:missing])
            start = response.get("LastEvaluatedKey")
            if len(found) > missing:  # a filtered read found more than the page needs: on after the last kept
                return into[-1]
            if start is None or len(into) == limit or (filtered and reads >= _MAX_FILTERED_READS):
                return start
            batch *= 2

    def _page(self, items: Sequence[Mapping[str, Any]], resume_at: Position | None) -> RecordsPage:
        return RecordsPage(records=[stored_record(item) for item in items], resume_at=resume_at)

    def close(self) -> None:
        """Stop the writer threads (tests, benchmarks)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
