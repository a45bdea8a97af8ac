"""``ReconciliationTable``: what the product derives from the synced records, written only by the balance
keeper (``functions/balance_keeper``, fed by ``RecordsTable``'s stream) — customers' balances beside Xero's,
and every version of every record we stored, with its source (the sync trail's history).

================  ==========================================  ================================================
item              pk                                          sk
================  ==========================================  ================================================
balance           ``TENANT#{tenant_id}``                      ``BALANCE#{contact_id}`` (``data``: the
                                                              :class:`CustomerBalance`, ``org_id``)
version           ``TENANT#{tenant_id}#{TYPE}#{xero_id}``     ``VERSION#{xero_updated_at}#{received_at}``
                                                              (``source``)
================  ==========================================  ================================================

An off-balance customer's item also carries ``gsi1pk = TENANT#{tenant_id}#OFF_BALANCE`` and ``gsi1sk =
{contact_id}`` (a sparse index, ``OffBalance``): ``GET /customers?off_balance=true`` reads only flagged ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xero_bridge.adapters.aws.dynamodb import (
    _UNPROCESSED_ROUNDS,
    DynamoDBTableAdapter,
    from_item,
    to_item,
)
from xero_bridge.adapters.aws.records_table import format_instant, record_sk, tenant_pk
from xero_bridge.errors import TableUnavailable
from xero_bridge.models.balances import CustomerBalance
from xero_bridge.models.listings import Position
from xero_bridge.models.records import RecordSource, RecordType, StoredRecord

__all__ = ["OFF_BALANCE_INDEX", "ReconciliationTable"]

OFF_BALANCE_INDEX = "OffBalance"
_BATCH_WRITE_LIMIT = 25  # items per BatchWriteItem


class ReconciliationTable(DynamoDBTableAdapter):
    """Customers' balances and the records' version history (implements ``BalanceStore``, ``VersionLog``)."""

    # --- balances ------------------------------------------------------------------------------------------

    def put_balance(self, tenant_id: str, org_id: str, balance: CustomerBalance) -> None:
        """Store the customer's latest check (replacing the previous one)."""
        self.client.put_item(
            TableName=self._table, Item=to_item(self._balance_item(tenant_id, org_id, balance))
        )

    def put_balances(self, tenant_id: str, org_id: str, balances: Sequence[CustomerBalance]) -> None:
        """Store many customers' checks (``BatchWriteItem``, 25 a request, unprocessed items sent again)."""
        requests = [
            {"PutRequest": {"Item": to_item(self._balance_item(tenant_id, org_id, b))}} for b in balances
        ]
        self._batch_write(requests)

    @staticmethod
    def _balance_item(tenant_id: str, org_id: str, balance: CustomerBalance) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": tenant_pk(tenant_id),
            "sk": f"BALANCE#{balance.contact_id}",
            "org_id": org_id,
            "data": balance.model_dump(mode="json", exclude_none=True),
        }
        if balance.off_balance:
            item["gsi1pk"] = f"{tenant_pk(tenant_id)}#OFF_BALANCE"
            item["gsi1sk"] = balance.contact_id
        return item

    def get_balance(self, tenant_id: str, contact_id: str) -> CustomerBalance | None:
        response = self.client.get_item(
            TableName=self._table,
            Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": f"BALANCE#{contact_id}"}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return None if item is None else CustomerBalance.model_validate(from_item(item)["data"])

    def off_balance_page(
        self, tenant_id: str, *, resume_at: Position | None, limit: int
    ) -> tuple[list[CustomerBalance], Position | None]:
        """Up to ``limit`` off-balance customers by contact id, from ``resume_at``, and where to go on."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": OFF_BALANCE_INDEX,
            "KeyConditionExpression": "gsi1pk = :flagged",
            "ExpressionAttributeValues": {":flagged": {"S": f"{tenant_pk(tenant_id)}#OFF_BALANCE"}},
            "Limit": limit,
        }
        if resume_at is not None:
            request["ExclusiveStartKey"] = {
                "pk": {"S": tenant_pk(tenant_id)},
                "sk": {"S": f"BALANCE#{resume_at['gsi1sk']}"},
                "gsi1pk": {"S": f"{tenant_pk(tenant_id)}#OFF_BALANCE"},
                "gsi1sk": {"S": resume_at["gsi1sk"]},
            }
        response = self.client.query(**request)
        items = response.get("Items", [])
        balances = [CustomerBalance.model_validate(from_item(item)["data"]) for item in items]
        more = response.get("LastEvaluatedKey")
        return balances, ({"gsi1sk": str(more["gsi1sk"]["S"])} if more else None)

    def off_balance_ids(self, tenant_id: str) -> list[str]:
        """Every flagged customer's contact id (the catch-up's recheck)."""
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            IndexName=OFF_BALANCE_INDEX,
            KeyConditionExpression="gsi1pk = :flagged",
            ExpressionAttributeValues={":flagged": {"S": f"{tenant_pk(tenant_id)}#OFF_BALANCE"}},
            ProjectionExpression="gsi1sk",
        )
        return [str(item["gsi1sk"]["S"]) for page in pages for item in page.get("Items", [])]

    # --- versions ------------------------------------------------------------------------------------------

    def record_versions(self, records: Sequence[StoredRecord]) -> None:
        """Note each stored version with its source (idempotent: the same version received at the same
        instant is one item)."""
        requests = []
        for stored in records:
            item = {
                "pk": f"{tenant_pk(stored.tenant_id)}#{record_sk(stored.record_type, stored.xero_id)}",
                "sk": "#".join(
                    ("VERSION", format_instant(stored.xero_updated_at), format_instant(stored.received_at))
                ),
                "org_id": stored.org_id,
                "xero_updated_at": format_instant(stored.xero_updated_at),
                "received_at": format_instant(stored.received_at),
                "source": stored.source.model_dump(mode="json", exclude_none=True),
            }
            requests.append({"PutRequest": {"Item": to_item(item)}})
        self._batch_write(requests)

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        """``BatchWriteItem``, 25 a request, the items DynamoDB leaves unprocessed sent again.

        Raises
        ------
        TableUnavailable
            DynamoDB still left items unprocessed after several rounds (throttling): the caller's batch is
            retried, never written in part without a word.
        """
        for start in range(0, len(requests), _BATCH_WRITE_LIMIT):
            pending: dict[str, Any] = {self._table: requests[start : start + _BATCH_WRITE_LIMIT]}
            for _ in range(_UNPROCESSED_ROUNDS):
                response = self.client.batch_write_item(RequestItems=pending)
                pending = dict(response.get("UnprocessedItems") or {})
                if not pending:
                    break
            else:
                raise TableUnavailable(f"DynamoDB kept items of {self._table} unprocessed")

    def versions(
        self, tenant_id: str, record_type: RecordType, xero_id: str
    ) -> list[tuple[str, str, RecordSource]]:
        """Every version noted for a record, oldest first: ``(xero_updated_at, received_at, source)``."""
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :record AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":record": {"S": f"{tenant_pk(tenant_id)}#{record_sk(record_type, xero_id)}"},
                ":prefix": {"S": "VERSION#"},
            },
        )
        out = []
        for page in pages:
            for item in page.get("Items", []):
                values = from_item(item)
                out.append(
                    (
                        str(values["xero_updated_at"]),
                        str(values["received_at"]),
                        RecordSource.model_validate(values["source"]),
                    )
                )
        return out
