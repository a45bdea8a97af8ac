"""Every named error of xero-bridge, grouped by what a caller does with it.

=================  ===============================================================================
group              what the caller does
=================  ===============================================================================
:class:`RetryLater`  the same work may succeed later: a state machine's Retry, an SQS message back on
                   its queue, a 429/503 for an API caller
:class:`GiveUp`      retrying the same work cannot help: record the reason (a failed run, a message in
                   a dead-letter queue, a 5xx or 409 for an API caller) and stop
:class:`Refused`     a request that cannot be done as asked: answer the user with its stable ``code``
                   and a ``reason`` they can act on
=================  ===============================================================================

Adapters translate transport errors (httpx, botocore) into these with ``raise ... from exc``, so services,
handlers and state machines deal with one vocabulary: Lambda reports an error's class name as its
``errorType``, which is what ``statemachines/*.asl.json`` match in ``ErrorEquals`` (a test checks that each
name there is a class of this module). ``xero_bridge.http`` maps every class here to an HTTP answer, once.

No message ever carries a token or a secret, nor a whole record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "CatchUpQueueError",
    "ConnectError",
    "ConnectionConflictError",
    "DailyLimitReached",
    "ElementError",
    "ExportQueueError",
    "ExportRetryLater",
    "GiveUp",
    "InvalidBankAccountError",
    "InvalidCursorError",
    "InvalidFilterError",
    "InvalidSessionError",
    "InvalidStateError",
    "MalformedXeroRecord",
    "NeedsReconnect",
    "NotConnectedError",
    "PartNotSettledError",
    "PaymentConflictError",
    "PaymentNotFoundError",
    "RateLimitWaitExceeded",
    "RateLimiterUnavailable",
    "RecordNotHeld",
    "RecordTooLargeError",
    "Refused",
    "RetryLater",
    "SecretUnavailableError",
    "SettingsError",
    "StaleTokenVersionError",
    "SyncNotDrainedError",
    "SyncRunNotFoundError",
    "TableUnavailable",
    "TokenCipherError",
    "TokenRefreshTimeoutError",
    "WebhookQueueError",
    "WritesQueueError",
    "XeroBadResponseError",
    "XeroBridgeError",
    "XeroError",
    "XeroForbidden",
    "XeroInvalidGrant",
    "XeroNotFound",
    "XeroOAuthError",
    "XeroRateLimited",
    "XeroServerError",
    "XeroTimeout",
    "XeroUnauthorized",
    "XeroValidationError",
]


class XeroBridgeError(Exception):
    """Base of every error raised on purpose by xero-bridge."""


# --- the three groups ------------------------------------------------------------------------------------


class RetryLater(XeroBridgeError):
    """Transient: the same work may succeed if tried again later (with backoff)."""


class GiveUp(XeroBridgeError):
    """Final for this piece of work: retrying it as it is cannot succeed; keep the reason and stop."""


class Refused(XeroBridgeError):
    """A request refused with a stable ``code`` for the AR app and a ``reason`` for the user.

    Attributes
    ----------
    code : str
        Stable, machine-readable (``snake_case``); the AR app may switch on it.
    reason : str
        What the user reads: never a secret, never text the request itself sent.
    org_id : str or None
        The AR org concerned, when known (a browser refusal redirects back with it).
    """

    default_code = "refused"

    def __init__(self, reason: str, *, code: str | None = None, org_id: str | None = None) -> None:
        super().__init__(f"{code or self.default_code}: {reason}")
        self.code = code or self.default_code
        self.reason = reason
        self.org_id = org_id


# --- configuration ---------------------------------------------------------------------------------------


class SettingsError(GiveUp):
    """The environment does not hold what a function needs; the message names the variables."""


class SecretUnavailableError(RetryLater):
    """Secrets Manager could not give a secret (missing, no permission, Secrets Manager down)."""


# --- Xero API --------------------------------------------------------------------------------------------


class XeroError(XeroBridgeError):
    """An error answered by Xero (or by the network on the way to it)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class XeroRateLimited(XeroError, RetryLater):
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


