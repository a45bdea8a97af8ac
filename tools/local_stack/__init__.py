"""The local stack: template.yaml provisioned in moto and run in this process, without AWS or Docker.

See :class:`tools.local_stack.stack.LocalStack` and ``python -m tools.local_stack --help``.
"""

from tools.local_stack.model import (
    ApiRoute,
    FunctionSpec,
    LocalResource,
    ScheduleSpec,
    SqsSource,
    StreamSource,
)
from tools.local_stack.provision import DeclaredVsCreated, Stack
from tools.local_stack.runtime import InvokeResult, LambdaContext
from tools.local_stack.sqs_poller import PollResult
from tools.local_stack.stack import Firing, LocalStack
from tools.local_stack.template import Template, TemplateError

__all__ = [
    "ApiRoute",
    "DeclaredVsCreated",
    "Firing",
    "FunctionSpec",
    "InvokeResult",
    "LambdaContext",
    "LocalResource",
    "LocalStack",
    "PollResult",
    "ScheduleSpec",
    "SqsSource",
    "Stack",
    "StreamSource",
    "Template",
    "TemplateError",
]
