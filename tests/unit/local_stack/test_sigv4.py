"""The local API Gateway's SigV4 check, request by request, with API Gateway's answers.

Requests are signed by botocore (``SigV4Auth`` directly, as an AWS SDK signs) or by the local API's own
client (``SigV4ApiAuth``), then changed the way an attacker or a broken client would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
import requests
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tools.local_stack.sigv4 import (
    IamCaller,
    IamCredentials,
    SignatureRefused,
    SigV4ApiAuth,
    SigV4Signer,
    SigV4Verifier,
)

REGION = "eu-west-1"
ACCOUNT = "123456789012"
KEY = IamCredentials("AKIAXEROBRIDGETEST01", "the-secret-access-key-of-the-test")
URL = "http://127.0.0.1:3000/orgs/acme-ar/invoices?status=PAID&customer_id=c%201"
BODY = b'{"user_email": "ann@example.com"}'
MISMATCH = "The request signature we calculated does not match the signature you provided."

Request = tuple[str, str, dict[str, str], bytes]  # method, url, headers, body


def signed(
    credentials: IamCredentials = KEY,
    *,
    region: str = REGION,
    service: str = "execute-api",
    method: str = "POST",
    url: str = URL,
    body: bytes = BODY,
) -> Request:
    """A request as the AR backend sends it: the API key, a content type, botocore's SigV4 headers."""
    headers = {"host": urlsplit(url).netloc, "content-type": "application/json", "x-api-key": "the-api-key"}
    auth = SigV4ApiAuth(SigV4Signer(credentials, region, service), "the-api-key")
    return method, url, {**headers, **auth.signed_headers(method, url, headers, body)}, body


def verifier(now: datetime | None = None) -> SigV4Verifier:
    return SigV4Verifier([KEY], region=REGION, account_id=ACCOUNT, clock=lambda: now or datetime.now(UTC))


def verify(request: Request, at: SigV4Verifier | None = None) -> IamCaller:
    method, url, headers, body = request
    parts = urlsplit(url)
    return (at or verifier()).verify(method, parts.path, parts.query, headers.items(), body)


def refusal(request: Request, at: SigV4Verifier | None = None) -> SignatureRefused:
    with pytest.raises(SignatureRefused) as refused:
        verify(request, at)
    return refused.value


def test_a_request_botocore_signed_passes_and_names_its_caller() -> None:
    caller = verify(signed())

    assert caller.identity() == {
        "accessKey": KEY.access_key_id,
        "accountId": ACCOUNT,
        "caller": caller.principal_id,
        "user": caller.principal_id,
        "userArn": f"arn:aws:iam::{ACCOUNT}:user/ar-platform-backend",
    }
    assert caller.principal_id.startswith("AIDA") and len(caller.principal_id) == 21


def test_a_request_signed_by_botocore_alone_passes() -> None:
    # Given botocore's signer used directly, with the query in the URL as an SDK sends it
    request = AWSRequest(
        method="GET", url="https://abc.execute-api.eu-west-1.amazonaws.com/dev/orgs/x?a=1&b="
    )
    request.headers["x-api-key"] = "k"
    SigV4Auth(Credentials(KEY.access_key_id, KEY.secret_access_key), "execute-api", REGION).add_auth(request)
    headers = {"host": "abc.execute-api.eu-west-1.amazonaws.com", **dict(request.headers.items())}

    # Then the verifier computes the same signature
    assert verify(("GET", str(request.url), headers, b""))


def test_unsigned_is_missing_authentication_token() -> None:
    method, url, headers, body = signed()
    del headers["Authorization"]

    refused = refusal((method, url, headers, body))

    assert (refused.message, refused.error_type) == (
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    )


