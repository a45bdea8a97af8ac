"""The client's requests against Xero's official OpenAPI specs (../shared/xero-openapi).

For every operation the client uses: the path and method exist in the spec, every query parameter and header
it sends is declared for that operation (and every required one is sent), and the JSON bodies validate against
the operation's request-body schema (write context: no readOnly field). The spec's own example answers must
parse into the models without a bad record.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_schema_validator import OAS30WriteValidator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from xero_bridge.adapters.xero import Resource as XeroResource
from xero_bridge.adapters.xero import RetryPolicy, XeroClient, XeroEndpoints, XeroOAuthClient
from xero_bridge.errors import NeedsReconnect
from xero_bridge.models.connection import ReconnectReason
from xero_bridge.models.xero import PaymentCreate

pytestmark = pytest.mark.contract

API_PREFIX = "/api.xro/2.0"
TENANT = str(uuid.UUID(int=1))
STANDARD_HEADERS = {
    # HTTP's own headers and the OAuth2 security scheme: OpenAPI 3 does not declare them as parameters
    "host",
    "accept",
    "accept-encoding",
    "connection",
    "user-agent",
    "authorization",
    "content-type",
    "content-length",
}
SPEC_URI = "urn:xero:accounting"


@dataclass(frozen=True)
class Spec:
    document: dict[str, Any]
    registry: Registry[Any]

    def operation(self, path: str, method: str) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        """(template, operation, parameters) of the path template matching ``path``, case-insensitively."""
        for template, item in self.document["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, path, flags=re.IGNORECASE):
                operation = item.get(method.lower())
                if operation is None:
                    continue
                parameters = [
                    self.resolve(p) for p in item.get("parameters", []) + operation.get("parameters", [])
                ]
                return template, operation, parameters
        raise AssertionError(f"{method} {path} is not an operation of Xero's spec")

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def body_validator(self, operation: dict[str, Any]) -> OAS30WriteValidator:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        return OAS30WriteValidator(
            {"$ref": SPEC_URI + schema["$ref"]}, registry=self.registry, format_checker=oas30_format_checker
        )


@functools.cache
def load_spec(path: Path) -> Spec:
    """Read once per session (the accounting spec is 25k lines)."""
    document = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    resource = Resource.from_contents(document, default_specification=DRAFT4)
    return Spec(document, Registry().with_resource(SPEC_URI, resource))


@pytest.fixture
def accounting(xero_specs: Path) -> Spec:
    return load_spec(xero_specs / "xero_accounting.yaml")


@pytest.fixture
def identity(xero_specs: Path) -> Spec:
    return load_spec(xero_specs / "xero-identity.yaml")


class Tokens:
    def access_token(self, tenant_id: str, *, force_refresh: bool = False) -> str:
        return "token"

    def refused(self, tenant_id: str, reason: ReconnectReason) -> NeedsReconnect | None:
        return None


def fake_xero(request: httpx.Request) -> httpx.Response:
    """Plausible answers, so that every client operation runs to its end."""
    path = request.url.path.removeprefix(API_PREFIX)
    resource = path.strip("/").split("/")[0]
    if resource == "Payments" and request.method in {"PUT", "POST"}:
        sent = json.loads(request.content)
        elements = sent.get("Payments", [sent])
        return httpx.Response(
            200,
            json={
                "Payments": [
                    {"PaymentID": str(uuid.uuid4()), "StatusAttributeString": "OK"} for _ in elements
                ]
            },
        )
    if resource == "Organisation":
        return httpx.Response(200, json={"Organisations": [{"OrganisationID": str(uuid.uuid4())}]})
    if resource == "connections":
        return httpx.Response(204 if request.method == "DELETE" else 200, json=[])
    if resource == "connect":
        return httpx.Response(200, json={"access_token": "a", "refresh_token": "r", "expires_in": 1800})
    key = resource
    record_id = f"{resource[:-1]}ID" if resource != "CreditNotes" else "CreditNoteID"
    return httpx.Response(200, json={key: [{record_id: str(uuid.uuid4())}]})


@pytest.fixture
def sent() -> Iterator[tuple[list[httpx.Request], XeroClient, XeroOAuthClient]]:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return fake_xero(request)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    endpoints = XeroEndpoints.single_host("https://xero.test")
    client = XeroClient(Tokens(), TENANT, endpoints, http, RetryPolicy(sleep=lambda _: None))
    oauth = XeroOAuthClient("client", "secret", "https://bridge.test/callback", endpoints, http)
    yield requests, client, oauth


def every_client_operation(client: XeroClient) -> list[Callable[[], Any]]:
    since = datetime(2026, 3, 1, tzinfo=UTC)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    payment = PaymentCreate(
        invoice_id=str(uuid.uuid4()),
        account_id=str(uuid.uuid4()),
        date=date(2026, 3, 2),
        amount=Decimal("1234.5678"),
        reference="AR export 42",
        currency_rate=Decimal("1.234567"),
    )
    by_code = PaymentCreate(
        invoice_id=str(uuid.uuid4()), account_code="090", date=date(2026, 3, 2), amount=Decimal(1)
    )
    full: dict[str, Any] = {
        "page": 1,
        "page_size": 1000,
        "if_modified_since": since,
        "where": 'Status=="AUTHORISED"',
        "order": "UpdatedDateUTC",
    }
    return [
        lambda: client.list_page(XeroResource.CONTACTS, include_archived=True, summary_only=True, **full),
        lambda: client.list_page(
            XeroResource.INVOICES, statuses=["AUTHORISED", "PAID"], include_archived=True, **full
        ),
        lambda: client.list_page(XeroResource.CREDIT_NOTES, **full),
        lambda: client.list_page(XeroResource.PAYMENTS, **full),
        lambda: client.list_page(XeroResource.OVERPAYMENTS, **full),
        lambda: client.list_page(XeroResource.PREPAYMENTS, **full),
        lambda: client.list_page(
            XeroResource.ACCOUNTS, if_modified_since=since, where='Type=="BANK"', order="Code"
        ),
        lambda: client.list_page(XeroResource.USERS, if_modified_since=since),
        lambda: client.get_by_ids(XeroResource.CONTACTS, ids),
        lambda: client.get_by_ids(XeroResource.INVOICES, ids),
        lambda: client.get_by_ids(XeroResource.CREDIT_NOTES, ids),
        lambda: client.get_by_ids(XeroResource.OVERPAYMENTS, ids),
        lambda: client.get_by_ids(XeroResource.PREPAYMENTS, ids),
        *(lambda r=r: client.get(r, ids[0]) for r in XeroResource if r is not XeroResource.ORGANISATION),
        client.organisation,
        client.users,
        lambda: client.create_payments([payment, by_code], idempotency_key="export-42"),
        lambda: client.create_payment(payment, idempotency_key="export-43"),
        lambda: client.delete_payment(ids[0], idempotency_key="delete-1"),
    ]


def test_every_accounting_request_is_declared_by_the_spec(accounting: Spec, sent: Any) -> None:
    requests, client, _ = sent
    for call in every_client_operation(client):
        call()

    assert len(requests) > 20
    for request in requests:
        path = request.url.path.removeprefix(API_PREFIX)
        template, operation, parameters = accounting.operation(path, request.method)
        where = f"{request.method} {template}"
        declared_query = {p["name"] for p in parameters if p["in"] == "query"}
        declared_headers = {p["name"].lower() for p in parameters if p["in"] == "header"}
        for name in request.url.params:
            assert name in declared_query, f"{where}: query parameter {name} is not in Xero's spec"
        for name in request.headers:
            assert name.lower() in declared_headers | STANDARD_HEADERS, (
                f"{where}: header {name} is not in the spec"
            )
        for parameter in parameters:
            if parameter.get("required") and parameter["in"] == "header":
                assert parameter["name"].lower() in request.headers, (
                    f"{where}: {parameter['name']} is required"
                )
        if request.content:
            assert "requestBody" in operation, f"{where}: the spec takes no body"
            errors = list(accounting.body_validator(operation).iter_errors(json.loads(request.content)))
            assert errors == [], f"{where}: {[e.message for e in errors]}"


def test_payment_bodies_validate_against_the_spec_schema(accounting: Spec, sent: Any) -> None:
    requests, client, _ = sent
    payment = PaymentCreate(
        invoice_id=str(uuid.uuid4()), account_code="090", date=date(2026, 3, 2), amount=Decimal("0.30")
    )
    client.create_payments([payment], idempotency_key="k")
    (request,) = requests
    _, operation, _ = accounting.operation("/Payments", "PUT")
    body = json.loads(request.content, parse_float=Decimal)
    accounting.body_validator(operation).validate(json.loads(request.content))
    assert body["Payments"][0]["Amount"] == Decimal("0.30")
    # A body the spec refuses is refused by this check too (the check is not vacuous).
    bad = {"Payments": [{"Amount": "a lot", "Invoice": {"InvoiceID": "not-a-uuid"}, "Status": "PENDING"}]}
    assert list(accounting.body_validator(operation).iter_errors(bad))


def test_identity_requests_match_the_identity_spec(identity: Spec, sent: Any) -> None:
    requests, _, oauth = sent
    event = str(uuid.uuid4())
    oauth.connections("token", auth_event_id=event)
    oauth.delete_connection("token", str(uuid.uuid4()))
    oauth.refresh("refresh-token")

    connections, delete, refresh = requests
    for request in (connections, delete):
        _, _, parameters = identity.operation(request.url.path, request.method)
        declared = {p["name"] for p in parameters if p["in"] == "query"}
        assert set(request.url.params) <= declared
    assert connections.url.params["authEventId"] == event
    token_fields = set(identity.document["components"]["schemas"]["RefreshToken"]["properties"])
    form = set(httpx.QueryParams(refresh.content.decode()).keys())
    assert form <= token_fields
    answer_fields = set(identity.document["components"]["schemas"]["AccessToken"]["properties"])
    assert {"access_token", "refresh_token", "expires_in", "id_token"} <= answer_fields


def spec_example(spec: Spec, path: str, key: str) -> dict[str, Any]:
    answer = spec.document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    example = answer["example"]
    assert key in example
    # YAML reads some example values as datetimes: write them back as the strings Xero sends.
    result: dict[str, Any] = json.loads(json.dumps(example, default=str))
    return result


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("/Invoices", XeroResource.INVOICES),
        ("/Contacts", XeroResource.CONTACTS),
        ("/Payments", XeroResource.PAYMENTS),
        ("/CreditNotes", XeroResource.CREDIT_NOTES),
        ("/Overpayments", XeroResource.OVERPAYMENTS),
        ("/Prepayments", XeroResource.PREPAYMENTS),
        ("/Accounts", XeroResource.ACCOUNTS),
        ("/Users", XeroResource.USERS),
        ("/Organisation", XeroResource.ORGANISATION),
    ],
)
def test_spec_examples_parse_into_the_models(accounting: Spec, path: str, resource: XeroResource) -> None:
    key = "Organisations" if resource is XeroResource.ORGANISATION else resource.value
    example = spec_example(accounting, path, key)
    http = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200, json=example)))
    client = XeroClient(Tokens(), TENANT, XeroEndpoints(api_url="https://xero.test"), http)

    page = client.list_page(resource)

    assert page.bad_records == []
    assert len(page.records) == len(example[key]) > 0
