"""GET /connect?session=...: a finance user's browser opens its connect link; off to Xero's consent (C1).

The link came from ``POST /orgs/{org_id}/connect`` (the AR platform's signed backend): single use, 10
minutes. Opening it binds the OAuth state to this browser with an HttpOnly cookie that ``/callback`` requires.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from xero_bridge.http import (
    api_responses,
    callback_url,
    connect_cookie,
    is_https,
    no_body,
    redirect,
    register_error_handlers,
)
from xero_bridge.observability import invocation, logger, metrics
from xero_bridge.settings import get_settings
from xero_bridge.wiring import begin_connect

app = APIGatewayRestResolver(enable_validation=True)
# A /connect link without a valid session is refused with a 400 naming why (no redirect to Xero).
register_error_handlers(app, refuse_unknown_query=False)  # a browser: links may carry more


@app.get(
    "/connect",
    summary="The finance user's browser opens its connect link: off to Xero's consent screen",
    responses={
        302: no_body(
            "To Xero's consent screen (PKCE), with an HttpOnly cookie binding the connect to this browser.",
            location="Xero's authorize URL.",
        ),
        **api_responses({}, 400),
    },
    tags=["browser"],
)
def connect(
    session: Annotated[str, Query(min_length=20, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")],
) -> Response[str]:
    settings = get_settings()
    redirect_uri = callback_url(
        settings.xero_redirect_uri, app.current_event.raw_event["requestContext"], "/connect"
    )
    started = begin_connect(redirect_uri).begin(session)
    logger.append_keys(org_id=started.org_id)
    metrics.add_metric(name="ConnectStarted", unit=MetricUnit.Count, value=1)
    response = redirect(started.authorize_url)
    response.cookies.append(
        connect_cookie(
            started.browser_key,
            secure=is_https(app.current_event),
            max_age=settings.oauth_state_ttl_seconds,
        )
    )
    return response


@invocation(flow="connect", correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
