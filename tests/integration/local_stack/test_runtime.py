"""Functions run like Lambda, each in sandboxes of its own: environment, context, isolation, errors, timeouts,
the CLI. (Concurrency and the sandboxes themselves: test_sandboxes.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tools.local_stack import LocalStack
from tools.local_stack.__main__ import main

from .conftest import FIXTURE, TEMPLATE

ROOT = Path(__file__).resolve().parents[3]


def test_environment_is_the_templates_resolved_against_local_resources(stack: LocalStack) -> None:
    result = stack.invoke("EchoFunction", {"hello": "world"})

    assert result.error is None, result.error
    env = result.payload["env"]
    res = stack.resources
    assert env["TABLE_NAME"] == res["RecordsTable"].physical_id  # from Globals
    assert env["QUEUE_URL"] == res["WorkQueue"].ref and env["QUEUE_ARN"] == res["WorkQueue"].arn
    assert env["SECRET_ARN"] == res["ClientSecret"].arn and env["KEY_ARN"] == res["KmsKey"].arn
    assert env["PARAM_NAME"] == "/xero-bridge-local/greeting"
    assert env["SUB_VALUE"] == (
        "eu-west-1:123456789012:xero-bridge-local-RecordsTable:xero-bridge-local-WorkQueue:${Literal}"
    )
    assert (env["SUB_LIST"], env["IF_VALUE"], env["JOINED"], env["LOG_LEVEL"]) == (
        "hello-world",
        "dev-hello",
        "a-y",
        "DEBUG",
    )
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "xero-bridge-local-EchoFunction"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512" and env["_HANDLER"] == "app.handler"
    assert env["AWS_REGION"] == "eu-west-1" and env["AWS_SAM_LOCAL"] == "true"
    context = result.payload["context"]
    assert context["invoked_function_arn"] == res["EchoFunction"].arn
    assert context["memory_limit_in_mb"] == 512 and context["aws_request_id"] == result.request_id
    assert 4000 < context["remaining_ms"] <= 5000
    assert "echo called" in result.logs and f"REPORT RequestId: {result.request_id}" in result.logs


def test_env_vars_overrides_apply_to_declared_variables_only(stack: LocalStack) -> None:
    stack.set_env_overrides(
        {"Parameters": {"GREETING": "all"}, "EchoFunction": {"OVERRIDE_ME": "x", "UNDECLARED": "y"}}
    )
    try:
        env = stack.invoke("EchoFunction", {}).payload["env"]
    finally:
        stack.set_env_overrides({})

    assert (env["GREETING"], env["OVERRIDE_ME"], env["UNDECLARED"]) == ("all", "x", None)
    assert stack.invoke("EchoFunction", {}).payload["env"]["OVERRIDE_ME"] == "template-value"


def test_each_function_has_its_own_layer_modules_and_environment(stack: LocalStack) -> None:
    # Given two functions whose shared layer caches a setting read from the environment
    results: list[tuple[str, str]] = []

    def call(function: str) -> None:
        result = stack.invoke(function, {"pk": f"iso-{function}"})
        results.append((function, result.payload["setting"]))

    # When they run concurrently, many times
    threads = [threading.Thread(target=call, args=(f,)) for f in ["EchoFunction", "WriterFunction"] * 6]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each saw its own value, as in separate Lambda sandboxes
    assert sorted(set(results)) == [("EchoFunction", "echo"), ("WriterFunction", "writer")]
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical_id("RecordsTable"),
        Key={"pk": {"S": "iso-WriterFunction"}, "sk": {"S": "written"}},
    )
    assert item["Item"]["by"]["S"] == "xero-bridge-local-WriterFunction"


def test_warm_and_cold_starts(stack: LocalStack) -> None:
    stack.invoke("EchoFunction", {})
    warm = stack.invoke("EchoFunction", {})
    assert warm.cold_start is False and "Init Duration" not in warm.logs
    cold = stack.invoke("EchoFunction", {}, cold_start=True)
    assert cold.cold_start is True and "\tInit Duration: " in cold.logs


def test_unhandled_error_has_lambdas_shape(stack: LocalStack) -> None:
    result = stack.invoke("StepFunction", {"action": "fail"})

    assert result.invocation_error and result.function_error == "Unhandled"
    assert result.error is not None
    assert result.error["errorType"] == "PermanentError"
    assert result.error["errorMessage"] == "this task cannot succeed"
    assert result.error["requestId"] == result.request_id
    assert "step/app.py" in result.error["stackTrace"][0]
    assert "[ERROR] PermanentError: this task cannot succeed" in result.logs


def test_timeout_ends_the_invocation_like_lambda(stack: LocalStack) -> None:
    result = stack.invoke("SlowFunction", {"seconds": 1.6})

    assert result.timed_out and result.error is not None
    assert result.error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in result.error["errorMessage"]
    assert result.duration_ms < 1400
    after = stack.invoke("SlowFunction", {"seconds": 0})  # Lambda resets the sandbox after a timeout
    assert after.payload == "done" and after.cold_start


def test_no_echo_values_never_reach_the_logs(stack: LocalStack) -> None:
    result = stack.invoke("EchoFunction", {"print_token": True})
    assert "fixture-no-echo-token-value" not in result.logs and "token is ****" in result.logs


def test_cli_invoke_by_folder_with_env_vars_file(capsys: pytest.CaptureFixture[str]) -> None:
    # In-process (a fresh process costs seconds of imports); its own stack name beside the session's stack
    args = [
        "invoke",
        "echo",
        "--event",
        str(FIXTURE / "events/echo.json"),
        "--env-vars",
        str(FIXTURE / "events/env.json"),
    ]
    code = main([*args, "--template", str(TEMPLATE), "--stack-name", "cli-test"])

    out, err = capsys.readouterr()
    assert code == 0, err
    payload = json.loads(out)
    assert payload["event"] == {"hello": "world"}
    assert (payload["env"]["GREETING"], payload["env"]["OVERRIDE_ME"]) == ("from-parameters", "from-file")
    assert payload["env"]["UNDECLARED"] is None
    assert "echo called" in err and "REPORT RequestId" in err


def test_cli_invoke_unhandled_error_exits_non_zero() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.local_stack",
            "invoke",
            "StepFunction",
            "--event",
            str(FIXTURE / "events/fail.json"),
            "--template",
            str(TEMPLATE),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["errorType"] == "PermanentError"
    assert "[ERROR] PermanentError" in done.stderr
