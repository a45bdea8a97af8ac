"""SigV4 for the local API Gateway: API Gateway's check of an ``AWS_IAM`` route, and a client's signer.

Both sides compute with botocore's own SigV4 code (``botocore.auth.SigV4Auth``: canonical request, string to
sign, signing key) rather than a second implementation of the crypto: a signature this module accepts is one
botocore — the SDK the AR backend signs with — produces, and a bug would have to be botocore's. The verifier
only chooses the inputs as a server must: the headers the caller *listed* as signed, the hash of the body that
*arrived* (never a claimed ``X-Amz-Content-SHA256``), our service and region; then compares the signatures
with :func:`hmac.compare_digest`.

What API Gateway answers (403, body ``{"message": ...}``, header ``x-amzn-ErrorType``):

* no ``Authorization`` header: ``Missing Authentication Token`` (``MissingAuthenticationTokenException``);
* a header that is not SigV4's ``key=value`` list, or misses Credential, SignedHeaders, Signature or a date
  (``IncompleteSignatureException``); API Gateway repeats the header in some of these, we never do;
* a credential scoped to another region or service, or a date outside 5 minutes of now either way
  (``Signature expired: ... - 5 min.``), or an unsigned Host (``InvalidSignatureException``);
* an unknown access key id, or a session token (the local credentials are long-term):
  ``The security token included in the request is invalid.`` (``UnrecognizedClientException``);
* any other difference: ``The request signature we calculated does not match ...`` with the canonical
  string and string to sign it expected (``InvalidSignatureException``), as API Gateway shows them.

No message, log line or ``repr`` here carries the secret access key or the ``Authorization`` header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

SERVICE = "execute-api"
ALGORITHM = "AWS4-HMAC-SHA256"
#: API Gateway refuses a request dated more than 5 minutes before or after its own clock.
SIGNATURE_WINDOW = timedelta(minutes=5)
#: What the local API Gateway's client signs: the target (Host), the body's type and the API key. Not the
#: hop-by-hop headers (Connection) nor what a proxy may rewrite (Accept-Encoding, User-Agent).
CLIENT_SIGNED_HEADERS = ("host", "content-type", "x-api-key")


@dataclass(frozen=True)
class IamCredentials:
    """An access key pair (long-term, as an IAM user's); ``repr`` never shows the secret."""

    access_key_id: str
    secret_access_key: str = field(repr=False)


#: The access key the local stack accepts unless told another (make start's API_ACCESS_KEY_ID and
#: API_SECRET_ACCESS_KEY): local only, like the API key ``local-api-key``; no AWS account knows it.
LOCAL_CREDENTIALS = IamCredentials("AKIAXEROBRIDGELOCAL1", "local-api-secret-access-key")

_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
_INVALID_TOKEN = "The security token included in the request is invalid."


@dataclass(frozen=True)
class IamCaller:
    """Who signed a request that passed, as API Gateway puts it in ``requestContext.identity``."""

    access_key: str
    account_id: str
    user_arn: str
    principal_id: str  # ``caller`` and ``user``: the IAM user's unique id (AIDA...)

    def identity(self) -> dict[str, str]:
        return {
            "accessKey": self.access_key,
            "accountId": self.account_id,
            "caller": self.principal_id,
            "user": self.principal_id,
            "userArn": self.user_arn,
        }


class SignatureRefused(Exception):
    """API Gateway's 403 for a request on an ``AWS_IAM`` route: its message and ``x-amzn-ErrorType``."""

    def __init__(self, message: str, error_type: str) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type


def _missing_token() -> SignatureRefused:
    return SignatureRefused("Missing Authentication Token", "MissingAuthenticationTokenException")


def _incomplete(message: str) -> SignatureRefused:
    return SignatureRefused(message, "IncompleteSignatureException")


def _invalid(message: str) -> SignatureRefused:
    return SignatureRefused(message, "InvalidSignatureException")


def _unrecognized() -> SignatureRefused:
    return SignatureRefused(_INVALID_TOKEN, "UnrecognizedClientException")


@dataclass(frozen=True)
class _Authorization:
    algorithm: str
    access_key_id: str
    scope: list[str]  # date, region, service, terminator
    signed_headers: list[str]
    signature: str


def _parse_authorization(header: str, has_date: bool) -> _Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for pair in (p.strip() for p in rest.split(",")):
        name, equals, value = pair.partition("=")
        if not equals:
            # API Gateway hashes the header here rather than repeating it (it may be a bearer token).
            digest = base64.b64encode(hashlib.sha256(header.encode()).digest()).decode()
            raise _incomplete(
                "Invalid key=value pair (missing equal-sign) in Authorization header (hashed with SHA-256 "
                f"and encoded with Base64): '{digest}'."
            )
        params[name.strip()] = value.strip()
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name)
    ]
    if not has_date:
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if missing:
        raise _incomplete(" ".join(missing))
    access_key_id, _, scope = params["Credential"].partition("/")
    return _Authorization(
        algorithm,
        access_key_id,
        scope.split("/"),
        params["SignedHeaders"].lower().split(";"),
        params["Signature"],
    )


