"""Xero's identity service: authorize, token, revocation, connections, and bearer-token checks for the API.

What the emulator does, and where Xero is surprising:

- The consent screen is non-interactive: :class:`Consent` says which user "clicks Allow" (or "Deny"), on
  which tenants, with which role. Connections are created when the user allows, one per (user, tenant),
  each carrying the ``authEventId`` of that consent; re-consenting a tenant keeps the connection id and
  ``createdDateUtc`` and refreshes ``authEventId`` and ``updatedDateUtc`` (as Xero does).
- Access tokens are RS256 JWTs (keys published at ``/.well-known/openid-configuration/jwks``) valid 30
  minutes on the emulator clock; ``scope`` is a list, like Xero's.
- Refresh tokens rotate on every use. **Grace**: the refresh token used last may be used again for 30
  minutes (a client that lost the response retries); each grace retry returns a *fresh* pair (as Xero does)
  and the pair issued before it stops working. So the token family has one live refresh token at a time,
  and two concurrent refreshes of one token set leave one of the two callers with a dead token -- which
  is why a client must serialise refreshes. Any other reuse, a revoked family, or 60 days without use
  -> HTTP 400 ``{"error":"invalid_grant"}``.
- Every token endpoint error is HTTP 400 with an OAuth ``error`` (IdentityServer's behaviour, including
  ``invalid_client`` for a wrong secret); authorize errors about the client or the redirect URI show an
  error page and never redirect (redirecting would leak codes to an unregistered URI).
- Revocation ends the whole family: its refresh token, every access token issued from it, and the
  connections created by that consent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from xero_emulator.clock import Clock
from xero_emulator.config import EmulatorConfig

#: Scopes that do not give access to a tenant (no connection is created for them alone).
IDENTITY_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
_SCOPE_PREFIXES = (
    "accounting.",
    "payroll.",
    "files",
    "assets",
    "projects",
    "bankfeeds",
    "finance.",
    "paymentservices",
    "app.connections",
    "marketplace.",
)


def known_scope(scope: str) -> bool:
    return scope in IDENTITY_SCOPES or scope.startswith(_SCOPE_PREFIXES)


#: Resource -> scopes of which one must be granted to read it; the write scopes are the same minus ``.read``.
#: ``accounting.transactions`` is the broad legacy scope; the granular ones (required for new apps from
#: March 2026) split it into invoices and payments.
_READ_SCOPES: dict[str, tuple[str, ...]] = {
    "Contacts": ("accounting.contacts", "accounting.contacts.read"),
    "Invoices": (
        "accounting.transactions",
        "accounting.transactions.read",
        "accounting.invoices",
        "accounting.invoices.read",
    ),
    "CreditNotes": (
        "accounting.transactions",
        "accounting.transactions.read",
        "accounting.invoices",
        "accounting.invoices.read",
    ),
    "Payments": (
        "accounting.transactions",
        "accounting.transactions.read",
        "accounting.payments",
        "accounting.payments.read",
    ),
    "Overpayments": (
        "accounting.transactions",
        "accounting.transactions.read",
        "accounting.payments",
        "accounting.payments.read",
    ),
    "Prepayments": (
        "accounting.transactions",
        "accounting.transactions.read",
        "accounting.payments",
        "accounting.payments.read",
    ),
    "Accounts": ("accounting.settings", "accounting.settings.read"),
    "Organisation": ("accounting.settings", "accounting.settings.read"),
    "Users": ("accounting.settings", "accounting.settings.read"),
    "Currencies": ("accounting.settings", "accounting.settings.read"),
}


def scopes_for(resource: str, *, write: bool) -> tuple[str, ...]:
    """Scopes of which one allows ``resource`` (read or write); unknown resources need a settings scope."""
    candidates = _READ_SCOPES.get(resource, ("accounting.settings", "accounting.settings.read"))
    if write:
        return tuple(s for s in candidates if not s.endswith(".read"))
    return candidates


class OAuthError(Exception):
    """An OAuth protocol error: ``error`` code, HTTP status, optional description."""

    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        out = {"error": self.error}
        if self.description:
            out["error_description"] = self.description
        return out


class AuthorizeError(Exception):
    """Authorize failure. ``page`` True: show an error page (bad client or redirect URI), else redirect."""

    def __init__(self, error: str, description: str, *, page: bool = False) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.page = page


class BearerError(Exception):
    """A bearer token that does not authorise an API call: ``status`` 401 or 403 and Xero's ``Detail``."""

    def __init__(self, status: int, detail: str, *, www_authenticate: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.www_authenticate = www_authenticate


@dataclass
class Consent:
    """Who clicks "Allow" on the consent screen, for which tenants, and with which role in them."""

    user_id: str
    email: str
    first_name: str
    last_name: str
    role: str = "FINANCIALADVISER"
    tenant_ids: list[str] | None = None  # None: every tenant the emulator holds
    deny: bool = False
    #: When set, only these of the requested scopes are granted (to test "scopes missing").
    grant_only_scopes: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "role": self.role,
            "tenant_ids": self.tenant_ids,
            "deny": self.deny,
            "grant_only_scopes": self.grant_only_scopes,
        }


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    challenge: str | None
    user_id: str
    auth_event_id: str
    nonce: str | None
    expires_at: float
    used: bool = False