def test_another_secret_is_a_signature_mismatch_showing_what_was_expected() -> None:
    refused = refusal(signed(IamCredentials(KEY.access_key_id, "another-secret")))

    assert refused.error_type == "InvalidSignatureException"
    assert refused.message.startswith(
        f"{MISMATCH} Check your AWS Secret Access Key and signing method. Consult the service documentation "
        "for details.\n\nThe Canonical String for this request should have been\n"
        "'POST\n/orgs/acme-ar/invoices\ncustomer_id=c%201&status=PAID\n"
        "content-type:application/json\nhost:127.0.0.1:3000\n"
    )
    assert "\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in refused.message
    assert f"/{REGION}/execute-api/aws4_request\n" in refused.message


@pytest.mark.parametrize(
    ("region", "service", "message"),
    [
        (REGION, "s3", "Credential should be scoped to correct service: 'execute-api'. "),
        ("us-east-1", "execute-api", "Credential should be scoped to a valid region, not 'us-east-1'. "),
    ],
    ids=["another service", "another region"],
)
def test_a_credential_scoped_elsewhere_is_refused(region: str, service: str, message: str) -> None:
    refused = refusal(signed(region=region, service=service))

    assert (refused.message, refused.error_type) == (message, "InvalidSignatureException")


def _tamper_body(request: Request) -> Request:
    method, url, headers, _ = request
    return method, url, headers, b'{"user_email": "mallory@example.com"}'


def _tamper_query(request: Request) -> Request:
    method, url, headers, body = request
    return method, url.replace("status=PAID", "status=VOIDED"), headers, body


def _tamper_path(request: Request) -> Request:
    method, url, headers, body = request
    return method, url.replace("/orgs/acme-ar/", "/orgs/globex-ar/"), headers, body


def _tamper_method(request: Request) -> Request:
    _, url, headers, body = request
    return "DELETE", url, headers, body


def _tamper_api_key(request: Request) -> Request:
    method, url, headers, body = request
    return method, url, {**headers, "x-api-key": "another-key"}, body


def _claim_the_old_body_hash(request: Request) -> Request:
    # A client may send X-Amz-Content-SHA256; the server hashes what arrived, never trusts the claim.
    method, url, headers, body = request
    tampered = _tamper_body((method, url, headers, body))
    return (
        tampered[0],
        tampered[1],
        {**headers, "x-amz-content-sha256": hashlib.sha256(body).hexdigest()},
        tampered[3],
    )


@pytest.mark.parametrize(
    "tamper",
    [_tamper_body, _tamper_query, _tamper_path, _tamper_method, _tamper_api_key, _claim_the_old_body_hash],
    ids=["body", "query", "path", "method", "signed header", "claimed body hash"],
)
def test_a_request_changed_after_signing_is_a_mismatch(tamper: Callable[[Request], Request]) -> None:
    refused = refusal(tamper(signed()))

    assert refused.message.startswith(MISMATCH) and refused.error_type == "InvalidSignatureException"


def test_a_header_left_unsigned_may_change() -> None:
    method, url, headers, body = signed()

    assert verify((method, url, {**headers, "user-agent": "another/1.0", "accept": "*/*"}, body))


