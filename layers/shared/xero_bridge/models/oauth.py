"""What Xero's identity service answers: a token set, and the claims read from its access token.

Secrets are :class:`~pydantic.SecretStr`: they never appear in a repr, a log line or an exception message.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, SecretStr

__all__ = ["AccessTokenClaims", "IdTokenClaims", "TokenSet"]


class TokenSet(BaseModel):
    """The tokens of one authorisation. ``access_token``, ``refresh_token`` and ``id_token`` never print."""

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr
    refresh_token: SecretStr
    id_token: SecretStr | None = None
    expires_at: datetime
    scopes: tuple[str, ...] = ()

    def expires_within(self, seconds: float, *, now: datetime | None = None) -> bool:
        """True when the access token expires in less than ``seconds`` from ``now``."""
        return self.expires_at - (now or datetime.now(UTC)) < timedelta(seconds=seconds)


class AccessTokenClaims(BaseModel):
    """Claims of Xero's access token, read **without** verifying it; all None when it is not a JWT."""

    authentication_event_id: str | None = None
    xero_userid: str | None = None
    sub: str | None = None
    exp: datetime | None = None
    scopes: tuple[str, ...] = ()


class IdTokenClaims(BaseModel):
    """Claims of Xero's OpenID Connect id token (read without verifying it: it came straight from Xero's
    token endpoint over TLS, in the same answer as the tokens); all None when there is none."""

    email: str | None = None
    xero_userid: str | None = None
    sub: str | None = None
