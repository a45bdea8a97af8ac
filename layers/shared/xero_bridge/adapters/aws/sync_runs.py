"""Sync runs, page checkpoints and cursors in ``ConnectionsTable``.

The one adapter of the sync-run item and its companions (the planner, fetchers and finisher write the run,
its checkpoints and cursors; the writer adds to its ``records_written`` and ``records_unchanged`` maps):

================  =====================  ==============================  =====================================
item              pk                     sk                              attributes
================  =====================  ==============================  =====================================
sync run          ``ORG#{org_id}``       ``SYNC#{run_id}``               type, org_id, run_id, tenant_id,
                                                                         status, trigger, attempt,
                                                                         execution_arn, started_at,
                                                                         finished_at, failure_reason,
                                                                         paused_until, plan (M), planned,
                                                                         modified_since (M), base_currency,
                                                                         timezone, finish_checks, counters
latest run        ``ORG#{org_id}``       ``SYNC``                        run_id (the run the API shows)
page checkpoint   ``SYNCRUN#{run_id}``   ``PAGE#{resource}#{page:06d}``  records, skipped, malformed, is_last,
                                                                         done_at (conditional put: once)
cursor            ``ORG#{org_id}``       ``CURSOR#{resource}``           cursor (ISO UTC), run_id, updated_at
================  =====================  ==============================  =====================================

Counters: maps of resource → number, added to with ``ADD counter.#resource`` (each map is created empty
with the run, so the first ``ADD`` of a resource finds it): ``records_sent``, ``pages_done``, ``skipped``,
``malformed`` (the fetcher), ``records_written`` and ``records_unchanged`` (the writer); plus the numbers
``calls`` and ``rate_limited`` (Xero calls made, 429s met).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from xero_bridge.adapters.aws.dynamodb import (
    DynamoDBTableAdapter,
    from_item,
    is_conditional_check_failure,
    iso,
    plain_numbers,
    to_attribute,
    to_item,
)
from xero_bridge.models.sync import (
    PageCheckpoint,
    ResourceCounters,
    ResourcePlan,
    RunCounters,
    SyncRun,
    SyncStatus,
)

if TYPE_CHECKING:
    pass

__all__ = ["COUNTERS", "SyncRunsTable", "run_key"]

COUNTERS = ("records_sent", "records_written", "records_unchanged", "pages_done", "skipped", "malformed")
"""Counter maps (resource → number); ``calls`` and ``rate_limited`` are plain numbers."""
LATEST_SK = "SYNC"

_RUN_FIELDS = frozenset(SyncRun.model_fields)


def run_key(org_id: str, run_id: str) -> dict[str, dict[str, str]]:
    """The sync-run item's key."""
    return {"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": f"SYNC#{run_id}"}}


def _page_key(run_id: str, resource: str, page: int) -> dict[str, Any]:
    return {"pk": {"S": f"SYNCRUN#{run_id}"}, "sk": {"S": f"PAGE#{resource}#{page:06d}"}}


