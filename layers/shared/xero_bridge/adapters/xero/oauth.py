"""Xero's OAuth 2.0 (authorization code + PKCE) and the connections of the identity API.

Token requests go to the identity server's ``/connect/token`` with HTTP Basic client authentication and a
form body; Xero rotates the refresh token on every use, so :meth:`XeroOAuthClient.refresh` returns the new
:class:`TokenSet` that must replace the old one. Secrets are :class:`~pydantic.SecretStr`: they never appear
in a repr, a log line or an exception message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from pydantic import SecretStr, ValidationError

from xero_bridge.adapters.xero.transport import DEFAULT_RETRY, RetryPolicy, send, utc_now, xero_message
from xero_bridge.errors import (
    XeroError,
    XeroForbidden,
    XeroInvalidGrant,
    XeroNotFound,
    XeroOAuthError,
    XeroUnauthorized,
)
from xero_bridge.models.oauth import AccessTokenClaims, IdTokenClaims, TokenSet
from xero_bridge.models.xero import Connection

__all__ = [
    "DEFAULT_ENDPOINTS",
    "PRODUCT_SCOPES",
    "AccessTokenClaims",
    "TokenSet",
    "XeroEndpoints",
    "XeroOAuthClient",
    "new_pkce_pair",
]

PRODUCT_SCOPES: tuple[str, ...] = (
    "offline_access",
    "openid",
    "profile",
    "email",
    "accounting.contacts.read",
    "accounting.invoices.read",
    "accounting.payments",
    "accounting.settings.read",
)
"""What xero-bridge asks: refresh tokens, who connected, read contacts/documents/settings, write payments."""


@dataclass(frozen=True)
class XeroEndpoints:
    """The three base URLs of Xero (no trailing slash): real Xero by default, or the emulator."""

    login_url: str = "https://login.xero.com"
    identity_url: str = "https://identity.xero.com"
    api_url: str = "https://api.xero.com"

    @classmethod
    def single_host(cls, base_url: str) -> XeroEndpoints:
        """All three on one host (the emulator)."""
        base = base_url.rstrip("/")
        return cls(login_url=base, identity_url=base, api_url=base)


DEFAULT_ENDPOINTS = XeroEndpoints()
"""Real Xero."""


def new_pkce_pair() -> tuple[str, str]:
    """A PKCE ``(code_verifier, code_challenge)`` pair, S256 (RFC 7636): 86 random URL-safe characters."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


