"""GET /callback: Xero's redirect after the consent screen; finish the connect and start the sync (C1)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from xero_bridge.http import (
    CONNECT_COOKIE,
    add_query,
    api_responses,
    callback_url,
    connect_cookie,
    is_https,
    no_body,
    redirect,
    register_error_handlers,
    request_cookie,
    wants_json,
)
from xero_bridge.models.connection import ConnectOutcome
from xero_bridge.observability import invocation, metrics
from xero_bridge.settings import get_settings
from xero_bridge.wiring import complete_connect

app = APIGatewayRestResolver(enable_validation=True)
# The user's browser lands here: a refusal goes back to the AR app with the reason (JSON if asked for).
register_error_handlers(
    app, redirect_errors_to=lambda: get_settings().app_return_url, refuse_unknown_query=False
)

_Param = Annotated[str | None, Query(max_length=2048)]


@app.get(
    "/callback",
    summary="Xero sends the browser back here after the consent screen: the connect completes",
    responses={
        302: no_body(
            "Back to the AR app with `status=connected`, or `status=error` and a stable `error` code.",
            location="`AppReturnUrl` with the outcome in its query string.",
        ),
        # With Accept: application/json, the outcome and the refusals are JSON instead of a redirect.
        200: {
            "description": "Connected (the request asked for JSON).",
            "content": {content_types.APPLICATION_JSON: {"model": ConnectOutcome}},
        },
        **api_responses({}, 400, 409, 429, 502, 503, 504),
    },
    tags=["browser"],
)
def callback(
    state: _Param = None, code: _Param = None, error: _Param = None, error_description: _Param = None
) -> Response[Any]:
    settings = get_settings()
    redirect_uri = callback_url(
        settings.xero_redirect_uri, app.current_event.raw_event["requestContext"], "/callback"
    )
    browser_key = request_cookie(app.current_event, CONNECT_COOKIE)
    outcome = complete_connect(redirect_uri).complete(
        state, code, error, error_description, browser_key=browser_key
    )
    metrics.add_metric(name="XeroConnected", unit=MetricUnit.Count, value=1)
    # The connect is done: the browser's binding cookie is no longer needed.
    spent = connect_cookie("", secure=is_https(app.current_event), max_age=0)
    if wants_json(app.current_event.headers):
        return Response(200, content_types.APPLICATION_JSON, outcome.model_dump(mode="json"), cookies=[spent])
    params: dict[str, str | None] = {
        "status": "connected",
        "org_id": outcome.org_id,
        "tenant": outcome.tenant_name or outcome.tenant_id,
        "tenant_id": outcome.tenant_id,
    }
    response = redirect(add_query(settings.app_return_url, params))
    response.cookies.append(spent)
    return response


@invocation(flow="connect", correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