@dataclass
class _Family:
    """All tokens born from one consent (one ``authentication_event_id``)."""

    auth_event_id: str
    client_id: str
    user_id: str
    scopes: tuple[str, ...]
    auth_time: float
    session_id: str
    public: bool
    live_refresh: str | None = None
    live_issued_at: float = 0.0
    previous_refresh: str | None = None
    previous_rotated_at: float = 0.0
    revoked: bool = False
    nonce: str | None = None


@dataclass
class Connection:
    id: str
    client_id: str
    user_id: str
    tenant_id: str
    tenant_name: str
    auth_event_id: str
    created: datetime
    updated: datetime

    def as_xero(self) -> dict[str, Any]:
        from xero_emulator.httputil import xero_identity_datetime

        return {
            "id": self.id,
            "authEventId": self.auth_event_id,
            "tenantId": self.tenant_id,
            "tenantType": "ORGANISATION",
            "tenantName": self.tenant_name,
            "createdDateUtc": xero_identity_datetime(self.created),
            "updatedDateUtc": xero_identity_datetime(self.updated),
        }


@dataclass
class BearerIdentity:
    """What an API call's access token proves."""

    user_id: str
    client_id: str
    auth_event_id: str
    scopes: frozenset[str]


@dataclass
class TenantDirectory:
    """The few store facts the identity service needs (kept as callables so the store stays HTTP-free)."""

    tenant_ids: Callable[[], list[str]]
    tenant_name: Callable[[str], str]
    has_tenant: Callable[[str], bool]
    user_role: Callable[[str, str], str | None]
    ensure_user: Callable[[str, Consent], None]


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class IdentityService:
    """The identity half of the emulator (no HTTP here: :mod:`xero_emulator.server` maps it to routes)."""

    def __init__(self, config: EmulatorConfig, clock: Clock, tenants: TenantDirectory) -> None:
        self._config = config
        self._clock = clock
        self._tenants = tenants
        self._lock = threading.RLock()
        self._key, self._kid = _signing_key()
        self.issuer = "http://127.0.0.1"
        self.consent = Consent(
            user_id=config.consent_user_id,
            email=config.consent_email,
            first_name=config.consent_first_name,
            last_name=config.consent_last_name,
            role=config.consent_role,
            tenant_ids=list(config.consent_tenant_ids) if config.consent_tenant_ids is not None else None,
            deny=config.consent_deny,
        )
        self._codes: dict[str, _Code] = {}
        self._families: dict[str, _Family] = {}
        self._refresh_index: dict[str, str] = {}
        self._connections: dict[str, Connection] = {}

    # --- admin ---------------------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._codes.clear()
            self._families.clear()
            self._refresh_index.clear()
            self._connections.clear()

    def set_consent(self, changes: Mapping[str, Any]) -> Consent:
        with self._lock:
            for key, value in changes.items():
                if not hasattr(self.consent, key):
                    raise ValueError(f"unknown consent field {key!r}")
                setattr(self.consent, key, value)
            return self.consent

    def all_connections(self) -> list[Connection]:
        with self._lock:
            return list(self._connections.values())

    def remove_connections(self, tenant_id: str, user_id: str | None = None) -> int:
        """The "revoked connection" fault: the user (or everyone) disconnected the tenant inside Xero."""
        with self._lock:
            doomed = [
                c.id
                for c in self._connections.values()
                if c.tenant_id == tenant_id and (user_id is None or c.user_id == user_id)
            ]
            for cid in doomed:
                del self._connections[cid]
            return len(doomed)

    def revoke_grants(self, tenant_id: str) -> int:
        """The "revoked grant" fault: the grants that reach the tenant are revoked, as
        ``/connect/revocation`` would; their connections go, their refresh tokens answer ``invalid_grant``,
        their access tokens 401."""
        with self._lock:
            reaching = [c for c in self._connections.values() if c.tenant_id == tenant_id]
            events = {c.auth_event_id for c in reaching}
            revoked = 0
            for family in self._families.values():
                if family.auth_event_id in events and not family.revoked:
                    family.revoked = True
                    revoked += 1
            for cid in [c.id for c in self._connections.values() if c.auth_event_id in events]:
                del self._connections[cid]
            return revoked

    def token_families(self) -> list[dict[str, Any]]:
        """Token families without any token value (admin output)."""
        with self._lock:
            return [
                {
                    "authEventId": f.auth_event_id,
                    "userId": f.user_id,
                    "scopes": list(f.scopes),
                    "revoked": f.revoked,
                    "hasRefreshToken": f.live_refresh is not None,
                }
                for f in self._families.values()
            ]

    # --- authorize -----------------------------------------------------------------------------------

    def authorize(self, params: Mapping[str, str]) -> str:
        """The redirect URL (with ``code`` or ``error``); :class:`AuthorizeError` when a page must show."""
        cfg = self._config
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        if client_id != cfg.client_id:
            raise AuthorizeError("unauthorized_client", "Unknown client or client not enabled", page=True)
        if redirect_uri not in cfg.redirect_uris:
            raise AuthorizeError("invalid_request", "Invalid redirect_uri", page=True)
        state = params.get("state")

        def fail(error: str, description: str) -> str:
            query = {"error": error, "error_description": description}
            if state is not None:
                query["state"] = state
            return _with_query(redirect_uri, query)

        if params.get("response_type") != "code":
            return fail("unsupported_response_type", "response_type must be code")
        requested = tuple(dict.fromkeys(params.get("scope", "").split()))
        if not requested:
            return fail("invalid_scope", "scope is required")
        unknown = [s for s in requested if not known_scope(s)]
        if unknown:
            return fail("invalid_scope", f"unknown scope {' '.join(unknown)}")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if method is not None and method != "S256":
            return fail("invalid_request", "code_challenge_method must be S256")
        if method is not None and not challenge:
            return fail("invalid_request", "code_challenge is required with code_challenge_method")
        if challenge and method is None:
            return fail("invalid_request", "code_challenge_method is required (S256)")
        if cfg.require_pkce and not challenge:
            return fail("invalid_request", "code_challenge is required")

        with self._lock:
            consent = self.consent
            if consent.deny:
                return fail("access_denied", "The user denied access")
            granted = requested
            if consent.grant_only_scopes is not None:
                allowed = set(consent.grant_only_scopes)
                granted = tuple(s for s in requested if s in allowed)
            auth_event_id = str(uuid.uuid4())
            if any(s not in IDENTITY_SCOPES for s in granted):
                self._connect_tenants(consent, auth_event_id)
            code = secrets.token_urlsafe(32)
            self._codes[code] = _Code(
                client_id=client_id,
                redirect_uri=redirect_uri,
                scopes=granted,
                challenge=challenge,
                user_id=consent.user_id,
                auth_event_id=auth_event_id,
                nonce=params.get("nonce"),
                expires_at=self._clock.timestamp() + cfg.code_seconds,
            )
        query = {"code": code, "scope": " ".join(granted), "session_state": secrets.token_urlsafe(16)}
        if state is not None:
            query["state"] = state
        return _with_query(redirect_uri, query)

    def _connect_tenants(self, consent: Consent, auth_event_id: str) -> None:
        tenant_ids = consent.tenant_ids if consent.tenant_ids is not None else self._tenants.tenant_ids()
        now = self._clock.now()
        for tenant_id in tenant_ids:
            if not self._tenants.has_tenant(tenant_id):
                continue
            self._tenants.ensure_user(tenant_id, consent)
            existing = next(
                (
                    c
                    for c in self._connections.values()
                    if c.tenant_id == tenant_id
                    and c.user_id == consent.user_id
                    and c.client_id == self._config.client_id
                ),
                None,
            )
            if existing:
                existing.auth_event_id = auth_event_id
                existing.updated = now
                existing.tenant_name = self._tenants.tenant_name(tenant_id)
            else:
                cid = str(uuid.uuid4())
                self._connections[cid] = Connection(
                    id=cid,
                    client_id=self._config.client_id,
                    user_id=consent.user_id,
                    tenant_id=tenant_id,
                    tenant_name=self._tenants.tenant_name(tenant_id),
                    auth_event_id=auth_event_id,
                    created=now,
                    updated=now,
                )

    # --- token ---------------------------------------------------------------------------------------

    def token(self, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        """POST /connect/token. Returns the token response or raises :class:`OAuthError`."""
        client_id, secret = _client_credentials(form, authorization)
        if client_id != self._config.client_id:
            raise OAuthError("invalid_client")
        if secret is not None and not hmac.compare_digest(secret, self._config.client_secret):
            raise OAuthError("invalid_client")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange_code(form, public=secret is None)
        if grant_type == "refresh_token":
            return self._refresh(form, public=secret is None)
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        raise OAuthError("unsupported_grant_type")

    def _exchange_code(self, form: Mapping[str, str], *, public: bool) -> dict[str, Any]:
        code_value = form.get("code", "")
        verifier = form.get("code_verifier")
        with self._lock:
            code = self._codes.get(code_value)
            now = self._clock.timestamp()
            if code is None or code.used:
                raise OAuthError("invalid_grant")
            code.used = True  # single use, even when the exchange below fails
            if now > code.expires_at:
                raise OAuthError("invalid_grant", "authorization code expired")
            if form.get("redirect_uri", "") != code.redirect_uri:
                raise OAuthError("invalid_grant", "redirect_uri does not match")
            if code.challenge is not None:
                if not verifier or not hmac.compare_digest(s256(verifier), code.challenge):
                    raise OAuthError("invalid_grant", "invalid code_verifier")
            elif public:
                raise OAuthError("invalid_client", "a client without a secret must use PKCE")
            family = _Family(
                auth_event_id=code.auth_event_id,
                client_id=code.client_id,
                user_id=code.user_id,
                scopes=code.scopes,
                auth_time=now,
                session_id=uuid.uuid4().hex,
                public=public,
                nonce=code.nonce,
            )
            self._families[family.auth_event_id] = family
            return self._issue(family, now, with_nonce=True)

    def _refresh(self, form: Mapping[str, str], *, public: bool) -> dict[str, Any]:
        token = form.get("refresh_token", "")
        if not token:
            raise OAuthError("invalid_request", "refresh_token is required")
        with self._lock:
            now = self._clock.timestamp()
            family = self._families.get(self._refresh_index.get(token, ""))
            if family is None or family.revoked:
                raise OAuthError("invalid_grant")
            if public and not family.public:
                raise OAuthError("invalid_client")
            if token == family.live_refresh:
                if now - family.live_issued_at > self._config.refresh_unused_seconds:
                    raise OAuthError("invalid_grant")
                if family.previous_refresh is not None:
                    self._refresh_index.pop(family.previous_refresh, None)
                family.previous_refresh = token
                family.previous_rotated_at = now
            elif token == family.previous_refresh:
                if now - family.previous_rotated_at > self._config.refresh_grace_seconds:
                    raise OAuthError("invalid_grant")
                # Grace retry: the pair issued in between is replaced by the fresh one below.
            else:
                raise OAuthError("invalid_grant")
            return self._issue(family, now, with_nonce=False)

    def _issue(self, family: _Family, now: float, *, with_nonce: bool) -> dict[str, Any]:
        cfg = self._config
        base = {
            "nbf": int(now),
            "exp": int(now) + cfg.access_token_seconds,
            "iss": self.issuer,
            "aud": f"{self.issuer}/resources",
            "client_id": family.client_id,
            "sub": _subject(family.user_id),
            "auth_time": int(family.auth_time),
            "xero_userid": family.user_id,
            "global_session_id": family.session_id,
            "sid": family.session_id,
            "jti": uuid.uuid4().hex,
            "authentication_event_id": family.auth_event_id,
            "scope": list(family.scopes),
            "amr": ["pwd"],
        }
        body: dict[str, Any] = {
            "access_token": self._sign(base),
            "expires_in": cfg.access_token_seconds,
            "token_type": "Bearer",
            "scope": " ".join(family.scopes),
        }
        if "offline_access" in family.scopes:
            if family.live_refresh is not None and family.live_refresh != family.previous_refresh:
                self._refresh_index.pop(family.live_refresh, None)
            refresh = secrets.token_hex(32)
            family.live_refresh = refresh
            family.live_issued_at = now
            self._refresh_index[refresh] = family.auth_event_id
            body["refresh_token"] = refresh
        if "openid" in family.scopes:
            body["id_token"] = self._id_token(family, now, nonce=family.nonce if with_nonce else None)
        return body

    def _id_token(self, family: _Family, now: float, *, nonce: str | None) -> str:
        consent = self.consent
        claims: dict[str, Any] = {
            "nbf": int(now),
            "exp": int(now) + 300,
            "iat": int(now),
            "iss": self.issuer,
            "aud": family.client_id,
            "sub": _subject(family.user_id),
            "auth_time": int(family.auth_time),
            "xero_userid": family.user_id,
            "global_session_id": family.session_id,
            "sid": family.session_id,
        }
        if "email" in family.scopes or "profile" in family.scopes:
            claims["email"] = consent.email
            claims["preferred_username"] = consent.email
        if "profile" in family.scopes:
            claims["given_name"] = consent.first_name
            claims["family_name"] = consent.last_name
            claims["name"] = f"{consent.first_name} {consent.last_name}"
        if nonce:
            claims["nonce"] = nonce
        return self._sign(claims)

    def _sign(self, claims: Mapping[str, Any]) -> str:
        return jwt.encode(
            dict(claims), self._key, algorithm="RS256", headers={"kid": self._kid, "typ": "JWT"}
        )

    # --- revocation ----------------------------------------------------------------------------------

    def revoke(self, form: Mapping[str, str], authorization: str | None) -> None:
        """POST /connect/revocation: an unknown token is not an error (RFC 7009), a bad client is."""
        client_id, secret = _client_credentials(form, authorization)
        if client_id != self._config.client_id:
            raise OAuthError("invalid_client")
        if secret is not None and not hmac.compare_digest(secret, self._config.client_secret):
            raise OAuthError("invalid_client")
        token = form.get("token", "")
        if not token:
            raise OAuthError("invalid_request", "token is required")
        with self._lock:
            family = self._families.get(self._refresh_index.get(token, ""))
            if family is None:
                return
            if secret is None and not family.public:
                raise OAuthError("invalid_client")
            family.revoked = True
            for cid in [c.id for c in self._connections.values() if c.auth_event_id == family.auth_event_id]:
                del self._connections[cid]

    # --- bearer tokens -------------------------------------------------------------------------------

    def verify_bearer(self, authorization: str | None) -> BearerIdentity:
        """Check an ``Authorization: Bearer`` header; :class:`BearerError` (401) when it does not hold."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise BearerError(401, "AuthenticationUnsuccessful", www_authenticate='Bearer realm="xero"')
        token = authorization[7:].strip()
        try:
            claims = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_nbf": False, "verify_aud": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise BearerError(
                401, "AuthenticationUnsuccessful", www_authenticate='Bearer error="invalid_token"'
            ) from exc
        now = self._clock.timestamp()
        exp = float(claims.get("exp", 0))
        if now >= exp:
            when = datetime.fromtimestamp(exp, UTC).strftime("%m/%d/%Y %H:%M:%S")
            raise BearerError(
                401,
                f"TokenExpired: token expired at {when}",
                www_authenticate=(
                    f'Bearer error="invalid_token", error_description="The token expired at \'{when}\'"'
                ),
            )
        with self._lock:
            family = self._families.get(str(claims.get("authentication_event_id", "")))
            if family is None or family.revoked:
                raise BearerError(
                    401, "AuthenticationUnsuccessful", www_authenticate='Bearer error="invalid_token"'
                )
        return BearerIdentity(
            user_id=str(claims["xero_userid"]),
            client_id=str(claims["client_id"]),
            auth_event_id=str(claims["authentication_event_id"]),
            scopes=frozenset(claims.get("scope", [])),
        )

    def check_tenant(self, identity: BearerIdentity, tenant_id: str | None) -> None:
        """403 unless the token's user is connected to the tenant and still a user of it.

        A user removed from the organisation keeps a working refresh token (identity and organisation
        membership are separate in Xero) but every API call for that tenant answers 403.
        """
        if not tenant_id:
            raise BearerError(403, "AuthenticationUnsuccessful")
        with self._lock:
            connected = any(
                c.tenant_id == tenant_id
                and c.user_id == identity.user_id
                and c.client_id == identity.client_id
                for c in self._connections.values()
            )
        if not connected or self._tenants.user_role(tenant_id, identity.user_id) is None:
            raise BearerError(403, "AuthenticationUnsuccessful")

    def check_scope(self, identity: BearerIdentity, resource: str, *, write: bool) -> None:
        needed = scopes_for(resource, write=write)
        if not identity.scopes.intersection(needed):
            raise BearerError(
                403,
                f"AuthorizationUnsuccessful: the access token has none of the scopes {', '.join(needed)} "
                f"needed to {'write' if write else 'read'} {resource}",
            )

    # --- connections ---------------------------------------------------------------------------------

    def connections_for(self, identity: BearerIdentity, auth_event_id: str | None) -> list[dict[str, Any]]:
        with self._lock:
            found = [
                c
                for c in self._connections.values()
                if c.user_id == identity.user_id
                and c.client_id == identity.client_id
                and (auth_event_id is None or c.auth_event_id == auth_event_id)
            ]
            return [c.as_xero() for c in sorted(found, key=lambda c: (c.created, c.id))]

    def delete_connection(self, identity: BearerIdentity, connection_id: str) -> bool:
        with self._lock:
            conn = self._connections.get(connection_id)
            if conn is None or conn.user_id != identity.user_id or conn.client_id != identity.client_id:
                return False
            del self._connections[connection_id]
            return True

    # --- discovery -----------------------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        public.update({"kid": self._kid, "use": "sig", "alg": "RS256"})
        return {"keys": [public]}

    def openid_configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/identity/connect/authorize",
            "token_endpoint": f"{self.issuer}/connect/token",
            "revocation_endpoint": f"{self.issuer}/connect/revocation",
            "jwks_uri": f"{self.issuer}/.well-known/openid-configuration/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }


_KEY_LOCK = threading.Lock()
_KEY: tuple[rsa.RSAPrivateKey, str] | None = None


def _signing_key() -> tuple[rsa.RSAPrivateKey, str]:
    """One RSA key per process (generating one takes ~100 ms; tests start many emulators)."""
    global _KEY  # noqa: PLW0603 - a lazily built process-wide constant
    with _KEY_LOCK:
        if _KEY is None:
            _KEY = (rsa.generate_private_key(public_exponent=65537, key_size=2048), secrets.token_hex(8))
        return _KEY


def _subject(user_id: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"xero-user:{user_id}").hex


def _client_credentials(form: Mapping[str, str], authorization: str | None) -> tuple[str, str | None]:
    """(client_id, secret or None) from HTTP Basic (preferred) or ``client_secret_post``."""
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise OAuthError("invalid_client") from exc
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise OAuthError("invalid_client")
        return unquote(client_id), unquote(secret)
    posted_id = form.get("client_id")
    if not posted_id:
        raise OAuthError("invalid_client")
    return posted_id, form.get("client_secret")


def _with_query(url: str, query: Mapping[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"


__all__ = [
    "AuthorizeError",
    "BearerError",
    "BearerIdentity",
    "Connection",
    "Consent",
    "IdentityService",
    "OAuthError",
    "TenantDirectory",
    "s256",
    "scopes_for",
]
