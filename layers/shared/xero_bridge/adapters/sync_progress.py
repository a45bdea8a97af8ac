"""The writer's counters on the sync-run item of ``ConnectionsTable`` (implements ``SyncProgress``).

The run item is ``pk = ORG#{org_id}``, ``sk = SYNC#{run_id}`` (the key the table's design reserves for sync
runs, see ``adapters/aws/connections_table.py`` and ``adapters/sync_runs.py``); the sync planner creates it.
The writer adds to two map attributes with ``ADD`` — atomic, so concurrent writer invocations of one run
never lose a count:

- ``records_written = {"Invoices": 1000, "Contacts": 212, ...}`` — versions stored;
- ``records_unchanged = {...}`` — versions we already held (same or newer), or only-if-exists updates of
  records we never held. ``written + unchanged`` reaching the records sent is how the run knows the writer
  has drained it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from xero_bridge.adapters.aws.dynamodb import DynamoDBTableAdapter, is_conditional_check_failure

if TYPE_CHECKING:
    pass

__all__ = ["DynamoSyncProgress", "run_key"]


def run_key(org_id: str, run_id: str) -> dict[str, dict[str, str]]:
    """The sync-run item's key."""
    return {"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": f"SYNC#{run_id}"}}


class DynamoSyncProgress(DynamoDBTableAdapter):
    """Adds records written per resource to the sync-run item.

    Parameters
    ----------
    table_name
        ``ConnectionsTable``'s physical name (``TABLE_NAME``).
    client
        A DynamoDB client; the container's shared one is created on first use when omitted.
    """

    def records_written(self, org_id: str, run_id: str, resource: str, count: int) -> bool:
        """Add ``count`` to ``records_written[resource]`` of the run; False when the run item is absent."""
        return self._add(org_id, run_id, "records_written", resource, count)

    def records_unchanged(self, org_id: str, run_id: str, resource: str, count: int) -> bool:
        """Add ``count`` to ``records_unchanged[resource]`` of the run; False when the run item is absent."""
        return self._add(org_id, run_id, "records_unchanged", resource, count)

    def _add(self, org_id: str, run_id: str, counter: str, resource: str, count: int) -> bool:
        """``ADD counter.resource :count``; never creates the run item (no stub for a run nobody planned).

        ``ADD`` on a map entry needs the map itself. The planner creates the maps with the run; should one
        be missing, the first count sets it and racing writers settle through the conditions (one sets it,
        the others add).
        """
        if count <= 0:
            return True
        names = {"#counter": counter, "#resource": resource}
        for _ in range(3):  # add, or create the map, or add again after another writer created it
            try:
                self.client.update_item(
                    TableName=self._table,
                    Key=run_key(org_id, run_id),
                    UpdateExpression="ADD #counter.#resource :n",
                    ConditionExpression="attribute_exists(pk) AND attribute_exists(#counter)",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={":n": {"N": str(count)}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return True
            except ClientError as exc:
                if not is_conditional_check_failure(exc):
                    raise
                if "Item" not in exc.response:
                    return False  # no run item
            try:
                self.client.update_item(
                    TableName=self._table,
                    Key=run_key(org_id, run_id),
                    UpdateExpression="SET #counter = :map",
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#counter)",
                    ExpressionAttributeNames={"#counter": counter},
                    ExpressionAttributeValues={":map": {"M": {resource: {"N": str(count)}}}},
                )
                return True
            except ClientError as exc:
                if not is_conditional_check_failure(exc):
                    raise
        return False
