"""Every event in ``events/`` runs through ``make invoke``'s machinery against its function.

``make invoke`` is ``python -m tools.local_stack invoke <folder> --event <file>``: a fresh stack from
``template.yaml`` (no emulator, the template's defaults), one invocation, the result as JSON on stdout.
A subprocess costs ~5 s (imports and provisioning), so every event runs in-process on one such fresh stack
(``LocalStack.invoke``, what the CLI calls) and one subprocess checks the CLI's own contract.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tools.local_stack import LocalStack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
EVENTS = sorted((ROOT / "events").glob("*/*.json"))

#: What each API event gives on a fresh stack (nothing connected, no state issued): a status code, or
#: "refused" (a 4xx, or the browser sent back to the AR app with ``status=error``) with its error code.
#: The callback events all carry a state this stack never issued, so each is refused as unknown.
EXPECTED_API: dict[str, int | tuple[str, str]] = {
    "integration_api/connection_status": 200,
    "integration_api/not_connected": 200,
    "oauth_callback/access_denied": ("refused", "invalid_state"),
    "oauth_callback/missing_code": ("refused", "invalid_state"),
    "oauth_callback/success": ("refused", "invalid_state"),
    "oauth_callback/unknown_state": ("refused", "invalid_state"),
    "oauth_connect/connect": 302,
    "oauth_connect/missing_org_id": ("refused", "invalid_request"),
}

#: SQS events: the message ids the consumer reports as failed (the rest were processed).
EXPECTED_SQS_FAILURES: dict[str, list[str]] = {
    "writer/records_batch": [],
    "writer/poison_message": ["db37cc61-1bb0-4e77-b6f3-7cf87f44a72a"],  # schema 2, records not a list
}

#: Step Functions task events whose function needs state a fresh stack does not have (a planned sync run, a
#: connection). On ``make invoke`` each answers with the named error the state machine's Retry/Catch expects
#: (not a crash): ``errorType`` is what Step Functions matches on. The sync tests run them with that state.
EXPECTED_TASK_ERROR = {
    "page_fetcher/already_done": "SyncRunNotFoundError",  # the run it names is not planned here
    "page_fetcher/fetch_page": "SyncRunNotFoundError",
    "sync_finisher/finish": "SyncRunNotFoundError",  # the run it names does not exist here
    "sync_planner/plan": "NeedsReconnect",  # the org it names is not connected here
    "sync_planner/next_pass": "SyncRunNotFoundError",  # the planner again after a Map: no such run here
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
    if "Records" in event:  # an SQS batch: partial failures name exactly the bad messages
        assert case in EXPECTED_SQS_FAILURES, f"say which messages of {case} fail in EXPECTED_SQS_FAILURES"
        failed = [f["itemIdentifier"] for f in result.payload["batchItemFailures"]]
        assert failed == EXPECTED_SQS_FAILURES[case]
    if case == "oauth_connect/connect":
        location = (result.payload.get("headers") or {}).get("Location") or result.payload[
            "multiValueHeaders"
        ]["Location"][0]
        assert "/identity/connect/authorize?" in location
        assert "code_challenge_method=S256" in location


def test_make_invoke_cli_prints_the_result_and_exits_0() -> None:
    event = ROOT / "events" / "oauth_connect" / "missing_org_id.json"

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
    assert json.loads(result["body"]) == {"error": "invalid_request", "reason": "missing or invalid: org_id"}
