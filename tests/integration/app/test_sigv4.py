"""Issue 10, authorization as AWS recommends it: every integration route of template.yaml, on the local API,
refuses what API Gateway refuses for an ``AWS_IAM`` method, with API Gateway's 403, and serves a request
the AR backend signed; the browser's routes and Xero's webhook still need no AWS credentials.

The routes come from the template (the local stack's routes), never from a list here: a route added later
is attacked by the same tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import botocore.auth
import httpx
import pytest

from tests.integration.app.harness import App, new_org
from tools.local_stack import ApiRoute
from tools.local_stack.sigv4 import IamCredentials, SigV4ApiAuth, SigV4Signer

pytestmark = pytest.mark.integration

MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details.\n\n"
    "The Canonical String for this request should have been\n"
)
EXPIRED = re.compile(
    r"Signature expired: (\d{8}T\d{6}Z) is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)"
)
BODY = b'{"user_email": "ann@example.com"}'


def iam_routes(app: App) -> list[ApiRoute]:
    routes = [r for r in app.stack.stack.routes if r.authorizer == "AWS_IAM"]
    assert routes, "the template has no AWS_IAM route"
    return routes


def url_of(app: App, route: ApiRoute, query: str = "probe=1") -> str:
    """The route with each ``{param}`` filled: an org of no one, a Xero-like id."""
    path = re.sub(r"\{org_id\}", new_org(), route.path)
    path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
    return f"{app.api_url}{path}?{query}"


def send(route: ApiRoute, url: str, headers: dict[str, str], body: bytes = BODY) -> httpx.Response:
    return httpx.request(route.method, url, content=body, headers=headers, timeout=30.0)


def signed(
    app: App,
    route: ApiRoute,
    url: str,
    *,
    credentials: IamCredentials | None = None,
    region: str | None = None,
    service: str = "execute-api",
    body: bytes = BODY,
) -> dict[str, str]:
    """The headers the AR backend sends: its content type, the API key and the SigV4 signature."""
    signer = SigV4Signer(credentials or app.api_credentials, region or app.region, service)
    sent = {"content-type": "application/json"}
    return {**sent, **SigV4ApiAuth(signer, app.api_key).signed_headers(route.method, url, sent, body)}


@pytest.fixture
def signed_six_minutes_ago(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """botocore signs with its clock six minutes behind: a request kept (or replayed) past the window."""
    past = datetime.now(UTC) - timedelta(minutes=6)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: past.replace(tzinfo=None))
    yield


Attack = Callable[[App, ApiRoute], httpx.Response]


def unsigned(app: App, route: ApiRoute) -> httpx.Response:
    return send(route, url_of(app, route), {"content-type": "application/json", "x-api-key": app.api_key})


def another_secret(app: App, route: ApiRoute) -> httpx.Response:
    url = url_of(app, route)
    other = IamCredentials(app.api_credentials.access_key_id, "not-the-secret-of-this-key")
    return send(route, url, signed(app, route, url, credentials=other))


def another_service(app: App, route: ApiRoute) -> httpx.Response:
    url = url_of(app, route)
    return send(route, url, signed(app, route, url, service="lambda"))


def another_region(app: App, route: ApiRoute) -> httpx.Response:
    url = url_of(app, route)
    return send(route, url, signed(app, route, url, region="us-east-1"))


def body_changed_after_signing(app: App, route: ApiRoute) -> httpx.Response:
    url = url_of(app, route)
    return send(route, url, signed(app, route, url), b'{"user_email": "mallory@example.com"}')


def query_changed_after_signing(app: App, route: ApiRoute) -> httpx.Response:
    url = url_of(app, route, "probe=1")
    return send(route, url.replace("probe=1", "probe=2"), signed(app, route, url))


def the_expected_mismatch(route: ApiRoute) -> Callable[[str], bool]:
    # API Gateway shows the canonical request it computed, which starts with the method and the path
    return lambda message: message.startswith(f"{MISMATCH}'{route.method}\n/")


@pytest.mark.parametrize(
    ("attack", "expected_message", "error_type"),
    [
        (unsigned, "Missing Authentication Token", "MissingAuthenticationTokenException"),
        (another_secret, the_expected_mismatch, "InvalidSignatureException"),
        (
            another_service,
            "Credential should be scoped to correct service: 'execute-api'. ",
            "InvalidSignatureException",
        ),
        (
            another_region,
            "Credential should be scoped to a valid region, not 'us-east-1'. ",
            "InvalidSignatureException",
        ),
        (body_changed_after_signing, the_expected_mismatch, "InvalidSignatureException"),
        (query_changed_after_signing, the_expected_mismatch, "InvalidSignatureException"),
    ],
    ids=["unsigned", "another secret", "another service", "another region", "body changed", "query changed"],
)
def test_every_integration_route_refuses_as_api_gateway_does(
    app: App,
    attack: Attack,
    expected_message: str | Callable[[ApiRoute], Callable[[str], bool]],
    error_type: str,
) -> None:
    wrong = []
    for route in iam_routes(app):
        response = attack(app, route)
        message = response.json().get("message", "") if response.status_code == 403 else ""
        matches = (
            expected_message(route)(message) if callable(expected_message) else message == expected_message
        )
        if not (
            response.status_code == 403 and matches and response.headers["x-amzn-ErrorType"] == error_type
        ):
            wrong.append(f"{route.method} {route.path}: {response.status_code} {response.text[:160]}")

    assert wrong == []


def test_every_integration_route_refuses_a_stale_signature(app: App, signed_six_minutes_ago: None) -> None:
    wrong = []
    for route in iam_routes(app):
        url = url_of(app, route)
        headers = signed(app, route, url)
        response = send(route, url, headers)
        found = EXPIRED.fullmatch(response.json().get("message", "")) if response.status_code == 403 else None
        if not (found and found.group(1) == headers["X-Amz-Date"]):
            wrong.append(f"{route.method} {route.path}: {response.status_code} {response.text[:160]}")

    assert wrong == []


def test_every_integration_route_serves_the_signed_ar_backend(app: App) -> None:
    refused = []
    for route in iam_routes(app):
        url = url_of(app, route)
        response = send(route, url, signed(app, route, url))
        # Past API Gateway: the function answered (any answer of its own, never the gateway's 403)
        if "x-amzn-ErrorType" in response.headers or response.status_code >= 500:
            refused.append(f"{route.method} {route.path}: {response.status_code} {response.text[:160]}")

    assert refused == []


@pytest.mark.parametrize("api_key", [None, "not-our-key"], ids=["no key", "wrong key"])
def test_a_signed_request_still_needs_the_usage_plans_api_key(app: App, api_key: str | None) -> None:
    url = f"{app.api_url}/orgs/{new_org()}/connection"
    sent = {"host": urlsplit(url).netloc, **({"x-api-key": api_key} if api_key else {})}
    headers = {**sent, **SigV4Signer(app.api_credentials, app.region).sign("GET", url, sent, b"")}

    response = httpx.get(url, headers=headers, timeout=30.0)

    assert (response.status_code, response.json()) == (403, {"message": "Forbidden"})


def test_the_browser_and_xero_still_call_without_aws_credentials(app: App) -> None:
    # The browser opens a connect link (its session is unknown: the function's own 400, not a 403)
    connect = httpx.get(f"{app.api_url}/connect", params={"session": "unknown"}, timeout=30.0)
    # Xero's consent screen sends the browser back (an unknown state: back to the AR app with an error)
    callback = httpx.get(f"{app.api_url}/callback", params={"state": "s", "code": "c"}, timeout=30.0)
    # Xero delivers a webhook signed with the app's webhook key
    delivery = json.dumps({"events": [], "firstEventSequence": 0, "lastEventSequence": 0}).encode()
    webhook = httpx.post(
        f"{app.api_url}/webhooks/xero",
        content=delivery,
        headers={"x-xero-signature": xero_signature(app, delivery), "content-type": "application/json"},
        timeout=30.0,
    )

    assert (connect.status_code, callback.status_code, webhook.status_code) == (400, 302, 200)
    assert not any("x-amzn-ErrorType" in r.headers for r in (connect, callback, webhook))


def xero_signature(app: App, body: bytes) -> str:
    key = app.local.emulator.config.webhook_key.encode()
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


def test_no_log_line_carries_the_secret_or_a_signature(app: App, caplog: pytest.LogCaptureFixture) -> None:
    # Given the local API's own loggers at their most verbose
    for name in ("werkzeug", "tools.local_stack"):
        caplog.set_level(logging.DEBUG, logger=name)
    route = iam_routes(app)[0]
    url = url_of(app, route)
    headers = signed(app, route, url)

    # When a signed request passes and forged ones are refused
    send(route, url, headers)
    another_secret(app, route)
    unsigned(app, route)

    # Then neither the functions' logs nor the API's carry the secret or the Authorization header
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("werkzeug", "tools.")))
    # Named, never shown: a failing assert prints its operands, and those would be the secret and the logs.
    secrets = {
        "the secret access key": app.api_credentials.secret_access_key,
        "the request's signature": headers["Authorization"].rpartition("Signature=")[2],
        "an Authorization header": "AWS4-HMAC-SHA256 Credential=",
    }
    for where, text in (("the functions' logs", app.logs.text()), ("the API's log", ours)):
        assert [what for what, value in secrets.items() if value in text] == [], where
    assert f"{route.method} " in ours  # the access log was captured: the check above looked at something
