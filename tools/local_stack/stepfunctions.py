"""Run Step Functions executions on moto's ASL interpreter with Lambda tasks served by the local runtime.

Why a hook: with ``execute_state_machine`` enabled, moto interprets the real ASL (Retry, Catch, Map,
Parallel, JSONPath/JSONata...). Both kinds of Lambda task end in one function,
``moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils._invoke_lambda_function``:

* ``"Resource": "arn:aws:lambda:...:function:name"`` (``StateTaskLambda``) and
* ``"Resource": "arn:aws:states:::lambda:invoke"`` (``StateTaskServiceLambda``)

both call ``execute_lambda_function_integration``, which calls ``_invoke_lambda_function(parameters,
region, state_credentials)`` and expects the boto3 ``lambda.invoke`` response with the ``Payload`` already
parsed. That function would call moto's Lambda, which needs Docker; the local stack replaces it (module
attribute, looked up at call time) with one that runs the function in the local runtime's sandboxes
(:mod:`tools.local_stack.runtime`; a Map's iterations run side by side, as in AWS) and returns the same
response shape, including ``FunctionError: Unhandled`` with Lambda's error payload. moto then raises
``LambdaFunctionErrorException`` and names the failure after the payload's ``errorType``, so
``Retry``/``Catch`` on ``States.TaskFailed``, ``States.ALL`` or a custom error name (``XeroRateLimited``,
``Sandbox.Timedout``, ``Runtime.ExitError``...) behave as in AWS. A function that is not part of any
running local stack falls through to moto's own Lambda.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

from tools.local_stack.runtime import FunctionRuntime

_lock = threading.Lock()
_runtimes: list[FunctionRuntime] = []
_original: Callable[..., Any] | None = None


def _invoke_locally(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
    """Replacement for moto's ``_invoke_lambda_function``: same arguments, same return shape."""
    function_name = str(parameters.get("FunctionName", ""))
    with _lock:
        runtime = next((r for r in reversed(_runtimes) if _knows(r, function_name)), None)
    if runtime is None:
        assert _original is not None
        return dict(_original(parameters=parameters, region=region, state_credentials=state_credentials))
    payload = parameters.get("Payload")
    if isinstance(payload, (bytes, bytearray)):
        payload = payload.decode("utf-8")
    event = json.loads(payload) if isinstance(payload, str) and payload else (payload or {})
    result = runtime.invoke(function_name, event)
    response: dict[str, Any] = {
        "StatusCode": 200,
        "ExecutedVersion": "$LATEST",
        "Payload": result.response_payload(),
    }
    if result.function_error:
        response["FunctionError"] = result.function_error
    return response


def _knows(runtime: FunctionRuntime, function_name: str) -> bool:
    try:
        runtime.function(function_name)
    except KeyError:
        return False
    return True


def install(runtime: FunctionRuntime) -> None:
    """Route Lambda tasks of running executions to ``runtime`` (nests: several stacks may be open)."""
    global _original  # noqa: PLW0603 - one process-wide hook, reference counted
    with _lock:
        if not _runtimes:
            _original = lambda_eval_utils._invoke_lambda_function
            lambda_eval_utils._invoke_lambda_function = _invoke_locally
        _runtimes.append(runtime)


def uninstall(runtime: FunctionRuntime) -> None:
    """Undo :func:`install` for ``runtime``; the original moto function returns with the last one."""
    global _original  # noqa: PLW0603
    with _lock:
        if runtime in _runtimes:
            _runtimes.remove(runtime)
        if not _runtimes and _original is not None:
            lambda_eval_utils._invoke_lambda_function = _original
            _original = None


def wait_execution(client: Any, execution_arn: str, timeout: float) -> tuple[str, Any]:
    """Poll ``DescribeExecution`` until the execution leaves RUNNING; returns ``(status, output or error)``.

    On failure the second item is ``{"error": ..., "cause": ...}`` as DescribeExecution reports them.
    """
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        description = client.describe_execution(executionArn=execution_arn)
        status = str(description["status"])
        if status != "RUNNING":
            if status == "SUCCEEDED":
                output = description.get("output")
                return status, json.loads(output) if output else None
            return status, {"error": description.get("error"), "cause": description.get("cause")}
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_arn} still RUNNING after {timeout} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
