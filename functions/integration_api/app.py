"""The integration API for the AR app (its backend signs with SigV4 and sends the API key): connection status
and banner, sync progress, the synced invoices and customers with their sync trail."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from xero_bridge import wiring
from xero_bridge.http import api_base_url, register_error_handlers
from xero_bridge.models.connection import (
    ORG_ID_PATTERN,
    ConnectionView,
    ConnectLink,
    ConnectRequest,
    DisconnectOutcome,
)
from xero_bridge.models.records import XERO_ID_PATTERN, CustomerView, InvoiceView, canonical_xero_id
from xero_bridge.models.sync import SyncProgressView, SyncStarted
from xero_bridge.observability import logger, metrics, tracer
from xero_bridge.settings import get_settings

app = APIGatewayRestResolver(enable_validation=True)
register_error_handlers(app)


@app.post("/orgs/<org_id>/connect")
def start_connect(
    org_id: Annotated[str, Path(pattern=ORG_ID_PATTERN)], request: Annotated[ConnectRequest, Body()]
) -> Response[ConnectLink]:
    logger.append_keys(org_id=org_id)
    settings = get_settings()
    endpoint = api_base_url(settings.public_api_url, app.current_event.raw_event["requestContext"], "")
    link = wiring.start_connect().start(
        org_id, user_email=request.user_email, connect_endpoint=f"{endpoint}/connect"
    )
    return Response(201, content_types.APPLICATION_JSON, link)


@app.delete("/orgs/<org_id>/connection")
def disconnect(org_id: Annotated[str, Path(pattern=ORG_ID_PATTERN)]) -> DisconnectOutcome:
    logger.append_keys(org_id=org_id)
    return wiring.disconnect_org().disconnect(org_id)


@app.get("/orgs/<org_id>/connection")
def connection(org_id: Annotated[str, Path(pattern=ORG_ID_PATTERN)]) -> ConnectionView:
    logger.append_keys(org_id=org_id)
    return wiring.connection_status().status(org_id)


@app.get("/orgs/<org_id>/invoices/<invoice_id>")
def invoice(
    org_id: Annotated[str, Path(pattern=ORG_ID_PATTERN)],
    invoice_id: Annotated[str, Path(pattern=XERO_ID_PATTERN)],
) -> InvoiceView:
    logger.append_keys(org_id=org_id)
    return wiring.read_records().invoice(org_id, canonical_xero_id(invoice_id))


@app.get("/orgs/<org_id>/customers/<contact_id>")
def customer(
    org_id: Annotated[str, Path(pattern=ORG_ID_PATTERN)],
    contact_id: Annotated[str, Path(pattern=XERO_ID_PATTERN)],
) -> CustomerView:
    logger.append_keys(org_id=org_id)
    return wiring.read_records().customer(org_id, canonical_xero_id(contact_id))


@app.get("/orgs/<org_id>/sync")
def sync_progress(org_id: Annotated[str, Path(pattern=ORG_ID_PATTERN)]) -> SyncProgressView:
    logger.append_keys(org_id=org_id)
    return wiring.sync_progress().progress(org_id)


@app.post("/orgs/<org_id>/sync")
def start_sync(
    org_id: Annotated[str, Path(pattern=ORG_ID_PATTERN)], resume: Annotated[bool, Query()] = False
) -> Response[SyncStarted]:
    logger.append_keys(org_id=org_id)
    started = wiring.start_sync().start(org_id, resume=resume)
    # 202: the sync runs on; 200 when the one already running is reported.
    return Response(200 if started.already_running else 202, content_types.APPLICATION_JSON, started)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    get_settings()  # a missing variable fails the first invocation here, with its name
    return app.resolve(event, context)
