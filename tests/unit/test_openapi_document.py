"""The OpenAPI document of the whole API is what the code and the template generate (``make openapi``), in
both places it is written, and says what the API answers: auth as the template sets it, errors as http.py
answers them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.local_stack.template import load_yaml
from tools.openapi import DOCUMENTS, TEMPLATE, generate, render, stale_documents, template_routes


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return generate()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, ops in document["paths"].items() for m, op in ops.items()]


def test_the_committed_documents_are_what_the_code_generates(document: dict[str, Any]) -> None:
    stale = stale_documents(render(document))

    assert stale == [], f"run `make openapi`: {[str(p) for p in stale]} differ from the code"
    assert len({p.read_text() for p in DOCUMENTS}) == 1


def test_every_api_route_of_the_template_is_documented_with_its_auth(document: dict[str, Any]) -> None:
    routes = template_routes(load_yaml(TEMPLATE))
    documented = {(m, p): op for m, p, op in operations(document)}

    assert {(r.method, r.path) for r in routes} == set(documented)
    for route in routes:
        operation = documented[(route.method, route.path)]
        assert operation["security"] == route.security
        assert ("403" in operation["responses"]) == bool(route.security)
    assert {r.path for r in routes if not r.security} == {"/connect", "/callback", "/webhooks/xero"}


def test_errors_are_documented_as_the_api_answers_them(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        answers = operation["responses"]
        assert "422" not in answers, f"{method} {path}: validation errors are 400s"
        for status, answer in answers.items():
            if status.startswith(("4", "5")) and status not in {"401", "403"}:
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_listings_document_their_filters_cursor_and_limit(document: dict[str, Any]) -> None:
    invoices = document["paths"]["/orgs/{org_id}/invoices"]["get"]
    parameters = {p["name"]: p for p in invoices["parameters"]}

    assert set(parameters) == {"org_id", "customer_id", "status", "updated_since", "limit", "cursor"}
    assert parameters["limit"]["schema"]["minimum"] == 1 and parameters["limit"]["schema"]["maximum"] == 200
    assert document["components"]["schemas"]["InvoiceStatus"]["enum"] == [
        "DRAFT",
        "SUBMITTED",
        "AUTHORISED",
        "PAID",
        "VOIDED",
        "DELETED",
    ]


def test_a_route_the_template_does_not_declare_is_refused(tmp_path: Path) -> None:
    raw = yaml.safe_load(json.dumps(load_yaml(TEMPLATE)))  # a plain copy
    events = raw["Resources"]["IntegrationApiFunction"]["Properties"]["Events"]
    del events["CreditNotes"]
    template = tmp_path / "template.yaml"
    template.write_text(yaml.safe_dump(raw))

    with pytest.raises(
        ValueError, match=re.escape("GET /orgs/{org_id}/credit-notes is not in template.yaml")
    ):
        generate(template)


def test_a_route_switched_to_sigv4_is_documented_so(tmp_path: Path) -> None:
    raw = yaml.safe_load(json.dumps(load_yaml(TEMPLATE)))
    auth = raw["Resources"]["IntegrationApiFunction"]["Properties"]["Events"]["Invoices"]["Properties"][
        "Auth"
    ]
    auth["Authorizer"] = "AWS_IAM"
    template = tmp_path / "template.yaml"
    template.write_text(yaml.safe_dump(raw))

    document = generate(template)

    invoices = document["paths"]["/orgs/{org_id}/invoices"]["get"]
    assert invoices["security"] == [{"sigv4": [], "apiKey": []}]
    assert document["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
