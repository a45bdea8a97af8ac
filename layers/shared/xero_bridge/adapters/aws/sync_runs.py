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
                                                                         paused_until, snapshot_at,
                                                                         plan (M: partition → plan),
                                                                         parts (M: part → planned_at,
                                                                         fetched_at, ready_at, passes),
                                                                         modified_since (M), base_currency,
                                                                         timezone, finish_checks, counters
latest run        ``ORG#{org_id}``       ``SYNC``                        run_id (the run the API shows)
page checkpoint   ``SYNCRUN#{run_id}``   ``PAGE#{partition}#{page:06d}`` records, skipped, malformed, is_last,
                                         (a re-read: ``...#R{boundary}``) item_count, repair_of, done_at
                                                                         (conditional put: once)
cursor            ``ORG#{org_id}``       ``CURSOR#{resource}``           cursor (ISO UTC), run_id, updated_at
================  =====================  ==============================  =====================================

A partition is a resource's share of one part of the run (``Invoices:chase``, ``Invoices:history``).
Counters: maps of partition → number, added to with ``ADD counter.#partition`` (each map is created empty
with the run, so the first ``ADD`` of a partition finds it): ``records_sent``, ``pages_done``,
``pages_reread``, ``skipped``, ``malformed`` (the fetcher), ``records_written`` and ``records_unchanged``
(the writer); plus the numbers ``calls`` and ``rate_limited`` (Xero calls made, 429s met).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

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
    PARTS,
    PageCheckpoint,
    Part,
    PartitionCounters,
    PartitionPlan,
    RunCounters,
    SyncRun,
    SyncStatus,
)

__all__ = ["COUNTERS", "SyncRunsTable", "run_key"]

COUNTERS = (
    "records_sent",
    "records_written",
    "records_unchanged",
    "pages_done",
    "pages_reread",
    "skipped",
    "malformed",
)
"""Counter maps (partition → number); ``calls`` and ``rate_limited`` are plain numbers."""
LATEST_SK = "SYNC"

_RUN_FIELDS = frozenset(SyncRun.model_fields)


def run_key(org_id: str, run_id: str) -> dict[str, dict[str, str]]:
    """The sync-run item's key."""
    return {"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": f"SYNC#{run_id}"}}


