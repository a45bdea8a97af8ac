"""What every DynamoDB adapter shares: its table, the container's client on first use, a lost condition."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from xero_bridge.adapters.aws import clients

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoDBTableAdapter", "is_conditional_check_failure"]


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
