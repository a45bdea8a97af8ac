"""The OpenAPI document of the whole API, generated from the Powertools resolvers of the functions
``template.yaml`` routes it to: ``make openapi`` writes it, a test in ``make test`` holds it equal.

    python -m tools.openapi            # write docs/openapi.json and the layer's copy
    python -m tools.openapi --check    # exit 1, naming the files, when either differs from the code

Every function with a ``Type: Api`` event is read (a new API function is in the document as soon as the
template routes to it); its resolver describes its routes (parameters, bodies and answers from the pydantic
models, error bodies included), and the template adds what API Gateway decides before a function runs:
which routes need the API key (or SigV4), and the 403 it answers without one. Resolvers and template must
agree route for route: a route only in the code is unreachable, one only in the template answers 404.

Powertools adds a 422 ``HTTPValidationError`` answer to every validated route; ``xero_bridge.http`` answers
every validation error as a 400 naming the field, so that answer is left out of the document. A component
two functions name alike must be the same schema (Powertools' merge would keep one silently).

The document is written twice: ``docs/openapi.json`` for people and tools, and
``layers/shared/xero_bridge/openapi.json``, which the integration API serves at ``GET /openapi.json``: a
function's package holds no other function's code, so the document travels in the shared layer.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import sys
import tomllib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from pydantic import BaseModel

from tools.local_stack.template import load_yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
DOCUMENTS = (ROOT / "docs" / "openapi.json", ROOT / "layers" / "shared" / "xero_bridge" / "openapi.json")
TITLE = "xero-bridge integration API"
DESCRIPTION = """\
The Xero integration of the AR platform: connect a Xero organisation, follow its sync, and read what was
synced from it.

**Authentication.** Every route the AR platform's backend calls needs what its `security` names (the API
key in `x-api-key` today); without it API Gateway answers 403 `{"message": "Forbidden"}` before any code
runs. The browser's routes (`/connect`, `/callback`) and Xero's (`/webhooks/xero`) take no API key: a
single-use session, a state bound to the browser, and Xero's signature stand in for it.

**Errors.** Every refusal is JSON `{"error": code, "reason": text}` with a stable `error`. A bad parameter is
a 400 `invalid_request` whose `reason` names the parameter (`missing or invalid: limit`).

