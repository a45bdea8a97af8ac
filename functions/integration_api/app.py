"""The integration API for the AR app (its backend signs with SigV4 and sends the API key): connection status
and banner, sync progress, the synced records (one by one, and listed a page at a time) with their sync trail,
and this API's OpenAPI document. Each route's ``summary`` and answers are what ``docs/openapi.json`` says of
it."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime

from xero_bridge import wiring
from xero_bridge.http import api_base_url, api_document, api_responses, log_org_id, register_error_handlers
from xero_bridge.models.balances import CustomerWithBalance, ExplainAnswer, RecordTrail, RefetchOutcome
from xero_bridge.models.connection import (
    ORG_ID_PATTERN,
    ConnectionView,
    ConnectLink,
    ConnectRequest,
    DisconnectOutcome,
)
from xero_bridge.models.listings import (
    CURSOR_MAX_LENGTH,
    CURSOR_PATTERN,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    CreditNotePage,
    CustomerPage,
    InvoicePage,
    XeroPaymentPage,
)
from xero_bridge.models.records import (
    XERO_ID_PATTERN,
    InvoiceStatus,
    InvoiceView,
    canonical_xero_id,
)
from xero_bridge.models.sync import SyncProgressView, SyncStarted
from xero_bridge.observability import invocation
from xero_bridge.settings import get_settings

app = APIGatewayRestResolver(enable_validation=True)
register_error_handlers(app)
app.use(middlewares=[log_org_id])  # each route's lines name its org, once its path is validated

OrgId = Annotated[str, Path(pattern=ORG_ID_PATTERN, description="The AR platform's id of the organisation.")]
XeroId = Annotated[str, Path(pattern=XERO_ID_PATTERN, description="Xero's id (a GUID, dashed or not).")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Records a page holds (1..{MAX_LIMIT}).")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=CURSOR_MAX_LENGTH,
        pattern=CURSOR_PATTERN,
        description="The previous page's `next_cursor`; valid only with the same org, route and filters.",
    ),
]
_PAGE = {200: "A page of records, and the cursor of the next page (null at the end)."}


@app.post(
    "/orgs/<org_id>/connect",
    summary="A single-use link (10 minutes) to send the finance user's browser to, to connect Xero",
    responses=api_responses({201: "The connect link."}, 400, 415),
    tags=["connection"],
)
def start_connect(org_id: OrgId, request: Annotated[ConnectRequest, Body()]) -> Response[ConnectLink]:
    settings = get_settings()
    endpoint = api_base_url(settings.public_api_url, app.current_event.raw_event["requestContext"], "")
    link = wiring.start_connect().start(
        org_id, user_email=request.user_email, connect_endpoint=f"{endpoint}/connect"
    )
    return Response(201, content_types.APPLICATION_JSON, link)


@app.delete(
    "/orgs/<org_id>/connection",
    summary="Disconnect Xero: its connection deleted, its grant revoked, our tokens erased (idempotent)",
    responses=api_responses({200: "What was done, or that it was already disconnected."}, 400, 409, 503),
    tags=["connection"],
)
def disconnect(org_id: OrgId) -> DisconnectOutcome:
    return wiring.disconnect_org().disconnect(org_id)


@app.get(
    "/orgs/<org_id>/connection",
    summary="The connection's status, its banner when it needs a reconnect, webhook health and quota",
    responses=api_responses({200: "The connection as it stands."}, 400),
    tags=["connection"],
)
def connection(org_id: OrgId) -> ConnectionView:
    return wiring.connection_status().status(org_id)


@app.get(
    "/orgs/<org_id>/invoices/<invoice_id>",
    summary="One synced invoice with its sync trail",
    responses=api_responses({200: "The invoice."}, 400, 404, 409),
    tags=["records"],
)
def invoice(org_id: OrgId, invoice_id: XeroId) -> InvoiceView:
    return wiring.read_records().invoice(org_id, canonical_xero_id(invoice_id))


@app.get(
    "/orgs/<org_id>/customers/<contact_id>",
    summary="One synced customer with its sync trail and its balance block: ours beside Xero's, off balance "
    "or not, and the documents that explain a difference",
    responses=api_responses({200: "The customer."}, 400, 404, 409),
    tags=["records"],
)
def customer(org_id: OrgId, contact_id: XeroId) -> CustomerWithBalance:
    return wiring.read_records().customer(org_id, canonical_xero_id(contact_id))


@app.post(
    "/orgs/<org_id>/customers/<contact_id>/refetch",
    summary="Re-fetch one customer's documents from Xero (rate-limited): clears the off-balance flag or "
    "confirms it, with the documents that differed",
    responses=api_responses({200: "What Xero holds, compared with what we held."}, 400, 404, 409, 503),
    tags=["records"],
)
def refetch_customer(org_id: OrgId, contact_id: XeroId) -> RefetchOutcome:
    return wiring.refetch_customer().refetch(org_id, canonical_xero_id(contact_id))


@app.get(
    "/orgs/<org_id>/explain/<xero_id>",
    summary="Why a Xero contact or document is, or is not, in the AR platform, with the Xero field that "
    "decided",
    responses=api_responses({200: "Held (since when, from where) or not held, and why."}, 400, 409, 503),
    tags=["support"],
)
def explain(org_id: OrgId, xero_id: XeroId) -> ExplainAnswer:
    return wiring.explain_records().explain(org_id, canonical_xero_id(xero_id))


@app.get(
    "/orgs/<org_id>/records/<xero_id>/trail",
    summary="One record's sync trail: what we hold beside what Xero holds now, every version's source, "
    "and what came stale",
    responses=api_responses({200: "The trail."}, 400, 404, 409, 503),
    tags=["support"],
)
def record_trail(org_id: OrgId, xero_id: XeroId) -> RecordTrail:
    return wiring.explain_records().trail(org_id, canonical_xero_id(xero_id))


@app.get(
    "/orgs/<org_id>/customers",
    summary="The customers, a page at a time: all by Xero id, by `active` in the order Xero changed them, or "
    "the off-balance ones (`off_balance=true`) with their balance blocks",
    responses=api_responses(_PAGE, 400, 409, 503),
    tags=["records"],
)
def customers(
    org_id: OrgId,
    active: Annotated[bool | None, Query(description="Only active (true) or archived (false) ones.")] = None,
    off_balance: Annotated[
        bool | None,
        Query(description="true: only customers whose balance differs from Xero's (not with `active`)."),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> CustomerPage:
    return wiring.list_records().customers(
        org_id, active=active, off_balance=off_balance, limit=limit, cursor=cursor
    )


@app.get(
    "/orgs/<org_id>/invoices",
    summary="The sales invoices, a page at a time: a customer's by date; by last change when filtered by "
    "`status` or `updated_since`; else all by Xero id",
    responses=api_responses(_PAGE, 400, 409, 503),
    tags=["records"],
)
def invoices(
    org_id: OrgId,
    *,
    customer_id: Annotated[
        str | None, Query(pattern=XERO_ID_PATTERN, description="Only this customer's (Xero ContactID).")
    ] = None,
    status: Annotated[InvoiceStatus | None, Query(description="Only invoices in this status.")] = None,
    updated_since: Annotated[
        AwareDatetime | None,
        Query(description="Only invoices Xero changed at or after this instant (ISO 8601, with its offset)."),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> InvoicePage:
    return wiring.list_records().invoices(
        org_id,
        customer_id=canonical_xero_id(customer_id) if customer_id else None,
        status=status,
        updated_since=updated_since,
        limit=limit,
        cursor=cursor,
    )


@app.get(
    "/orgs/<org_id>/credit-notes",
    summary="The sales credit notes with their allocations, a page at a time",
    responses=api_responses(_PAGE, 400, 409, 503),
    tags=["records"],
)
def credit_notes(org_id: OrgId, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> CreditNotePage:
    return wiring.list_records().credit_notes(org_id, limit=limit, cursor=cursor)


@app.get(
    "/orgs/<org_id>/xero-payments",
    summary="Payments as Xero holds them, then overpayments and prepayments with their allocations",
    responses=api_responses(_PAGE, 400, 409, 503),
    tags=["records"],
)
def xero_payments(org_id: OrgId, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> XeroPaymentPage:
    return wiring.list_records().xero_payments(org_id, limit=limit, cursor=cursor)


@app.get(
    "/orgs/<org_id>/sync",
    summary="The latest sync's progress: pages and records per resource, calls, quota",
    responses=api_responses({200: "The latest run's progress."}, 400),
    tags=["sync"],
)
def sync_progress(org_id: OrgId) -> SyncProgressView:
    return wiring.sync_progress().progress(org_id)


@app.post(
    "/orgs/<org_id>/sync",
    summary="Start a re-sync, or resume (`resume=true`) the latest run where it stopped",
    responses=api_responses({202: "The sync started.", 200: "A sync already runs: that one."}, 400, 409),
    tags=["sync"],
)
def start_sync(org_id: OrgId, resume: Annotated[bool, Query()] = False) -> Response[SyncStarted]:
    started = wiring.start_sync().start(org_id, resume=resume)
    # 202: the sync runs on; 200 when the one already running is reported.
    return Response(200 if started.already_running else 202, content_types.APPLICATION_JSON, started)


@app.get(
    "/openapi.json",
    summary="This document: the OpenAPI description of the whole integration API",
    responses={200: {"description": "The document.", "content": {"application/json": {"schema": {}}}}},
    tags=["documentation"],
)
def openapi_document() -> Response[str]:
    return Response(200, content_types.APPLICATION_JSON, api_document())


@invocation(flow="api", correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
