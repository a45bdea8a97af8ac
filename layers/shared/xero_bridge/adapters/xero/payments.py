"""The Xero calls of the payment export for one tenant: ``PUT /Payments`` in batches and ``GET /Invoices``
by ids, each attempt through the token vault and the shared per-tenant rate limiter, and counted."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xero_bridge.adapters.xero.client import Resource
from xero_bridge.adapters.xero.metered import MeteredXero, MeteredXeroFactory
from xero_bridge.models.xero import Invoice, PaymentCreate, PaymentResult

__all__ = ["MeteredPayments", "MeteredPaymentsFactory"]


class MeteredPayments(MeteredXero):
    """The export's Xero client (implements ``XeroPaymentsClient``): the sync's metered client, counted the
    same way, with the two calls an export makes."""

    def create_payments(
        self, payments: Sequence[PaymentCreate], *, idempotency_key: str
    ) -> list[PaymentResult]:
        """``PUT /Payments?summarizeErrors=false`` with ``Idempotency-Key``: one result per payment.

        A 5xx, a timeout or a dropped connection is retried with the same key (Xero answers a retry it
        already saved from its memory, for about six minutes).
        """
        return self._client.create_payments(payments, idempotency_key=idempotency_key)

    def invoices(self, invoice_ids: Sequence[str]) -> list[Invoice]:
        """``GET /Invoices?IDs=`` (50 to a call): status, amounts due and paid, and each invoice's payments
        with their references; ids Xero does not know are absent."""
        records = self._client.get_by_ids(Resource.INVOICES, list(invoice_ids))
        return [record for record in records if isinstance(record, Invoice)]


class MeteredPaymentsFactory:
    """``payments(tenant_id, time_left=...)`` (implements ``XeroPayments``): a fresh metered client per batch.

    Parameters
    ----------
    clients
        The metered client factory of the sync (same token vault, limiter, HTTP pool and retry policy).
    """

    def __init__(self, clients: MeteredXeroFactory) -> None:
        self._clients = clients

    def __call__(self, tenant_id: str, *, time_left: Callable[[], float] | None = None) -> MeteredPayments:
        return MeteredPayments(*self._clients.client(tenant_id, time_left=time_left))
