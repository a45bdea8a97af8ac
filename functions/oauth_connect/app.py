"""GET /connect?org_id=...: send the browser to Xero's consent screen for this AR organisation (C1)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from xero_bridge.http import callback_url, redirect, register_error_handlers
from xero_bridge.models.connection import ORG_ID_PATTERN
from xero_bridge.observability import logger, metrics, tracer
from xero_bridge.settings import get_settings
from xero_bridge.wiring import begin_connect

app = APIGatewayRestResolver(enable_validation=True)
# A /connect link without a valid org_id is the AR app's bug: answer 400 naming the field, no redirect.
register_error_handlers(app)


@app.get("/connect")
def connect(org_id: Annotated[str, Query(pattern=ORG_ID_PATTERN)]) -> Response[str]:
    logger.append_keys(org_id=org_id)
    redirect_uri = callback_url(
        get_settings().xero_redirect_uri, app.current_event.raw_event["requestContext"], "/connect"
    )
    location = begin_connect(redirect_uri).begin(org_id)
    metrics.add_metric(name="ConnectStarted", unit=MetricUnit.Count, value=1)
    return redirect(location)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    get_settings()  # a missing variable fails the first invocation here, with its name
    return app.resolve(event, context)
