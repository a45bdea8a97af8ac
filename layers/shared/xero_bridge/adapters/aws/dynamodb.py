"""What every DynamoDB adapter shares: its table, the container's client on first use, a lost condition, and
the one item codec (values to DynamoDB's typed attributes and back)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, SupportsBytes, cast

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from xero_bridge.adapters.aws import clients
from xero_bridge.errors import TableUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "DynamoDBTableAdapter",
    "from_item",
    "is_conditional_check_failure",
    "iso",
    "plain_numbers",
    "to_attribute",
    "to_item",
]

_BATCH_GET_LIMIT = 100  # keys per BatchGetItem
_UNPROCESSED_ROUNDS = 8
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values → DynamoDB attribute values; a None value is left out (DynamoDB stores no null here)."""
    return {key: _serializer.serialize(value) for key, value in values.items() if value is not None}


def to_attribute(value: Any) -> Any:
    """One Python value → its DynamoDB attribute value (``{"M": ...}`` for a dict...)."""
    return _serializer.serialize(value)


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values → Python values: numbers as Decimal, binary as bytes."""
    values = {key: _deserializer.deserialize(value) for key, value in item.items()}
    # The deserializer wraps binary values in Binary; callers want the bytes.
    return {
        key: (bytes(cast(SupportsBytes, value)) if isinstance(value, Binary) else value)
        for key, value in values.items()
    }


def plain_numbers(value: Any) -> Any:
    """DynamoDB's Decimals back to ints (counters, page numbers) or floats, inside nested maps and lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_numbers(item) for item in value]
    return value


def iso(value: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC (``+00:00``)."""
    return value.astimezone(UTC).isoformat()


def is_conditional_check_failure(exc: ClientError) -> bool:
    """A write refused by its condition: ``ConditionalCheckFailedException``, or a transaction cancelled
    because one of its conditions failed (any other error is a real failure)."""
    code = exc.response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return True
    reasons = exc.response.get("CancellationReasons") or []
    return code == "TransactionCanceledException" and any(
        reason.get("Code") == "ConditionalCheckFailed" for reason in reasons
    )


class DynamoDBTableAdapter:
    """Base of the adapters over one table.

    Parameters
    ----------
    table_name
        The physical table name (from the function's environment).
    client
        A DynamoDB client (tests pass their own); the container's shared one (``clients.dynamodb()``) is
        used on first need when omitted, never at import.
    """

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = clients.dynamodb()
        return self._client

    def batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items of ``keys`` that exist (``BatchGetItem``, strongly consistent, 100 keys a call), the
        keys DynamoDB leaves unprocessed asked again.

        Raises
        ------
        TableUnavailable
            DynamoDB still left keys unprocessed after several rounds (throttling).
        """
        items: list[dict[str, Any]] = []
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self._table: {"Keys": keys[start : start + _BATCH_GET_LIMIT], "ConsistentRead": True}
            }
            for _ in range(_UNPROCESSED_ROUNDS):
                response = self.client.batch_get_item(RequestItems=request)
                items.extend(response.get("Responses", {}).get(self._table, []))
                request = dict(response.get("UnprocessedKeys") or {})
                if not request:
                    break
            else:
                raise TableUnavailable(f"DynamoDB kept keys of {self._table} unprocessed")
        return items
