"""``LocalStack``: the project's template.yaml running on this machine, on moto, without Docker.

One object shared by the integration tests, the demo, ``make start`` and ``make invoke``::

    with LocalStack("template.yaml") as stack:
        stack.provision()
        result = stack.invoke("WebhookReceiverFunction", event)
        url = stack.start_api(port=3000, api_key="local-api-key", iam_credentials=IamCredentials(...))
        stack.start_pollers()
        stack.drain()

AWS is moto, in this process (``mock_aws``: the tests, pollers, state machines and API use it) and served
over HTTP from the same backends to the functions, which run in sandbox processes of their own
(:mod:`tools.local_stack.runtime`, :mod:`tools.local_stack.aws_server`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import boto3
from moto import mock_aws

from tools.local_stack import atomic, stepfunctions
from tools.local_stack.api_gateway import LocalApi
from tools.local_stack.aws_server import AwsRequest, AwsServer, Sender
from tools.local_stack.model import LocalResource, ScheduleSpec
from tools.local_stack.provision import DeclaredVsCreated, Stack, provision
from tools.local_stack.runtime import FunctionRuntime, InvokeResult, Zygote, load_env_vars_file
from tools.local_stack.scheduler import find_schedules, scheduled_event
from tools.local_stack.sigv4 import IamCredentials, SigV4Verifier
from tools.local_stack.sqs_poller import PollResult, SqsPoller
from tools.local_stack.stream_poller import StreamPoller
from tools.local_stack.template import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, DEFAULT_STACK_NAME, Template

LOG = logging.getLogger("tools.local_stack")

#: Local values for parameters that ``sam deploy --guided`` asks for (no Default in the template). They are
#: the Xero emulator's and the Makefile's defaults (CLIENT_ID, CLIENT_SECRET, WEBHOOK_KEY), never real ones.
LOCAL_PARAMETER_DEFAULTS: dict[str, str] = {
    "XeroClientId": "xero-bridge-local",
    "XeroClientSecret": "local-client-secret",
    "XeroWebhookKey": "local-webhook-key",
}

MOTO_CONFIG: Any = {
    "stepfunctions": {"execute_state_machine": True},  # run the real ASL
    "lambda": {"use_docker": False},
}


@dataclass
class Firing:
    """One schedule fired: the event sent and what the target did with it."""

    schedule: ScheduleSpec
    event: Any
    invocation: InvokeResult | None = None
    execution_arn: str | None = None


class LocalStack:
    """The template provisioned in moto, with its functions, API, SQS pollers, schedules and state machines.

    Parameters
    ----------
    template_path:
        The SAM template (``template.yaml``).
    parameter_overrides:
        Template parameter values (``--parameter-overrides``).
    env_overrides:
        ``--env-vars`` content (a mapping, or the path of the JSON file).
    log_sink:
        Where function logs are echoed as they are written (None: only kept in ``InvokeResult.logs``).
    pollers_per_source:
        Background pollers per SQS event source (Lambda starts with several; 2 keeps tests light).
    parameter_defaults:
        Values for parameters without a Default and without an override; default
        :data:`LOCAL_PARAMETER_DEFAULTS` (the emulator's client id, secret and webhook key).
    """

    def __init__(
        self,
        template_path: str | Path = "template.yaml",
        *,
        parameter_overrides: Mapping[str, Any] | None = None,
        env_overrides: Mapping[str, Mapping[str, Any]] | str | Path | None = None,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        stack_name: str = DEFAULT_STACK_NAME,
        log_sink: TextIO | None = None,
        pollers_per_source: int = 2,
        parameter_defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.template = Template(
            template_path,
            parameter_overrides,
            region=region,
            account_id=account_id,
            stack_name=stack_name,
            parameter_fallbacks=LOCAL_PARAMETER_DEFAULTS
            if parameter_defaults is None
            else parameter_defaults,
        )
        if isinstance(env_overrides, (str, Path)):
            env_overrides = load_env_vars_file(env_overrides)
        self._env_overrides = {
            k: {n: str(v) for n, v in vs.items()} for k, vs in (env_overrides or {}).items()
        }
        self.region = region
        self.log_sink = log_sink
        self.pollers_per_source = pollers_per_source
        self._mock: Any = None
        self._server: AwsServer | None = None
        self._stack: Stack | None = None
        self._runtime: FunctionRuntime | None = None
        self._api: LocalApi | None = None
        self._pollers: dict[str, SqsPoller] = {}
        self._stream_pollers: dict[str, StreamPoller] = {}
        self._polling = False
        self._lock = threading.RLock()

    # ---- lifecycle --------------------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start moto's in-process AWS (``mock_aws``, state machine execution enabled) and its server."""
        if self._mock is None:
            self._mock = mock_aws(config=MOTO_CONFIG)
            self._mock.start()
            atomic.install()
            self._server = AwsServer(self._sender)
            self._server.start()
            Zygote.shared()  # the sandboxes' fork server preloads while the template is provisioned

    def close(self) -> None:
        """Stop the API and pollers, kill the sandboxes, unhook Step Functions, and stop moto (all its
        data goes). Invocations in flight end there and then (``Runtime.ExitError``): a poller in the
        middle of a long batch does not hold the close up."""
        self._polling = False
        for poller in self._pollers.values():
            poller.request_stop()
        for stream_poller in self._stream_pollers.values():
            stream_poller.request_stop()
        if self._api is not None:
            self._api.stop()
            self._api = None
        if self._runtime is not None:
            stepfunctions.uninstall(self._runtime)
            self._runtime.close()
            self._runtime = None
        self.stop_pollers()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._mock is not None:
            atomic.uninstall()
            self._mock.stop()
            self._mock = None

    def provision(self) -> Stack:
        """Create every resource of the template (once); see :mod:`tools.local_stack.provision`."""
        with self._lock:
            if self._stack is None:
                self.start()
                self._stack = provision(self.template)
                self._runtime = FunctionRuntime(
                    self._stack.functions,
                    region=self.region,
                    env_overrides=self._env_overrides,
                    log_sink=self.log_sink,
                    redact=self._stack.secret_values(),
                    aws_endpoint=self.aws_endpoint,
                )
                stepfunctions.install(self._runtime)
                for source in self._stack.sqs_sources:
                    self._pollers[source.logical_id] = SqsPoller(
                        source, self.client("sqs"), self.invoke, self.region, self.pollers_per_source
                    )
                for stream in self._stack.stream_sources:
                    poller = StreamPoller(
                        stream, self.client("dynamodbstreams"), self.client("sqs"), self.invoke, self.region
                    )
                    # LATEST: from the stack's start, as for a mapping created with the stack
                    poller.start_position()
                    self._stream_pollers[stream.logical_id] = poller
            return self._stack

    @property
    def stack(self) -> Stack:
        return self.provision()

    @property
    def runtime(self) -> FunctionRuntime:
        self.provision()
        assert self._runtime is not None
        return self._runtime

    @property
    def resources(self) -> dict[str, LocalResource]:
        return self.stack.resources

    @property
    def outputs(self) -> dict[str, Any]:
        return self.stack.outputs

    def declared_vs_created(self) -> DeclaredVsCreated:
        return self.stack.declared_vs_created()

    def client(self, service: str) -> Any:
        """A boto3 client on the local stack's moto (same region as the functions)."""
        self.start()
        return boto3.client(service, region_name=self.region)  # type: ignore[call-overload]

    def physical_id(self, logical_id: str) -> str:
        return self.resources[logical_id].physical_id

    @property
    def aws_endpoint(self) -> str:
        """The URL of moto's server: the same AWS as :meth:`client`'s, over HTTP (the functions' view)."""
        self.start()
        assert self._server is not None
        return self._server.url

    @contextmanager
    def intercept_aws(self, hook: Callable[[AwsRequest], None]) -> Iterator[None]:
        """``hook(request)`` sees every AWS request a function sends, before moto serves it.

        ``request.sender`` names the function, invocation and sandbox; ``request.kill_sender()`` kills that
        sandbox there and then (fault injection: the Lambda dies mid-invocation, the request is never
        served).
        """
        self.start()
        assert self._server is not None
        with self._server.intercept(hook):
            yield

    def _sender(self, sandbox_id: str) -> Sender | None:
        runtime = self._runtime
        return runtime.sender(sandbox_id) if runtime is not None else None

    # ---- functions --------------------------------------------------------------------------------------

    def invoke(self, function: str, event: Any = None, *, cold_start: bool = False) -> InvokeResult:
        """Invoke a function (logical id, name, ARN or CodeUri folder) synchronously, like lambda:Invoke."""
        return self.runtime.invoke(
            self.resolve_function(function), {} if event is None else event, cold_start=cold_start
        )

    def resolve_function(self, name: str) -> str:
        """A logical id from a logical id, function name, ARN or CodeUri folder (``oauth_callback``)."""
        functions = self.stack.functions
        if name in functions:
            return name
        for spec in functions.values():
            if name in (spec.name, spec.arn) or name.rstrip("/") in (spec.code_dir.name, str(spec.code_dir)):
                return spec.logical_id
        folder = Path(name.rstrip("/"))
        for spec in functions.values():
            if (self.template.base_dir / folder).resolve() == spec.code_dir:
                return spec.logical_id
        raise KeyError(
            f"no function {name!r} in {self.template.path.name} (functions: {', '.join(sorted(functions))})"
        )

    def set_env_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> None:
        """Replace the ``--env-vars`` overrides (applies from the next invocation)."""
        self._env_overrides = {k: {n: str(v) for n, v in vs.items()} for k, vs in overrides.items()}
        self.runtime.set_env_overrides(self._env_overrides)

    # ---- API ---------------------------------------------------------------------------------------------

    def start_api(
        self,
        port: int = 0,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        iam_credentials: IamCredentials | None = None,
        docs: str | None = None,
    ) -> str:
        """Serve the template's Api events on ``host:port``; returns the base URL (no stage prefix).

        ``iam_credentials`` is the access key pair the ``AWS_IAM`` routes accept (SigV4 for ``execute-api``
        in this stack's region); without it they refuse every request. ``docs`` (an OpenAPI document as
        JSON) is shown by Swagger UI at ``/docs``, a page of the local stack only.
        """
        stack = self.stack
        if self._api is not None:
            self._api.stop()
        keys = [*stack.api_key_values, *([api_key] if api_key else [])]
        api_ids = {lid: str(r.ref) for lid, r in stack.resources.items() if r.type == "AWS::Serverless::Api"}
        account_id = self.template.account_id
        iam = SigV4Verifier(
            [iam_credentials] if iam_credentials else [], region=self.region, account_id=account_id
        )
        self._api = LocalApi(
            stack.routes,
            self.invoke,
            api_keys=keys,
            api_ids=api_ids,
            account_id=account_id,
            iam=iam,
            docs=docs,
        )
        return self._api.start(host, port)

    def stop_api(self) -> None:
        if self._api is not None:
            self._api.stop()
            self._api = None

    # ---- SQS ---------------------------------------------------------------------------------------------

    def start_pollers(self) -> None:
        """Poll every SQS event source in background threads, as Lambda does."""
        self.provision()
        self._polling = True
        for poller in self._pollers.values():
            poller.start()
        for stream_poller in self._stream_pollers.values():
            stream_poller.start()

    def stop_pollers(self) -> None:
        self._polling = False
        for poller in self._pollers.values():
            poller.stop()
        for stream_poller in self._stream_pollers.values():
            stream_poller.stop()

    def stream_poller(self, name: str) -> StreamPoller:
        """A DynamoDB stream poller by source id (``<Function><Event>``) or function logical id."""
        self.provision()
        if name in self._stream_pollers:
            return self._stream_pollers[name]
        matches = [p for p in self._stream_pollers.values() if p.source.function == name]
        if len(matches) != 1:
            raise KeyError(
                f"{name!r} names {len(matches)} stream sources (sources: {', '.join(self._stream_pollers)})"
            )
        return matches[0]

    def poller(self, name: str) -> SqsPoller:
        """A poller by source id (``<Function><Event>``), function logical id or queue logical id."""
        self.provision()
        if name in self._pollers:
            return self._pollers[name]
        queue = self.stack.resources.get(name)
        matches = [
            p
            for p in self._pollers.values()
            if p.source.function == name or (queue is not None and p.source.queue_arn == queue.arn)
        ]
        if len(matches) != 1:
            raise KeyError(
                f"{name!r} names {len(matches)} SQS event sources (sources: {', '.join(self._pollers)})"
            )
        return matches[0]

    def poll_once(self, name: str, wait_seconds: int = 0) -> PollResult:
        """Receive and process one batch of one event source now (deterministic, for tests)."""
        return self.poller(name).poll_once(wait_seconds)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every source queue is empty and no batch is in flight (pollers must be running,
        or the queues are drained here with :meth:`poll_once`)."""
        self.provision()
        deadline = time.monotonic() + timeout
        quiet = 0
        streams = list(self._stream_pollers.values())
        while True:
            busy = sum(p.in_flight for p in self._pollers.values()) + sum(p.in_flight for p in streams)
            pending = sum(p.pending() for p in self._pollers.values()) + sum(p.pending() for p in streams)
            if busy == 0 and pending == 0:
                quiet += 1
                if quiet >= 2:
                    return
            else:
                quiet = 0
                if not self._polling:
                    for poller in self._pollers.values():
                        poller.poll_once()
                    for stream_poller in streams:
                        stream_poller.poll_once()
            if time.monotonic() > deadline:
                stuck = {
                    name: (p.pending(), p.in_flight)
                    for name, p in self._pollers.items()
                    if p.in_flight or p.pending()
                }
                raise TimeoutError(
                    f"not drained after {timeout} s: {pending} messages pending, {busy} batches in flight"
                    f" (source: (pending, in flight) = {stuck})"
                )
            time.sleep(0.02)

    # ---- schedules ------------------------------------------------------------------------------------

    def fire_schedule(self, name: str) -> list[Firing]:
        """Fire the schedule(s) named by a rule/schedule logical id or by the function/state machine they
        target: the target receives EventBridge's scheduled event (or the configured ``Input``) now."""
        stack = self.stack
        schedules = find_schedules(stack.schedules, name)
        if not schedules:
            raise KeyError(
                f"no schedule for {name!r} (schedules: {', '.join(s.logical_id for s in stack.schedules)})"
            )
        firings = []
        for schedule in schedules:
            event = scheduled_event(schedule, self.template.account_id, self.region)
            firing = Firing(schedule=schedule, event=event)
            if schedule.target_kind == "function" and schedule.target_logical_id:
                firing.invocation = self.invoke(schedule.target_logical_id, event)
            elif schedule.target_kind == "statemachine" and schedule.target_logical_id:
                firing.execution_arn = self.start_execution(schedule.target_logical_id, event)
            else:
                LOG.warning(
                    "schedule %s targets %s, which the local stack cannot run",
                    schedule.logical_id,
                    schedule.target_arn,
                )
            firings.append(firing)
        return firings

    # ---- Step Functions ---------------------------------------------------------------------------------

    def start_execution(self, state_machine: str, input: Any = None, name: str | None = None) -> str:
        """Start an execution of a state machine (logical id or ARN); returns the execution ARN."""
        resource = self.stack.resources.get(state_machine)
        arn = resource.arn if resource is not None else state_machine
        payload = input if isinstance(input, str) else json.dumps({} if input is None else input)
        response = self.client("stepfunctions").start_execution(
            stateMachineArn=arn, name=name or str(uuid.uuid4()), input=payload
        )
        return str(response["executionArn"])

    def wait_execution(self, execution_arn: str, timeout: float = 30.0) -> tuple[str, Any]:
        """Wait for an execution to end: ``(status, output)``; on failure output is ``{"error", "cause"}``."""
        return stepfunctions.wait_execution(self.client("stepfunctions"), execution_arn, timeout)
