"""The three handlers end to end in-process: moto (tables, KMS, secret, state machine) and a fake Xero over
httpx's MockTransport, fed with the same events/ files as `sam local invoke`."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from pydantic import SecretStr

from conftest import FakeLambdaContext, load_event
from functions.integration_api import app as integration_api
from functions.oauth_callback import app as oauth_callback
from functions.oauth_connect import app as oauth_connect
from tests.support.connect_tables import ConnectTables
from tests.support.logs import captured_logs
from xero_bridge import wiring
from xero_bridge.errors import SettingsError
from xero_bridge.models.connection import ConnectionStatus, ConnectSession, OAuthState
from xero_bridge.settings import reset_settings

EVENT_STATE = load_event("oauth_callback/success")["queryStringParameters"]["state"]
EVENT_CODE = load_event("oauth_callback/success")["queryStringParameters"]["code"]
CALLBACK = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/dev/callback"
EVENT_SESSION = load_event("oauth_connect/connect")["queryStringParameters"]["session"]
# The cookie /connect set in the browser the callback events come from.
EVENT_BROWSER_KEY = load_event("oauth_callback/success")["headers"]["Cookie"].split("=", 1)[1]


def _jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


ACCESS_TOKEN = _jwt({"authentication_event_id": "auth-1", "xero_userid": "user-admin", "exp": 1900000000})


class FakeXero:
    """Just enough of Xero's identity and API servers for a connect."""

    def __init__(self) -> None:
        self.role = "FINANCIALADVISER"
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/connect/token":
            form = parse_qs(request.content.decode())
            assert form["code"] == [EVENT_CODE] and form["redirect_uri"] == [CALLBACK]
            assert request.headers["authorization"].startswith("Basic ")
            return httpx.Response(
                200,
                json={
                    "access_token": ACCESS_TOKEN,
                    "refresh_token": "refresh-token-1",
                    "expires_in": 1800,
                    "token_type": "Bearer",
                    "scope": "offline_access accounting.settings.read",
                },
            )
        if path == "/connections":
            return httpx.Response(
                200,
                json=[
                    {
                        "id": "conn-1",
                        "tenantId": "tenant-acme",
                        "tenantType": "ORGANISATION",
                        "tenantName": "Acme Ltd",
                        "authEventId": request.url.params.get("authEventId"),
                    }
                ],
            )
        if path == "/api.xro/2.0/Users":
            assert request.headers["xero-tenant-id"] == "tenant-acme"
            user = {"UserID": "user-admin", "EmailAddress": "a@acme.test", "OrganisationRole": self.role}
            return httpx.Response(200, json={"Users": [user]})
        if path.startswith("/connections/") or path == "/connect/revocation":
            return httpx.Response(204 if request.method == "DELETE" else 200)
        return httpx.Response(404, json={"Message": "not found"})


@pytest.fixture
def xero(stack: dict[str, str]) -> FakeXero:
    fake = FakeXero()
    wiring.reset_wiring(http=httpx.Client(transport=httpx.MockTransport(fake)))
    return fake


