"""Use case: the targeted re-fetch of one customer (``POST /orgs/{org_id}/customers/{contact_id}/refetch``).

When nothing we hold explains an off-balance customer, ask Xero — through the shared rate limiter — for the
customer and every receivable document of it (five calls: the contact by id, then its invoices, credit notes,
overpayments and prepayments with Xero's ``where`` on ``Contact.ContactID``, a page of up to 1,000 each),
compare them document by document with what we hold (:func:`~xero_bridge.domain.balances.compare_with_xero`),
and send them to the writer as ``by_id`` versions (the writer keeps only newer ones; the balance keeper then
rechecks the customer from the stream).

The answer says ``cleared`` when Xero's documents add up to Xero's figure (the flag clears once they are
written, within seconds), ``confirmed`` when they do not (the difference is within Xero itself), or
``in_balance`` when the figures already matched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal

from xero_bridge.domain.balances import BalanceDocument, compare_with_xero, contribution, held_documents
from xero_bridge.errors import NotConnectedError, RecordNotHeld
from xero_bridge.models.balances import RefetchOutcome
from xero_bridge.models.connection import ConnectionStatus
from xero_bridge.models.records import Customer, RecordSource, RecordType, SkippedRecord
from xero_bridge.models.xero import XeroModel
from xero_bridge.services.balance_check import check_customer
from xero_bridge.services.ports import (
    BalanceStore,
    ConnectionStore,
    RecordHistory,
    XeroReader,
    XeroReaders,
    utc_now,
)
from xero_bridge.services.publish_records import Published, RecordPublisher, every_page

__all__ = ["RefetchCustomer"]

_DOCUMENTS: dict[str, str] = {
    "Invoices": 'Type=="ACCREC"',
    "CreditNotes": 'Type=="ACCRECCREDIT"',
    "Overpayments": 'Type=="RECEIVE-OVERPAYMENT"',
    "Prepayments": 'Type=="RECEIVE-PREPAYMENT"',
}
_PAGE_SIZE = 1000
_MAX_PAGES = 10  # 10,000 documents of one customer: past that, the catch-up's sweep is the tool


class RefetchCustomer:
    """The re-fetch.

    Parameters
    ----------
    connections, records, balances
        The org's connection, ``RecordsTable`` (read), ``ReconciliationTable`` (the current check).
    xero
        Rate-limited Xero readers.
    publisher
        The shared map → send step to the writer.
    clock
        Aware-UTC clock.
    """

    def __init__(
        self,
        *,
        connections: ConnectionStore,
        records: RecordHistory,
        balances: BalanceStore,
        xero: XeroReaders,
        publisher: RecordPublisher,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._connections = connections
        self._records = records
        self._balances = balances
        self._xero = xero
        self._publisher = publisher
        self._clock = clock

    def refetch(self, org_id: str, contact_id: str) -> RefetchOutcome:
        """Fetch the customer's documents from Xero, compare, send them to the writer.

        Raises
        ------
        NotConnectedError
            The org is not connected now (nothing can be asked of Xero).
        RecordNotHeld
            We hold no such customer (with why, when we left it out).
        """
        connection = self._connections.get_connection(org_id)
        if connection is None:
            raise NotConnectedError(f"org {org_id} has never connected a Xero organisation", org_id=org_id)
        if connection.status is not ConnectionStatus.CONNECTED:
            raise NotConnectedError(
                f"org {org_id} is {connection.status.value}: Xero cannot be asked", org_id=org_id
            )
        tenant_id = connection.tenant_id
        held_customer = self._records.get(tenant_id, RecordType.CONTACT, contact_id)
        if held_customer is None or not isinstance(held_customer.payload, Customer):
            left_out = self._records.find_any(tenant_id, contact_id, (RecordType.CONTACT,))[1]
            raise RecordNotHeld(
                f"this customer is not in the AR platform: {left_out.detail}"
                if left_out
                else "no customer with this id has been synced from the connected Xero organisation",
                code=left_out.reason.value if left_out else None,
                org_id=org_id,
            )
        reader = self._xero(tenant_id)
        source = RecordSource(kind="by_id", fetched_at=self._clock())
        contact = self._publish(
            org_id, tenant_id, "Contacts", reader.fetch_by_ids("Contacts", [contact_id]).records, source
        )
        sent = contact.records_sent
        xero_customer = next((r.payload for r in contact.records if isinstance(r.payload, Customer)), None)
        in_xero: list[BalanceDocument] = []
        for resource, where in _DOCUMENTS.items():
            found = self._documents(reader, resource, f'Contact.ContactID==Guid("{contact_id}") AND {where}')
            published = self._publish(org_id, tenant_id, resource, found, source)
            in_xero.extend(r.payload for r in published.records)  # type: ignore[misc]
            sent += published.records_sent
        documents = self._records.customer_documents(tenant_id, contact_id)
        held_docs = {h.payload.xero_id: h for h in held_documents(documents)}
        skipped: dict[str, SkippedRecord] = {}
        for document in in_xero:
            if document.xero_id not in held_docs:
                why = self._records.find_any(tenant_id, document.xero_id, (document.record_type,))[1]
                if why is not None:
                    skipped[document.xero_id] = why
        current = check_customer(
            tenant_id=tenant_id,
            org_id=org_id,
            contact_id=contact_id,
            records=self._records,
            balances=self._balances,
            now=self._clock(),
        )
        from_xero = sum((contribution(d) for d in in_xero), Decimal(0))
        xero_figure = xero_customer.ar_outstanding if xero_customer is not None else None
        findings = (
            compare_with_xero(held_customer.payload, xero_customer, held_docs, in_xero, skipped)
            if xero_customer is not None
            else []
        )
        if current is not None and not current.off_balance and not findings:
            outcome, text = "in_balance", "the two figures already match; Xero's documents agree with ours"
        elif xero_figure is not None and from_xero == xero_figure:
            outcome = "cleared"
            text = (
                f"Xero's documents add up to its figure ({xero_figure}); their {sent} versions were sent "
                "to the "
                f"writer and the flag clears as soon as they are written"
            )
        else:
            outcome = "confirmed"
            text = (
                f"Xero's own documents add up to {from_xero}, not to its figure of {xero_figure}: the "
                "difference "
                f"is within Xero (ask the Xero adviser), not in the sync"
            )
        return RefetchOutcome(
            contact_id=contact_id,
            outcome=outcome,
            xero_outstanding=xero_figure,
            computed_from_xero=from_xero,
            computed_here=current.computed if current is not None else None,
            records_sent=sent,
            xero_calls=reader.calls,
            findings=tuple(findings),
            explanation=text,
        )

    @staticmethod
    def _documents(reader: XeroReader, resource: str, where: str) -> list[XeroModel]:
        pages = every_page(reader, resource, page_size=_PAGE_SIZE, max_pages=_MAX_PAGES, where=where)
        return [record for page in pages for record in page.records]

    def _publish(
        self, org_id: str, tenant_id: str, resource: str, records: Sequence[XeroModel], source: RecordSource
    ) -> Published:
        if not records:
            return Published(records_sent=0, skipped=0, malformed=0)
        return self._publisher.publish(
            org_id=org_id,
            tenant_id=tenant_id,
            resource=resource,
            records=records,
            source=source,
            incremental=True,
        )
