"""The listing routes end to end in-process (moto with the template's tables and the cursor key's secret),
fed with the events/ files: pages followed by their cursors, each bad parameter a 400 naming it."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from conftest import FakeLambdaContext, load_event
from functions.integration_api import app as integration_api
from tests.support.connect_tables import ConnectTables
from tests.support.tables import ROOT
from xero_bridge.adapters.aws.records_table import RecordsTable
from xero_bridge.models.records import Customer, Invoice, RecordPayload, RecordSource, SyncedRecord

ORG = "org_acme"  # the events' org
TENANT = "tenant-acme"
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
SOURCE = RecordSource(kind="page", run_id="run-1", resource="Invoices", page=1, fetched_at=NOW)
CUSTOMER_ID = "4f2a9c1e-7d3b-4e8a-9b6c-1a2b3c4d5e6f"  # the invoices_of_customer event's


@pytest.fixture
def synced(stack: dict[str, str]) -> RecordsTable:
    """org_acme connected to tenant-acme, which holds 7 customers and 12 invoices (5 of one customer)."""
    now = NOW
    ConnectTables.over(stack["TABLE_NAME"]).connected(ORG, TENANT, now=now)
    records = RecordsTable(stack["RECORDS_TABLE_NAME"], workers=1)
    customers = [
        Customer(
            xero_id=f"00000000-0000-4000-9000-{n:012d}", name=f"C{n}", active=n != 3, xero_updated_at=now
        )
        for n in range(7)
    ]
    invoices = [
        Invoice(
            xero_id=f"00000000-0000-4000-8000-{n:012d}",
            contact_id=CUSTOMER_ID if n < 5 else customers[0].xero_id,
            status="AUTHORISED" if n % 2 else "PAID",
            total=Decimal("10.50"),
            xero_updated_at=now + timedelta(minutes=n),
        )
        for n in range(12)
    ]
    payloads: list[RecordPayload] = [*customers, *invoices]
    records.upsert_many(TENANT, ORG, [SyncedRecord.of(p, SOURCE) for p in payloads])
    return records


def call(name: str, query: dict[str, str] | None = None, **changes: Any) -> tuple[int, dict[str, Any]]:
    """The event ``name`` with its query string replaced by ``query`` (when given), through the handler."""
    event = copy.deepcopy(load_event(f"integration_api/{name}"))
    if query is not None:
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    event.update(changes)
    response = integration_api.lambda_handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def every_page(name: str, key: str, query: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(50):
        status, body = call(name, {**query, **({"cursor": cursor} if cursor else {})})
        assert status == 200, body
        found.extend(body[key])
        cursor = body["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("the listing never ends")


def test_customers_page_by_page_as_the_ar_app_reads_them(synced: RecordsTable) -> None:
    every = every_page("customers", "customers", {"limit": "2"})
    archived = every_page("customers", "customers", {"active": "false"})

    assert sorted(c["name"] for c in every) == [f"C{n}" for n in range(7)]
    assert [c["name"] for c in archived] == ["C3"]
    assert every[0]["sync"]["source_connection"] == "connected"


def test_invoices_by_customer_status_and_change_with_money_as_strings(synced: RecordsTable) -> None:
    theirs = every_page("invoices", "invoices", {"customer_id": CUSTOMER_ID.replace("-", ""), "limit": "2"})
    paid = every_page("invoices", "invoices", {"status": "PAID", "limit": "4"})
    recent = every_page("invoices", "invoices", {"updated_since": "2026-11-21T10:09:00+00:00"})

    assert len(theirs) == 5 and {i["contact_id"] for i in theirs} == {CUSTOMER_ID}
    assert len(paid) == 6 and {i["status"] for i in paid} == {"PAID"}
    assert [i["xero_id"][-2:] for i in recent] == ["09", "10", "11"]  # oldest change first
    assert paid[0]["total"] == "10.50"


def test_a_cursor_is_refused_with_other_filters_or_altered(synced: RecordsTable) -> None:
    status, first = call("invoices", {"status": "PAID", "limit": "2"})
    assert status == 200 and first["next_cursor"]
    payload, mac = first["next_cursor"].split(".")

    for query in (
        {"status": "AUTHORISED", "cursor": first["next_cursor"]},
        {"cursor": first["next_cursor"]},
        {"status": "PAID", "cursor": f"{payload}.{mac[:-2]}AA"},
    ):
        status, body = call("invoices", query)
        assert (status, body["error"]) == (400, "invalid_request"), query
        assert "cursor" in body["reason"]


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ("invoices_bad_limit", "limit"),
        ("invoices_bad_cursor", "cursor"),
        ("invoices_naive_updated_since", "updated_since"),
        ("customers_bad_org", "org_id"),
    ],
)
def test_every_bad_parameter_is_a_400_naming_it(synced: RecordsTable, event: str, field: str) -> None:
    status, body = call(event)

    assert (status, body["error"]) == (400, "invalid_request")
    assert field in body["reason"]


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"status": "SENT"}, {"customer_id": "c-1"}, {"active": "maybe"}, {"limit": "x"}]
)
def test_more_bad_parameters_name_themselves(synced: RecordsTable, query: dict[str, str]) -> None:
    name = "customers" if "active" in query else "invoices"
    status, body = call(name, query)

    assert (status, body["error"]) == (400, "invalid_request")
    assert next(iter(query)) in body["reason"]


def test_an_org_never_connected_is_a_409_with_a_stable_code(stack: dict[str, str]) -> None:
    for name in ("customers", "invoices", "credit_notes", "xero_payments"):
        status, body = call(name)
        assert (status, body["error"]) == (409, "not_connected"), name


def test_the_api_serves_the_committed_openapi_document(stack: dict[str, str]) -> None:
    response = integration_api.lambda_handler(
        load_event("integration_api/openapi_document"), FakeLambdaContext()
    )

    assert response["statusCode"] == 200
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert json.loads(response["body"]) == committed


@pytest.mark.parametrize("org_id", ["\x84", 'a"b', "a#b", "a\\b", "a`b", "é/x"])
def test_an_org_id_no_route_takes_is_a_400_naming_it_not_a_404(stack: dict[str, str], org_id: str) -> None:
    # API Gateway's {org_id} takes any segment; Powertools' <org_id> fewer characters (found by the fuzz:
    # /orgs/%C2%84/connection answered an undocumented 404).
    for name, route in (("customers", "customers"), ("connection_status", "connection")):
        event = copy.deepcopy(load_event(f"integration_api/{name}"))
        event["path"] = f"/orgs/{org_id}/{route}"
        event["pathParameters"] = {"org_id": org_id}

        response = integration_api.lambda_handler(event, FakeLambdaContext())

        body = json.loads(response["body"])
        assert (response["statusCode"], body["error"]) == (400, "invalid_request")
        assert body["reason"] == "missing or invalid: org_id"


def test_a_path_no_route_of_the_template_declares_stays_a_404(stack: dict[str, str]) -> None:
    event = copy.deepcopy(load_event("integration_api/customers"))
    event.update(path="/orgs/org_acme/nowhere", resource="/orgs/org_acme/nowhere", pathParameters=None)

    response = integration_api.lambda_handler(event, FakeLambdaContext())

    assert response["statusCode"] == 404


@pytest.mark.parametrize(
    "content_type", ["text/plain", "multipart/form-data", "application/x-www-form-urlencoded"]
)
def test_a_body_that_is_not_json_is_a_415_not_a_500(stack: dict[str, str], content_type: str) -> None:
    # Found by the fuzz: POST /orgs/{org_id}/connect with Content-Type: text/plain answered 500, and with
    # multipart/form-data without a boundary too (Powertools' multipart parser raises a ValueError).
    event = copy.deepcopy(load_event("integration_api/start_connect"))
    event["headers"]["Content-Type"] = content_type
    event["multiValueHeaders"]["Content-Type"] = [content_type]

    response = integration_api.lambda_handler(event, FakeLambdaContext())

    assert response["statusCode"] == 415
    assert json.loads(response["body"])["error"] == "unsupported_media_type"


def test_a_post_without_a_body_is_a_400_naming_the_body(stack: dict[str, str]) -> None:
    event = copy.deepcopy(load_event("integration_api/start_connect"))
    event["body"] = None

    response = integration_api.lambda_handler(event, FakeLambdaContext())

    assert response["statusCode"] == 400
    assert json.loads(response["body"])["reason"] == "missing or invalid: body"


def test_a_body_of_bytes_that_are_no_text_is_a_400_naming_the_body(stack: dict[str, str]) -> None:
    # Found by the fuzz: a body of b"\x85" (sent base64-encoded, as API Gateway does) answered 500.
    event = copy.deepcopy(load_event("integration_api/start_connect"))
    event.update(body="hQ==", isBase64Encoded=True)

    response = integration_api.lambda_handler(event, FakeLambdaContext())

    assert response["statusCode"] == 400
    assert json.loads(response["body"])["reason"] == "missing or invalid: body"
