"""The export's routes in-process on moto, fed with the events/ files: what the AR app sends and gets back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from conftest import FakeLambdaContext, load_event
from functions.payments_api import app as payments_api
from tests.support.connect_tables import ConnectTables
from tests.unit.conftest import REGION, create_table
from xero_bridge.settings import reset_settings
from xero_bridge.wiring import reset_wiring


@pytest.fixture
def api(stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The function's environment: PaymentsTable, the export queue, an org connected to Xero."""
    monkeypatch.setenv("PAYMENTS_TABLE_NAME", create_table("PaymentsTable", "payments-test"))
    sqs = boto3.client("sqs", region_name=REGION)
    monkeypatch.setenv("EXPORT_QUEUE_URL", sqs.create_queue(QueueName="exports")["QueueUrl"])
    reset_settings()
    reset_wiring()
    now = datetime(2026, 11, 21, 10, tzinfo=UTC)
    ConnectTables.over(stack["TABLE_NAME"]).connected("org_acme", "tenant-acme", now=now)
    yield sqs


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = payments_api.lambda_handler(event, FakeLambdaContext())
    return int(response["statusCode"]), json.loads(response["body"] or "{}")


def with_body(name: str, body: dict[str, Any]) -> dict[str, Any]:
    event = load_event(name)
    event["body"] = json.dumps(body)
    return event


def test_a_payment_is_recorded_once_and_queued(api: Any) -> None:
    status, payment = call(load_event("payments_api/record_payment"))
    again, same = call(load_event("payments_api/record_payment"))

    assert (status, again) == (202, 200)
    assert payment["status"] == "pending" and payment["amount"] == "1250.00"  # a decimal string, exactly
    assert same["payment_id"] == payment["payment_id"]
    queued = api.receive_message(QueueUrl=os.environ["EXPORT_QUEUE_URL"], MaxNumberOfMessages=10)
    assert {json.loads(m["Body"])["payment_ids"][0] for m in queued["Messages"]} == {"ar-pay-20261121-0042"}
    assert call(load_event("payments_api/get_payment"))[1]["status"] == "pending"


def test_another_body_for_a_recorded_payment_is_a_409(api: Any) -> None:
    call(load_event("payments_api/record_payment"))
    body = json.loads(load_event("payments_api/record_payment")["body"])

    status, refused = call(with_body("payments_api/record_payment", {**body, "amount": "1249.99"}))

    assert status == 409 and refused["error"] == "payment_conflict" and "amount" in refused["reason"]


def test_a_malformed_payment_is_a_400_naming_each_field(api: Any) -> None:
    status, refused = call(load_event("payments_api/invalid_payment"))

    assert status == 400 and refused["error"] == "invalid_request"
    assert refused["reason"].startswith("missing or invalid: amount (must be a decimal string")
    assert "currency" in refused["reason"]
    assert call(load_event("payments_api/get_payment"))[0] == 404


def test_payments_are_listed_in_pages_and_a_foreign_cursor_is_a_400(api: Any) -> None:
    body = json.loads(load_event("payments_api/record_payment")["body"])
    for n in range(3):
        call(with_body("payments_api/record_payment", {**body, "payment_id": f"pay-{n}"}))
    event = load_event("payments_api/list_failed")
    event["queryStringParameters"] = {"status": "pending", "limit": "2"}
    event["multiValueQueryStringParameters"] = {"status": ["pending"], "limit": ["2"]}

    status, first = call(event)
    event["queryStringParameters"]["cursor"] = first["next_cursor"]
    event["multiValueQueryStringParameters"]["cursor"] = [first["next_cursor"]]
    _, second = call(event)
    event["queryStringParameters"]["cursor"] = "e30"  # "{}": not a cursor this listing gave out
    event["multiValueQueryStringParameters"]["cursor"] = ["e30"]
    bad, refused = call(event)

    assert status == 200 and len(first["payments"]) == 2 and len(second["payments"]) == 1
    assert (bad, refused["error"]) == (400, "invalid_request") and "cursor" in refused["reason"]


def test_export_back_to_xero_of_a_pending_payment_queues_it_again(api: Any) -> None:
    call(load_event("payments_api/record_payment"))

    status, result = call(load_event("payments_api/export_payment"))

    assert status == 202 and result == {"queued": 1, "skipped": {}, "not_found": []}


def test_a_body_not_sent_as_json_is_a_415_that_never_echoes_it(api: Any) -> None:
    event = load_event("payments_api/put_settings")
    event["headers"]["Content-Type"] = "application/x-www-form-urlencoded"  # curl -d without -H
    event["multiValueHeaders"]["Content-Type"] = ["application/x-www-form-urlencoded"]

    status, refused = call(event)

    assert status == 415 and refused["error"] == "unsupported_media_type"
    assert "9f8e7d6c" not in refused["reason"] and "{" not in refused["reason"]


def test_a_query_parameter_the_route_does_not_take_is_a_400_naming_it(api: Any) -> None:
    # A misspelt filter would otherwise be ignored, and the answer would list every payment
    event = load_event("payments_api/list_failed")
    event["queryStringParameters"] = {"stauts": "error"}
    event["multiValueQueryStringParameters"] = {"stauts": ["error"]}

    status, refused = call(event)

    assert (status, refused["error"]) == (400, "invalid_request")
    assert refused["reason"] == "missing or invalid: stauts"
