"""Our own records about a Xero connection: the connection, its token set, OAuth states, the status view.

Tokens are ``SecretStr`` everywhere so that a ``repr``, a log ``extra=`` or an exception never prints them;
``StoredTokens.to_plaintext()`` is the one place they are revealed, right before KMS encrypts them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr

from xero_bridge.models.webhooks import CatchUpOutcome, WebhookHealth

__all__ = [
    "ConnectOutcome",
    "ConnectionStatus",
    "ConnectionView",
    "OAuthState",
    "StoredTokens",
    "TokenRecord",
    "XeroConnection",
]

ORG_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
"""An AR organisation id: what the AR platform calls the org (a UUID, a slug...), safe in keys and URLs."""


class ConnectionStatus(StrEnum):
    """Where a stored connection stands. ``not_connected`` (no record at all) only exists in the view."""

    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs_reconnect"
    DISCONNECTED = "disconnected"


class XeroConnection(BaseModel):
    """The one Xero organisation (tenant) an AR organisation is connected to."""

    model_config = ConfigDict(frozen=True)

    org_id: str
    tenant_id: str
    tenant_name: str | None = None
    status: ConnectionStatus
    reason: str | None = None  # why needs_reconnect / disconnected: the banner text
    xero_connection_id: str | None = None  # the id of DELETE /connections/{id}
    connected_by_user_id: str | None = None  # xero_userid of the admin who connected
    auth_event_id: str | None = None
    scopes: tuple[str, ...] = ()
    first_connected_at: AwareDatetime
    connected_at: AwareDatetime
    updated_at: AwareDatetime


class OAuthState(BaseModel):
    """A pending ``/connect``: bound to one AR org, single use, expiring."""

    model_config = ConfigDict(frozen=True)

    state: str
    org_id: str
    code_verifier: SecretStr
    created_at: AwareDatetime
    expires_at: AwareDatetime

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at


class StoredTokens(BaseModel):
    """The token set we keep (encrypted) for one connection; the ``id_token`` is dropped: nothing needs it."""

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr
    refresh_token: SecretStr
    expires_at: AwareDatetime
    scopes: tuple[str, ...] = ()

    @classmethod
    def from_token_set(cls, token_set: Any) -> StoredTokens:
        """Keep what we need of an OAuth client ``TokenSet`` (same attribute names)."""
        return cls(
            access_token=token_set.access_token,
            refresh_token=token_set.refresh_token,
            expires_at=token_set.expires_at,
            scopes=tuple(token_set.scopes),
        )

    def valid_for(self, now: datetime) -> float:
        """Seconds the access token stays valid from ``now`` (negative when expired)."""
        return (self.expires_at - now).total_seconds()

    def to_plaintext(self) -> bytes:
        """The JSON that KMS encrypts. The only place the tokens are revealed."""
        return json.dumps(
            {
                "access_token": self.access_token.get_secret_value(),
                "refresh_token": self.refresh_token.get_secret_value(),
                "expires_at": self.expires_at.astimezone(UTC).isoformat(),
                "scopes": list(self.scopes),
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_plaintext(cls, plaintext: bytes) -> StoredTokens:
        return cls.model_validate_json(plaintext)


class TokenRecord(BaseModel):
    """The encrypted token set as stored, with the version that orders rotations."""

    model_config = ConfigDict(frozen=True)

    org_id: str
    tenant_id: str
    ciphertext: bytes = Field(repr=False)
    version: int = Field(ge=1)
    access_expires_at: AwareDatetime
    updated_at: AwareDatetime


class ConnectOutcome(BaseModel):
    """What a finished connect did, for the redirect back to the AR app."""

    org_id: str
    tenant_id: str
    tenant_name: str | None
    reconnected: bool
    sync_execution_arn: str | None = None


class ConnectionView(BaseModel):
    """``GET /orgs/{org_id}/connection``: the connection status the AR app shows (and its banner), with how
    current the data is: the last catch-up (or why it was skipped) and the app's webhook health."""

    org_id: str
    status: Literal["connected", "needs_reconnect", "disconnected", "not_connected"]
    reason: str | None = None
    tenant_id: str | None = None
    tenant_name: str | None = None
    connected_at: datetime | None = None
    catch_up: CatchUpOutcome | None = None
    webhooks: WebhookHealth | None = None
