"""Named errors of xero-bridge.

Adapters translate transport errors (httpx, botocore) into these with ``raise ... from exc`` so that
services and handlers deal with one vocabulary. No error message ever carries a token or a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


class XeroBridgeError(Exception):
    """Base of every error raised on purpose by xero-bridge."""


# --- Xero API -----------------------------------------------------------------------------------------


class XeroError(XeroBridgeError):
    """An error answered by Xero (or by the network on the way to it)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class XeroRateLimited(XeroError):
    """HTTP 429. ``problem`` is Xero's ``X-Rate-Limit-Problem``: minute, day, concurrent or appminute."""

    def __init__(
        self,
        message: str,
        *,
        problem: str,
        retry_after_seconds: float,
        resets_at: datetime | None = None,
    ) -> None:
        super().__init__(message, status_code=429)
        self.problem = problem
        self.retry_after_seconds = retry_after_seconds
        self.resets_at = resets_at

    @property
    def is_daily(self) -> bool:
        return self.problem == "day"


class XeroUnauthorized(XeroError):
    """HTTP 401: the access token is expired, revoked or not valid for the tenant."""


class XeroInvalidGrant(XeroError):
    """OAuth ``invalid_grant``: the refresh token (or code) was revoked, expired or already used."""


class XeroOAuthError(XeroError):
    """Any other OAuth error answered by Xero's identity server (invalid_client, invalid_request...)."""

    def __init__(self, message: str, *, error: str, status_code: int | None = None) -> None:
        super().__init__(message, status_code=status_code)
        self.error = error


class XeroForbidden(XeroError):
    """HTTP 403: a missing scope, a user without the role, or a disconnected tenant."""


class XeroNotFound(XeroError):
    """HTTP 404."""


@dataclass(frozen=True)
class ElementError:
    """Xero's validation errors for one element of a batch (``Elements[i].ValidationErrors``)."""

    index: int
    messages: tuple[str, ...]
    element: dict[str, object] = field(default_factory=dict)


class XeroValidationError(XeroError):
    """HTTP 400 ``ValidationException``: Xero's own messages, per element of a batch where it gave them."""

    def __init__(self, message: str, *, messages: list[str], elements: list[ElementError]) -> None:
        super().__init__(message, status_code=400)
        self.messages = messages
        self.elements = elements


class XeroServerError(XeroError):
    """HTTP 5xx after the retries were spent."""


class XeroTimeout(XeroError):
    """The request timed out or the connection dropped, after the retries were spent."""


# --- Connections ---------------------------------------------------------------------------------------


class NeedsReconnect(XeroBridgeError):
    """The connection cannot be used until a user connects Xero again; ``reason`` is what the banner says."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
