"""Plain data the local stack passes between its parts: created resources, functions, routes, sources.

Kept apart from provisioning so the runtime, the API, the pollers and the scheduler depend only on these
shapes, not on how moto was called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.local_stack.template import TemplateError


@dataclass
class LocalResource:
    """One resource of the template as it exists locally.

    ``ref`` is what ``!Ref`` returns, ``attrs`` what ``!GetAtt`` can read. ``created`` is False for
    resources that are declared but not needed locally (``reason`` says why); ``implicit`` marks the
    resources SAM's transform adds (``ServerlessRestApi``, ``<Function>Role``...), which are not part of
    the declared list.
    """

    logical_id: str
    type: str
    physical_id: str
    arn: str | None = None
    ref: Any = None
    attrs: dict[str, Any] = field(default_factory=dict)
    created: bool = True
    reason: str | None = None
    implicit: bool = False
    service: str | None = None  # the moto service it lives in, or "local" (runtime, API, pollers)

    def get_att(self, name: str) -> Any:
        if name in self.attrs:
            return self.attrs[name]
        if name == "Arn" and self.arn:
            return self.arn
        raise TemplateError(
            f"Fn::GetAtt {self.logical_id}.{name}: {self.type} has no attribute {name!r} locally "
            f"(known: {', '.join(sorted({*self.attrs, *(['Arn'] if self.arn else [])}))})"
        )


@dataclass
class FunctionSpec:
    """An ``AWS::Serverless::Function`` after Globals and intrinsics, as the local runtime needs it."""

    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    environment: dict[str, str]
    layer_dirs: list[Path]
    architectures: list[str]
    tracing: str | None
    logging_config: dict[str, Any]
    secret_env_names: set[str] = field(default_factory=set)


@dataclass
class ApiRoute:
    """One ``Type: Api`` event: an HTTP method + resource path served by a function."""

    function: str
    event_name: str
    method: str  # upper case, or ANY
    path: str  # as declared: /items/{id}, /{proxy+}
    api: str  # logical id of the Api (ServerlessRestApi when implicit)
    api_key_required: bool
    authorizer: str  # "AWS_IAM" (SigV4, checked by the local API) or "NONE"
    stage: str


@dataclass
class SqsSource:
    """SQS event source: a function's ``Type: SQS`` event or an ``AWS::Lambda::EventSourceMapping``."""

    logical_id: str
    function: str
    queue_arn: str
    queue_url: str
    batch_size: int = 10
    maximum_batching_window: int = 0
    report_batch_item_failures: bool = False
    enabled: bool = True
    maximum_concurrency: int | None = None
    filter_criteria: dict[str, Any] | None = None


@dataclass
class StreamSource:
    """DynamoDB stream event source: a function's ``Type: DynamoDB`` event (or an event source mapping)."""

    logical_id: str
    function: str
    stream_arn: str
    starting_position: str = "LATEST"  # TRIM_HORIZON | LATEST
    batch_size: int = 100
    maximum_batching_window: int = 0
    bisect_on_error: bool = False
    maximum_retry_attempts: int = -1  # -1: until the records expire, as Lambda
    on_failure_arn: str | None = None
    report_batch_item_failures: bool = False
    enabled: bool = True
    filter_criteria: dict[str, Any] | None = None


@dataclass
class ScheduleSpec:
    """A schedule that the local stack can fire on demand (rule, Scheduler schedule or function event)."""

    logical_id: str
    name: str
    arn: str
    expression: str
    target_arn: str
    target_kind: str  # "function" | "statemachine" | "other"
    target_logical_id: str | None
    input: str | None
    enabled: bool
    kind: str  # "events" (EventBridge rule) | "scheduler" (EventBridge Scheduler)
    owner: str  # logical id of the rule/schedule, or of the function/state machine declaring the event
