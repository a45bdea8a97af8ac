"""The project's own template.yaml: it provisions exactly what it declares, and its API is closed to all but
signed callers (SigV4, IAM) except the browser's and Xero's routes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform

from tools.local_stack import ApiRoute, LocalStack
from tools.local_stack.template import load_yaml

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
#: The routes a caller without AWS credentials must reach: the finance user's browser and Xero's webhook.
PUBLIC_ROUTES = {("GET", "/connect"), ("GET", "/callback"), ("POST", "/webhooks/xero")}
POLICY = "ArBackendInvokePolicy"
_ARN_PREFIX = (
    "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${XeroBridgeApi}/${Environment}/"
)


@pytest.fixture(scope="module")
def real_stack() -> Iterator[LocalStack]:
    # A stack name of its own: the fixture stack of the session lives in the same in-process moto
    with LocalStack(TEMPLATE, stack_name="real-template") as stack:
        yield stack


@pytest.fixture
def routes(real_stack: LocalStack) -> list[ApiRoute]:
    return real_stack.stack.routes


def test_real_template_declared_vs_created_is_exact(real_stack: LocalStack) -> None:
    report = real_stack.declared_vs_created()
    assert report.exact, report.describe()
    assert real_stack.stack.unsupported_events == {}
    for spec in real_stack.stack.functions.values():
        assert (spec.code_dir / (spec.handler.rpartition(".")[0].replace(".", "/") + ".py")).is_file(), (
            spec.logical_id
        )


def test_every_integration_route_needs_iam_and_the_api_key(routes: list[ApiRoute]) -> None:
    integration = [r for r in routes if (r.method, r.path) not in PUBLIC_ROUTES]
    public = [r for r in routes if (r.method, r.path) in PUBLIC_ROUTES]

    assert len(public) == len(PUBLIC_ROUTES) and integration
    assert [f"{r.method} {r.path}" for r in integration if r.authorizer != "AWS_IAM"] == []
    assert [f"{r.method} {r.path}" for r in integration if not r.api_key_required] == []
    assert [(r.authorizer, r.api_key_required) for r in public] == [("NONE", False)] * len(public)


def _translated_api(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The OpenAPI body SAM generates for the API: what API Gateway is given in AWS."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    template = load_yaml(TEMPLATE)
    for resource in template["Resources"].values():  # SAM wants S3 URIs where `sam build` puts folders
        for name in ("CodeUri", "ContentUri", "DefinitionUri"):
            if name in (resource.get("Properties") or {}):
                resource["Properties"][name] = "s3://bucket/key"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    translated = transform(template, {}, NoManagedPolicies())
    body: dict[str, Any] = translated["Resources"]["XeroBridgeApi"]["Properties"]["Body"]
    return body


def test_sam_deploys_iam_and_the_api_key_on_integration_routes_and_no_caller_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = _translated_api(monkeypatch)
    assert body["components"]["securitySchemes"]["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"

    deployed = {
        (method.upper(), path): operation
        for path, operations in body["paths"].items()
        for method, operation in operations.items()
    }

    assert set(PUBLIC_ROUTES) <= set(deployed)
    for route, operation in deployed.items():
        schemes = {name for requirement in operation.get("security", []) for name in requirement}
        expected = {"NONE"} if route in PUBLIC_ROUTES else {"AWS_IAM", "api_key"}
        assert schemes == expected, route
        # Integration credentials would make API Gateway invoke the function as the caller (SAM's
        # CALLER_CREDENTIALS), and the AR backend would need lambda:InvokeFunction besides execute-api:Invoke.
        assert "credentials" not in operation["x-amazon-apigateway-integration"], route


def _route_arn(route: ApiRoute) -> str:
    return _ARN_PREFIX + route.method + re.sub(r"\{[^}]+\}", "*", route.path)


def test_the_backend_policy_invokes_exactly_the_iam_routes(routes: list[ApiRoute]) -> None:
    template = load_yaml(TEMPLATE)
    policy = template["Resources"][POLICY]
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    granted = {resource["Fn::Sub"] for resource in statement["Resource"]}
    expected = {_route_arn(r) for r in routes if r.authorizer == "AWS_IAM"}

    assert (statement["Effect"], statement["Action"]) == ("Allow", "execute-api:Invoke")
    missing = "".join(f'\n              - !Sub "{arn}"' for arn in sorted(expected - granted))
    assert not missing, f"routes the AR backend cannot call; add to {POLICY}:{missing}"
    assert sorted(granted - expected) == [], "the policy grants routes the template no longer has"
    assert template["Outputs"]["ArBackendInvokePolicyArn"]["Value"] == {"Ref": POLICY}