class XeroServerError(XeroError, RetryLater):
    """HTTP 5xx after the retries were spent."""


class XeroTimeout(XeroError, RetryLater):
    """The request timed out or the connection dropped, after the retries were spent."""


class XeroUnauthorized(XeroError, GiveUp):
    """HTTP 401: the access token is expired, revoked or not valid for the tenant (after one refresh)."""


class XeroInvalidGrant(XeroError, GiveUp):
    """OAuth ``invalid_grant``: the refresh token (or code) was revoked, expired or already used."""


class XeroOAuthError(XeroError, GiveUp):
    """Any other OAuth error answered by Xero's identity server (invalid_client, invalid_request...)."""

    def __init__(self, message: str, *, error: str, status_code: int | None = None) -> None:
        super().__init__(message, status_code=status_code)
        self.error = error


class XeroForbidden(XeroError, GiveUp):
    """HTTP 403: a missing scope, a user without the role, or a disconnected tenant."""


class XeroNotFound(XeroError, GiveUp):
    """HTTP 404."""


@dataclass(frozen=True)
class ElementError:
    """Xero's validation errors for one element of a batch (``Elements[i].ValidationErrors``)."""

    index: int
    messages: tuple[str, ...]
    element: dict[str, object] = field(default_factory=dict)


class XeroValidationError(XeroError, GiveUp):
    """HTTP 400 ``ValidationException``: Xero's own messages, per element of a batch where it gave them."""

    def __init__(self, message: str, *, messages: list[str], elements: list[ElementError]) -> None:
        super().__init__(message, status_code=400)
        self.messages = messages
        self.elements = elements


class XeroBadResponseError(XeroError, GiveUp):
    """Xero answered 2xx with a body that is not what its spec describes (not JSON, wrong shape)."""


class MalformedXeroRecord(GiveUp):
    """One Xero record the import rules cannot take (kept as a ``malformed`` skip, never sinking its page).

    ``kind`` is our record type (``invoice``, ``contact``...), ``detail`` says what is wrong, without values.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


# --- rate limiter ----------------------------------------------------------------------------------------


class DailyLimitReached(RetryLater):
    """The tenant's daily Xero allowance is spent: stop, and try again at ``resets_at`` (aware UTC)."""

    def __init__(self, tenant_id: str, resets_at: datetime) -> None:
        super().__init__(
            f"Xero's daily call limit for tenant {tenant_id} is spent until {resets_at.isoformat()}"
        )
        self.tenant_id = tenant_id
        self.resets_at = resets_at


class RateLimitWaitExceeded(RetryLater):
    """No slot frees within the caller's ``max_wait``; the next one is expected at ``retry_at``.

    A Lambda near its timeout (or a Step Functions task that would rather ``Wait`` than pay for sleeping)
    passes ``max_wait`` and hands the work back instead of sleeping. When every concurrency slot is leased
    (``reason == "concurrent"``), ``retry_at`` is when to look again: a release may come at any moment.
    """

    def __init__(self, tenant_id: str, retry_at: datetime, reason: str) -> None:
        super().__init__(f"no Xero call slot for tenant {tenant_id} before {retry_at.isoformat()} ({reason})")
        self.tenant_id = tenant_id
        self.retry_at = retry_at
        self.reason = reason


class RateLimiterUnavailable(RetryLater):
    """DynamoDB failed (other than a lost race) while the limiter read or wrote its item."""


class TableUnavailable(RetryLater):
    """DynamoDB kept a read or a write unprocessed (throttling): the same work succeeds later."""


# --- connections and tokens ------------------------------------------------------------------------------