def test_a_signature_older_than_five_minutes_has_expired() -> None:
    request = signed()
    signed_at = datetime.strptime(request[2]["X-Amz-Date"], SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    now = signed_at + timedelta(minutes=5, seconds=1)

    refused = refusal(request, verifier(now))

    stamp = signed_at.strftime(SIGV4_TIMESTAMP)
    earliest = (now - timedelta(minutes=5)).strftime(SIGV4_TIMESTAMP)
    current = now.strftime(SIGV4_TIMESTAMP)
    assert (
        refused.message == f"Signature expired: {stamp} is now earlier than {earliest} ({current} - 5 min.)"
    )
    assert refused.error_type == "InvalidSignatureException"
    assert verify(request, verifier(signed_at + timedelta(minutes=5)))  # the window's edge still passes


def test_a_signature_dated_more_than_five_minutes_ahead_is_not_yet_current() -> None:
    request = signed()
    signed_at = datetime.strptime(request[2]["X-Amz-Date"], SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    now = signed_at - timedelta(minutes=6)

    refused = refusal(request, verifier(now))

    assert refused.message.startswith(f"Signature not yet current: {signed_at.strftime(SIGV4_TIMESTAMP)} is ")
    assert refused.message.endswith(f"({now.strftime(SIGV4_TIMESTAMP)} + 5 min.)")


def test_an_unknown_access_key_or_a_session_token_is_an_invalid_security_token() -> None:
    unknown = refusal(signed(IamCredentials("AKIAUNKNOWN000000000", KEY.secret_access_key)))
    method, url, headers, body = signed()
    with_token = refusal((method, url, {**headers, "x-amz-security-token": "a-session-token"}, body))

    for refused in (unknown, with_token):
        assert (refused.message, refused.error_type) == (
            "The security token included in the request is invalid.",
            "UnrecognizedClientException",
        )


def test_a_bearer_token_is_refused_without_being_repeated() -> None:
    method, url, headers, body = signed()

    refused = refusal((method, url, {**headers, "Authorization": "Bearer a-jwt-of-someone"}, body))

    assert refused.error_type == "IncompleteSignatureException"
    assert refused.message.startswith("Invalid key=value pair (missing equal-sign) in Authorization header")
    assert "a-jwt-of-someone" not in refused.message


def test_an_authorization_without_its_parts_names_each_missing_one() -> None:
    method, url, headers, body = signed()
    del headers["X-Amz-Date"]

    refused = refusal((method, url, {**headers, "Authorization": "AWS4-HMAC-SHA256 Foo=bar"}, body))

    assert refused.message == (
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' "
        "parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires "
        "existence of either a 'X-Amz-Date' or a 'Date' header."
    )


def test_the_host_must_be_signed() -> None:
    method, url, headers, body = signed()
    headers["Authorization"] = headers["Authorization"].replace("content-type;host;", "content-type;")

    refused = refusal((method, url, headers, body))

    assert refused.message == "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."


def test_a_date_header_may_stand_for_x_amz_date() -> None:
    request = AWSRequest(method="GET", url="http://127.0.0.1:3000/orgs/x/connection", headers={"Date": "now"})
    SigV4Auth(Credentials(KEY.access_key_id, KEY.secret_access_key), "execute-api", REGION).add_auth(request)
    headers = {"host": "127.0.0.1:3000", **dict(request.headers.items())}

    assert "X-Amz-Date" not in headers and verify(("GET", str(request.url), headers, b""))


def test_no_refusal_repeats_the_secret_or_the_authorization_header() -> None:
    method, url, headers, body = signed()
    requests_refused = [
        refusal(signed(IamCredentials(KEY.access_key_id, "another-secret"))),
        refusal(_tamper_body((method, url, headers, body))),
        refusal(signed(region="us-east-1")),
        refusal((method, url, headers, body), verifier(datetime.now(UTC) + timedelta(hours=1))),
    ]

    for refused in requests_refused:
        assert KEY.secret_access_key not in refused.message and "another-secret" not in refused.message
        assert headers["Authorization"] not in refused.message and "Signature=" not in refused.message
    assert KEY.secret_access_key not in repr(KEY)


def test_the_httpx_auth_signs_what_it_sends() -> None:
    auth = SigV4ApiAuth(SigV4Signer(KEY, REGION), "the-api-key")
    request = httpx.Request("POST", URL, content=BODY, headers={"content-type": "application/json"})

    sent = next(auth.sync_auth_flow(request))

    assert sent.headers["x-api-key"] == "the-api-key"
    assert verify(("POST", str(sent.url), dict(sent.headers.items()), sent.content))


def test_the_same_auth_signs_a_requests_request() -> None:
    auth = SigV4ApiAuth(SigV4Signer(KEY, REGION), "the-api-key")
    prepared = requests.Request(
        "POST", URL, data=BODY, headers={"content-type": "application/json"}
    ).prepare()

    auth(prepared)

    headers = {"host": "127.0.0.1:3000", **{name: str(value) for name, value in prepared.headers.items()}}
    assert prepared.url is not None and isinstance(prepared.body, bytes)
    assert verify(("POST", prepared.url, headers, prepared.body))
