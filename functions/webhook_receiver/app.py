"""POST /webhooks/xero: Xero's signed webhooks, verified over the raw body and only enqueued (C5).

No API key: Xero's ``x-xero-signature`` is the authentication. Every answer has an empty body (what Xero
expects) and no cookie; a bad signature is a 401 before anything reads the body.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from xero_bridge.http import api_responses, header, no_body, raw_body, register_error_handlers
from xero_bridge.observability import count, invocation, metrics
from xero_bridge.wiring import receive_webhook

app = APIGatewayRestResolver()
register_error_handlers(app)  # only SQS refusing the message lands there: a 503, so Xero delivers again


@app.post(
    "/webhooks/xero",
    summary="Xero's webhooks: verified over the raw body (x-xero-signature), then queued",
    responses={
        200: no_body("Verified and queued, or Xero's intent-to-receive answered."),
        401: no_body("`x-xero-signature` missing or wrong (Xero's intent-to-receive expects it)."),
        **api_responses({}, 503),
    },
    tags=["xero"],
    # The body is read as raw bytes (the signature is over them), so it is described here, not parsed.
    openapi_extensions={
        "parameters": [
            {
                "name": "x-xero-signature",
                "in": "header",
                "required": False,
                "description": "Base64 HMAC-SHA256 of the raw body under the Xero app's webhook key.",
                "schema": {"type": "string"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", "description": "Xero's payload."}}},
        },
    },
)
def webhook() -> Response[str]:
    started = time.monotonic()
    event = app.current_event
    ack = receive_webhook().receive(raw_body(event), header(event, "x-xero-signature"))
    count("WebhookAckTime", (time.monotonic() - started) * 1000, unit=MetricUnit.Milliseconds)
    metrics.add_metric(name="WebhookDeliveries", unit=MetricUnit.Count, value=1)
    if ack.status_code != 200:
        metrics.add_metric(name="WebhookDeliveriesRefused", unit=MetricUnit.Count, value=1)
    return Response(status_code=ack.status_code, content_type=content_types.TEXT_PLAIN, body="")


@invocation(flow="webhook", correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
