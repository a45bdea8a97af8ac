"""Per org, in ``ConnectionsTable``: the catch-up's lease (one at a time) and its last outcome.

================  =====================  ==================  =============================================
item              pk                     sk                  attributes
================  =====================  ==================  =============================================
catch-up lease    ``ORG#{org_id}``       ``LEASE#CATCHUP``   owner, lease_until (epoch ms), expires_at (TTL)
last catch-up     ``ORG#{org_id}``       ``CATCHUP``         the :class:`CatchUpOutcome` as JSON, its time
catch-up pace     ``CATCHUP``            ``PACE``            the :class:`CatchUpPace` as JSON (the schedule)
================  =====================  ==================  =============================================
"""

from __future__ import annotations

from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from xero_bridge.adapters.aws.dynamodb import DynamoDBTableAdapter, is_conditional_check_failure, to_item
from xero_bridge.models.webhooks import CatchUpOutcome, CatchUpPace

__all__ = ["CatchUpStateTable"]

_LEASE_SK = "LEASE#CATCHUP"
_OUTCOME_SK = "CATCHUP"
_TTL_GRACE = timedelta(days=1)
_PACE_KEY = {"pk": "CATCHUP", "sk": "PACE"}


def _pk(org_id: str) -> str:
    return f"ORG#{org_id}"


class CatchUpStateTable(DynamoDBTableAdapter):
    """Implements ``CatchUpStates`` over ``ConnectionsTable`` (``TABLE_NAME``)."""

    def acquire(self, org_id: str, owner: str, *, now: datetime, seconds: float) -> bool:
        """Take the org's catch-up lease unless another catch-up holds it (a conditional put)."""
        until = now + timedelta(seconds=seconds)
        try:
            self.client.put_item(
                TableName=self._table,
                Item=to_item(
                    {
                        "pk": _pk(org_id),
                        "sk": _LEASE_SK,
                        "type": "lease",
                        "owner": owner,
                        "lease_until": int(until.timestamp() * 1000),
                        "expires_at": int((until + _TTL_GRACE).timestamp()),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk) OR lease_until < :now OR #o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={
                    ":now": {"N": str(int(now.timestamp() * 1000))},
                    ":me": {"S": owner},
                },
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                return False
            raise
        return True

    def release(self, org_id: str, owner: str) -> None:
        try:
            self.client.delete_item(
                TableName=self._table,
                Key={"pk": {"S": _pk(org_id)}, "sk": {"S": _LEASE_SK}},
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": owner}},
            )
        except ClientError as exc:
            if not is_conditional_check_failure(exc):
                raise

    def save_outcome(self, outcome: CatchUpOutcome) -> None:
        self.client.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": _pk(outcome.org_id),
                    "sk": _OUTCOME_SK,
                    "type": "catch_up",
                    "outcome": outcome.model_dump_json(),
                }
            ),
        )

    def last_outcome(self, org_id: str) -> CatchUpOutcome | None:
        item = self.client.get_item(
            TableName=self._table,
            Key={"pk": {"S": _pk(org_id)}, "sk": {"S": _OUTCOME_SK}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        return CatchUpOutcome.model_validate_json(item["outcome"]["S"])

    def save_pace(self, pace: CatchUpPace) -> None:
        """The schedule's current interval (one item, written once per schedule tick)."""
        self.client.put_item(
            TableName=self._table,
            Item=to_item(
                {"pk": "CATCHUP", "sk": "PACE", "type": "catch_up_pace", "pace": pace.model_dump_json()}
            ),
        )

    def pace(self) -> CatchUpPace | None:
        item = self.client.get_item(
            TableName=self._table, Key={"pk": {"S": "CATCHUP"}, "sk": {"S": "PACE"}}
        ).get("Item")
        return None if not item else CatchUpPace.model_validate_json(item["pace"]["S"])
