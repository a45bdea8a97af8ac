"""The local REST API: routes, the proxy event, the response mapping and API Gateway's own answers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tools.local_stack import LocalStack
from tools.local_stack.sigv4 import IamCredentials, SigV4ApiAuth, SigV4Signer

KEY = "local-test-api-key"
CREDENTIALS = IamCredentials("AKIALOCALSTACKTEST01", "local-stack-test-secret")


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Iterator[str]:
    url = stack.start_api(port=0, api_key=KEY, iam_credentials=CREDENTIALS)
    yield url
    stack.stop_api()


def signed_headers(
    url: str, body: bytes, stack: LocalStack, credentials: IamCredentials = CREDENTIALS, api_key: str = KEY
) -> dict[str, str]:
    """What a client signing with botocore sends: its content type, the API key, X-Amz-Date, Authorization."""
    auth = SigV4ApiAuth(SigV4Signer(credentials, stack.region), api_key)
    sent = {"content-type": "application/json"}
    return {**sent, **auth.signed_headers("POST", url, sent, body)}


def call(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, Any]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read() or b"null")


def test_proxy_event_has_api_gateways_shape(api: str) -> None:
    status, _, body = call(f"{api}/echo/42?x=1&x=2&y=3", headers={"X-Custom": "v"})

    assert status == 200
    event = json.loads(body["body"]) if isinstance(body, dict) and "body" in body else body["event"]
    assert event["resource"] == "/echo/{id}" and event["path"] == "/echo/42" and event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"x": "2", "y": "3"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["3"]}
    assert event["headers"]["X-Custom"] == "v" and event["multiValueHeaders"]["X-Custom"] == ["v"]
    assert event["body"] is None and event["isBase64Encoded"] is False and event["stageVariables"] is None
    context = event["requestContext"]
    assert (
        context["resourcePath"] == "/echo/{id}"
        and context["stage"] == "Prod"
        and context["httpMethod"] == "GET"
    )
    assert context["identity"]["sourceIp"] == "127.0.0.1" and context["requestId"]


def test_greedy_path_and_body(api: str) -> None:
    status, _, body = call(f"{api}/files/a/b/c.txt", method="PUT", body=b'{"k": 1}')

    assert status == 200
    event = body["event"]
    assert event["pathParameters"] == {"proxy": "a/b/c.txt"} and event["resource"] == "/files/{proxy+}"
    assert event["body"] == '{"k": 1}' and event["httpMethod"] == "PUT"


def test_api_key_required_routes(api: str, stack: LocalStack) -> None:
    assert call(f"{api}/things/7")[0:3:2] == (403, {"message": "Forbidden"})
    assert call(f"{api}/things/7", headers={"x-api-key": "wrong"})[0] == 403

    status, _, body = call(f"{api}/things/7", headers={"x-api-key": KEY})
    assert status == 200
    event = json.loads(json.dumps(body))["event"]
    assert event["pathParameters"] == {"thing_id": "7"} and event["requestContext"]["stage"] == "v1"
    assert event["requestContext"]["identity"]["apiKey"] == KEY
    assert event["requestContext"]["apiId"] == stack.resources["FixtureApi"].ref
    declared = stack.client("apigateway").get_api_key(
        apiKey=stack.resources["DeclaredApiKey"].ref, includeValue=True
    )
    assert call(f"{api}/things/7", headers={"x-api-key": declared["value"]})[0] == 200


def test_response_mapping(api: str) -> None:
    status, headers, body = call(f"{api}/open", method="POST", body=b"{}")

    assert status == 201 and body["event"]["body"] == "{}"
    assert headers["X-Fixture"] == "yes" and headers["Content-Type"] == "application/json"
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]


def test_api_gateways_own_errors(api: str) -> None:
    assert call(f"{api}/bad")[0:3:2] == (502, {"message": "Internal server error"})
    assert call(f"{api}/boom")[0:3:2] == (502, {"message": "Internal server error"})
    assert call(f"{api}/nowhere")[0:3:2] == (403, {"message": "Missing Authentication Token"})
    assert call(f"{api}/open", method="DELETE")[0:3:2] == (403, {"message": "Missing Authentication Token"})


def test_iam_routes_check_the_signature_before_the_api_key(api: str, stack: LocalStack) -> None:
    url, body = f"{api}/signed/7?x=1", b'{"k": 1}'
    unsigned = call(url, "POST", body, {"x-api-key": KEY})
    wrong_secret = IamCredentials(CREDENTIALS.access_key_id, "another-secret")
    other_secret = call(url, "POST", body, signed_headers(url, body, stack, wrong_secret))
    no_key = call(url, "POST", body, signed_headers(url, body, stack, api_key="not-our-key"))

    assert unsigned[0:3:2] == (403, {"message": "Missing Authentication Token"})
    assert unsigned[1]["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert other_secret[0] == 403 and other_secret[1]["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert other_secret[2]["message"].startswith("The request signature we calculated does not match")
    assert no_key[0:3:2] == (403, {"message": "Forbidden"})  # signed, but not in the usage plan


def test_a_signed_caller_is_in_the_event_as_api_gateway_puts_it(api: str, stack: LocalStack) -> None:
    url, body = f"{api}/signed/7?x=1", b'{"k": 1}'

    status, _, answer = call(
        url, "POST", body, {"content-type": "application/json", **signed_headers(url, body, stack)}
    )

    assert status == 201
    event = answer["event"]
    assert event["pathParameters"] == {"thing_id": "7"} and event["body"] == '{"k": 1}'
    identity = event["requestContext"]["identity"]
    assert identity["accessKey"] == CREDENTIALS.access_key_id and identity["apiKey"] == KEY
    assert identity["accountId"] == stack.template.account_id
    assert identity["userArn"] == f"arn:aws:iam::{stack.template.account_id}:user/ar-platform-backend"
    assert identity["caller"] == identity["user"] and identity["caller"].startswith("AIDA")
    assert identity["cognitoIdentityId"] is None and identity["sourceIp"] == "127.0.0.1"


def test_routes_without_an_authorizer_ignore_an_authorization_header(api: str) -> None:
    status, _, _ = call(f"{api}/open", "POST", b"{}", {"Authorization": "Bearer not-for-us"})

    assert status == 201
