"""Functions run as Lambda runs them: in sandbox processes of their own, side by side.

Ordering is asserted from what the handlers record (timestamps, files, pids), never from how fast this
machine is.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tools.local_stack import LocalStack
from tools.local_stack.aws_server import AwsRequest, Sender
from tools.local_stack.runtime import FunctionRuntime, InvokeResult, Zygote

pytestmark = pytest.mark.integration


def in_background(call: Callable[[], InvokeResult]) -> tuple[threading.Thread, dict[str, InvokeResult]]:
    out: dict[str, InvokeResult] = {}
    thread = threading.Thread(target=lambda: out.update(result=call()))
    thread.start()
    return thread, out


def wait_until(condition: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_api_answers_while_another_function_runs_for_seconds(stack: LocalStack, tmp_path: Path) -> None:
    # Given a function of another name running for 3 seconds
    url = stack.start_api(port=0)
    started = tmp_path / "sleeper-started"
    try:
        thread, out = in_background(
            lambda: stack.invoke(
                "SleeperFunction", {"seconds": 3, "started_file": str(started), "report": True}
            )
        )
        wait_until(started.exists, "the sleeper started")

        # When the API is called meanwhile
        with urllib.request.urlopen(f"{url}/echo/1", timeout=60) as response:
            echo = json.loads(response.read())
        answered_while_sleeping = thread.is_alive()
        thread.join()
    finally:
        stack.stop_api()

    # Then the API function ran, and answered, inside the sleeper's run: nobody waited for anybody
    sleeper = out["result"].payload
    assert sleeper["started"] < echo["handled_at"] < sleeper["ended"]
    assert answered_while_sleeping
    assert echo["pid"] != sleeper["pid"]


def test_concurrent_invocations_of_one_function_get_sandboxes_of_their_own(
    stack: LocalStack, tmp_path: Path
) -> None:
    # Given two invocations of one function, each waiting for the other to have started
    a, b = tmp_path / "a", tmp_path / "b"
    stack.invoke("SleeperFunction", {}, cold_start=True)  # one warm sandbox, fresh

    # When both are invoked at once
    first, first_out = in_background(
        lambda: stack.invoke("SleeperFunction", {"started_file": str(a), "wait_for": str(b), "report": True})
    )
    second, second_out = in_background(
        lambda: stack.invoke("SleeperFunction", {"started_file": str(b), "wait_for": str(a), "report": True})
    )
    first.join()
    second.join()

    # Then they met halfway (they ran at the same time), in two processes, each with its own module state
    one, two = first_out["result"], second_out["result"]
    assert one.error is None and two.error is None, (one.error, two.error)
    assert one.payload["met"] and two.payload["met"]
    assert one.payload["pid"] != two.payload["pid"]
    assert sorted([one.payload["invocations"], two.payload["invocations"]]) == [1, 2]
    assert [one.cold_start, two.cold_start].count(True) == 1  # the warm sandbox served one of them
    # And a later invocation reuses a warm sandbox, whose module state went on counting
    again = stack.invoke("SleeperFunction", {"report": True})
    assert not again.cold_start and again.payload["pid"] in {one.payload["pid"], two.payload["pid"]}
    assert again.payload["invocations"] >= 2
    sandboxes = stack.runtime.sandboxes("SleeperFunction")
    assert {s.pid for s in sandboxes} == {one.payload["pid"], two.payload["pid"]}


def test_a_timed_out_sandbox_is_killed_and_replaced(stack: LocalStack) -> None:
    # Given one warm sandbox of a function with a 1 s timeout
    first = stack.invoke("SlowFunction", {"report": True}, cold_start=True)
    pid = first.payload["pid"]

    # When an invocation overruns the timeout
    timed_out = stack.invoke("SlowFunction", {"seconds": 1.6})

    # Then Lambda's timeout error, and the sandbox's process is gone
    assert timed_out.timed_out and timed_out.error is not None
    assert timed_out.error["errorType"] == "Sandbox.Timedout"
    assert not alive(pid)
    assert pid not in {s.pid for s in stack.runtime.sandboxes("SlowFunction")}
    # And the next invocation cold-starts a new sandbox, with fresh module state
    after = stack.invoke("SlowFunction", {"report": True})
    assert after.error is None and after.cold_start
    assert after.payload["pid"] != pid and after.payload["invocations"] == 1


def test_functions_never_share_a_process_nor_an_environment(stack: LocalStack) -> None:
    # When two functions run at the same time, several times
    results: list[InvokeResult] = []
    threads = [
        threading.Thread(target=lambda f=f: results.append(stack.invoke(f, {"pk": "env-isolation"})))
        for f in ["EchoFunction", "WriterFunction"] * 3
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each saw its own environment, in its own processes, and this process's environment is untouched
    assert {(r.function, r.payload["setting"]) for r in results} == {
        ("EchoFunction", "echo"),
        ("WriterFunction", "writer"),
    }
    echo = {s.pid for s in stack.runtime.sandboxes("EchoFunction")}
    writer = {s.pid for s in stack.runtime.sandboxes("WriterFunction")}
    assert echo and writer and not echo & writer and os.getpid() not in echo | writer
    assert "SETTING" not in os.environ and os.environ.get("AWS_LAMBDA_FUNCTION_NAME") is None


def test_a_hook_on_the_aws_path_kills_the_sandbox_that_sent_the_request(stack: LocalStack) -> None:
    # Given a hook that kills the writer at its PutItem
    senders: list[Sender] = []

    def kill_at_put(request: AwsRequest) -> None:
        if request.operation == "PutItem" and request.sender and request.sender.function == "WriterFunction":
            senders.append(request.sender)
            request.kill_sender()

    # When the writer runs (in a sandbox of its own: the others are retired)
    with stack.intercept_aws(kill_at_put):
        result = stack.invoke("WriterFunction", {"pk": "killed-mid-put"}, cold_start=True)

    # Then the invocation ends as Lambda reports a sandbox that died, and the write never happened
    assert result.error is not None and result.error["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: signal: killed" in result.error["errorMessage"]
    (sender,) = senders
    assert sender.request_id == result.request_id and not alive(sender.pid)
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical_id("RecordsTable"),
        Key={"pk": {"S": "killed-mid-put"}, "sk": {"S": "written"}},
    )
    assert "Item" not in item
    # And the function goes on in a new sandbox
    again = stack.invoke("WriterFunction", {"pk": "after-the-kill"})
    assert again.error is None and again.cold_start
    assert sender.pid not in {s.pid for s in stack.runtime.sandboxes("WriterFunction")}


def test_sandboxes_fork_from_a_zygote_that_holds_no_project_code(stack: LocalStack) -> None:
    stack.invoke("EchoFunction", {})

    ready = Zygote.shared().ready()

    preloaded = set(ready["modules"])
    assert {"boto3", "botocore", "pydantic", "httpx"} <= preloaded
    never = {
        "xero_bridge",
        "fixture_shared",
        "app",
        "tools",
        "tests",
        "aws_lambda_powertools",
        "aws_xray_sdk",
    }
    assert not never & preloaded
    assert all(s.forked for s in stack.runtime.sandboxes("EchoFunction"))


def test_an_environment_that_changes_what_the_zygote_read_gets_a_fresh_interpreter(
    stack: LocalStack, tmp_path: Path
) -> None:
    # Given a function whose environment gives a variable read by the preloaded packages another value
    read = [name for name in Zygote.shared().ready()["env_reads"] if name != "*"]
    assert read, "the preloaded packages read no variable"
    spec = stack.runtime.function("EchoFunction")
    changed = dataclasses.replace(spec, environment={**spec.environment, read[0]: str(tmp_path)})
    runtime = FunctionRuntime({"EchoFunction": changed}, region=stack.region, aws_endpoint=stack.aws_endpoint)
    try:
        # When it runs
        result = runtime.invoke("EchoFunction", {"hello": "fresh"})

        # Then in an interpreter of its own, which imported everything itself
        assert result.error is None, result.error
        assert result.payload["event"] == {"hello": "fresh"}
        assert [s.forked for s in runtime.sandboxes()] == [False]
    finally:
        runtime.close()


def test_runtime_failures_have_lambdas_error_types(stack: LocalStack) -> None:
    exited = stack.invoke("StepFunction", {"action": "exit"})
    assert exited.error is not None and exited.error["errorType"] == "Runtime.ExitError"
    assert exited.error["errorMessage"].endswith("Runtime exited with error: exit status 3")

    unserialisable = stack.invoke("StepFunction", {"action": "unserialisable"})
    assert unserialisable.error is not None
    assert unserialisable.error["errorType"] == "Runtime.MarshalError"
    assert unserialisable.error["errorMessage"].startswith("Unable to marshal response:")

    spec = stack.runtime.function("StepFunction")
    broken = {
        "NoModule": dataclasses.replace(spec, logical_id="NoModule", handler="missing.handler"),
        "NoHandler": dataclasses.replace(spec, logical_id="NoHandler", handler="app.missing"),
    }
    runtime = FunctionRuntime(broken, region=stack.region, aws_endpoint=stack.aws_endpoint)
    try:
        no_module = runtime.invoke("NoModule", {})
        no_handler = runtime.invoke("NoHandler", {})
    finally:
        runtime.close()
    assert no_module.error is not None and no_module.error["errorType"] == "Runtime.ImportModuleError"
    assert no_module.error["requestId"] == no_module.request_id
    assert no_handler.error is not None and no_handler.error["errorType"] == "Runtime.HandlerNotFound"