**Listings.** `GET /orgs/{org_id}/customers`, `/invoices`, `/credit-notes` and `/xero-payments` answer a page
of at most `limit` records (1..200, default 50) and a `next_cursor`; pass it back as `cursor`, with the
same filters, for the next page. A page is full until the last; `next_cursor` is null at the end (the last
page may be empty). A cursor is opaque, signed, and only valid for the org, route and filters it came
with: any other is a 400 naming `cursor`. Records of a disconnected org stay readable, their
`sync.source_connection` saying so.
"""

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "The AR app's API key (the stack's `ApiKeyId` output), tied to its usage plan.",
    },
    "sigv4": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "AWS Signature Version 4 (service `execute-api`) of an IAM principal allowed to call.",
        "x-amazon-apigateway-authtype": "awsSigv4",
    },
}


_GATEWAY_FORBIDDEN = {
    "description": "API Gateway: the credentials `security` names are missing or wrong.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GatewayMessage"}}},
}


class GatewayMessage(BaseModel):
    """What API Gateway itself answers (a refused key, a throttled caller), before any function runs."""

    message: str


@dataclass(frozen=True)
class TemplateRoute:
    """One ``Type: Api`` event of the template."""

    function: str
    module: str
    method: str
    path: str
    api_key: bool
    iam: bool

    @property
    def security(self) -> list[dict[str, list[str]]]:
        needed: dict[str, list[str]] = {
            name: [] for name, on in (("sigv4", self.iam), ("apiKey", self.api_key)) if on
        }
        return [needed] if needed else []


def template_routes(template: Mapping[str, Any]) -> list[TemplateRoute]:
    """Every API route of the template, with the auth API Gateway applies to it (event, else its Api)."""
    resources: Mapping[str, Any] = template.get("Resources") or {}
    apis = {
        logical_id: (resource.get("Properties") or {}).get("Auth") or {}
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::Api"
    }
    routes = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        module = ".".join([*Path(str(props["CodeUri"])).parts, str(props["Handler"]).rsplit(".", 1)[0]])
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "Api":
                continue
            event_props = event.get("Properties") or {}
            api_ref = event_props.get("RestApiId")
            api_auth = apis.get(str(api_ref.get("Ref")) if isinstance(api_ref, dict) else "", {})
            auth = {**api_auth, **(event_props.get("Auth") or {})}
            authorizer = auth.get("Authorizer", api_auth.get("DefaultAuthorizer"))
            routes.append(
                TemplateRoute(
                    function=logical_id,
                    module=module,
                    method=str(event_props["Method"]).lower(),
                    path=str(event_props["Path"]),
                    api_key=bool(auth.get("ApiKeyRequired", False)),
                    iam=authorizer == "AWS_IAM",
                )
            )
    return routes


def _schema_of(module_name: str) -> dict[str, Any]:
    resolver = importlib.import_module(module_name).app
    schema: dict[str, Any] = json.loads(resolver.get_openapi_json_schema(title=TITLE, version="0"))
    return schema


def _without_422(schema: dict[str, Any]) -> dict[str, Any]:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    return schema


def _referenced(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _referenced(value, found)
    elif isinstance(node, list):
        for value in node:
            _referenced(value, found)


def _used_components(document: dict[str, Any]) -> None:
    """Drop the schemas nothing refers to (Powertools' validation error models, once 422 is gone)."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    used: set[str] = set()
    _referenced(document.get("paths", {}), used)
    while True:
        more = set(used)
        for name in used:
            _referenced(schemas.get(name, {}), more)
        if more == used:
            break
        used = more
    for name in sorted(set(schemas) - used):
        del schemas[name]


def _version() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return str(project["version"])


def _servers(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    stages = ((template.get("Parameters") or {}).get("Environment") or {}).get("AllowedValues") or ["dev"]
    return [
        {
            "url": "https://{api_id}.execute-api.{region}.amazonaws.com/{stage}",
            "description": "A deployed stack (its ApiUrl output).",
            "variables": {
                "api_id": {"default": "api-id", "description": "The API's id (in the ApiUrl output)."},
                "region": {"default": "eu-west-1"},
                "stage": {"default": stages[0], "enum": list(stages)},
            },
        },
        {"url": "http://127.0.0.1:3000", "description": "The local stack (make start)."},
    ]


def generate(template_path: Path = TEMPLATE) -> dict[str, Any]:
    """The document of every API route of the template, from the resolvers that serve them.

    Raises
    ------
    ValueError
        A route in the template its function's resolver does not serve (or the reverse), or a component
        two functions define differently.
    """
    template = load_yaml(template_path)
    routes = template_routes(template)
    by_module: dict[str, list[TemplateRoute]] = defaultdict(list)
    for route in routes:
        by_module[route.module].append(route)

    merge = OpenAPIMerge(
        title=TITLE,
        version=_version(),
        openapi_version="3.1.0",
        description=DESCRIPTION,
        servers=_servers(template),  # type: ignore[arg-type]  # plain dicts: the merge copies them as they are
        on_conflict="error",
    )
    components: dict[str, Any] = {}
    problems: list[str] = []
    for module_name, module_routes in sorted(by_module.items()):
        schema = _without_422(_schema_of(module_name))
        served = {(m, p) for p, ops in schema.get("paths", {}).items() for m in ops}
        declared = {(r.method, r.path) for r in module_routes}
        problems += [f"{module_name}: {m.upper()} {p} is not in template.yaml" for m, p in served - declared]
        problems += [f"{module_name}: {m.upper()} {p} is in template.yaml only" for m, p in declared - served]
        for route in module_routes:
            operation = schema.get("paths", {}).get(route.path, {}).get(route.method)
            if operation is None:
                continue
            operation["security"] = route.security
            if route.security:
                operation["responses"]["403"] = _GATEWAY_FORBIDDEN
        for name, body in schema.get("components", {}).get("schemas", {}).items():
            if name in components and components[name] != body:
                problems.append(f"{module_name}: component {name} differs from another function's")
            components[name] = body
        merge.add_schema(schema)
    if problems:
        raise ValueError("template.yaml and the resolvers disagree:\n  " + "\n  ".join(sorted(problems)))

    document = copy.deepcopy(merge.get_openapi_schema())
    document["components"]["schemas"]["GatewayMessage"] = GatewayMessage.model_json_schema()
    used_schemes = {name for route in routes for requirement in route.security for name in requirement}
    document["components"]["securitySchemes"] = {
        name: scheme for name, scheme in SECURITY_SCHEMES.items() if name in used_schemes
    }
    _used_components(document)
    document["components"]["schemas"] = dict(sorted(document["components"]["schemas"].items()))
    document["paths"] = dict(sorted(document["paths"].items()))
    return document


def render(document: Mapping[str, Any]) -> str:
    """The document as committed: indented JSON, a newline at the end."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def stale_documents(text: str) -> list[Path]:
    """The written documents that differ from ``text``."""
    return [path for path in DOCUMENTS if not path.is_file() or path.read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="fail when a written document is out of date")
    args = parser.parse_args(argv)
    text = render(generate())
    stale = stale_documents(text)
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run `make openapi`", file=sys.stderr)
        return 1 if stale else 0
    for path in DOCUMENTS:
        path.write_text(text, encoding="utf-8")
    operations = sum(len(ops) for ops in json.loads(text)["paths"].values())
    print(f"{operations} operations -> " + ", ".join(str(p.relative_to(ROOT)) for p in DOCUMENTS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
