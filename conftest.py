"""Root fixtures shared by every test: dummy AWS credentials, a Lambda context, the events/ loader."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent
EVENTS = ROOT / "events"
SHARED_SPECS = ROOT.parent / "shared" / "xero-openapi"

# Dummy credentials before anything imports boto3, so no test can ever reach a real AWS account.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}.items():
    os.environ[_name] = _value
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "XeroBridge")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "xero-bridge")


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "2026/11/21/[$LATEST]0000"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


def load_event(name: str) -> dict[str, Any]:
    """``load_event("oauth_connect/connect")`` reads ``events/oauth_connect/connect.json``."""
    return json.loads((EVENTS / f"{name}.json").read_text())


@pytest.fixture
def event_loader():
    return load_event


@pytest.fixture
def xero_specs() -> Path:
    """Xero's official OpenAPI specs, or a skip that says why they are not here."""
    if not SHARED_SPECS.is_dir():
        pytest.skip(f"Xero's OpenAPI specs are not at {SHARED_SPECS} (CI has shared/ beside the checkout)")
    return SHARED_SPECS