class SyncRunsTable(DynamoDBTableAdapter):
    """Reads and writes of sync runs in ``ConnectionsTable`` (implements the initial sync's run store).

    Parameters
    ----------
    table_name : str
        The physical table name (``TABLE_NAME``).
    client : DynamoDBClient, optional
        A DynamoDB client; the container's shared one is created on first use when omitted.
    """

    # --- runs ----------------------------------------------------------------------------------------

    def create_run(self, run: SyncRun) -> bool:
        """Store a new run and point the org's latest run at it; False (nothing written) if it exists."""
        values: dict[str, Any] = {
            "pk": f"ORG#{run.org_id}",
            "sk": run_key(run.org_id, run.run_id)["sk"]["S"],
            "type": "sync_run",
            **run.model_dump(mode="json", exclude_none=True, exclude={"plan"}),
            # An empty map, so each resource's plan can be SET on its own as the planner learns it.
            "plan": {k: v.model_dump(mode="json", exclude_none=True) for k, v in (run.plan or {}).items()},
            "planned": run.plan is not None,
            **{counter: {} for counter in COUNTERS},
        }
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_item(values),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_item(
                                {"pk": f"ORG#{run.org_id}", "sk": LATEST_SK, "run_id": run.run_id}
                            ),
                        }
                    },
                ]
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                return False
            raise
        return True

    def get_run(self, org_id: str, run_id: str) -> SyncRun | None:
        item = self._get_item(run_key(org_id, run_id))
        return self._run(item) if item else None

    def get_run_and_counters(self, org_id: str, run_id: str) -> tuple[SyncRun, RunCounters] | None:
        """The run and its counters (per resource, and the run's calls and 429s)."""
        item = self._get_item(run_key(org_id, run_id))
        if not item:
            return None
        values = plain_numbers(from_item(item))
        per_resource: dict[str, dict[str, int]] = {}
        for name in COUNTERS:
            counts = values.get(name) or {}
            if isinstance(counts, dict):
                for resource, n in counts.items():
                    per_resource.setdefault(str(resource), {})[name] = int(n)
        counters = RunCounters(
            resources={r: ResourceCounters(**counts) for r, counts in per_resource.items()},
            calls=int(values.get("calls") or 0),
            rate_limited=int(values.get("rate_limited") or 0),
        )
        return self._run(item), counters

    def latest_run_id(self, org_id: str) -> str | None:
        item = self._get_item({"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": LATEST_SK}})
        return str(item["run_id"]["S"]) if item else None

    def latest_run(self, org_id: str) -> SyncRun | None:
        run_id = self.latest_run_id(org_id)
        return self.get_run(org_id, run_id) if run_id else None

    def restart_run(self, org_id: str, run_id: str, *, attempt: int, trigger: str) -> bool:
        """Take a failed or interrupted run up again as attempt ``attempt`` (only one caller wins).

        The previous failure is cleared; the plan, checkpoints and counters are kept, so the new execution
        skips the pages already done.
        """
        try:
            self.client.update_item(
                TableName=self._table,
                Key=run_key(org_id, run_id),
                UpdateExpression=(
                    "SET attempt = :a, #s = :planning, #t = :t REMOVE failure_reason, finished_at, "
                    "paused_until, execution_arn, finish_checks"
                ),
                ConditionExpression="attempt = :previous",
                ExpressionAttributeNames={"#s": "status", "#t": "trigger"},
                ExpressionAttributeValues={
                    ":a": {"N": str(attempt)},
                    ":previous": {"N": str(attempt - 1)},
                    ":planning": {"S": SyncStatus.PLANNING.value},
                    ":t": {"S": trigger},
                },
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                return False
            raise
        return True

    def set_execution(self, org_id: str, run_id: str, execution_arn: str) -> None:
        self._update(run_key(org_id, run_id), "SET execution_arn = :e", {":e": {"S": execution_arn}})

    def save_resource_plan(self, org_id: str, run_id: str, resource: str, plan: ResourcePlan) -> None:
        """Keep what page 1 of ``resource`` taught the planner (a planner retry does not ask again)."""
        self._update(
            run_key(org_id, run_id),
            "SET #plan.#r = :p",
            {":p": to_attribute(plan.model_dump(mode="json", exclude_none=True))},
            names={"#plan": "plan", "#r": resource},
        )

    def mark_planned(
        self, org_id: str, run_id: str, *, base_currency: str | None, timezone: str | None
    ) -> None:
        """The plan is complete: the run fetches; a resumed run will not plan again."""
        values: dict[str, Any] = {":true": {"BOOL": True}, ":s": {"S": SyncStatus.FETCHING.value}}
        names = {"#s": "status"}
        sets = ["planned = :true", "#s = :s"]
        # Names always go through placeholders: TIMEZONE (like STATUS) is one of DynamoDB's reserved words.
        for name, value in (("base_currency", base_currency), ("timezone", timezone)):
            if value:
                names[f"#{name}"] = name
                sets.append(f"#{name} = :{name}")
                values[f":{name}"] = {"S": value}
        self._update(run_key(org_id, run_id), "SET " + ", ".join(sets), values, names=names)

    def set_status(
        self,
        org_id: str,
        run_id: str,
        status: SyncStatus,
        *,
        finished_at: datetime | None = None,
        paused_until: datetime | None = None,
    ) -> None:
        """Move an active run to ``status`` (a failed or finished run is left as it is)."""
        sets = ["#s = :s"]
        values: dict[str, Any] = {
            ":s": {"S": status.value},
            ":failed": {"S": SyncStatus.FAILED.value},
            ":finished": {"S": SyncStatus.FINISHED.value},
        }
        if finished_at is not None:
            sets.append("finished_at = :f")
            values[":f"] = {"S": iso(finished_at)}
        if paused_until is not None:
            sets.append("paused_until = :p")
            values[":p"] = {"S": iso(paused_until)}
        try:
            self.client.update_item(
                TableName=self._table,
                Key=run_key(org_id, run_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(pk) AND NOT #s IN (:failed, :finished)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not is_conditional_check_failure(exc):
                raise

    def fail_run(self, org_id: str, run_id: str, reason: str, *, now: datetime) -> bool:
        """Mark the run failed with ``reason`` (the first reason recorded wins); False if there is no run."""
        try:
            self.client.update_item(
                TableName=self._table,
                Key=run_key(org_id, run_id),
                UpdateExpression="SET #s = :failed, finished_at = :f, "
                "failure_reason = if_not_exists(failure_reason, :r)",
                ConditionExpression="attribute_exists(pk) AND #s <> :finished",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":failed": {"S": SyncStatus.FAILED.value},
                    ":finished": {"S": SyncStatus.FINISHED.value},
                    ":f": {"S": iso(now)},
                    ":r": {"S": reason[:1000]},
                },
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                return False
            raise
        return True

    # --- counters ------------------------------------------------------------------------------------

    def records_written(self, org_id: str, run_id: str, resource: str, count: int) -> bool:
        """Add ``count`` to ``records_written[resource]`` (versions the writer stored); False if no run."""
        return self._add_per_resource(org_id, run_id, "records_written", resource, count)

    def records_unchanged(self, org_id: str, run_id: str, resource: str, count: int) -> bool:
        """Add ``count`` to ``records_unchanged[resource]`` (versions already held, or only-if-exists
        updates of records never held); False without a run."""
        return self._add_per_resource(org_id, run_id, "records_unchanged", resource, count)

    def _add_per_resource(self, org_id: str, run_id: str, counter: str, resource: str, count: int) -> bool:
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

    def add_usage(self, org_id: str, run_id: str, *, calls: int, rate_limited: int) -> None:
        """Count Xero calls made (every HTTP attempt) and 429s met."""
        self._add(org_id, run_id, {"calls": calls, "rate_limited": rate_limited})

    def add_finish_check(self, org_id: str, run_id: str) -> int:
        """Count one more look by the finisher; returns the count (it bounds the wait for the writer)."""
        response = self.client.update_item(
            TableName=self._table,
            Key=run_key(org_id, run_id),
            UpdateExpression="ADD finish_checks :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["finish_checks"]["N"])

    def _add(self, org_id: str, run_id: str, amounts: Mapping[str, int]) -> bool:
        amounts = {k: v for k, v in amounts.items() if v}
        if not amounts:
            return True
        names = {f"#c{i}": name for i, name in enumerate(amounts)}
        values = {f":c{i}": {"N": str(int(n))} for i, n in enumerate(amounts.values())}
        try:
            self.client.update_item(
                TableName=self._table,
                Key=run_key(org_id, run_id),
                UpdateExpression="ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(amounts))),
                ConditionExpression="attribute_exists(pk)",  # never create a half run item
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not is_conditional_check_failure(exc):
                raise
            return False
        return True

    # --- page checkpoints -----------------------------------------------------------------------------

    def page_checkpoint(self, run_id: str, resource: str, page: int) -> PageCheckpoint | None:
        item = self._get_item(_page_key(run_id, resource, page))
        return self._checkpoint(item) if item else None

    def checkpoints(self, run_id: str) -> list[PageCheckpoint]:
        """Every page done in the run (a resumed run's planner subtracts them from the plan)."""
        found: list[PageCheckpoint] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :page)",
            "ExpressionAttributeValues": {":pk": {"S": f"SYNCRUN#{run_id}"}, ":page": {"S": "PAGE#"}},
            "ConsistentRead": True,
        }
        while True:
            response = self.client.query(**kwargs)
            found.extend(self._checkpoint(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return found
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def checkpoint_page(
        self,
        org_id: str,
        run_id: str,
        resource: str,
        page: int,
        *,
        records: int,
        skipped: int,
        malformed: int,
        is_last: bool,
        now: datetime,
    ) -> bool:
        """Mark the page done and count it on the run, atomically and once; False if it was already done."""
        checkpoint = {
            **{k: v["S"] for k, v in _page_key(run_id, resource, page).items()},
            "type": "sync_page",
            "org_id": org_id,
            "run_id": run_id,
            "resource": resource,
            "page": page,
            "records": records,
            "skipped": skipped,
            "malformed": malformed,
            "is_last": is_last,
            "done_at": iso(now),
        }
        # records_sent is counted here, once per page, not per send: a page re-sent after a crash is
        # counted once, so the finisher's written >= sent compares distinct records.
        amounts = {"pages_done": 1, "records_sent": records, "skipped": skipped, "malformed": malformed}
        amounts = {k: v for k, v in amounts.items() if v}
        names: dict[str, str] = {"#r": resource}
        values: dict[str, Any] = {}
        for i, (name, n) in enumerate(amounts.items()):
            names[f"#m{i}"], values[f":m{i}"] = name, {"N": str(n)}
        update = ", ".join(f"#m{i}.#r :m{i}" for i in range(len(amounts)))
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_item(checkpoint),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": run_key(org_id, run_id),
                            "UpdateExpression": "ADD " + update,
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": values,
                        }
                    },
                ]
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                return False
            raise
        return True

    # --- cursors -------------------------------------------------------------------------------------

    def set_cursors(self, org_id: str, run_id: str, resources: Iterable[str], cursor: datetime) -> None:
        """Store ``cursor`` per resource, never moving one back (a later sync may have set a newer one)."""
        for resource in resources:
            try:
                self.client.put_item(
                    TableName=self._table,
                    Item=to_item(
                        {
                            "pk": f"ORG#{org_id}",
                            "sk": f"CURSOR#{resource}",
                            "type": "sync_cursor",
                            "resource": resource,
                            "cursor": iso(cursor),
                            "run_id": run_id,
                            "updated_at": iso(datetime.now(UTC)),
                        }
                    ),
                    ConditionExpression="attribute_not_exists(pk) OR #c <= :c",
                    ExpressionAttributeNames={"#c": "cursor"},
                    ExpressionAttributeValues={":c": {"S": iso(cursor)}},
                )
            except ClientError as exc:
                if not is_conditional_check_failure(exc):
                    raise

    def get_cursors(self, org_id: str) -> dict[str, datetime]:
        response = self.client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :c)",
            ExpressionAttributeValues={":pk": {"S": f"ORG#{org_id}"}, ":c": {"S": "CURSOR#"}},
            ConsistentRead=True,
        )
        out: dict[str, datetime] = {}
        for item in response.get("Items", []):
            values = from_item(item)
            out[str(values["resource"])] = datetime.fromisoformat(str(values["cursor"]))
        return out

    # --- internals -----------------------------------------------------------------------------------

    def _get_item(self, key: dict[str, Any]) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        item = response.get("Item")
        return dict(item) if item else None

    def _update(
        self,
        key: dict[str, Any],
        expression: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": key,
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        self.client.update_item(**kwargs)

    @staticmethod
    def _run(item: Mapping[str, Any]) -> SyncRun:
        values = plain_numbers(from_item(item))
        plan = values.get("plan") if values.get("planned") else None
        values = {k: v for k, v in values.items() if k in _RUN_FIELDS and k != "plan"}
        # A plan saved resource by resource is only *the* plan once the planner marked it complete.
        return SyncRun.model_validate({**values, "plan": plan})

    @staticmethod
    def _checkpoint(item: Mapping[str, Any]) -> PageCheckpoint:
        values = plain_numbers(from_item(item))
        return PageCheckpoint(
            resource=str(values["resource"]),
            page=int(values["page"]),
            records=int(values.get("records", 0)),
            is_last=bool(values["is_last"]),
        )

    def partial_plan(self, org_id: str, run_id: str) -> dict[str, ResourcePlan]:
        """The resources planned so far (a planner retried half way continues from there)."""
        item = self._get_item(run_key(org_id, run_id)) or {}
        plan = plain_numbers(from_item(item)).get("plan") or {}
        return {k: ResourcePlan.model_validate(v) for k, v in plan.items()}
