"""Every event in ``events/`` runs through ``make invoke``'s machinery against its function.

``make invoke`` is ``python -m tools.local_stack invoke <folder> --event <file>``: a fresh stack from
``template.yaml`` (no emulator, the template's defaults), one invocation, the result as JSON on stdout.
A subprocess costs ~5 s (imports and provisioning), so every event runs in-process on one such fresh stack
(``LocalStack.invoke``, what the CLI calls) and one subprocess checks the CLI's own contract.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tools.local_stack import LocalStack, prepare

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
EVENTS = sorted((ROOT / "events").glob("*/*.json"))

#: What each API event gives on a fresh stack (nothing connected, no state issued): a status code, or
#: "refused" (a 4xx, or the browser sent back to the AR app with ``status=error``) with its error code.
#: The callback events all carry a state this stack never issued, so each is refused as unknown.
EXPECTED_API: dict[str, int | tuple[str, str]] = {
    "integration_api/connection_status": 200,
    "integration_api/invoice": ("refused", "not_connected"),  # no org is connected on a fresh stack
    "integration_api/customer": ("refused", "not_connected"),
    "integration_api/invoice_bad_id": ("refused", "invalid_request"),  # not a Xero id: a 400 naming it
    "integration_api/not_connected": 200,
    "oauth_callback/access_denied": ("refused", "invalid_state"),
    "oauth_callback/missing_code": ("refused", "invalid_state"),
    "oauth_callback/success": ("refused", "invalid_state"),
    "oauth_callback/unknown_state": ("refused", "invalid_state"),
    # The connect link's session was issued by another stack: used up or unknown here, refused as such.
    "oauth_connect/connect": ("refused", "invalid_session"),
    "oauth_connect/missing_session": ("refused", "invalid_request"),
    "integration_api/start_connect": 201,  # a single-use connect link
    "integration_api/start_connect_bad_email": ("refused", "invalid_request"),
    "integration_api/disconnect": ("refused", "not_connected"),  # nothing to disconnect on a fresh stack
    # The listings: no org holds records on a fresh stack; each bad parameter is a 400 naming it.
    "integration_api/customers": ("refused", "not_connected"),
    "integration_api/invoices": ("refused", "not_connected"),
    "integration_api/invoices_of_customer": ("refused", "not_connected"),
    "integration_api/credit_notes": ("refused", "not_connected"),
    "integration_api/xero_payments": ("refused", "not_connected"),
    "integration_api/invoices_bad_limit": ("refused", "invalid_request"),
    "integration_api/invoices_bad_cursor": ("refused", "invalid_request"),
    "integration_api/invoices_naive_updated_since": ("refused", "invalid_request"),
    "integration_api/customers_bad_org": ("refused", "invalid_request"),  # a 400, not a 404
    "integration_api/openapi_document": 200,  # the document, from the shared layer
    # Signed with the local stack's webhook key (its template default): verified, enqueued or answered.
    "webhook_receiver/delivery": 200,
    "webhook_receiver/intent_to_receive": 200,
    "webhook_receiver/wrong_signature": ("refused", ""),  # 401 with an empty body
    "webhook_receiver/missing_signature": ("refused", ""),
    # The export's routes: org_acme is not connected on a fresh stack, and records no payment.
    "payments_api/bank_accounts": ("refused", "not_connected"),
    "payments_api/get_settings": 200,
    "payments_api/put_settings": ("refused", "not_connected"),
    "payments_api/record_payment": ("refused", "not_connected"),
    "payments_api/invalid_payment": ("refused", "invalid_request"),
    "payments_api/get_payment": ("refused", "payment_not_found"),
    "payments_api/list_failed": 200,
    "payments_api/export_payment": ("refused", "payment_not_found"),
    "payments_api/replay_failed": 200,
}

#: The parameter a refused API event's ``reason`` must name.
NAMED_IN_REASON = {
    "integration_api/invoice_bad_id": "invoice_id",
    "integration_api/invoices_bad_limit": "limit",
    "integration_api/invoices_bad_cursor": "cursor",
    "integration_api/invoices_naive_updated_since": "updated_since",
    "integration_api/customers_bad_org": "org_id",
}

#: SQS events: the message ids the consumer reports as failed (the rest were processed).
EXPECTED_SQS_FAILURES: dict[str, list[str]] = {
    "writer/records_batch": [],
    "writer/poison_message": ["db37cc61-1bb0-4e77-b6f3-7cf87f44a72a"],  # schema 2, records not a list
    # The tenant is not connected on a fresh stack: its events are dropped (no Xero call, no retry).
    "change_fetcher/deliveries": [],
    # The poison payload is set aside in the webhooks DLQ with its reason (not failed, not retried).
    "change_fetcher/poison_message": [],
    "catch_up/tenant_request": [],  # a tenant that is not connected is skipped
    "catch_up/everyone_after_gap": [],  # no connected tenant: nothing to fan out
    # Payments this stack never recorded: nothing to send, nothing to retry.
    "payment_exporter/export_batch": [],
    # payment_ids not a list: moved to the exports DLQ with its reason at once, not failed again and again.
    "payment_exporter/poison_message": [],
    "export_replay/replay_list": [],
    "export_replay/replay_all_failed": [],
    "export_replay/poison_message": [],  # to the replays DLQ with its reason
}

#: Step Functions task events whose function needs state a fresh stack does not have (a planned sync run, a
#: connection). On ``make invoke`` each answers with the named error the state machine's Retry/Catch expects
#: (not a crash): ``errorType`` is what Step Functions matches on. ``make invoke PREPARE=1`` prepares that
#: state first (EXPECTED_PREPARED below).
EXPECTED_TASK_ERROR = {
    "page_fetcher/already_done": "SyncRunNotFoundError",  # the run it names is not planned here
    "page_fetcher/fetch_page": "SyncRunNotFoundError",
    "sync_finisher/finish": "SyncRunNotFoundError",  # the run it names does not exist here
    "sync_planner/plan": "NeedsReconnect",  # the org it names is not connected here
    "sync_planner/next_pass": "SyncRunNotFoundError",  # the planner again after a Map: no such run here
}


#: What each initial-sync task event gives after ``--prepare`` (the emulator holding the event's tenant with
#: one customer, 1,050 open and 3 draft invoices, the org connected, the run planned or fetched as the task
#: needs).
EXPECTED_PREPARED: dict[str, dict[str, Any]] = {
    # The chase part first: page 1 of each resource is the plan's own, Invoices' page 2 is left
    "sync_planner/plan": {
        "part": "chase",
        "done": False,
        "pages": [
            {
                "partition": "Invoices:chase",
                "resource": "Invoices",
                "page": 2,
                "tail": False,
                "repair_of": None,
            }
        ],
    },
    # After the chase part's pages: the history part read (each resource's page 1), nothing left
    "sync_planner/next_pass": {"done": True, "calls": 6},
    "page_fetcher/fetch_page": {"status": "fetched", "records_sent": 50, "calls": 1},  # 1,050 - 1,000
    "page_fetcher/already_done": {"status": "skipped", "calls": 0},  # page 1 was the plan's own
    "sync_finisher/finish": {"drained": True, "records_sent": 1055, "records_written": 1055},
    "sync_finisher/record_failure": {"status": "failed"},
}


def _case(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def _params() -> list[Any]:
    return [pytest.param(p, id=_case(p)) for p in EVENTS]


@pytest.fixture(scope="module")
def fresh_stack() -> Iterator[LocalStack]:
    """The stack ``make invoke`` provisions: the template with its defaults, nothing else."""
    with LocalStack(ROOT / "template.yaml") as stack:
        stack.provision()
        yield stack


def outcome(payload: dict[str, Any]) -> int | tuple[str, str]:
    """A proxy result as the user sees it: the status, or ``("refused", error)``."""
    status = int(payload["statusCode"])
    headers = {k.lower(): v for k, v in (payload.get("headers") or {}).items()}
    for name, values in (payload.get("multiValueHeaders") or {}).items():
        headers.setdefault(name.lower(), values[0])
    if status == 302:
        back = dict(parse_qsl(urlsplit(str(headers.get("location", ""))).query))
        if back.get("status") == "error":
            return ("refused", back.get("error", ""))
    if 400 <= status < 500:
        return ("refused", json.loads(payload.get("body") or "{}").get("error", ""))
    return status


def test_every_function_has_events() -> None:
    folders = {p.parent.name for p in EVENTS}
    functions = {p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").is_file()}
    assert functions <= folders, f"functions without an event: {sorted(functions - folders)}"


@pytest.mark.parametrize("event_file", _params())
def test_event_runs_against_its_function(fresh_stack: LocalStack, event_file: Path) -> None:
    event = json.loads(event_file.read_text())

    result = fresh_stack.invoke(event_file.parent.name, event)

    case = _case(event_file)
    if case in EXPECTED_TASK_ERROR:
        assert result.error is not None and result.error["errorType"] == EXPECTED_TASK_ERROR[case]
        return
    assert result.error is None, f"{result.error['errorType']}: {result.error['errorMessage']}"
    assert isinstance(result.payload, dict)
    if "httpMethod" in event:
        assert "statusCode" in result.payload
        assert case in EXPECTED_API, f"say what {case} gives on a fresh stack in EXPECTED_API"
        assert outcome(result.payload) == EXPECTED_API[case]
        assert int(result.payload["statusCode"]) < 500
        if case in NAMED_IN_REASON:
            assert NAMED_IN_REASON[case] in json.loads(result.payload["body"])["reason"]
    if "Records" in event:  # an SQS batch: partial failures name exactly the bad messages
        assert case in EXPECTED_SQS_FAILURES, f"say which messages of {case} fail in EXPECTED_SQS_FAILURES"
        failed = [f["itemIdentifier"] for f in result.payload["batchItemFailures"]]
        assert failed == EXPECTED_SQS_FAILURES[case]
    if case == "integration_api/openapi_document":
        assert json.loads(result.payload["body"]) == json.loads((ROOT / "docs" / "openapi.json").read_text())
    if case == "integration_api/start_connect":
        link = json.loads(result.payload["body"])["connect_url"]
        assert "/connect?session=" in link
    if case == "payments_api/invalid_payment":
        reason = json.loads(result.payload["body"])["reason"]
        assert "amount (must be a decimal string" in reason and "currency" in reason
    if case in ("payment_exporter/poison_message", "export_replay/poison_message"):
        exporter = case.startswith("payment_exporter")
        dlq = "ExportsDeadLetterQueue" if exporter else "ExportReplayDeadLetterQueue"
        sqs = fresh_stack.client("sqs")
        letters = sqs.receive_message(
            QueueUrl=fresh_stack.physical_id(dlq), MessageAttributeNames=["All"], MaxNumberOfMessages=10
        ).get("Messages", [])
        assert [m["Body"] for m in letters] == [event["Records"][0]["body"]]
        assert letters[0]["MessageAttributes"]["reason"]["StringValue"].startswith("not a")


def test_make_invoke_cli_prints_the_result_and_exits_0() -> None:
    event = ROOT / "events" / "oauth_connect" / "missing_session.json"

    done = subprocess.run(
        [sys.executable, "-m", "tools.local_stack", "invoke", "oauth_connect", "--event", str(event)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["statusCode"] == 400
    assert json.loads(result["body"]) == {"error": "invalid_request", "reason": "missing or invalid: session"}


@pytest.mark.parametrize("case", sorted(EXPECTED_PREPARED))
def test_a_sync_task_event_does_its_work_on_a_prepared_stack(case: str) -> None:
    event = json.loads((ROOT / "events" / f"{case}.json").read_text())

    # Given a fresh stack prepared as make invoke PREPARE=1 prepares it
    with prepare.prepared(event) as preparation:
        assert preparation is not None, f"{case} names a sync run"
        task, xero = preparation
        # (a stack name of its own: the module's fresh stack lives in the same in-process moto)
        with LocalStack(
            ROOT / "template.yaml",
            parameter_overrides=prepare.xero_parameters(xero),
            stack_name=f"prepared-{case.replace('/', '-').replace('_', '-')}",
        ) as stack:
            stack.provision()
            function = stack.resolve_function(case.split("/", maxsplit=1)[0])
            prepare.prepare(stack, xero, function, task, event)

            # When the event runs
            result = stack.invoke(function, event)

    # Then the function does its work: the documented result, not a not-found error
    assert result.error is None, f"{result.error['errorType']}: {result.error['errorMessage']}"
    assert {k: result.payload.get(k) for k in EXPECTED_PREPARED[case]} == EXPECTED_PREPARED[case]
    assert result.payload.get("run_id", event.get("run_id")) == task.run_id


def test_every_task_event_of_a_sync_run_can_be_prepared() -> None:
    assert {case for case in EXPECTED_TASK_ERROR} <= set(EXPECTED_PREPARED)


def test_make_invoke_prepare_runs_the_page_fetcher_on_page_2() -> None:
    event = ROOT / "events" / "page_fetcher" / "fetch_page.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.local_stack",
            "invoke",
            "page_fetcher",
            "--event",
            str(event),
            "--prepare",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": "layers/shared:emulator:."},  # as make invoke sets it
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["status"] == "fetched"
    assert "prepare: run initial-sync-3f9a1c2b7d4e5f60718293a4b5c6d7e8f9012345 planned" in done.stderr
