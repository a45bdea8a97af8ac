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

from xero_bridge.adapters.aws.connections_table import OrgLeaseTable, org_pk
from xero_bridge.adapters.aws.dynamodb import to_item
from xero_bridge.models.webhooks import CatchUpOutcome, CatchUpPace

__all__ = ["CatchUpStateTable"]

_OUTCOME_SK = "CATCHUP"
_PACE_KEY = {"pk": "CATCHUP", "sk": "PACE"}


class CatchUpStateTable(OrgLeaseTable):
    """Implements ``CatchUpStates`` over ``ConnectionsTable`` (``TABLE_NAME``); the lease is an
    :class:`~xero_bridge.adapters.aws.connections_table.OrgLeaseTable`'s."""

    lease_sk = "LEASE#CATCHUP"

    def save_outcome(self, outcome: CatchUpOutcome) -> None:
        self.client.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": org_pk(outcome.org_id),
                    "sk": _OUTCOME_SK,
                    "type": "catch_up",
                    "outcome": outcome.model_dump_json(),
                }
            ),
        )

    def last_outcome(self, org_id: str) -> CatchUpOutcome | None:
        item = self.client.get_item(
            TableName=self._table,
            Key={"pk": {"S": org_pk(org_id)}, "sk": {"S": _OUTCOME_SK}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        return CatchUpOutcome.model_validate_json(item["outcome"]["S"])

    def save_pace(self, pace: CatchUpPace) -> None:
        """The schedule's current interval (one item, written once per schedule tick)."""
        self.client.put_item(
            TableName=self._table,
            Item=to_item({**_PACE_KEY, "type": "catch_up_pace", "pace": pace.model_dump_json()}),
        )

    def pace(self) -> CatchUpPace | None:
        item = self.client.get_item(TableName=self._table, Key=to_item(_PACE_KEY)).get("Item")
        return None if not item else CatchUpPace.model_validate_json(item["pace"]["S"])
