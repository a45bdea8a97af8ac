"""The payment export's routes of the integration API (SigV4 and the API key): bank accounts, settings,
payments and "Export back to Xero" (C8, C9, C10).

Same API, key and error mapping (``http.py``) as ``integration_api``; a function of its own so that only it
may write the export ledger and queue payments (least privilege), and each handler stays a thin router.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from xero_bridge import wiring
from xero_bridge.http import api_responses, register_error_handlers
from xero_bridge.models.connection import ORG_ID_PATTERN
from xero_bridge.models.payments import (
    PAYMENT_ID_PATTERN,
    BankAccountView,
    ExportSettings,
    ExportSettingsRequest,
    PaymentPage,
    PaymentRequest,
    PaymentStatus,
    PaymentView,
    ReplayRequest,
    ReplayResult,
)
from xero_bridge.observability import invocation, logger

app = APIGatewayRestResolver(enable_validation=True)
register_error_handlers(app)
OrgId = Annotated[str, Path(pattern=ORG_ID_PATTERN)]
PaymentId = Annotated[str, Path(pattern=PAYMENT_ID_PATTERN)]


class BankAccounts(BaseModel):
    bank_accounts: list[BankAccountView]


def _json(status: int, body: BaseModel) -> Response[Any]:
    return Response(status, content_types.APPLICATION_JSON, body)


@app.get(
    "/orgs/<org_id>/bank-accounts",
    summary="The synced accounts payments can go into, per currency",
    responses=api_responses({200: "The payment accounts."}, 400, 409),
    tags=["payments"],
)
def bank_accounts(org_id: OrgId) -> BankAccounts:
    return BankAccounts(bank_accounts=wiring.export_settings().bank_accounts(org_id))


@app.get(
    "/orgs/<org_id>/settings",
    summary="The export settings: the bank account chosen for each currency",
    responses=api_responses({200: "The settings."}, 400),
    tags=["payments"],
)
def settings(org_id: OrgId) -> ExportSettings:
    return wiring.export_settings().settings(org_id)


@app.put(
    "/orgs/<org_id>/settings",
    summary="Choose the bank account for each currency (a synced, active payment account in it)",
    responses=api_responses({200: "The settings now."}, 400, 409, 415),
    tags=["payments"],
)
def update_settings(org_id: OrgId, body: Annotated[ExportSettingsRequest, Body()]) -> ExportSettings:
    return wiring.export_settings().update(org_id, body)


@app.post(
    "/orgs/<org_id>/payments",
    summary="Record a payment to export to Xero (202; the same body again 200, another body 409)",
    responses=api_responses(
        {202: "Recorded, queued for export.", 200: "Recorded before with this same body: as it stands."},
        400,
        409,
        415,
        503,
    ),
    tags=["payments"],
)
def record_payment(org_id: OrgId, body: Annotated[PaymentRequest, Body()]) -> Response[PaymentView]:
    payment, created = wiring.record_payment().record(org_id, body)
    return _json(202 if created else 200, payment)  # 200: the same payment recorded before


@app.get(
    "/orgs/<org_id>/payments",
    summary="The payments, a page at a time: one status newest first, or all by id",
    responses=api_responses({200: "A page of payments and the cursor of the next (null at the end)."}, 400),
    tags=["payments"],
)
def payments(
    org_id: OrgId,
    status: Annotated[PaymentStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> PaymentPage:
    return wiring.payment_queries().payments(org_id, status=status, limit=limit, cursor=cursor)


@app.get(
    "/orgs/<org_id>/payments/<payment_id>",
    summary="One payment: pending, exported, error (with its code) or closed, and its history",
    responses=api_responses({200: "The payment."}, 400, 404),
    tags=["payments"],
)
def payment(org_id: OrgId, payment_id: PaymentId) -> PaymentView:
    return wiring.payment_queries().payment(org_id, payment_id)


@app.post(
    "/orgs/<org_id>/payments/<payment_id>/export",
    summary="Export back to Xero: queue one payment again (202), or say why not (200)",
    responses=api_responses(
        {202: "Queued again.", 200: "Not queued: exported, closed or being sent (the reason)."}, 400, 404, 503
    ),
    tags=["payments"],
)
def export_again(org_id: OrgId, payment_id: PaymentId) -> Response[ReplayResult]:
    result = wiring.replay_payments().replay_one(org_id, payment_id)
    return _json(202 if result.queued else 200, result)


@app.post(
    "/orgs/<org_id>/payments/replay",
    summary="Export again the payments named, or every failed one",
    responses=api_responses(
        {202: "Some were queued again.", 200: "None was queued (each one's reason)."}, 400, 415, 503
    ),
    tags=["payments"],
)
def replay(org_id: OrgId, body: Annotated[ReplayRequest, Body()]) -> Response[ReplayResult]:
    result = wiring.replay_payments().replay(org_id, body)
    return _json(202 if result.queued else 200, result)


@invocation(flow="export", correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(org_id=(event.get("pathParameters") or {}).get("org_id"))
    return app.resolve(event, context)
