"""``PaymentsTable``: the export ledger (one item per payment the AR platform recorded) and the export
settings of each org. Two adapters over the one table: :class:`PaymentLedgerTable` and
:class:`ExportSettingsTable`.

================  ==================  ========================  ============================================
item              pk                  sk                        other attributes
================  ==================  ========================  ============================================
payment           ``ORG#{org_id}``    ``PAYMENT#{payment_id}``  the :class:`PaymentRecord` (amount as a
                                                                decimal string, history as a list),
                                                                ``version`` (N), gsi1pk/gsi1sk
export settings   ``ORG#{org_id}``    ``SETTINGS#EXPORT``       bank_accounts (M: currency -> AccountID),
                                                                updated_at
================  ==================  ========================  ============================================

GSI ``ByStatus``: ``gsi1pk = ORG#{org_id}#STATUS#{status}`` (the status the AR app sees), ``gsi1sk =
{created_at}#{payment_id}``: a status's payments, newest first ("every failed payment of the org").

Every change of a payment is a conditional ``PutItem`` on the version it was made from, so of two exporters
racing for one payment exactly one wins (the other's condition fails and it leaves the payment alone), and
a record is never half-changed. The amount is kept as the decimal string it was recorded with (DynamoDB's
numbers would drop a trailing zero: ``120.50`` stays ``120.50``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from xero_bridge.adapters.aws.dynamodb import (
    DynamoDBTableAdapter,
    from_item,
    is_conditional_check_failure,
    iso,
    to_item,
)
from xero_bridge.errors import InvalidCursorError
from xero_bridge.models.payments import ExportSettings, PaymentRecord, PaymentStatus

__all__ = ["BY_STATUS_INDEX", "ExportSettingsTable", "PaymentLedgerTable"]

BY_STATUS_INDEX = "ByStatus"
SK_SETTINGS = "SETTINGS#EXPORT"
_PAYMENT_PREFIX = "PAYMENT#"


def org_pk(org_id: str) -> str:
    return f"ORG#{org_id}"


def payment_sk(payment_id: str) -> str:
    return f"{_PAYMENT_PREFIX}{payment_id}"


def status_pk(org_id: str, status: PaymentStatus) -> str:
    return f"ORG#{org_id}#STATUS#{status.value}"


def _item(record: PaymentRecord) -> dict[str, Any]:
    values = record.model_dump(mode="json")
    return {
        **values,
        "pk": org_pk(record.org_id),
        "sk": payment_sk(record.payment_id),
        "type": "payment",
        "gsi1pk": status_pk(record.org_id, record.status),
        "gsi1sk": f"{iso(record.created_at)}#{record.payment_id}",
    }


def _record(item: dict[str, Any]) -> PaymentRecord:
    return PaymentRecord.model_validate(from_item(item))


class PaymentLedgerTable(DynamoDBTableAdapter):
    """The export ledger (implements ``PaymentLedger``)."""

    def get(self, org_id: str, payment_id: str) -> PaymentRecord | None:
        """The payment as stored now (strongly consistent), or None."""
        response = self.client.get_item(
            TableName=self._table,
            Key={"pk": {"S": org_pk(org_id)}, "sk": {"S": payment_sk(payment_id)}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return None if item is None else _record(item)

    def get_many(self, org_id: str, payment_ids: Sequence[str]) -> dict[str, PaymentRecord]:
        """The payments of ``payment_ids`` that exist, by id (``BatchGetItem``, strongly consistent)."""
        keys = [
            {"pk": {"S": org_pk(org_id)}, "sk": {"S": payment_sk(pid)}} for pid in dict.fromkeys(payment_ids)
        ]
        records = (_record(item) for item in self.batch_get(keys))
        return {record.payment_id: record for record in records}

    def create(self, record: PaymentRecord) -> bool:
        """Store a new payment; False (nothing written) if one with its id exists."""
        try:
            self.client.put_item(
                TableName=self._table,
                Item=to_item(_item(record)),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                return False
            raise
        return True

    def save(self, record: PaymentRecord, *, previous_version: int) -> bool:
        """Replace the payment with its next version if the stored one is still ``previous_version``.

        Returns
        -------
        bool
            False when someone else changed it first (nothing written): re-read and decide again.
        """
        try:
            self.client.put_item(
                TableName=self._table,
                Item=to_item(_item(record)),
                ConditionExpression="#v = :previous",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":previous": {"N": str(previous_version)}},
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                return False
            raise
        return True

    def page(
        self, org_id: str, *, status: PaymentStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[PaymentRecord], str | None]:
        """One page of the org's payments: all (by payment id) or one status (newest first).

        Raises
        ------
        InvalidCursorError
            ``cursor`` is not one this listing gave out.
        """
        query: dict[str, Any] = {"TableName": self._table, "Limit": limit}
        if status is None:
            query.update(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={":pk": {"S": org_pk(org_id)}, ":prefix": {"S": _PAYMENT_PREFIX}},
                ConsistentRead=True,
            )
            expected = {"pk": org_pk(org_id)}
        else:
            query.update(
                IndexName=BY_STATUS_INDEX,
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": {"S": status_pk(org_id, status)}},
                ScanIndexForward=False,
            )
            expected = {"pk": org_pk(org_id), "gsi1pk": status_pk(org_id, status)}
        if cursor:
            query["ExclusiveStartKey"] = _decode_cursor(cursor, expected)
        response = self.client.query(**query)
        records = [_record(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return records, _encode_cursor(last) if last else None

    def ids_with_status(self, org_id: str, status: PaymentStatus) -> Iterator[str]:
        """Every payment id of the org in ``status`` (the whole index partition, page by page)."""
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            IndexName=BY_STATUS_INDEX,
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": status_pk(org_id, status)}},
            ProjectionExpression="payment_id",
        )
        for page in pages:
            for item in page.get("Items", []):
                yield str(item["payment_id"]["S"])


def _encode_cursor(key: dict[str, Any]) -> str:
    plain = {name: value["S"] for name, value in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, sort_keys=True).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, expected: dict[str, str]) -> dict[str, Any]:
    """The ``ExclusiveStartKey`` a cursor stands for, if it belongs to this listing (same org and status)."""
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise InvalidCursorError("cursor: not one this listing gave out") from exc
    wanted = {"pk", "sk", *(["gsi1pk", "gsi1sk"] if "gsi1pk" in expected else [])}
    if (
        not isinstance(plain, dict)
        or set(plain) != wanted
        or not all(isinstance(v, str) for v in plain.values())
        or any(plain.get(name) != value for name, value in expected.items())
        or not str(plain["sk"]).startswith(_PAYMENT_PREFIX)
    ):
        raise InvalidCursorError("cursor: not one this listing gave out")
    return {name: {"S": value} for name, value in plain.items()}


class ExportSettingsTable(DynamoDBTableAdapter):
    """Each org's export settings (implements ``ExportSettingsStore``)."""

    def get_settings(self, org_id: str) -> ExportSettings:
        """The org's settings (none set yet: no bank account for any currency)."""
        response = self.client.get_item(
            TableName=self._table,
            Key={"pk": {"S": org_pk(org_id)}, "sk": {"S": SK_SETTINGS}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None:
            return ExportSettings()
        values = from_item(item)
        return ExportSettings.model_validate(
            {"bank_accounts": values.get("bank_accounts") or {}, "updated_at": values.get("updated_at")}
        )

    def put_settings(self, org_id: str, settings: ExportSettings) -> ExportSettings:
        """Replace the org's settings (the last write wins: a settings page saves the whole map)."""
        stored = settings.model_copy(update={"updated_at": settings.updated_at or datetime.now(UTC)})
        item = {
            "pk": org_pk(org_id),
            "sk": SK_SETTINGS,
            "type": "export_settings",
            "bank_accounts": dict(stored.bank_accounts),
            "updated_at": iso(stored.updated_at) if stored.updated_at else None,
        }
        self.client.put_item(TableName=self._table, Item=to_item(item))
        return stored