def _request_time(headers: Mapping[str, str]) -> str | None:
    """The request's SigV4 timestamp (``YYYYMMDDTHHMMSSZ``): X-Amz-Date, else the Date header."""
    amz_date = headers.get("x-amz-date")
    if amz_date is not None:
        try:
            datetime.strptime(amz_date, SIGV4_TIMESTAMP)
        except ValueError:
            raise _incomplete(
                f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See "
                "http://en.wikipedia.org/wiki/ISO_8601"
            ) from None
        return amz_date
    date = headers.get("date")
    if date is None:
        return None
    try:
        return parsedate_to_datetime(date).astimezone(UTC).strftime(SIGV4_TIMESTAMP)
    except (TypeError, ValueError):
        raise _incomplete(f"Date must be in ISO-8601 'basic format'. Got '{date}'.") from None


def _query_pairs(query: str) -> Any:
    """The query's decoded pairs: botocore encodes them canonically, so both sides sign the same string.

    A list, so a repeated name keeps every value: botocore takes one (its stubs only say Mapping).
    """
    return cast(Any, parse_qsl(query, keep_blank_values=True))


class _ServerSigV4(SigV4Auth):
    """botocore's SigV4 with a server's inputs: the listed headers' values and the received body's hash."""

    def __init__(
        self,
        credentials: Credentials,
        region: str,
        signed_headers: HTTPHeaders,
        body: bytes,
    ) -> None:
        super().__init__(credentials, SERVICE, region)
        self._signed_headers = signed_headers
        self._body = body

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return self._signed_headers

    def payload(self, request: AWSRequest) -> str:
        return hashlib.sha256(self._body).hexdigest()


