"""State machines run on moto's ASL interpreter with Lambda tasks served by the in-process runtime."""

from __future__ import annotations

import json

from tools.local_stack import LocalStack


def test_lambda_tasks_with_retry_run_to_succeeded(stack: LocalStack) -> None:
    # Given a first task that fails once with TransientError (retried), then a lambda:invoke task
    arn = stack.start_execution("FlowStateMachine", {"first": "flaky", "second": "ok"})

    status, output = stack.wait_execution(arn, timeout=10)

    assert status == "SUCCEEDED"
    assert output["first_result"] == {"step": "first", "attempts": 2}
    assert output["second_result"] == {"out": {"step": "second", "ok": True}}


def test_a_failing_task_takes_the_catch_path(stack: LocalStack) -> None:
    arn = stack.start_execution("FlowStateMachine", {"first": "ok", "second": "fail"})

    status, output = stack.wait_execution(arn, timeout=10)

    assert status == "SUCCEEDED" and output["outcome"] == "caught"
    assert output["error"]["Error"] == "PermanentError"
    assert json.loads(output["error"]["Cause"])["errorMessage"] == "this task cannot succeed"


def test_states_task_failed_catches_custom_errors(stack: LocalStack) -> None:
    arn = stack.start_execution("FlowStateMachine", {"first": "fail", "second": "ok"})

    status, output = stack.wait_execution(arn, timeout=10)

    assert status == "SUCCEEDED" and output["outcome"] == "caught" and "second_result" not in output
    history = stack.client("stepfunctions").get_execution_history(executionArn=arn)["events"]
    assert any(e["type"] == "LambdaFunctionFailed" for e in history)
