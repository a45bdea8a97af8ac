"""Ports: what the connect and token-vault use cases need from the outside world.

Adapters (``xero_bridge.adapters``) implement these structurally; unit tests pass in-memory fakes. The Xero
OAuth client (``xero_bridge.adapters.xero.oauth.XeroOAuthClient``) satisfies :class:`XeroOAuthPort` as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from pydantic import SecretStr

from xero_bridge.models.connection import (
    ConnectionStatus,
    OAuthState,
    StoredTokens,
    TokenRecord,
    XeroConnection,
)
from xero_bridge.models.xero import Connection, User

__all__ = [
    "AccessClaims",
    "Clock",
    "ConnectionStore",
    "RefreshLease",
    "StateStore",
    "SyncStarter",
    "TokenCipher",
    "TokenSetLike",
    "TokenStore",
    "UsersLookup",
    "XeroOAuthPort",
]


class Clock(Protocol):
    def __call__(self) -> datetime: ...


# --- What the OAuth client answers (structural: the client's TokenSet / AccessTokenClaims) --------------


class TokenSetLike(Protocol):
    @property
    def access_token(self) -> SecretStr: ...
    @property
    def refresh_token(self) -> SecretStr: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def scopes(self) -> Sequence[str]: ...


class AccessClaims(Protocol):
    @property
    def authentication_event_id(self) -> str | None: ...
    @property
    def xero_userid(self) -> str | None: ...


class XeroOAuthPort(Protocol):
    """The part of Xero's identity service the use cases call (``XeroOAuthClient``)."""

    def authorization_url(self, *, state: str, code_challenge: str) -> str: ...
    def exchange_code(self, *, code: str, code_verifier: str) -> Any: ...  # -> TokenSet
    def refresh(self, refresh_token: str) -> Any: ...  # -> TokenSet; XeroInvalidGrant
    def revoke(self, refresh_token: str) -> None: ...
    def connections(self, access_token: str, *, auth_event_id: str | None = None) -> list[Connection]: ...
    def delete_connection(self, access_token: str, connection_id: str) -> None: ...
    def claims(self, access_token: str) -> Any: ...  # -> AccessTokenClaims


class UsersLookup(Protocol):
    """``GET /api.xro/2.0/Users`` for one tenant with a given access token."""

    def users(self, access_token: str, tenant_id: str) -> Sequence[User]: ...


# --- Storage ---------------------------------------------------------------------------------------------


class StateStore(Protocol):
    def put_state(self, state: OAuthState) -> None: ...

    def take_state(self, state: str, *, now: datetime) -> OAuthState:
        """Remove and return the state; :class:`InvalidStateError` if unknown, already taken or expired."""
        ...


class ConnectionStore(Protocol):
    def get_connection(self, org_id: str) -> XeroConnection | None: ...
    def find_by_tenant(self, tenant_id: str) -> list[XeroConnection]: ...

    def save_connection(
        self, connection: XeroConnection, *, ciphertext: bytes, access_expires_at: datetime, now: datetime
    ) -> int:
        """Store the connection and its new grant's encrypted token set atomically; return the token version.

        Refused with :class:`ConnectionConflictError` when the org holds another, not disconnected, tenant.
        """
        ...

    def set_status(
        self, org_id: str, status: ConnectionStatus, reason: str | None, *, now: datetime
    ) -> None: ...


class TokenStore(Protocol):
    def get_tokens(self, org_id: str) -> TokenRecord | None:
        """Strongly consistent read of the encrypted token set."""
        ...

    def put_tokens(
        self,
        org_id: str,
        tenant_id: str,
        ciphertext: bytes,
        *,
        access_expires_at: datetime,
        now: datetime,
        expected_version: int | None = None,
    ) -> int:
        """Store a token set and return its new version.

        ``expected_version=None`` replaces whatever is there (a new grant); otherwise the write only
        happens if the stored version is still ``expected_version`` (:class:`StaleTokenVersionError`).
        """
        ...


class RefreshLease(Protocol):
    def acquire(self, org_id: str, owner: str, *, now: datetime, seconds: float) -> bool: ...
    def release(self, org_id: str, owner: str) -> None: ...


class TokenCipher(Protocol):
    def encrypt(self, tokens: StoredTokens, *, org_id: str, tenant_id: str) -> bytes: ...
    def decrypt(self, ciphertext: bytes, *, org_id: str, tenant_id: str) -> StoredTokens: ...


class SyncStarter(Protocol):
    def start_initial_sync(self, *, org_id: str, tenant_id: str, connect_id: str, reconnect: bool) -> str:
        """Start (at most once per ``connect_id``) the initial sync and return its execution ARN."""
        ...
