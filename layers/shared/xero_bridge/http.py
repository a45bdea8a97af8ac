"""HTTP conventions shared by every API function: one error mapping, browser redirects, the callback URL.

Every API function calls :func:`register_error_handlers` on its resolver, so a given domain error gets the
same status and the same ``{"error": code, "reason": text}`` body everywhere. Browser routes (``/connect``,
``/callback``) pass ``redirect_errors_to``: unless the request asks for JSON, an error then sends the browser
back to the AR app with ``?status=error&error=...&reason=...`` instead of showing a raw JSON page.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.metrics import MetricUnit

from xero_bridge import errors
from xero_bridge.observability import logger, metrics

__all__ = [
    "add_query",
    "callback_url",
    "error_response",
    "redirect",
    "register_error_handlers",
    "wants_json",
]


def add_query(url: str, params: dict[str, str | None]) -> str:
    """``url`` with ``params`` appended to its query string (None values left out)."""
    parts = urlsplit(url)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def redirect(location: str) -> Response[str]:
    """A 302 to ``location`` that no cache keeps (each connect is single use)."""
    return Response(
        status_code=HTTPStatus.FOUND,
        content_type=content_types.TEXT_PLAIN,
        body="",
        headers={"Location": location, "Cache-Control": "no-store"},
    )


def wants_json(headers: dict[str, str] | None) -> bool:
    """True when the caller asks for JSON (a script or the AR app's backend) rather than a browser page."""
    accept = {k.lower(): v for k, v in (headers or {}).items()}.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def callback_url(configured: str, request_context: dict[str, Any], path: str) -> str:
    """The OAuth redirect URI: the configured one, else this API's own ``/callback`` URL.

    Derived from the request (host and stage or base path as the browser used them), so it is the same
    on ``/connect`` and ``/callback`` and right behind a custom domain, without the template having to
    reference the API from its own functions (a circular dependency in CloudFormation).
    """
    if configured:
        return configured
    host = request_context.get("domainName", "")
    full_path = request_context.get("path", "")
    # requestContext.path is the path as called (with stage or base path); ``path`` is the route's own.
    prefix = full_path[: -len(path)] if path and full_path.endswith(path) else ""
    return f"https://{host}{prefix}/callback"


# Every named error of ``errors.py``, with its status and stable code (a test checks that none is missing).
# ``Refused`` errors answer with their own ``code`` and ``reason``; every other error answers a fixed text,
# never its message (which may name internal ids or Xero's words meant for the log).
_TRY_AGAIN = "try again in a moment"
_RESPONSES: dict[type[errors.XeroBridgeError], tuple[int, str, str]] = {
    # Refused: the user's own request, answered with the error's code and reason.
    errors.ConnectError: (400, "", ""),
    errors.NotConnectedError: (409, "", ""),
    # Give up: nothing the caller can retry as it is.
    errors.NeedsReconnect: (409, "needs_reconnect", ""),
    errors.InvalidStateError: (400, "invalid_state", "the connect link is unknown, used or expired"),
    errors.ConnectionConflictError: (409, "connection_conflict", "the connection changed meanwhile"),
    errors.SettingsError: (500, "misconfigured", "the service is not configured correctly"),
    errors.TokenCipherError: (500, "token_cipher_failed", "the stored Xero tokens could not be read"),
    errors.SyncRunNotFoundError: (404, "sync_run_not_found", "no such sync run"),
    errors.SyncNotDrainedError: (500, "sync_not_drained", "the sync's records were not all written"),
    errors.PartNotSettledError: (500, "sync_not_settled", "Xero changed faster than the sync could read"),
    errors.RecordTooLargeError: (500, "record_too_large", "a Xero record is too large to pass on"),
    errors.MalformedXeroRecord: (502, "xero_bad_record", "Xero sent a record we cannot read"),
    errors.XeroUnauthorized: (502, "xero_unauthorized", "Xero refused our access token"),
    errors.XeroInvalidGrant: (409, "needs_reconnect", "Xero refused the grant: reconnect Xero"),
    errors.XeroOAuthError: (502, "xero_oauth_error", "Xero's identity service refused the request"),
    errors.XeroForbidden: (502, "xero_forbidden", "Xero refused access to the organisation"),
    errors.XeroNotFound: (404, "xero_not_found", "Xero does not hold what was asked"),
    errors.XeroValidationError: (502, "xero_rejected", "Xero refused the request as invalid"),
    errors.XeroBadResponseError: (502, "xero_unavailable", f"Xero did not answer as expected; {_TRY_AGAIN}"),
    errors.XeroError: (502, "xero_unavailable", f"Xero did not answer as expected; {_TRY_AGAIN}"),
    # Retry later: the same request may succeed in a while.
    errors.XeroRateLimited: (429, "xero_rate_limited", "Xero's rate limit was reached; try again later"),
    errors.XeroServerError: (502, "xero_unavailable", f"Xero did not answer as expected; {_TRY_AGAIN}"),
    errors.XeroTimeout: (504, "xero_timeout", f"Xero did not answer in time; {_TRY_AGAIN}"),
    errors.DailyLimitReached: (429, "xero_daily_limit", "Xero's daily limit is spent; try again tomorrow"),
    errors.RateLimitWaitExceeded: (429, "xero_rate_limited", "Xero's rate limit was reached; try later"),
    errors.RateLimiterUnavailable: (503, "unavailable", _TRY_AGAIN),
    errors.TokenRefreshTimeoutError: (503, "unavailable", _TRY_AGAIN),
    errors.StaleTokenVersionError: (503, "unavailable", _TRY_AGAIN),
    errors.SecretUnavailableError: (503, "unavailable", _TRY_AGAIN),
    errors.WritesQueueError: (503, "unavailable", _TRY_AGAIN),
}
_GROUPS: dict[type[errors.XeroBridgeError], tuple[int, str, str]] = {
    errors.Refused: (400, "", ""),
    errors.RetryLater: (503, "unavailable", _TRY_AGAIN),
    errors.GiveUp: (500, "internal_error", f"something went wrong on our side; {_TRY_AGAIN}"),
}


def _retry_after(exc: Exception) -> dict[str, str]:
    seconds = getattr(exc, "retry_after_seconds", None)
    if isinstance(exc, errors.RetryLater):
        return {"Retry-After": str(max(1, round(seconds if isinstance(seconds, int | float) else 5)))}
    return {}


def error_response(exc: Exception) -> tuple[int, str, str, dict[str, str]]:
    """Status, error code, reason and extra headers for an error (the one mapping every API uses)."""
    if isinstance(exc, RequestValidationError):
        fields = sorted({".".join(str(p) for p in err.get("loc", ())[1:]) or "body" for err in exc.errors()})
        return 400, "invalid_request", "missing or invalid: " + ", ".join(fields), {}
    if isinstance(exc, ServiceError):  # the resolver's own: unknown route (404), wrong method (405)...
        return exc.status_code, HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_"), str(exc.msg), {}
    if not isinstance(exc, errors.XeroBridgeError):
        return 500, "internal_error", f"something went wrong on our side; {_TRY_AGAIN}", {}
    # The most specific entry: the class itself, else its nearest mapped ancestor, else its group.
    status, code, reason = next(
        (_RESPONSES.get(cls) or _GROUPS[cls])
        for cls in type(exc).__mro__
        if cls in _RESPONSES or cls in _GROUPS
    )
    if isinstance(exc, errors.Refused):
        code, reason = exc.code, exc.reason
    elif isinstance(exc, errors.NeedsReconnect):
        reason = exc.reason
    return status, code, reason, _retry_after(exc)


def mapped_errors() -> frozenset[type[errors.XeroBridgeError]]:
    """The error classes :func:`error_response` names one by one (the groups are only a safety net)."""
    return frozenset(_RESPONSES)


def register_error_handlers(
    app: APIGatewayRestResolver, *, redirect_errors_to: Callable[[], str] | None = None
) -> None:
    """Map every error a route raises to a response, once for the whole function.

    Parameters
    ----------
    app : APIGatewayRestResolver
        The function's resolver.
    redirect_errors_to : callable, optional
        For browser routes: returns the AR app URL an error redirects to (unless the request wants JSON).
    """

    @app.exception_handler(Exception)
    def _handle(exc: Exception) -> Response[Any]:
        status, code, reason, headers = error_response(exc)
        if status >= 500:
            logger.exception("request failed", extra={"error": code})
        else:
            logger.info("request refused", extra={"error": code, "status": status})
        metrics.add_metric(
            name="RequestsRefused" if status < 500 else "RequestsFailed", unit=MetricUnit.Count, value=1
        )
        event = app.current_event
        if redirect_errors_to is not None and not wants_json(event.headers):
            org_id = getattr(exc, "org_id", None)
            return redirect(
                add_query(
                    redirect_errors_to(),
                    {"status": "error", "error": code, "reason": reason, "org_id": org_id},
                )
            )
        return Response(
            status_code=status,
            content_type=content_types.APPLICATION_JSON,
            body={"error": code, "reason": reason},
            headers={"Cache-Control": "no-store", **headers},
        )