def _secret(value: SecretStr | str) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class XeroOAuthClient:
    """Xero's OAuth 2.0 flows and the identity API's connections.

    Parameters
    ----------
    client_id, client_secret
        The Xero app's credentials (the secret is only ever sent as HTTP Basic auth).
    redirect_uri
        The callback URL registered with the app.
    endpoints
        Base URLs (real Xero or the emulator).
    http
        An httpx client to share; one is made when None.
    retry
        Retries for 429s, 5xx and dropped connections (a code exchange is never re-sent once it may have
        reached Xero: a code is single use).
    clock
        Aware-UTC clock for ``expires_at``.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: SecretStr | str,
        redirect_uri: str,
        endpoints: XeroEndpoints = DEFAULT_ENDPOINTS,
        http: httpx.Client | None = None,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.client_id = client_id
        self._client_secret = (
            client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        )
        self.redirect_uri = redirect_uri
        self.endpoints = endpoints
        self._http = http if http is not None else httpx.Client(timeout=httpx.Timeout(15.0, connect=5.0))
        self._retry = retry
        self._clock = clock

    def __repr__(self) -> str:
        return f"XeroOAuthClient(client_id={self.client_id!r}, redirect_uri={self.redirect_uri!r})"

    # --- authorization code flow ----------------------------------------------------------------------

    def authorization_url(
        self, *, state: str, code_challenge: str, scopes: Sequence[str] = PRODUCT_SCOPES
    ) -> str:
        """The consent-screen URL to redirect the user to (``response_type=code``, PKCE S256)."""
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": " ".join(scopes),
                "state": state,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            },
            quote_via=quote,
        )
        return f"{self.endpoints.login_url.rstrip('/')}/identity/connect/authorize?{query}"

    def exchange_code(self, *, code: str, code_verifier: str) -> TokenSet:
        """Exchange the callback's ``code`` for tokens.

        Raises
        ------
        XeroInvalidGrant
            The code was used, expired, or does not match the verifier or redirect URI.
        XeroOAuthError
            Any other OAuth error (``invalid_client``...), with Xero's ``error``.
        """
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": code_verifier,
        }
        return self._token_request(form, replayable=False)

    def refresh(self, refresh_token: SecretStr | str) -> TokenSet:
        """A new token set from a refresh token; the returned refresh token replaces the old one.

        Retried after a lost answer: Xero accepts the old refresh token again for 30 minutes.

        Raises
        ------
        XeroInvalidGrant
            The refresh token was revoked, expired (60 days unused) or used outside the grace period.
        XeroOAuthError
            Any other OAuth error.
        """
        form = {"grant_type": "refresh_token", "refresh_token": _secret(refresh_token)}
        return self._token_request(form, replayable=True)

    def revoke(self, refresh_token: SecretStr | str) -> None:
        """Revoke a refresh token (and the access tokens issued from it) at ``/connect/revocation``."""
        url = f"{self.endpoints.identity_url.rstrip('/')}/connect/revocation"
        form = {"token": _secret(refresh_token), "token_type_hint": "refresh_token"}
        response = self._send("POST", url, data=form, basic_auth=True, replayable=True)
        self._raise_identity_error(response, "revocation")

    # --- connections ----------------------------------------------------------------------------------

    def connections(
        self, access_token: SecretStr | str, *, auth_event_id: str | None = None
    ) -> list[Connection]:
        """The tenants this token may use (``GET /connections``), only the ones just authorised with
        ``auth_event_id`` (the ``authentication_event_id`` claim of the token)."""
        url = f"{self.endpoints.api_url.rstrip('/')}/connections"
        params = {"authEventId": auth_event_id} if auth_event_id else None
        response = self._send("GET", url, params=params, bearer=_secret(access_token), replayable=True)
        self._raise_api_error(response, "GET /connections")
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            raise XeroError(
                "GET /connections: the answer is not JSON", status_code=response.status_code
            ) from exc
        if not isinstance(body, list):
            raise XeroError("GET /connections: the answer is not a list", status_code=response.status_code)
        try:
            return [Connection.model_validate(item) for item in body]
        except ValidationError as exc:
            raise XeroError(
                f"GET /connections: a connection does not match Xero's spec ({exc.error_count()} errors)",
                status_code=response.status_code,
            ) from None

    def delete_connection(self, access_token: SecretStr | str, connection_id: str) -> None:
        """Disconnect a tenant (``DELETE /connections/{id}``).

        Raises
        ------
        XeroNotFound
            The connection is already gone (a caller disconnecting may take that as done).
        """
        if not connection_id or "/" in connection_id:
            raise ValueError("connection_id must be a single path segment")
        url = f"{self.endpoints.api_url.rstrip('/')}/connections/{connection_id}"
        response = self._send("DELETE", url, bearer=_secret(access_token), replayable=True)
        self._raise_api_error(response, "DELETE /connections")

    # --- tokens -----------------------------------------------------------------------------------------

    @staticmethod
    def id_claims(id_token: SecretStr | str) -> IdTokenClaims:
        """The consenting user's identity from Xero's id token (``email``, ``xero_userid``); all None when the
        token is absent or unreadable. Not verified: it came from Xero's token endpoint itself, over TLS."""
        data = _jwt_payload(_secret(id_token))
        return IdTokenClaims(
            email=_str_or_none(data.get("email")),
            xero_userid=_str_or_none(data.get("xero_userid")),
            sub=_str_or_none(data.get("sub")),
        )

    @staticmethod
    def claims(access_token: SecretStr | str) -> AccessTokenClaims:
        """Read the claims of Xero's access token (a JWT) **without verifying its signature**.

        Only for routing (which auth event, which Xero user); Xero verifies the token on every call.
        """
        data = _jwt_payload(_secret(access_token))
        if not data:
            return AccessTokenClaims()
        exp = data.get("exp")
        scope = data.get("scope")
        scopes = tuple(scope.split()) if isinstance(scope, str) else tuple(str(s) for s in scope or ())
        return AccessTokenClaims(
            authentication_event_id=_str_or_none(data.get("authentication_event_id")),
            xero_userid=_str_or_none(data.get("xero_userid")),
            sub=_str_or_none(data.get("sub")),
            exp=datetime.fromtimestamp(exp, UTC)
            if isinstance(exp, int | float) and not isinstance(exp, bool)
            else None,
            scopes=scopes,
        )

    # --- internals ---------------------------------------------------------------------------------------

    def _token_request(self, form: dict[str, str], *, replayable: bool) -> TokenSet:
        url = f"{self.endpoints.identity_url.rstrip('/')}/connect/token"
        response = self._send("POST", url, data=form, basic_auth=True, replayable=replayable)
        self._raise_identity_error(response, "token")
        try:
            body = json.loads(response.content)
            access = body["access_token"]
            refresh = body["refresh_token"]
            expires_in = int(body.get("expires_in", 1800))
        except (ValueError, KeyError, TypeError) as exc:
            raise XeroError(
                "token: Xero's answer has no access_token/refresh_token", status_code=response.status_code
            ) from exc  # the body may hold tokens: only its shape is described
        if not isinstance(access, str) or not isinstance(refresh, str):
            raise XeroError("token: Xero's tokens are not strings", status_code=response.status_code)
        id_token = body.get("id_token")
        scope = body.get("scope")
        return TokenSet(
            access_token=SecretStr(access),
            refresh_token=SecretStr(refresh),
            id_token=SecretStr(id_token) if isinstance(id_token, str) and id_token else None,
            expires_at=self._clock() + timedelta(seconds=expires_in),
            scopes=tuple(scope.split()) if isinstance(scope, str) else (),
        )

    def _send(
        self,
        method: str,
        url: str,
        *,
        replayable: bool,
        data: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        basic_auth: bool = False,
        bearer: str | None = None,
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if basic_auth:
            raw = f"{self.client_id}:{self._client_secret.get_secret_value()}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"

        def build() -> httpx.Request:
            return self._http.build_request(method, url, params=params, data=data, headers=headers)

        return send(self._http, build, policy=self._retry, replayable=replayable, clock=self._clock)

    @staticmethod
    def _raise_identity_error(response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status < 300:
            return
        try:
            body: Any = json.loads(response.content)
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, str) and error:
            description = body.get("error_description") if isinstance(body, dict) else None
            detail = f": {description}" if isinstance(description, str) and description else ""
            message = f"{what}: Xero answered {error}{detail}"[:500]
            if error == "invalid_grant":
                raise XeroInvalidGrant(message, status_code=status)
            raise XeroOAuthError(message, error=error, status_code=status)
        raise XeroOAuthError(
            f"{what}: Xero answered {status}: {xero_message(response)}",
            error="http_error",
            status_code=status,
        )

    @staticmethod
    def _raise_api_error(response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status < 300:
            return
        message = f"{what}: {xero_message(response)}"
        if status == 401:
            raise XeroUnauthorized(message, status_code=401)
        if status == 403:
            raise XeroForbidden(message, status_code=403)
        if status == 404:
            raise XeroNotFound(message, status_code=404)
        raise XeroError(f"{what}: Xero answered {status}", status_code=status)


def _jwt_payload(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified; {} when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
