"""The page fetcher on the local stack when things go wrong mid-task: a crash after half a page's messages,
and a rate-limiter wait longer than the Lambda has left."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

pytestmark = pytest.mark.integration

if (
    importlib.util.find_spec("tools.local_stack") is None
    or importlib.util.find_spec("xero_emulator.testing") is None
):
    pytest.skip("needs tools/local_stack and xero_emulator.testing", allow_module_level=True)

from tests.integration.sync.harness import SyncWorld, organisation_size, sync_world  # noqa: E402
from tools.local_stack import LocalStack  # noqa: E402
from tools.local_stack.aws_server import AwsRequest  # noqa: E402
from xero_bridge.adapters.aws.rate_limiter import DynamoDBRateLimiter, decode_state  # noqa: E402
from xero_bridge.models.records import RecordType  # noqa: E402

#: The ``large`` generator at a size where Invoices take several pages of 1,000 (the planner does page 1;
#: the page fetchers the rest), and a page is several SQS messages.
CONTACTS, INVOICES = 1_500, 2_600
CLOCK_SCALE = 60.0


@pytest.fixture
def world() -> Iterator[SyncWorld]:
    with organisation_size(CONTACTS, INVOICES), sync_world(seed="large", clock_scale=CLOCK_SCALE) as w:
        yield w


class DieAfterHalfAPage:
    """Kills the first page fetcher that sends ``resource`` page ``page``, after half its SQS batches.

    Hooked on the local stack's AWS endpoint: the fetcher's own boto3 client, adapter and error handling run
    unchanged up to the moment its sandbox is SIGKILLed, with that SendMessageBatch never served, as when
    a Lambda's sandbox goes away mid-invocation.
    """

    def __init__(self, stack: LocalStack, resource: str, page: int, batches_before_death: int) -> None:
        self.stack = stack
        self.resource, self.page = resource, page
        self.batches_before_death = batches_before_death
        self.sent_before_death: list[str] = []
        self.records_before_death: set[str] = set()
        self.died = False
        self._lock = threading.Lock()
        self._hooked = ExitStack()

    def __enter__(self) -> DieAfterHalfAPage:
        self._hooked.enter_context(self.stack.intercept_aws(self._process))
        return self

    def __exit__(self, *exc: object) -> None:
        self._hooked.close()

    def _process(self, request: AwsRequest) -> None:
        sender = request.sender
        if request.operation == "SendMessageBatch" and sender and sender.function == "PageFetcherFunction":
            entries = json.loads(request.body)["Entries"]
            sources = {json.loads(e["MessageBody"])["source"]["page"] for e in entries}
            resources = {json.loads(e["MessageBody"])["source"]["resource"] for e in entries}
            if sources == {self.page} and resources == {self.resource}:
                with self._lock:
                    if not self.died:
                        if len(self.sent_before_death) >= self.batches_before_death:
                            self.died = True
                            request.kill_sender()  # the sandbox dies here; this batch is never sent
                        self.sent_before_death.extend(e["Id"] for e in entries)
                        self.records_before_death.update(
                            r["xero_id"] for e in entries for r in json.loads(e["MessageBody"])["records"]
                        )


def calls_to(world: SyncWorld, resource: str) -> int:
    by_path = world.xero.stats.snapshot()["tenants"][world.tenant_id]["by_path"]
    return sum(n for path, n in by_path.items() if path.rstrip("/").endswith(f"/{resource}"))


def invoice_calls(world: SyncWorld) -> int:
    return calls_to(world, "Invoices")


def test_a_fetcher_dying_after_half_a_page_loses_nothing_and_costs_one_call(world: SyncWorld) -> None:
    # Given a page fetcher that dies after sending half of Invoices page 2's messages (of the history part:
    # the paid, voided, deleted and draft invoices are more than a page here)
    with DieAfterHalfAPage(world.stack, "Invoices", page=2, batches_before_death=1) as fault:
        status, output = world.run_sync(timeout=300)

    # Then the fault really hit mid-page, the state machine retried the page, and the sync succeeded
    assert fault.died and fault.sent_before_death, "the fetcher never reached the point of dying"
    assert status == "SUCCEEDED", output
    # And DynamoDB holds exactly the organisation, record for record and field for field
    world.stack.drain(timeout=120)
    expected, held = world.expected(), world.held()
    for record_type, records in expected.items():
        assert held[record_type] == records, record_type
    # And the dead page's records were counted once
    run_id = world.runs.latest_run_id(world.org_id)
    assert run_id is not None
    found = world.runs.get_run_and_counters(world.org_id, run_id)
    assert found is not None
    run, counters = found
    invoices = len(expected[RecordType.INVOICE])
    chase, history = counters.partition("Invoices:chase"), counters.partition("Invoices:history")
    assert chase.records_sent + history.records_sent == invoices
    # (each invoice written once; the dead attempt's half page came again and was found unchanged)
    assert chase.records_written + history.records_written == invoices
    assert history.records_unchanged == len(fault.records_before_death) and chase.records_unchanged == 0
    invoice_pages = [run.plan[f"Invoices:{part}"].pages_total for part in ("chase", "history")]
    assert None not in invoice_pages and invoice_pages[1] >= 2  # type: ignore[operator]
    # And the only extra Xero call was the dead page's own re-fetch
    assert invoice_calls(world) == sum(p or 0 for p in invoice_pages) + 1


def test_a_limiter_wait_longer_than_the_lambda_has_left_hands_the_page_back(world: SyncWorld) -> None:
    # Given a planned run (page 1 of each of the chase part's partitions done by the planner)
    plan = world.stack.invoke(
        "SyncPlannerFunction",
        {
            "sync": {"org_id": world.org_id, "tenant_id": world.tenant_id, "trigger": "connect"},
            "execution_name": "limits-1",
        },
    )
    assert plan.error is None, plan.error["errorMessage"]
    task = plan.payload["pages"][0]  # a page the chase part has left (customers, here)
    event = {"run_id": plan.payload["run_id"], "org_id": world.org_id, "tenant_id": world.tenant_id, **task}
    limiter = DynamoDBRateLimiter(
        world.stack.physical_id("ConnectionsTable"),
        client=world.stack.client("dynamodb"),
        time_scale=CLOCK_SCALE,
    )
    timeout = world.stack.runtime.function("PageFetcherFunction").timeout
    calls_before = calls_to(world, task["resource"])

    # When Xero blocks the tenant for longer than the fetcher's whole timeout (Retry-After in Xero's seconds)
    limiter.note_rate_limited(world.tenant_id, "minute", retry_after_seconds=(timeout + 10) * CLOCK_SCALE)
    blocked = world.stack.invoke("PageFetcherFunction", event)

    # Then the fetcher hands the page back with the error the state machine retries, without a call
    assert blocked.error is not None and blocked.error["errorType"] == "RateLimitWaitExceeded", blocked.error
    assert calls_to(world, task["resource"]) == calls_before

    # And when the block is shorter than what it has left, the fetcher waits it out and fetches the page
    world.stack.client("dynamodb").update_item(
        TableName=world.stack.physical_id("ConnectionsTable"),
        Key={"pk": {"S": f"RATE#{world.tenant_id}"}, "sk": {"S": "LIMITER"}},
        UpdateExpression="REMOVE blocked_until ADD version :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    until = limiter.note_rate_limited(world.tenant_id, "minute", retry_after_seconds=2 * CLOCK_SCALE)
    fetched = world.stack.invoke("PageFetcherFunction", event)
    assert fetched.error is None, fetched.error
    assert fetched.payload["status"] == "fetched" and fetched.payload["calls"] == 1
    assert calls_to(world, task["resource"]) == calls_before + 1
    # (the call the limiter granted it is recorded at or after the block's end)
    item = world.stack.client("dynamodb").get_item(
        TableName=world.stack.physical_id("ConnectionsTable"),
        Key={"pk": {"S": f"RATE#{world.tenant_id}"}, "sk": {"S": "LIMITER"}},
        ConsistentRead=True,
    )["Item"]
    assert max(decode_state(item).calls) >= until.timestamp() * 1000