@pytest.fixture
def table(stack: dict[str, str]) -> ConnectTables:
    return ConnectTables.over(stack["TABLE_NAME"])


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything the functions log, formatted (and redacted) exactly as in Lambda."""
    with captured_logs() as buffer:
        yield buffer


def pending_state(table: ConnectTables, *, expired: bool = False) -> None:
    now = datetime.now(UTC)
    table.states.put_state(
        OAuthState(
            state=EVENT_STATE,
            org_id="org_acme",
            code_verifier=SecretStr("v" * 64),
            browser_hash=hashlib.sha256(EVENT_BROWSER_KEY.encode()).hexdigest(),
            created_at=now,
            expires_at=now + timedelta(seconds=-1 if expired else 600),
        )
    )


def pending_session(table: ConnectTables) -> None:
    """The connect link the AR platform asked for (its token is the connect event's ``session``)."""
    now = datetime.now(UTC)
    table.sessions.put_session(
        ConnectSession(
            token_hash=hashlib.sha256(EVENT_SESSION.encode()).hexdigest(),
            org_id="org_acme",
            created_at=now,
            expires_at=now + timedelta(minutes=10),
        )
    )


def with_accept(event: dict[str, Any], accept: str) -> dict[str, Any]:
    event["headers"]["Accept"] = accept
    event["multiValueHeaders"]["Accept"] = [accept]
    return event


def location(response: dict[str, Any]) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(response["multiValueHeaders"]["Location"][0])
    return f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qs(parts.query)


# --- /connect -------------------------------------------------------------------------------------------


def test_connect_redirects_to_xero_with_a_stored_state(xero: FakeXero, table: ConnectTables) -> None:
    pending_session(table)

    response = oauth_connect.lambda_handler(load_event("oauth_connect/connect"), FakeLambdaContext())

    assert response["statusCode"] == 302
    url, query = location(response)
    assert url == "https://login.xero.test/identity/connect/authorize"
    assert query["redirect_uri"] == [CALLBACK]  # derived from the request: stage included
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == ["test-client-id"]
    assert table.states.take_state(query["state"][0], now=datetime.now(UTC)).org_id == "org_acme"
    assert response["multiValueHeaders"]["Cache-Control"] == ["no-store"]
    # And the browser holds the cookie that binds the flow to it: HttpOnly, SameSite, Secure over https
    cookie = response["multiValueHeaders"]["Set-Cookie"][0]
    assert cookie.startswith("xero_bridge_connect=")
    assert {"HttpOnly", "Secure", "SameSite=Lax"} <= {part.strip() for part in cookie.split(";")}


def test_a_connect_link_opens_once(xero: FakeXero, table: ConnectTables) -> None:
    pending_session(table)
    oauth_connect.lambda_handler(load_event("oauth_connect/connect"), FakeLambdaContext())

    again = oauth_connect.lambda_handler(load_event("oauth_connect/connect"), FakeLambdaContext())

    assert again["statusCode"] == 400
    assert json.loads(again["body"])["error"] == "invalid_session"


def test_connect_without_session_is_a_400_naming_the_field(xero: FakeXero) -> None:
    response = oauth_connect.lambda_handler(load_event("oauth_connect/missing_session"), FakeLambdaContext())

    assert response["statusCode"] == 400
    body = json.loads(response["body"])
    assert body["error"] == "invalid_request" and "session" in body["reason"]


def test_connect_uses_the_configured_redirect_uri(
    xero: FakeXero, table: ConnectTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XERO_REDIRECT_URI", "https://xero.example.test/callback")
    reset_settings()
    pending_session(table)

    response = oauth_connect.lambda_handler(load_event("oauth_connect/connect"), FakeLambdaContext())

    assert location(response)[1]["redirect_uri"] == ["https://xero.example.test/callback"]


# --- /callback ------------------------------------------------------------------------------------------


def test_callback_connects_and_redirects_back_to_the_app(
    xero: FakeXero, table: ConnectTables, stack: dict[str, str], log_lines: io.StringIO
) -> None:
    pending_state(table)

    response = oauth_callback.lambda_handler(load_event("oauth_callback/success"), FakeLambdaContext())

    assert response["statusCode"] == 302
    url, query = location(response)
    assert url == "https://app.example.test/settings/xero"
    assert query == {
        "status": ["connected"],
        "org_id": ["org_acme"],
        "tenant": ["Acme Ltd"],
        "tenant_id": ["tenant-acme"],
    }
    connection = table.connections.get_connection("org_acme")
    assert connection is not None and connection.status == ConnectionStatus.CONNECTED
    record = table.tokens.get_tokens("org_acme")
    assert record is not None and b"refresh-token-1" not in record.ciphertext  # KMS, not plaintext
    executions = boto3.client("stepfunctions").list_executions(
        stateMachineArn=stack["INITIAL_SYNC_STATE_MACHINE_ARN"]
    )["executions"]
    assert len(executions) == 1
    # And no token, code or secret reached a log line
    logs = log_lines.getvalue()
    assert "xero connected" in logs
    for secret in (ACCESS_TOKEN, "refresh-token-1", EVENT_CODE, "test-client-secret", "v" * 64):
        assert secret not in logs


def test_callback_answers_json_when_asked(xero: FakeXero, table: ConnectTables) -> None:
    pending_state(table)
    event = with_accept(load_event("oauth_callback/success"), "application/json")

    response = oauth_callback.lambda_handler(event, FakeLambdaContext())

    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["tenant_id"] == "tenant-acme" and body["reconnected"] is False and body["sync_execution_arn"]


@pytest.mark.parametrize(
    ("event_name", "error"),
    [
        ("oauth_callback/access_denied", "access_denied"),
        ("oauth_callback/missing_code", "missing_code"),
        ("oauth_callback/unknown_state", "invalid_state"),
    ],
)
def test_callback_refusals_redirect_back_with_the_reason(
    xero: FakeXero, table: ConnectTables, event_name: str, error: str
) -> None:
    pending_state(table)

    response = oauth_callback.lambda_handler(load_event(event_name), FakeLambdaContext())

    assert response["statusCode"] == 302
    url, query = location(response)
    assert url == "https://app.example.test/settings/xero"
    assert query["status"] == ["error"] and query["error"] == [error] and query["reason"][0]
    assert table.connections.get_connection("org_acme") is None


def test_callback_refusals_are_400_json_when_asked(xero: FakeXero, table: ConnectTables) -> None:
    event = with_accept(load_event("oauth_callback/unknown_state"), "application/json")

    response = oauth_callback.lambda_handler(event, FakeLambdaContext())

    assert response["statusCode"] == 400
    assert json.loads(response["body"]) == {
        "error": "invalid_state",
        "reason": "the connect link is unknown or was already used; connect again",
    }


def test_callback_by_a_non_admin_is_refused_and_undone(xero: FakeXero, table: ConnectTables) -> None:
    xero.role = "STANDARD"
    pending_state(table)

    response = oauth_callback.lambda_handler(load_event("oauth_callback/success"), FakeLambdaContext())

    _, query = location(response)
    assert query["error"] == ["not_admin"] and query["org_id"] == ["org_acme"]
    assert query["reason"][0].startswith("only a Xero admin can connect")
    calls = [(r.method, r.url.path) for r in xero.requests]
    assert ("DELETE", "/connections/conn-1") in calls and ("POST", "/connect/revocation") in calls
    assert table.connections.get_connection("org_acme") is None


def test_callback_with_an_expired_state_is_refused(xero: FakeXero, table: ConnectTables) -> None:
    pending_state(table, expired=True)

    response = oauth_callback.lambda_handler(load_event("oauth_callback/success"), FakeLambdaContext())

    assert location(response)[1]["error"] == ["expired_state"]
    assert xero.requests == []  # Xero is never called with an expired state


# --- integration API ------------------------------------------------------------------------------------


def test_connection_status_of_a_connected_org(table: ConnectTables) -> None:
    now = datetime(2026, 11, 21, 10, tzinfo=UTC)
    table.connected(
        "org_acme",
        "tenant-acme",
        now=now,
        tenant_name="Acme Ltd",
        status=ConnectionStatus.NEEDS_RECONNECT,
        reason="token revoked or expired: reconnect Xero",
        reason_code="token_revoked",
    )

    response = integration_api.lambda_handler(
        load_event("integration_api/connection_status"), FakeLambdaContext()
    )

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {
        "org_id": "org_acme",
        "status": "needs_reconnect",
        "reason": "token revoked or expired: reconnect Xero",
        "tenant_id": "tenant-acme",
        "tenant_name": "Acme Ltd",
        "connected_at": "2026-11-21T10:00:00Z",
        "reason_code": "token_revoked",  # the banner's stable code
        "last_change_at": None,
        "quota_minute_remaining": None,  # no call made to Xero for this tenant yet
        "quota_day_remaining": None,
        # no catch-up ran yet, and no webhook was ever delivered
        "catch_up": None,
        "catch_up_interval_minutes": None,  # the schedule has not run yet
        "webhooks": {
            "deliveries": 0,
            "gaps": 0,
            "last_delivery_at": None,
            "last_gap_at": None,
            "last_sequence": None,
        },
    }


def test_connection_status_of_an_org_never_connected(table: ConnectTables) -> None:
    response = integration_api.lambda_handler(
        load_event("integration_api/not_connected"), FakeLambdaContext()
    )

    assert response["statusCode"] == 200
    assert json.loads(response["body"])["status"] == "not_connected"


def test_an_invalid_org_id_is_a_400(table: ConnectTables) -> None:
    event = load_event("integration_api/connection_status")
    event["path"] = "/orgs/%20bad%20/connection"
    event["pathParameters"] = {"org_id": " bad "}

    response = integration_api.lambda_handler(event, FakeLambdaContext())

    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"] == "invalid_request"


def test_a_routes_lines_name_its_org_once_its_path_is_valid(
    table: ConnectTables, log_lines: io.StringIO
) -> None:
    # When a valid request is refused by its use case (nothing connected), and an invalid org id is refused
    integration_api.lambda_handler(load_event("integration_api/invoice"), FakeLambdaContext())
    event = load_event("integration_api/connection_status")
    event["path"] = "/orgs/%20bad%20/connection"
    event["pathParameters"] = {"org_id": " bad "}
    integration_api.lambda_handler(event, FakeLambdaContext())

    # Then the first refusal names its org, and the value its route refused is on no line
    refused = [json.loads(line) for line in log_lines.getvalue().splitlines() if "request refused" in line]
    assert [(line["error"], line.get("org_id")) for line in refused] == [
        ("not_connected", "org_acme"),
        ("invalid_request", None),
    ]


def test_an_unknown_route_is_a_404(table: ConnectTables) -> None:
    event = load_event("integration_api/connection_status")
    event["path"] = "/nowhere"

    response = integration_api.lambda_handler(event, FakeLambdaContext())

    assert response["statusCode"] == 404


# --- settings -------------------------------------------------------------------------------------------


def test_a_missing_variable_fails_the_invocation_with_its_name(
    stack: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TABLE_NAME")
    reset_settings()

    with pytest.raises(SettingsError, match="TABLE_NAME"):
        integration_api.lambda_handler(load_event("integration_api/connection_status"), FakeLambdaContext())