def _page_key(run_id: str, partition: str, page: int, repair_of: int | None = None) -> dict[str, Any]:
    sk = f"PAGE#{partition}#{page:06d}" + (f"#R{repair_of:06d}" if repair_of is not None else "")
    return {"pk": {"S": f"SYNCRUN#{run_id}"}, "sk": {"S": sk}}


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
            **run.model_dump(mode="json", exclude_none=True, exclude={"plan", "parts"}),
            # Maps created with the run, so each partition's plan and each part's state can be SET on their
            # own as the planner learns them.
            "plan": {k: v.model_dump(mode="json", exclude_none=True) for k, v in run.plan.items()},
            "parts": {
                part.value: run.part(part).model_dump(mode="json", exclude_none=True) for part in PARTS
            },
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
        """The run and its counters (per partition, and the run's calls and 429s)."""
        item = self._get_item(run_key(org_id, run_id))
        if not item:
            return None
        values = plain_numbers(from_item(item))
        per_partition: dict[str, dict[str, int]] = {}
        for name in COUNTERS:
            counts = values.get(name) or {}
            if isinstance(counts, dict):
                for partition, n in counts.items():
                    per_partition.setdefault(str(partition), {})[name] = int(n)
        counters = RunCounters(
            partitions={k: PartitionCounters(**counts) for k, counts in per_partition.items()},
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

    def save_partition_plan(self, org_id: str, run_id: str, plan: PartitionPlan) -> None:
        """Keep what a partition's page 1 taught the planner (a planner retry does not ask again)."""
        self._update(
            run_key(org_id, run_id),
            "SET #plan.#k = :p",
            {":p": to_attribute(plan.model_dump(mode="json", exclude_none=True))},
            names={"#plan": "plan", "#k": plan.key},
        )

    def set_snapshot(self, org_id: str, run_id: str, at: datetime) -> datetime:
        """Set the run's snapshot unless it has one; returns the snapshot the run keeps (the first)."""
        response = self.client.update_item(
            TableName=self._table,
            Key=run_key(org_id, run_id),
            UpdateExpression="SET snapshot_at = if_not_exists(snapshot_at, :t)",
            ExpressionAttributeValues={":t": {"S": iso(at)}},
            # ALL_NEW rather than UPDATED_NEW: an attribute SET to its own value may not come back in that.
            ReturnValues="ALL_NEW",
        )
        return datetime.fromisoformat(str(response["Attributes"]["snapshot_at"]["S"]))

    def mark_part_planned(
        self,
        org_id: str,
        run_id: str,
        part: Part,
        *,
        now: datetime,
        base_currency: str | None = None,
        timezone: str | None = None,
    ) -> None:
        """The part's plan is complete (a resume will not plan it again); the run fetches."""
        values: dict[str, Any] = {":now": {"S": iso(now)}, ":s": {"S": SyncStatus.FETCHING.value}}
        names = {"#s": "status", "#part": part.value}
        sets = ["parts.#part.planned_at = :now", "#s = :s"]
        # Names always go through placeholders: TIMEZONE (like STATUS) is one of DynamoDB's reserved words.
        for name, value in (("base_currency", base_currency), ("timezone", timezone)):
            if value:
                names[f"#{name}"] = name
                sets.append(f"#{name} = :{name}")
                values[f":{name}"] = {"S": value}
        self._update(run_key(org_id, run_id), "SET " + ", ".join(sets), values, names=names)

    def add_part_pass(self, org_id: str, run_id: str, part: Part) -> int:
        """Count one more planner pass that handed out pages of ``part``; returns the count."""
        response = self.client.update_item(
            TableName=self._table,
            Key=run_key(org_id, run_id),
            UpdateExpression="ADD parts.#part.passes :one",
            ExpressionAttributeNames={"#part": part.value},
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["parts"]["M"][part.value]["M"]["passes"]["N"])

    def mark_part_fetched(self, org_id: str, run_id: str, part: Part, *, now: datetime) -> None:
        """Every page of ``part`` was read and checked (the first time counts)."""
        self._update(
            run_key(org_id, run_id),
            "SET parts.#part.fetched_at = if_not_exists(parts.#part.fetched_at, :now)",
            {":now": {"S": iso(now)}},
            names={"#part": part.value},
        )

    def mark_part_ready(self, org_id: str, run_id: str, part: Part, *, now: datetime) -> bool:
        """Every record of the fetched ``part`` is written: set its ``ready_at`` once; False if set before."""
        try:
            self.client.update_item(
                TableName=self._table,
                Key=run_key(org_id, run_id),
                UpdateExpression="SET parts.#part.ready_at = :now",
                ConditionExpression=(
                    "attribute_exists(parts.#part) AND attribute_not_exists(parts.#part.ready_at)"
                ),
                ExpressionAttributeNames={"#part": part.value},
                ExpressionAttributeValues={":now": {"S": iso(now)}},
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                return False
            raise
        return True

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

    def records_written(self, org_id: str, run_id: str, partition: str, count: int) -> bool:
        """Add ``count`` to ``records_written[partition]`` (versions the writer stored); False if no run."""
        return self._add_per_partition(org_id, run_id, "records_written", partition, count)

    def records_unchanged(self, org_id: str, run_id: str, partition: str, count: int) -> bool:
        """Add ``count`` to ``records_unchanged[partition]`` (versions already held, or only-if-exists
        updates of records never held); False without a run."""
        return self._add_per_partition(org_id, run_id, "records_unchanged", partition, count)

    def _add_per_partition(self, org_id: str, run_id: str, counter: str, partition: str, count: int) -> bool:
        """``ADD counter.partition :count``; never creates the run item (no stub for a run nobody planned).

        ``ADD`` on a map entry needs the map itself. The planner creates the maps with the run; should one
        be missing, the first count sets it and racing writers settle through the conditions (one sets it,
        the others add).
        """
        if count <= 0:
            return True
        names = {"#counter": counter, "#partition": partition}
        for _ in range(3):  # add, or create the map, or add again after another writer created it
            try:
                self.client.update_item(
                    TableName=self._table,
                    Key=run_key(org_id, run_id),
                    UpdateExpression="ADD #counter.#partition :n",
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
                    ExpressionAttributeValues={":map": {"M": {partition: {"N": str(count)}}}},
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

    def page_checkpoint(
        self, run_id: str, partition: str, page: int, repair_of: int | None = None
    ) -> PageCheckpoint | None:
        item = self._get_item(_page_key(run_id, partition, page, repair_of))
        return self._checkpoint(item) if item else None

    def checkpoints(self, run_id: str) -> list[PageCheckpoint]:
        """Every page read in the run, re-reads too (the planner subtracts them from the plan)."""
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
        partition: str,
        page: int,
        *,
        records: int,
        skipped: int,
        malformed: int,
        is_last: bool,
        now: datetime,
        item_count: int | None = None,
        repair_of: int | None = None,
    ) -> bool:
        """Mark the page read and count it on the run, atomically and once; False if it was already done.

        ``item_count`` is the partition's size that read saw; a re-read (``repair_of``) counts as a page
        re-read, not as one more page done.
        """
        checkpoint = {
            **{k: v["S"] for k, v in _page_key(run_id, partition, page, repair_of).items()},
            "type": "sync_page",
            "org_id": org_id,
            "run_id": run_id,
            "partition": partition,
            "page": page,
            "records": records,
            "skipped": skipped,
            "malformed": malformed,
            "is_last": is_last,
            "item_count": item_count,
            "repair_of": repair_of,
            "done_at": iso(now),
        }
        checkpoint = {k: v for k, v in checkpoint.items() if v is not None}
        # records_sent is counted here, once per page, not per send: a page re-sent after a crash is
        # counted once, so the finisher's written >= sent compares distinct records.
        amounts = {
            "pages_done" if repair_of is None else "pages_reread": 1,
            "records_sent": records,
            "skipped": skipped,
            "malformed": malformed,
        }
        amounts = {k: v for k, v in amounts.items() if v}
        names: dict[str, str] = {"#r": partition}
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
        return SyncRun.model_validate({k: v for k, v in values.items() if k in _RUN_FIELDS})

    @staticmethod
    def _checkpoint(item: Mapping[str, Any]) -> PageCheckpoint:
        values = plain_numbers(from_item(item))
        return PageCheckpoint(
            partition=str(values["partition"]),
            page=int(values["page"]),
            records=int(values.get("records", 0)),
            is_last=bool(values["is_last"]),
            item_count=int(values["item_count"]) if values.get("item_count") is not None else None,
            repair_of=int(values["repair_of"]) if values.get("repair_of") is not None else None,
        )