class NeedsReconnect(GiveUp):
    """The connection cannot be used until a user connects Xero again; ``reason`` is what the banner says."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenRefreshTimeoutError(RetryLater):
    """Another Lambda held the refresh lease for longer than this one could wait; retry later."""


class TokenCipherError(GiveUp):
    """KMS refused to encrypt or decrypt a token set (wrong key, wrong context, no permission)."""


class StaleTokenVersionError(RetryLater):
    """The stored token set is no longer the version the writer read: someone else rotated it."""


class InvalidSessionError(GiveUp):
    """A connect link (session) that is unknown, already used (``reason="unknown"``) or expired."""

    def __init__(self, reason: str, *, org_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.org_id = org_id


class InvalidStateError(GiveUp):
    """A ``state`` that is unknown, already used (``reason="unknown"``) or expired (``reason="expired"``)."""

    def __init__(self, reason: str, *, org_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.org_id = org_id


class ConnectionConflictError(GiveUp):
    """A connect that would break "one org, one tenant": the org holds a live connection to another tenant
    (``kind="different_organisation"``), or the tenant is bound to another org
    (``kind="organisation_in_use"``).
    """

    def __init__(self, message: str, *, kind: str = "different_organisation") -> None:
        super().__init__(message)
        self.kind = kind


class ConnectError(Refused):
    """A connect that cannot complete; ``code`` is stable for the AR app, ``reason`` is for the user.

    Codes: ``invalid_state``, ``expired_state``, ``access_denied``, ``xero_error``, ``missing_code``,
    ``code_rejected``, ``no_organisation``, ``several_organisations``, ``different_organisation``,
    ``organisation_in_use``, ``not_admin`` or ``admin_check_failed``.
    """

    def __init__(self, code: str, reason: str, *, org_id: str | None = None) -> None:
        super().__init__(reason, code=code, org_id=org_id)


class NotConnectedError(Refused):
    """The org has no usable Xero connection: there is nothing to sync."""

    default_code = "not_connected"

    def __init__(self, reason: str, *, org_id: str | None = None) -> None:
        super().__init__(reason, org_id=org_id)


# --- sync and the writer ---------------------------------------------------------------------------------


class SyncRunNotFoundError(GiveUp):
    """A task named a run that does not exist (or is not planned)."""


class SyncNotDrainedError(GiveUp):
    """The writer has not written every record sent after the finisher's last look."""


class PartNotSettledError(GiveUp):
    """A part's reads still found pages to read again after the planner's last pass: Xero's records kept
    moving faster than the run could read them. The run fails with this reason; a resume takes it up."""


class WritesQueueError(RetryLater):
    """SQS kept refusing entries of a batch (the page is not checkpointed; Step Functions retries it)."""


class WebhookQueueError(RetryLater):
    """SQS refused a webhook delivery (Xero gets a 5xx and delivers it again)."""


class CatchUpQueueError(RetryLater):
    """SQS refused a catch-up request."""


class RecordNotHeld(Refused):
    """The record asked for is not in the AR platform; ``reason`` says why when we know (a skip reason)."""

    default_code = "not_found"


class InvalidCursorError(Refused):
    """A listing's ``cursor`` we did not give out for this org and these filters (or that was altered)."""

    default_code = "invalid_request"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class InvalidFilterError(Refused):
    """A combination of listing filters no index serves (``off_balance=false``, or ``off_balance`` with
    ``active``)."""

    default_code = "invalid_request"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class RecordTooLargeError(GiveUp):
    """One record alone does not fit a message body (never expected: our records hold no line items)."""

    def __init__(self, record_type: str, xero_id: str, size: int, limit: int) -> None:
        super().__init__(
            f"{record_type} {xero_id} is {size} bytes as JSON, over the {limit}-byte message limit"
        )
        self.record_type = record_type
        self.xero_id = xero_id
        self.size = size


# --- payment export --------------------------------------------------------------------------------------


class PaymentNotFoundError(Refused):
    """No payment of that id was recorded for the org."""

    default_code = "payment_not_found"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class PaymentConflictError(Refused):
    """A payment id recorded before with another body (a payment cannot be changed once recorded)."""

    default_code = "payment_conflict"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class InvalidBankAccountError(Refused):
    """A settings bank account that is not a synced, active payment account in the currency it is set for."""

    default_code = "invalid_bank_account"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class ExportQueueError(RetryLater):
    """SQS refused to take payments for export (they stay pending; the same request again re-queues them)."""


class ExportRetryLater(RetryLater):
    """A queue message whose payments met a transient failure: back on the queue after a backoff."""
