"""The integration API's request validation: JSON bodies only, and no query parameter a route does not take.

A module of its own, imported by :func:`xero_bridge.http.register_error_handlers` only for a resolver that
validates (``enable_validation=True``): Powertools' validation middleware is a cold start's worth of imports
that the webhook receiver, which validates nothing, does not pay.
"""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools.event_handler import content_types
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from xero_bridge.http import FIELD_NAME

__all__ = ["JsonBodiesOnly"]


def _matched(app: Any) -> bool:
    """Whether the request matched one of the resolver's routes (Powertools runs a request no route matched
    through the same middleware, on a route of its own that takes no parameter at all)."""
    route = app.context["_route"]
    return any(route is ours for ours in (*app._static_routes, *app._dynamic_routes))


class JsonBodiesOnly(OpenAPIRequestValidationMiddleware):
    """Request validation that reads JSON bodies only, and (on the integration API) refuses query
    parameters a route does not take.

    The API takes JSON and nothing else. Powertools would also parse form and multipart bodies, and answers a
    multipart body whose Content-Type has no boundary with an unhandled ValueError (a 500; found by the
    OpenAPI fuzz): any body sent as something other than JSON is a 415 here, before it is parsed. Bytes
    that are not UTF-8 are an invalid body (a 400), not a UnicodeDecodeError.

    A query parameter the route does not declare is a 400 naming it: a misspelt filter (``stauts=error``)
    would otherwise be ignored and answer every record. Browser routes leave this off: Xero's redirect to
    the callback carries parameters of its own (``scope``, ``session_state``).
    """

    def __init__(self, *, refuse_unknown_query: bool) -> None:
        super().__init__()
        self._refuse_unknown_query = refuse_unknown_query

    def handler(self, app: Any, next_middleware: Any) -> Any:
        unknown = self._unknown_query(app) if self._refuse_unknown_query and _matched(app) else []
        if not unknown:
            return super().handler(app, next_middleware)

        def refuse(_: Any) -> Any:  # the declared parameters were valid: now the ones no route takes
            raise RequestValidationError(unknown)

        # The declared parameters are checked first: an org id off its pattern is what a request got wrong,
        # not the filters of a route it only seemed to match.
        return super().handler(app, cast(Any, refuse))

    @staticmethod
    def _unknown_query(app: Any) -> list[dict[str, Any]]:
        declared = {param.alias for param in app.context["_route"].dependant.query_params}
        sent = app.current_event.resolved_query_string_parameters or {}
        return [
            {
                "type": "extra_forbidden",
                "loc": ("query", name if FIELD_NAME.match(name) else "unknown_parameter"),
                "msg": "not a parameter of this route",
                "input": {},
            }
            for name in sorted(name for name in sent if name not in declared)
        ]

    def _get_body(self, app: Any) -> Any:
        content_type = str(app.current_event.headers.get("content-type", "")).strip()
        if content_type and not content_type.lower().startswith(content_types.APPLICATION_JSON):
            raise RequestUnsupportedContentType(
                "Unsupported content type",
                errors=[
                    {"type": "unsupported_content_type", "loc": ("body",), "msg": "not JSON", "input": {}}
                ],
            )
        try:
            return super()._get_body(app)
        except UnicodeDecodeError as exc:  # bytes that are no text at all (found by the fuzz: a 500)
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": "not UTF-8", "input": {}}]
            ) from exc
