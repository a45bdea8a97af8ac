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

from xero_bridge.models.status import ConnectionStatus
from xero_bridge.models.webhooks import CatchUpOutcome, WebhookHealth

__all__ = [
    "EMAIL_PATTERN",
    "RECONNECT_TEXT",
    "ConnectLink",
    "ConnectOutcome",
    "ConnectRequest",
    "ConnectSession",
    "ConnectionStatus",
    "ConnectionView",
    "DisconnectOutcome",
    "OAuthState",
    "ReconnectReason",
    "StoredTokens",
    "TokenRecord",
    "XeroConnection",
]

ORG_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
"""An AR organisation id: what the AR platform calls the org (a UUID, a slug...), safe in keys and URLs."""


class ReconnectReason(StrEnum):
    """Why a connection waits for a user to connect Xero again (the banner's stable code)."""

    TOKEN_REVOKED = "token_revoked"  # invalid_grant on refresh, or a 401 that survived a refresh
    EXPIRED = "expired"  # the refresh token went unused for Xero's 60 days
    USER_REMOVED = "user_removed"  # a 403 AuthenticationUnsuccessful: the connecting user is gone
    SCOPES_MISSING = "scopes_missing"  # a 403 AuthorizationUnsuccessful: a permission was withdrawn


RECONNECT_TEXT: dict[ReconnectReason, str] = {
    ReconnectReason.TOKEN_REVOKED: "token revoked or expired: reconnect Xero",
    ReconnectReason.EXPIRED: "the Xero connection was unused for 60 days and expired: reconnect Xero",
    ReconnectReason.USER_REMOVED: "the Xero user who connected was removed from the organisation: "
    "ask an admin to reconnect Xero",
    ReconnectReason.SCOPES_MISSING: "Xero no longer grants a permission xero-bridge needs: reconnect Xero "
    "and allow every permission asked",
}
"""What the banner says for each reason."""


class XeroConnection(BaseModel):
    """The one Xero organisation (tenant) an AR organisation is connected to."""

    model_config = ConfigDict(frozen=True)

    org_id: str
    tenant_id: str
    tenant_name: str | None = None
    status: ConnectionStatus
    reason: str | None = None  # why needs_reconnect / disconnected: the banner text
    reason_code: str | None = None  # a ReconnectReason, or "disconnected"
    xero_connection_id: str | None = None  # the id of DELETE /connections/{id}
    connected_by_user_id: str | None = None  # xero_userid of the admin who connected
    auth_event_id: str | None = None
    scopes: tuple[str, ...] = ()
    first_connected_at: AwareDatetime
    connected_at: AwareDatetime
    updated_at: AwareDatetime
    last_change_at: AwareDatetime | None = None  # when a change from Xero last reached the writer


EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,63}$"
"""An email address, as much as a connect link needs to check it (Xero's id token says the rest)."""


class ConnectRequest(BaseModel):
    """``POST /orgs/{org_id}/connect``: optionally, the email of the AR user who will consent in Xero."""

    model_config = ConfigDict(extra="forbid")

    user_email: str | None = Field(default=None, pattern=EMAIL_PATTERN, max_length=254)


class ConnectLink(BaseModel):
    """The single-use link for the finance user's browser (valid ``expires_at``)."""

    connect_url: str
    expires_at: AwareDatetime


class ConnectSession(BaseModel):
    """A connect the AR platform's backend asked for: bound to one AR org (and user), single use, expiring.

    Only a hash of the link's token is kept: whoever reads the table cannot open the link.
    """

    model_config = ConfigDict(frozen=True)

    token_hash: str
    org_id: str
    user_email: str | None = None
    created_at: AwareDatetime
    expires_at: AwareDatetime


class OAuthState(BaseModel):
    """A pending ``/connect``: bound to one AR org and to the browser that opened the link, single use,
    expiring. ``browser_hash`` is the SHA-256 of the random value in that browser's cookie."""

    model_config = ConfigDict(frozen=True)

    state: str
    org_id: str
    code_verifier: SecretStr
    browser_hash: str = ""
    user_email: str | None = None
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


class DisconnectOutcome(BaseModel):
    """``DELETE /orgs/{org_id}/connection``: what was undone at Xero, and the status now."""

    org_id: str
    status: Literal["disconnected"] = "disconnected"
    tenant_id: str
    already_disconnected: bool = False
    xero_connection_deleted: bool = False
    refresh_token_revoked: bool = False
    sync_stopped: bool = False


class ConnectOutcome(BaseModel):
    """What a finished connect did, for the redirect back to the AR app."""

    org_id: str
    tenant_id: str
    tenant_name: str | None
    reconnected: bool
    sync_execution_arn: str | None = None
    catch_up_requested: bool = False  # a reconnect of a tenant already synced: caught up from its cursors


class ConnectionView(BaseModel):
    """``GET /orgs/{org_id}/connection``: the connection status the AR app shows (and its banner), with how
    current the data is: the last catch-up (or why it was skipped) and the app's webhook health."""

    org_id: str
    status: Literal["connected", "needs_reconnect", "disconnected", "not_connected"]
    reason: str | None = None
    reason_code: str | None = None
    tenant_id: str | None = None
    tenant_name: str | None = None
    connected_at: datetime | None = None
    last_change_at: datetime | None = None
    quota_minute_remaining: int | None = None
    quota_day_remaining: int | None = None
    catch_up: CatchUpOutcome | None = None
    catch_up_interval_minutes: float | None = None  # how often the schedule catches this tenant up now
    webhooks: WebhookHealth | None = None