class SigV4Verifier:
    """API Gateway's SigV4 check for ``AWS_IAM`` routes, against the access keys it knows.

    Parameters
    ----------
    keys
        The access key pairs it accepts (one for the local stack; none refuses every signature).
    region
        The stack's region: the credential scope must name it, with the service ``execute-api``.
    account_id
        The account the keys belong to (``requestContext.identity.accountId``).
    user_name
        The IAM user the keys stand for (its ARN in ``requestContext.identity.userArn``).
    clock
        Now, in UTC (tests move it).
    """

    def __init__(
        self,
        keys: Iterable[IamCredentials],
        *,
        region: str,
        account_id: str,
        user_name: str = "ar-platform-backend",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._keys = {key.access_key_id: key for key in keys}
        self.region = region
        self.account_id = account_id
        self.user_name = user_name
        self._clock = clock

    def verify(
        self, method: str, path: str, query: str, header_items: Iterable[tuple[str, str]], body: bytes
    ) -> IamCaller:
        """The caller of a request that passes; :class:`SignatureRefused` otherwise.

        ``path`` and ``query`` are as the request line sent them (still percent-encoded); ``header_items``
        are the request's (name, value) pairs, names in any case.
        """
        headers: dict[str, str] = {}
        for name, value in header_items:  # a repeated header is signed as its values joined by commas
            lower = name.lower()
            headers[lower] = f"{headers[lower]},{value}" if lower in headers else value
        authorization = headers.get("authorization")
        if authorization is None:
            raise _missing_token()
        timestamp = _request_time(headers)
        auth = _parse_authorization(authorization, has_date=timestamp is not None)
        assert timestamp is not None  # _parse_authorization refuses a request without a date
        self._check_scope(auth.scope, timestamp)
        self._check_time(timestamp)
        key = self._keys.get(auth.access_key_id)
        if key is None or "x-amz-security-token" in headers:
            raise _unrecognized()
        if "host" not in auth.signed_headers:
            raise _incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
        signed = HTTPHeaders()
        for name in auth.signed_headers:
            if name != "authorization":  # never part of a canonical string, so never shown in a refusal
                signed[name] = headers.get(name, "")
        signer = _ServerSigV4(
            Credentials(key.access_key_id, key.secret_access_key), self.region, signed, body
        )
        request = AWSRequest(
            method=method.upper(),
            url=urlunsplit(("https", headers.get("host", ""), path, "", "")),
            params=_query_pairs(query),
        )
        request.context["timestamp"] = timestamp
        canonical = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical)
        expected = signer.signature(string_to_sign, request)
        if auth.algorithm != ALGORITHM or not hmac.compare_digest(expected, auth.signature):
            raise _invalid(
                f"{_MISMATCH}\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n"
                f"The String-to-Sign should have been\n'{string_to_sign}'\n"
            )
        return IamCaller(
            access_key=key.access_key_id,
            account_id=self.account_id,
            user_arn=f"arn:aws:iam::{self.account_id}:user/{self.user_name}",
            principal_id=_principal_id(key.access_key_id),
        )

    def _check_scope(self, scope: list[str], timestamp: str) -> None:
        date, region, service, terminator = [*scope, "", "", "", ""][:4]
        if region != self.region:
            raise _invalid(f"Credential should be scoped to a valid region, not '{region}'. ")
        if service != SERVICE:
            raise _invalid(f"Credential should be scoped to correct service: '{SERVICE}'. ")
        if terminator != "aws4_request" or len(scope) != 4:
            raise _invalid(
                f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'. "
            )
        if date != timestamp[:8]:
            raise _invalid(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{date}' != '{timestamp[:8]}', from '{timestamp}'."
            )

    def _check_time(self, timestamp: str) -> None:
        signed_at = datetime.strptime(timestamp, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
        now = self._clock()
        if signed_at < now - SIGNATURE_WINDOW:
            raise _invalid(
                f"Signature expired: {timestamp} is now earlier than {_stamp(now - SIGNATURE_WINDOW)} "
                f"({_stamp(now)} - 5 min.)"
            )
        if signed_at > now + SIGNATURE_WINDOW:
            raise _invalid(
                f"Signature not yet current: {timestamp} is still later than "
                f"{_stamp(now + SIGNATURE_WINDOW)} ({_stamp(now)} + 5 min.)"
            )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(SIGV4_TIMESTAMP)


def _principal_id(access_key_id: str) -> str:
    """A stable IAM-user-like unique id (``AIDA`` + 17 characters) for the local key."""
    digest = base64.b32encode(hashlib.sha256(access_key_id.encode()).digest()).decode()
    return "AIDA" + digest[:17]


# --------------------------------------------------------------------------------------------------------
# The client side
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigV4Signer:
    """Signs a request for API Gateway with botocore, as an AWS SDK does."""

    credentials: IamCredentials
    region: str
    service: str = SERVICE

    def sign(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        """The headers that sign ``headers`` (all of them) and ``body``: X-Amz-Date and Authorization."""
        parts = urlsplit(url)
        request = AWSRequest(
            method=method.upper(),
            url=urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
            headers=dict(headers),
            data=body,
            params=_query_pairs(parts.query),
        )
        credentials = Credentials(self.credentials.access_key_id, self.credentials.secret_access_key)
        SigV4Auth(credentials, self.service, self.region).add_auth(request)
        return {name: request.headers[name] for name in ("X-Amz-Date", "Authorization")}


class SigV4ApiAuth(httpx.Auth):
    """The one place a client of the local API attaches its credentials: the API key, then a SigV4 signature.

    An ``httpx.Auth`` (``httpx.get(url, auth=app.api_auth)``), and a ``requests`` auth as well
    (``requests.get(url, auth=app.api_auth)``), so a client on either library signs the same way.
    """

    requires_request_body = True

    def __init__(self, signer: SigV4Signer, api_key: str) -> None:
        self.signer = signer
        self.api_key = api_key

    def signed_headers(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> dict[str, str]:
        """The API key and the signature headers for a request (``headers``: what it already sends)."""
        sent = {name.lower(): value for name, value in headers.items()}
        sent["x-api-key"] = self.api_key
        sent.setdefault("host", urlsplit(url).netloc)
        to_sign = {name: sent[name] for name in CLIENT_SIGNED_HEADERS if name in sent}
        return {"x-api-key": self.api_key, **self.signer.sign(method, url, to_sign, body)}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(
            self.signed_headers(request.method, str(request.url), request.headers, request.content)
        )
        yield request

    def __call__(self, request: Any) -> Any:
        """``requests``' auth protocol: sign a ``PreparedRequest`` in place."""
        body = request.body or b""
        request.headers.update(
            self.signed_headers(
                request.method, request.url, request.headers, body.encode() if isinstance(body, str) else body
            )
        )
        return request
