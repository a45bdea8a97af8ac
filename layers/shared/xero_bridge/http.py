"""HTTP conventions shared by every API function: one error mapping, browser redirects, the callback URL.

Every API function calls :func:`register_error_handlers` on its resolver, so a given domain error gets the
same status and the same ``{"error": code, "reason": text}`` body everywhere. Browser routes (``/connect``,
``/callback``) pass ``redirect_errors_to``: unless the request asks for JSON, an error then sends the browser
back to the AR app with ``?status=error&error=...&reason=...`` instead of showing a raw JSON page.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent
from pydantic import BaseModel, Field

from xero_bridge import errors
from xero_bridge.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

__all__ = [
    "CONNECT_COOKIE",
    "ErrorBody",
    "add_query",
    "api_base_url",
    "api_document",
    "api_responses",
    "callback_url",
    "connect_cookie",
    "error_response",
    "header",
    "is_https",
    "log_org_id",
    "no_body",
    "raw_body",
    "redirect",
    "register_error_handlers",
    "request_cookie",
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


def raw_body(event: BaseProxyEvent) -> bytes:
    """The request body exactly as the client sent it (API Gateway base64-encodes binary bodies)."""
    if event.body is None:
        return b""
    if event.is_base64_encoded:
        return base64.b64decode(event.body)
    return event.body.encode("utf-8")


def header(event: BaseProxyEvent, name: str) -> str | None:
    """A request header, whatever case the client wrote its name in."""
    wanted = name.lower()
    return next((value for key, value in (event.headers or {}).items() if key.lower() == wanted), None)


def wants_json(headers: dict[str, str] | None) -> bool:
    """True when the caller asks for JSON (a script or the AR app's backend) rather than a browser page."""
    accept = {k.lower(): v for k, v in (headers or {}).items()}.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


API_DOCUMENT = "openapi.json"
"""The OpenAPI document of the whole integration API, shipped in this package (``make openapi`` writes it,
beside ``docs/openapi.json``; a test holds both equal to what the routes generate). A function cannot import
another function's code, so the document every function's routes make is generated at build time, not here."""


@lru_cache(maxsize=1)
def api_document() -> str:
    """The OpenAPI document as JSON text (read once per container)."""
    return resources.files("xero_bridge").joinpath(API_DOCUMENT).read_text(encoding="utf-8")


def api_base_url(configured: str, request_context: dict[str, Any], path: str) -> str:
    """This API's public base URL: the configured one, else as the request came (host, stage or base path).

    Derived from the request, so it is right behind a custom domain without the template having to
    reference the API from its own functions (a circular dependency in CloudFormation).
    """
    if configured:
        return configured.rstrip("/")
    host = request_context.get("domainName", "")
    full_path = request_context.get("path", "")
    # requestContext.path is the path as called (with stage or base path); ``path`` is the route's own.
    prefix = full_path[: -len(path)] if path and full_path.endswith(path) else ""
    return f"https://{host}{prefix}"


def callback_url(configured: str, request_context: dict[str, Any], path: str) -> str:
    """The OAuth redirect URI: the configured one, else this API's own ``/callback`` URL (the same on
    ``/connect`` and ``/callback``)."""
    if configured:
        return configured
    return f"{api_base_url('', request_context, path)}/callback"


CONNECT_COOKIE = "xero_bridge_connect"
"""The cookie that binds a connect to the browser that opened its link (``/connect`` to ``/callback``)."""


def connect_cookie(value: str, *, secure: bool, max_age: int) -> Cookie:
    """HttpOnly (no script reads it), SameSite=Lax (sent on Xero's top-level redirect back, not on a
    cross-site request), Secure over https (the local stack serves http)."""
    return Cookie(
        name=CONNECT_COOKIE,
        value=value,
        path="/",
        secure=secure,
        http_only=True,
        max_age=max_age,
        same_site=SameSite.LAX_MODE,
    )


def request_cookie(event: BaseProxyEvent, name: str) -> str | None:
    """One cookie of the request (the ``Cookie`` header(s) of a REST API event)."""
    jar = SimpleCookie()
    for key, value in (event.headers or {}).items():
        if key.lower() == "cookie":
            try:
                jar.load(value)
            except CookieError:
                return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def log_org_id(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """A resolver middleware (``app.use(middlewares=[log_org_id])``): every line of a routed request names its
    org, the route's ``org_id`` path parameter (none on a route without one).

    Powertools runs it after the request is validated, so the value is one the route's pattern accepted; a
    request that validation refuses names no org.
    """
    org_id = (app.current_event.path_parameters or {}).get("org_id")
    if org_id is not None:
        logger.append_keys(org_id=org_id)
    return next_middleware(app)


def is_https(event: BaseProxyEvent) -> bool:
    """API Gateway (and every proxy before it) says the scheme in ``X-Forwarded-Proto``."""
    return (header(event, "x-forwarded-proto") or "").lower() == "https"


class ErrorBody(BaseModel):
    """The body of every refusal and failure the API answers itself (``register_error_handlers``)."""

    error: str = Field(
        description="A stable, snake_case code the AR app may switch on (`invalid_request`, `not_found`...)."
    )
    reason: str = Field(
        description="What a person reads: for `invalid_request`, the parameters that are missing or invalid."
    )


_ERROR_MEANINGS: dict[int, str] = {
    400: "A parameter is missing or invalid (`invalid_request`, `reason` names each), or the request cannot "
    "be done as asked (a stable `error` code).",
    404: "Not found: `not_found` or `payment_not_found`, or the import rules' reason a record was left out.",
    409: "Not with the org's connection or the payment as they stand: `not_connected` (never connected, or "
    "not now), `needs_reconnect`, `connection_conflict`, `payment_conflict` (another body under this id).",
    415: "The body is not sent as JSON (`unsupported_media_type`).",
    429: "Xero's rate limit for the organisation is spent; `Retry-After` says when to try again.",
    502: "Xero answered something we could not use.",
    503: "A dependency is briefly unavailable; `Retry-After` says when to try again.",
    504: "Xero did not answer in time.",
}


def no_body(description: str, *, location: str | None = None) -> OpenAPIResponse:
    """An answer without a body (a redirect when ``location`` says where to), for the OpenAPI document."""
    answer: OpenAPIResponse = {"description": description, "content": {}}
    if location is not None:
        answer["headers"] = {"Location": {"description": location, "schema": {"type": "string"}}}
    return answer


def api_responses(success: Mapping[int, str], *errors: int) -> dict[int, OpenAPIResponse]:
    """A route's answers as the OpenAPI document declares them.

    Parameters
    ----------
    success
        Each success status with what it means; its body is the route's return type (Powertools fills it in).
    errors
        The error statuses the route's use case can produce, each answered with :class:`ErrorBody` by
        :func:`register_error_handlers`, so the document promises what the mapping below answers.
    """
    answers: dict[int, OpenAPIResponse] = {status: {"description": text} for status, text in success.items()}
    for status in errors:
        answers[status] = {
            "description": _ERROR_MEANINGS[status],
            "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}},
        }
    return answers


# Every named error of ``errors.py``, with its status and stable code (a test checks that none is missing).
# ``Refused`` errors answer with their own ``code`` and ``reason``; every other error answers a fixed text,
# never its message (which may name internal ids or Xero's words meant for the log).
_TRY_AGAIN = "try again in a moment"
_RESPONSES: dict[type[errors.XeroBridgeError], tuple[int, str, str]] = {
    # Refused: the user's own request, answered with the error's code and reason.
    errors.ConnectError: (400, "", ""),
    errors.NotConnectedError: (409, "", ""),
    errors.RecordNotHeld: (404, "", ""),
    errors.PaymentNotFoundError: (404, "", ""),
    errors.PaymentConflictError: (409, "", ""),
    errors.InvalidBankAccountError: (400, "", ""),
    errors.InvalidCursorError: (400, "", ""),
    errors.InvalidFilterError: (400, "", ""),
    # Give up: nothing the caller can retry as it is.
    errors.NeedsReconnect: (409, "needs_reconnect", ""),
    errors.InvalidStateError: (400, "invalid_state", "the connect link is unknown, used or expired"),
    errors.InvalidSessionError: (400, "invalid_session", "the connect link is unknown, used or expired"),
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
    errors.TableUnavailable: (503, "unavailable", _TRY_AGAIN),
    errors.TokenRefreshTimeoutError: (503, "unavailable", _TRY_AGAIN),
    errors.StaleTokenVersionError: (503, "unavailable", _TRY_AGAIN),
    errors.SecretUnavailableError: (503, "unavailable", _TRY_AGAIN),
    errors.WritesQueueError: (503, "unavailable", _TRY_AGAIN),
    errors.WebhookQueueError: (503, "unavailable", _TRY_AGAIN),
    errors.CatchUpQueueError: (503, "unavailable", _TRY_AGAIN),
    errors.ExportQueueError: (503, "unavailable", f"the payment is kept as pending; {_TRY_AGAIN}"),
    errors.ExportRetryLater: (503, "unavailable", _TRY_AGAIN),
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


FIELD_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def _field(location: Any) -> str:
    """A field's path as the request named it; a name that is not a plain name (a whole body read as a form
    field when the request was not sent as JSON) is never echoed back: it is the body's."""
    parts = [str(p) for p in location[1:] if p != "[key]"]
    if not parts or not all(FIELD_NAME.match(p) for p in parts):
        return "body"
    return ".".join(parts)


def _invalid_fields(details: Any) -> str:
    """The fields a request got wrong, each with our own validator's reason where it gave one (a pattern or
    a type error already says enough by its field's name; their texts would quote Pydantic)."""
    reasons: dict[str, str] = {}
    for err in details:
        field = _field(err.get("loc", ()))
        message = str(err.get("msg", ""))
        ours = err.get("type") == "value_error" and message.startswith("Value error, ")
        if ours or field not in reasons:
            reasons[field] = message.removeprefix("Value error, ") if ours else ""
    return ", ".join(f"{field} ({why})" if why else field for field, why in sorted(reasons.items()))


def error_response(exc: Exception) -> tuple[int, str, str, dict[str, str]]:
    """Status, error code, reason and extra headers for an error (the one mapping every API uses)."""
    if isinstance(exc, RequestUnsupportedContentType):  # a body that is not JSON, whatever it holds
        return 415, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)", {}
    if isinstance(exc, RequestValidationError):
        return 400, "invalid_request", "missing or invalid: " + _invalid_fields(exc.errors()), {}
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


# The characters a Powertools route's <param> matches (api_gateway._SAFE_URI, _UNSAFE_URI and \w). API
# Gateway's {param} takes any segment, so a value with another character reaches the function on a declared
# route and finds no route of the resolver there.
_ROUTABLE_SEGMENT = re.compile(r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+")


def _parameters_off_route(event: BaseProxyEvent) -> RequestValidationError | None:
    """A request API Gateway routed (its ``resource`` has parameters) that the resolver could not: a
    parameter value outside what any route takes, answered as the invalid parameter it is (a 400 naming it,
    as the route's own pattern would), never a 404 for a route that exists."""
    resource = str(event.raw_event.get("resource") or "")
    values = event.raw_event.get("pathParameters") or {}
    declared = re.findall(r"\{([^}+]+)\+?\}", resource)
    names = [name for name in declared if not _ROUTABLE_SEGMENT.fullmatch(str(values.get(name, "")))]
    if not names:
        return None  # every value routable: the path itself is unknown (a real 404)
    return RequestValidationError(
        [{"loc": ("path", name), "msg": "not a valid value", "type": "value_error"} for name in names]
    )


def register_error_handlers(
    app: APIGatewayRestResolver,
    *,
    redirect_errors_to: Callable[[], str] | None = None,
    refuse_unknown_query: bool = True,
) -> None:
    """Map every error a route raises to a response, once for the whole function.

    Parameters
    ----------
    app : APIGatewayRestResolver
        The function's resolver.
    redirect_errors_to : callable, optional
        For browser routes: returns the AR app URL an error redirects to (unless the request wants JSON).
    refuse_unknown_query : bool
        A query parameter no route declares is a 400 (the integration API); browser routes pass False.
    """

    if getattr(app, "_request_validation_middleware", None) is not None:  # a resolver that validates
        # Only a resolver that validates loads the validation machinery (a cold start's worth of imports).
        from xero_bridge.http_validation import JsonBodiesOnly  # noqa: PLC0415 - see above

        app._request_validation_middleware = JsonBodiesOnly(refuse_unknown_query=refuse_unknown_query)

    @app.exception_handler(Exception)
    def _handle(exc: Exception) -> Response[Any]:
        if isinstance(exc, NotFoundError):
            exc = _parameters_off_route(app.current_event) or exc
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
