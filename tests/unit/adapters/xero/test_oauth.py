"""Xero's OAuth 2.0 flows and connections against an in-test fake identity server (no sockets)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from xero_bridge.adapters.xero import (
    PRODUCT_SCOPES,
    RetryPolicy,
    XeroEndpoints,
    XeroOAuthClient,
    new_pkce_pair,
)
from xero_bridge.errors import (
    XeroInvalidGrant,
    XeroNotFound,
    XeroOAuthError,
    XeroServerError,
    XeroTimeout,
    XeroUnauthorized,
)
from xero_bridge.models.oauth import TokenSet

NOW = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
ENDPOINTS = XeroEndpoints(
    login_url="https://login.test", identity_url="https://identity.test", api_url="https://api.test"
)
CLIENT_SECRET = "s3cr3t-client-secret-value"
REDIRECT = "https://bridge.example/callback"


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


ACCESS = jwt(
    {
        "authentication_event_id": "d99ecdfe-391d-43d2-b834-17636ba90e8d",
        "xero_userid": "a8c5e3f2-0000-4000-8000-000000000001",
        "sub": "sub-1",
        "exp": 1772449200,
        "scope": ["email", "profile", "openid", "accounting.payments", "offline_access"],
    }
)


class FakeIdentity:
    """Token, revocation and connections endpoints, with rotating refresh tokens."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.refresh_tokens = {"refresh-1"}
        self.issued = 1
        self.failures: list[httpx.Response | Exception] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        host, path = request.url.host, request.url.path
        if (host, path) == ("identity.test", "/connect/token"):
            return self.token(request)
        if (host, path) == ("identity.test", "/connect/revocation"):
            return httpx.Response(200)
        if (host, path) == ("api.test", "/connections") and request.method == "GET":
            if request.headers.get("Authorization") != f"Bearer {ACCESS}":
                return httpx.Response(
                    401, json={"Title": "Unauthorized", "Detail": "AuthenticationUnsuccessful"}
                )
            return httpx.Response(200, json=[CONNECTION])
        if host == "api.test" and path.startswith("/connections/") and request.method == "DELETE":
            if path.endswith("/gone"):
                return httpx.Response(404)
            return httpx.Response(204)
        return httpx.Response(404)

    def token(self, request: httpx.Request) -> httpx.Response:
        expected = base64.b64encode(f"client-1:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return httpx.Response(401, json={"error": "invalid_client"})
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if form["grant_type"] == "refresh_token":
            if form["refresh_token"] not in self.refresh_tokens:
                return httpx.Response(400, json={"error": "invalid_grant"})
            self.refresh_tokens.discard(form["refresh_token"])
        self.issued += 1
        new_refresh = f"refresh-{self.issued}"
        self.refresh_tokens.add(new_refresh)
        body = {
            "id_token": "id-token-value",
            "access_token": ACCESS,
            "expires_in": 1800,
            "token_type": "Bearer",
            "refresh_token": new_refresh,
            "scope": "openid profile email accounting.payments offline_access",
        }
        return httpx.Response(200, json=body)


CONNECTION = {
    "id": "7cb59f93-2964-421d-bb5e-a0f7a4572a44",
    "authEventId": "d99ecdfe-391d-43d2-b834-17636ba90e8d",
    "tenantId": "fe79f7dd-b6d4-4a92-ba7b-538af6289c58",
    "tenantType": "ORGANISATION",
    "tenantName": "Demo Company (NZ)",
    "createdDateUtc": "2019-12-07T18:46:19.5165400",
    "updatedDateUtc": "2019-12-07T18:46:19.5187840",
}


@pytest.fixture
def identity() -> FakeIdentity:
    return FakeIdentity()


@pytest.fixture
def oauth(identity: FakeIdentity) -> XeroOAuthClient:
    return XeroOAuthClient(
        "client-1",
        CLIENT_SECRET,
        REDIRECT,
        ENDPOINTS,
        httpx.Client(transport=httpx.MockTransport(identity)),
        retry=RetryPolicy(max_attempts=3, sleep=lambda _: None),
        clock=lambda: NOW,
    )


def form_of(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def test_pkce_pair_is_s256() -> None:
    verifier, challenge = new_pkce_pair()
    assert 43 <= len(verifier) <= 128
    digest = hashlib.sha256(verifier.encode()).digest()
    assert challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert new_pkce_pair()[0] != verifier


def test_authorization_url(oauth: XeroOAuthClient) -> None:
    url = oauth.authorization_url(state="state-1", code_challenge="challenge-1")

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://login.test/identity/connect/authorize"
    assert "%20" in parts.query and "+" not in parts.query
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "response_type": "code",
        "client_id": "client-1",
        "redirect_uri": REDIRECT,
        "scope": " ".join(PRODUCT_SCOPES),
        "state": "state-1",
        "code_challenge": "challenge-1",
        "code_challenge_method": "S256",
    }
    assert "offline_access" in PRODUCT_SCOPES and "accounting.payments" in PRODUCT_SCOPES


def test_exchange_code(oauth: XeroOAuthClient, identity: FakeIdentity) -> None:
    tokens = oauth.exchange_code(code="code-1", code_verifier="verifier-1")

    (request,) = identity.requests
    assert (request.method, str(request.url)) == ("POST", "https://identity.test/connect/token")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form_of(request) == {
        "grant_type": "authorization_code",
        "code": "code-1",
        "redirect_uri": REDIRECT,
        "code_verifier": "verifier-1",
    }
    assert CLIENT_SECRET not in request.content.decode()  # the secret only travels as Basic auth
    assert tokens.access_token.get_secret_value() == ACCESS
    assert tokens.refresh_token.get_secret_value() == "refresh-2"
    assert tokens.id_token is not None and tokens.id_token.get_secret_value() == "id-token-value"
    assert tokens.expires_at == NOW + timedelta(minutes=30)
    assert tokens.scopes == ("openid", "profile", "email", "accounting.payments", "offline_access")


def test_refresh_rotates_and_the_old_token_then_fails(oauth: XeroOAuthClient, identity: FakeIdentity) -> None:
    first = oauth.refresh("refresh-1")
    assert first.refresh_token.get_secret_value() == "refresh-2"
    assert form_of(identity.requests[0]) == {"grant_type": "refresh_token", "refresh_token": "refresh-1"}

    second = oauth.refresh(first.refresh_token)
    assert second.refresh_token.get_secret_value() == "refresh-3"

    with pytest.raises(XeroInvalidGrant) as caught:
        oauth.refresh("refresh-1")
    assert caught.value.status_code == 400
    assert "refresh-1" not in str(caught.value)


def test_other_oauth_errors_carry_xeros_error(identity: FakeIdentity) -> None:
    wrong = XeroOAuthClient(
        "client-1", "wrong-secret", REDIRECT, ENDPOINTS, httpx.Client(transport=httpx.MockTransport(identity))
    )
    with pytest.raises(XeroOAuthError) as caught:
        wrong.refresh("refresh-1")
    assert caught.value.error == "invalid_client"
    assert caught.value.status_code == 401
    assert "wrong-secret" not in str(caught.value) and "wrong-secret" not in repr(wrong)


def test_refresh_is_retried_after_a_lost_answer(oauth: XeroOAuthClient, identity: FakeIdentity) -> None:
    identity.failures = [httpx.ReadTimeout("timed out"), httpx.Response(503)]
    assert oauth.refresh("refresh-1").refresh_token.get_secret_value() == "refresh-2"
    assert len(identity.requests) == 3


def test_a_code_is_never_sent_twice(oauth: XeroOAuthClient, identity: FakeIdentity) -> None:
    identity.failures = [httpx.ReadTimeout("timed out")]
    with pytest.raises(XeroTimeout):
        oauth.exchange_code(code="code-1", code_verifier="v")
    identity.failures = [httpx.Response(500)]
    with pytest.raises(XeroServerError):
        oauth.exchange_code(code="code-1", code_verifier="v")
    assert len(identity.requests) == 2


def test_revoke(oauth: XeroOAuthClient, identity: FakeIdentity) -> None:
    oauth.revoke("refresh-1")
    (request,) = identity.requests
    assert str(request.url) == "https://identity.test/connect/revocation"
    assert request.headers["Authorization"].startswith("Basic ")
    assert form_of(request) == {"token": "refresh-1", "token_type_hint": "refresh_token"}


def test_connections_filtered_by_auth_event(oauth: XeroOAuthClient, identity: FakeIdentity) -> None:
    (connection,) = oauth.connections(ACCESS, auth_event_id="d99ecdfe-391d-43d2-b834-17636ba90e8d")

    (request,) = identity.requests
    assert (request.method, request.url.path) == ("GET", "/connections")
    assert request.url.params["authEventId"] == "d99ecdfe-391d-43d2-b834-17636ba90e8d"
    assert connection.tenant_id == "fe79f7dd-b6d4-4a92-ba7b-538af6289c58"
    assert connection.tenant_type == "ORGANISATION"
    assert connection.updated_date_utc == datetime(2019, 12, 7, 18, 46, 19, 518784, tzinfo=UTC)
    with pytest.raises(XeroUnauthorized):
        oauth.connections("not-the-token")


def test_delete_connection(oauth: XeroOAuthClient, identity: FakeIdentity) -> None:
    oauth.delete_connection(ACCESS, "7cb59f93-2964-421d-bb5e-a0f7a4572a44")
    request = identity.requests[0]
    assert (request.method, request.url.path) == (
        "DELETE",
        "/connections/7cb59f93-2964-421d-bb5e-a0f7a4572a44",
    )
    assert request.headers["Authorization"] == f"Bearer {ACCESS}"
    with pytest.raises(XeroNotFound):
        oauth.delete_connection(ACCESS, "gone")


def test_claims_read_the_jwt_without_verifying() -> None:
    claims = XeroOAuthClient.claims(ACCESS)
    assert claims.authentication_event_id == "d99ecdfe-391d-43d2-b834-17636ba90e8d"
    assert claims.xero_userid == "a8c5e3f2-0000-4000-8000-000000000001"
    assert claims.sub == "sub-1"
    assert claims.exp == datetime(2026, 3, 2, 11, 0, 0, tzinfo=UTC)
    assert "accounting.payments" in claims.scopes


@pytest.mark.parametrize(
    "token", ["opaque-token", "a.b", "a.!!!.c", f"x.{base64.b64encode(b'[1]').decode()}.y", ""]
)
def test_claims_of_something_else_are_all_none(token: str) -> None:
    claims = XeroOAuthClient.claims(token)
    assert (claims.authentication_event_id, claims.xero_userid, claims.sub, claims.exp) == (
        None,
        None,
        None,
        None,
    )


def test_token_set_never_shows_its_secrets(oauth: XeroOAuthClient) -> None:
    tokens: TokenSet = oauth.exchange_code(code="code-1", code_verifier="v")
    shown = " ".join(
        [repr(tokens), str(tokens), tokens.model_dump_json(), repr(oauth), str(tokens.model_dump())]
    )
    for secret in (ACCESS, "refresh-2", "id-token-value", CLIENT_SECRET):
        assert secret not in shown
    assert tokens.expires_within(3600, now=NOW) and not tokens.expires_within(60, now=NOW)
