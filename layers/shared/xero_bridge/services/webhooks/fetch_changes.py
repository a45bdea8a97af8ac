"""Fetch what a webhook delivery says changed, and hand it to the writer through the shared step.

For one delivery (one ``WebhooksQueue`` message):

1. Its ``firstEventSequence``..``lastEventSequence`` is recorded; a sequence that skips numbers means
   deliveries were lost, and asks the catch-up for every connected tenant at once (not at the next schedule).
2. Its events are grouped by tenant and resource, one fetch per resource of ids (``IDs=`` in requests of up
   to 50 — or Xero's ``where`` on the id where the spec has no ``IDs=``), through the token vault and the
   shared per-tenant rate limiter. Events of a tenant that is not connected (unknown, disconnected, waiting
   for a reconnect) are dropped with a log line: no Xero call, no retry. The catch-up after a reconnect
   covers what happened meanwhile.
3. The records go through the import rules and the writes queue (``services/publish_records.py``), each
   with a source naming the events that brought it — the record's sync trail. The writer's conditional
   upsert keeps the newest version whatever order deliveries and duplicates arrive in.
4. Payments raise no webhook, but they change their invoice: an invoice whose amount paid differs from the
   one we hold brings its payments along (Xero's ``where`` on ``Invoice.InvoiceID``, deleted ones included),
   so a payment recorded in Xero is visible in seconds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from xero_bridge.errors import NeedsReconnect
from xero_bridge.models.connection import ConnectionStatus
from xero_bridge.models.records import RecordSource, RecordType
from xero_bridge.models.webhooks import CatchUpRequest, WebhookEvent, WebhookPayload
from xero_bridge.models.xero import Invoice, InvoiceType, XeroModel
from xero_bridge.observability import logger
from xero_bridge.services.ports import (
    CatchUpRequests,
    ConnectionStore,
    RecordsStore,
    TimeLeft,
    WebhookSequences,
    XeroReader,
    XeroReaders,
)
from xero_bridge.services.publish_records import RecordPublisher, every_page

__all__ = ["ChangesFetched", "FetchChanges"]

INVOICE_IDS_PER_PAYMENTS_QUERY = 25
"""Invoices per ``where`` on ``GET /Payments`` (keeps the URL short, as the client's id filters do)."""


@dataclass(frozen=True)
class ChangesFetched:
    """What one delivery did: tenants served, events dropped, records sent, calls made, a sequence gap."""

    events: int = 0
    tenants: int = 0
    dropped_events: int = 0
    records_sent: int = 0
    payments_followed: int = 0
    calls: int = 0
    rate_limited: int = 0
    sequence_gap: bool = False
    lag_seconds: float | None = None  # the oldest event's date to its records sent, for the lag metric


class FetchChanges:
    """The change fetcher's use case.

    Parameters
    ----------
    connections
        Routes a tenant to its AR org; only a ``connected`` one is fetched for.
    sequences
        The app's webhook sequence high-water mark (gap detection).
    catch_ups
        Where a gap asks for the catch-up of every tenant.
    xero
        ``xero(tenant_id)``: a metered reader through the token vault and the shared rate limiter.
    records
        What we hold (the invoices' amount paid, for the payments that follow an invoice).
    publisher
        The shared map → send step.
    """

    def __init__(
        self,
        *,
        connections: ConnectionStore,
        sequences: WebhookSequences,
        catch_ups: CatchUpRequests,
        xero: XeroReaders,
        records: RecordsStore,
        publisher: RecordPublisher,
    ) -> None:
        self._connections = connections
        self._sequences = sequences
        self._catch_ups = catch_ups
        self._xero = xero
        self._records = records
        self._publisher = publisher

    def handle(self, payload: WebhookPayload, *, time_left: TimeLeft | None = None) -> ChangesFetched:
        """Record the delivery's sequence, fetch its changed records, send them to the writer.

        Raises
        ------
        RetryLater
            A rate limit (429, a spent limiter budget), a 5xx or a timeout: the message goes back to the
            queue and comes again (what was sent already is harmless to send twice).
        """
        gap = self._check_sequence(payload)
        by_tenant: dict[str, list[WebhookEvent]] = defaultdict(list)
        for event in payload.events:
            by_tenant[event.tenant_id].append(event)
        totals = ChangesFetched(events=len(payload.events), sequence_gap=gap)
        for tenant_id, events in by_tenant.items():
            totals = _add(totals, self._tenant(tenant_id, events, payload.last_sequence, time_left))
        return totals

    def _check_sequence(self, payload: WebhookPayload) -> bool:
        check = self._sequences.record(
            payload.first_sequence, payload.last_sequence, now=self._publisher.now()
        )
        if not check.gap:
            return False
        logger.warning(
            "webhook sequence gap: deliveries were lost, catching every tenant up",
            extra={"expected_first": check.expected_first, "first_sequence": payload.first_sequence},
        )
        self._catch_ups.request(CatchUpRequest(scope="all", reason="sequence_gap"))
        return True

    def _tenant(
        self, tenant_id: str, events: Sequence[WebhookEvent], sequence: int, time_left: TimeLeft | None
    ) -> ChangesFetched:
        live = [
            c for c in self._connections.find_by_tenant(tenant_id) if c.status == ConnectionStatus.CONNECTED
        ]
        if not live:
            logger.info(
                "webhook events dropped: the tenant is not connected",
                extra={"tenant_id": tenant_id, "events": len(events)},
            )
            return ChangesFetched(dropped_events=len(events))
        org_id = live[0].org_id
        try:
            return self._fetch_tenant(org_id, tenant_id, events, sequence, time_left)
        except NeedsReconnect as exc:
            # The grant is dead (revoked, expired): the connection now shows the banner; the catch-up after
            # the reconnect brings what these events said.
            logger.warning(
                "webhook events dropped: the connection needs a reconnect",
                extra={"org_id": org_id, "tenant_id": tenant_id, "events": len(events), "reason": exc.reason},
            )
            return ChangesFetched(dropped_events=len(events))

    def _fetch_tenant(
        self,
        org_id: str,
        tenant_id: str,
        events: Sequence[WebhookEvent],
        sequence: int,
        time_left: TimeLeft | None,
    ) -> ChangesFetched:
        xero = self._xero(tenant_id, time_left=time_left)
        calls, rate_limited = xero.calls, xero.rate_limited
        by_resource: dict[str, dict[str, list[WebhookEvent]]] = defaultdict(lambda: defaultdict(list))
        dropped = 0
        for event in events:
            if event.resource is None:
                dropped += 1  # a category we do not sync (none today besides those Xero sends)
                continue
            by_resource[event.resource][event.resource_id].append(event)
        sent = followed = 0
        try:
            for resource, by_id in by_resource.items():
                page = xero.fetch_by_ids(resource, list(by_id))
                sources = {
                    record_id: self._source(resource, record_events, sequence)
                    for record_id, record_events in by_id.items()
                }
                published = self._publisher.publish(
                    org_id=org_id,
                    tenant_id=tenant_id,
                    resource=resource,
                    records=page.records,
                    bad_records=page.bad_records,
                    source=self._source(resource, [e for es in by_id.values() for e in es], sequence),
                    sources=sources,
                    incremental=True,
                )
                sent += published.records_sent
                if resource == "Invoices":
                    followed += self._follow_payments(org_id, tenant_id, xero, page.records, sources)
        finally:
            calls, rate_limited = xero.calls - calls, xero.rate_limited - rate_limited
        oldest = min(event.event_date for event in events)
        lag = (self._publisher.now() - oldest).total_seconds()
        if sent + followed:
            self._connections.record_change(org_id, self._publisher.now())
        logger.info(
            "webhook changes fetched",
            extra={
                "org_id": org_id,
                "tenant_id": tenant_id,
                "events": len(events),
                "records_sent": sent,
                "payments_followed": followed,
                "calls": calls,
                "lag_seconds": round(lag, 3),
            },
        )
        return ChangesFetched(
            tenants=1,
            dropped_events=dropped,
            records_sent=sent + followed,
            payments_followed=followed,
            calls=calls,
            rate_limited=rate_limited,
            lag_seconds=lag,
        )

    def _source(self, resource: str, events: Iterable[WebhookEvent], sequence: int) -> RecordSource:
        return RecordSource(
            kind="webhook",
            resource=resource,
            event_ids=tuple(dict.fromkeys(event.event_id for event in events)),
            event_sequence=sequence,
            fetched_at=self._publisher.now(),
        )

    def _follow_payments(
        self,
        org_id: str,
        tenant_id: str,
        xero: XeroReader,
        invoices: Sequence[XeroModel],
        sources: dict[str, RecordSource],
    ) -> int:
        """The payments of the invoices whose amount paid changed, fetched and sent now."""
        receivable = [i for i in invoices if isinstance(i, Invoice) and i.type == InvoiceType.ACCREC]
        held = self._records.get_many(tenant_id, [(RecordType.INVOICE, i.invoice_id) for i in receivable])
        changed: list[str] = []
        for invoice in receivable:
            before = held.get((RecordType.INVOICE, invoice.invoice_id))
            paid_before = getattr(before.payload, "amount_paid", None) if before is not None else None
            if (paid_before or 0) != (invoice.amount_paid or 0):
                changed.append(invoice.invoice_id)
        followed = 0
        for start in range(0, len(changed), INVOICE_IDS_PER_PAYMENTS_QUERY):
            chunk = changed[start : start + INVOICE_IDS_PER_PAYMENTS_QUERY]
            where = " OR ".join(f'Invoice.InvoiceID==Guid("{invoice_id}")' for invoice_id in chunk)
            events = tuple(e for invoice_id in chunk for e in sources[invoice_id].event_ids)
            for page in every_page(xero, "Payments", page_size=1000, where=where):
                source = RecordSource(
                    kind="webhook",
                    resource="Payments",
                    event_ids=tuple(dict.fromkeys(events)),
                    event_sequence=sources[chunk[0]].event_sequence,
                    fetched_at=self._publisher.now(),
                )
                published = self._publisher.publish(
                    org_id=org_id,
                    tenant_id=tenant_id,
                    resource="Payments",
                    records=page.records,
                    bad_records=page.bad_records,
                    source=source,
                    incremental=True,
                )
                followed += published.records_sent
        if changed:
            logger.info(
                "payments followed their invoices",
                extra={"org_id": org_id, "invoices": len(changed), "payments": followed},
            )
        return followed


def _add(total: ChangesFetched, part: ChangesFetched) -> ChangesFetched:
    lags = [lag for lag in (total.lag_seconds, part.lag_seconds) if lag is not None]
    return ChangesFetched(
        events=total.events,
        sequence_gap=total.sequence_gap,
        tenants=total.tenants + part.tenants,
        dropped_events=total.dropped_events + part.dropped_events,
        records_sent=total.records_sent + part.records_sent,
        payments_followed=total.payments_followed + part.payments_followed,
        calls=total.calls + part.calls,
        rate_limited=total.rate_limited + part.rate_limited,
        lag_seconds=max(lags) if lags else None,
    )
