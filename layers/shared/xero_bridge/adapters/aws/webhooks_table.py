"""The app's webhook sequence in ``ConnectionsTable`` (``pk = WEBHOOKS``, ``sk = SEQUENCE``).

Xero numbers every event of the app's subscription: each delivery says ``firstEventSequence`` and
``lastEventSequence``. One item keeps the highest number seen, with counts of deliveries and gaps and when
the last one came (the webhook health shown with a connection's status). Recording a delivery is one
conditional ``UpdateItem``: it moves the mark forward only (a retried or out-of-order delivery leaves it),
and the mark it replaced says whether numbers were skipped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from xero_bridge.adapters.aws.dynamodb import (
    DynamoDBTableAdapter,
    from_item,
    is_conditional_check_failure,
    iso,
    plain_numbers,
)
from xero_bridge.models.webhooks import SequenceCheck, WebhookHealth

__all__ = ["WebhookSequenceTable"]

_KEY = {"pk": {"S": "WEBHOOKS"}, "sk": {"S": "SEQUENCE"}}


class WebhookSequenceTable(DynamoDBTableAdapter):
    """Implements ``WebhookSequences`` over ``ConnectionsTable`` (``TABLE_NAME``)."""

    def record(self, first: int, last: int, *, now: datetime) -> SequenceCheck:
        """Count the delivery and move the high-water mark to ``last`` if it is higher.

        A delivery starting at 1 is a new subscription (Xero numbers from 1 again): it resets the mark.
        """
        values: dict[str, Any] = {":last": {"N": str(last)}, ":now": {"S": iso(now)}, ":one": {"N": "1"}}
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": _KEY,
            "UpdateExpression": "SET last_sequence = :last, last_delivery_at = :now ADD deliveries :one",
            "ExpressionAttributeValues": values,
            "ReturnValues": "UPDATED_OLD",
        }
        if first != 1:
            update["ConditionExpression"] = "attribute_not_exists(last_sequence) OR last_sequence < :last"
        try:
            response = self.client.update_item(**update)
        except ClientError as exc:
            if not is_conditional_check_failure(exc):
                raise
            # An older or repeated delivery: its numbers were seen (or skipped and caught up) already.
            self.client.update_item(
                TableName=self._table,
                Key=_KEY,
                UpdateExpression="SET last_delivery_at = :now ADD deliveries :one",
                ExpressionAttributeValues={":now": values[":now"], ":one": values[":one"]},
            )
            return SequenceCheck(gap=False)
        old = plain_numbers(from_item(response.get("Attributes", {})))
        previous = old.get("last_sequence")
        if previous is None or first == 1 or first <= int(previous) + 1:
            return SequenceCheck(gap=False)
        self.client.update_item(
            TableName=self._table,
            Key=_KEY,
            UpdateExpression="SET last_gap_at = :now ADD gaps :one",
            ExpressionAttributeValues={":now": values[":now"], ":one": values[":one"]},
        )
        return SequenceCheck(gap=True, expected_first=int(previous) + 1)

    def health(self) -> WebhookHealth:
        item = self.client.get_item(TableName=self._table, Key=_KEY, ConsistentRead=True).get("Item")
        if not item:
            return WebhookHealth()
        values = plain_numbers(from_item(item))
        return WebhookHealth(
            last_delivery_at=values.get("last_delivery_at"),
            last_sequence=values.get("last_sequence"),
            deliveries=int(values.get("deliveries") or 0),
            gaps=int(values.get("gaps") or 0),
            last_gap_at=values.get("last_gap_at"),
        )
