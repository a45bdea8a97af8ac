"""Catch one tenant up: every resource read from its cursor with ``If-Modified-Since``, sent to the writer.

* One at a time per org (a lease): a second request while one runs is answered "running" and dropped (the
  one running sees the same changes).
* Cheap when nothing changed: one call per resource (page 1 of the changes is empty or short).
* Archived contacts, voided and deleted documents and deleted payments come too (``includeArchived`` and
  Xero's ``If-Modified-Since``, which returns records whatever their status).
* A cursor moves only after every page of its resource was sent, to the newest ``UpdatedDateUTC`` seen
  minus :data:`CURSOR_OVERLAP` (clock skew between Xero's servers) — never to "now", which would skip what
  changed during the run. Nothing seen: the cursor stays.
* A tenant whose daily Xero quota is nearly spent is skipped (the reserve is for payment exports), and
  says so in its status; so is one whose initial sync has not finished (no cursors yet).
* Customers flagged off balance are rechecked at the end (:mod:`~xero_bridge.services.balance_check`): a
  flag whose stream batch was lost (the balance keeper's DLQ) cannot outlive a catch-up. What the sweep
  itself sent is rechecked by the balance keeper once the writer has stored it.
* Records found here that a webhook should have brought (a contact, document, overpayment or prepayment
  newer than what we hold, changed long enough ago for its webhook to have come) are counted: that is how
  a disabled webhook is noticed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from xero_bridge.domain.import_rules import record_key, source_filter, why_not_imported
from xero_bridge.errors import NeedsReconnect
from xero_bridge.models.connection import ConnectionStatus
from xero_bridge.models.records import RecordSource
from xero_bridge.models.sync import CURSOR_RESOURCES, PLAN_PAGE_SIZE
from xero_bridge.models.webhooks import CATEGORY_RESOURCES, CatchUpOutcome, CatchUpRequest
from xero_bridge.models.xero import XeroModel
from xero_bridge.observability import logger
from xero_bridge.services.balance_check import check_customer
from xero_bridge.services.ports import (
    BalanceStore,
    CatchUpStates,
    Clock,
    ConnectionStore,
    RateLimiter,
    RecordHistory,
    RecordsStore,
    RunStore,
    TimeLeft,
    XeroReader,
    XeroReaders,
    utc_now,
)
from xero_bridge.services.publish_records import RecordPublisher, every_page

__all__ = ["CURSOR_OVERLAP", "MISSED_AFTER", "CatchUpTenant"]

CURSOR_OVERLAP = timedelta(seconds=60)
"""How far behind the newest change seen a cursor is left: Xero's servers' clocks may disagree a little."""
MISSED_AFTER = timedelta(minutes=2)
"""A change older than this that we do not hold was missed by the webhooks (theirs arrive in seconds)."""
UNPAGED = frozenset({"Accounts"})
WEBHOOK_RESOURCES = frozenset(CATEGORY_RESOURCES.values())


class CatchUpTenant:
    """One tenant's catch-up.

    Parameters
    ----------
    connections
        The org's connection (only a ``connected`` tenant is caught up).
    runs
        The cursors (stored by the initial sync's finish, moved here).
    states
        The catch-up lease and the last outcome of each org.
    limiter
        The shared rate limiter's view of the tenant's quota (the daily reserve).
    xero
        ``xero(tenant_id)``: a metered reader through the token vault and the rate limiter.
    records
        What we hold (to count what the webhooks missed).
    publisher
        The shared map → send step.
    day_reserve
        Xero calls left today under which the tenant is skipped (kept for payment exports).
    lease_seconds
        How long one catch-up may hold the org's lease (the function's timeout).
    clock
        Aware-UTC clock.
    xero_clock
        Xero's time as the rate limiter keeps it (the same clock in AWS; the emulator's scaled one in tests),
        against which a change is old enough to have been missed.
    balances, history
        ``ReconciliationTable`` and ``RecordsTable``'s reads: the flagged customers rechecked at the end
        (left out: no recheck).
    """

    def __init__(
        self,
        *,
        connections: ConnectionStore,
        runs: RunStore,
        states: CatchUpStates,
        limiter: RateLimiter,
        xero: XeroReaders,
        records: RecordsStore,
        publisher: RecordPublisher,
        day_reserve: int = 500,
        lease_seconds: float = 900.0,
        clock: Clock = utc_now,
        xero_clock: Clock = utc_now,
        balances: BalanceStore | None = None,
        history: RecordHistory | None = None,
    ) -> None:
        self._connections = connections
        self._runs = runs
        self._states = states
        self._limiter = limiter
        self._xero = xero
        self._records = records
        self._publisher = publisher
        self._day_reserve = day_reserve
        self._lease_seconds = lease_seconds
        self._now = clock
        self._xero_now = xero_clock
        self._balances = balances
        self._history = history

    def run(self, request: CatchUpRequest, *, time_left: TimeLeft | None = None) -> CatchUpOutcome:
        """Catch the request's tenant up, or say why it was skipped.

        Raises
        ------
        RetryLater
            A rate limit, a 5xx or a timeout: the request comes again; the cursors of the resources
            finished before it have moved, the others have not.
        """
        started = self._now()
        org_id, tenant_id = request.org_id or "", request.tenant_id or ""
        connection = self._connections.get_connection(org_id)
        if (
            connection is None
            or connection.status != ConnectionStatus.CONNECTED
            or connection.tenant_id != tenant_id
        ):
            return self._skipped(request, started, "not_connected", save=False)
        owner = uuid.uuid4().hex
        if not self._states.acquire(org_id, owner, now=started, seconds=self._lease_seconds):
            return self._skipped(request, started, "running", save=False)
        try:
            outcome = self._catch_up(request, started, time_left)
        except NeedsReconnect:
            # Xero refused the grant: the connection now shows the banner; the reconnect catches up.
            outcome = self._skipped(request, started, "needs_reconnect", save=False)
        finally:
            self._states.release(org_id, owner)
        self._states.save_outcome(outcome)
        return outcome

    def _recheck_balances(self, org_id: str, tenant_id: str) -> tuple[int, int]:
        """Recheck every customer flagged off balance; (rechecked, still off balance)."""
        if self._balances is None or self._history is None:
            return 0, 0
        rechecked = still_off = 0
        for contact_id in self._balances.off_balance_ids(tenant_id):
            balance = check_customer(
                tenant_id=tenant_id,
                org_id=org_id,
                contact_id=contact_id,
                records=self._history,
                balances=self._balances,
                now=self._now(),
            )
            rechecked += 1
            still_off += int(balance is not None and balance.off_balance)
        return rechecked, still_off

    def _catch_up(
        self, request: CatchUpRequest, started: datetime, time_left: TimeLeft | None
    ) -> CatchUpOutcome:
        org_id, tenant_id = request.org_id or "", request.tenant_id or ""
        quota = self._limiter.status(tenant_id)
        if quota.day_remaining is not None and quota.day_remaining < self._day_reserve:
            return self._skipped(request, started, "daily_quota_reserve")
        cursors = self._runs.get_cursors(org_id)
        if not cursors:
            return self._skipped(request, started, "initial_sync_not_finished")
        xero = self._xero(tenant_id, time_left=time_left)
        calls = xero.calls
        run_id = f"catchup-{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        sent = missed = 0
        moved: dict[str, datetime] = {}
        try:
            for resource in CURSOR_RESOURCES:
                cursor = cursors.get(resource)
                if cursor is None:
                    continue
                newest, resource_sent, resource_missed = self._resource(
                    org_id, tenant_id, xero, resource=resource, cursor=cursor, run_id=run_id
                )
                sent += resource_sent
                missed += resource_missed
                if newest is not None and newest - CURSOR_OVERLAP > cursor:
                    moved[resource] = newest - CURSOR_OVERLAP
                    self._runs.set_cursors(org_id, run_id, [resource], moved[resource])
        finally:
            calls = xero.calls - calls
        if sent:
            self._connections.record_change(org_id, self._now())
        rechecked, still_off = self._recheck_balances(org_id, tenant_id)
        outcome = CatchUpOutcome(
            org_id=org_id,
            tenant_id=tenant_id,
            reason=request.reason,
            status="caught_up",
            calls=calls,
            records_sent=sent,
            missed_by_webhooks=missed,
            balances_rechecked=rechecked,
            still_off_balance=still_off,
            cursors={**cursors, **moved},
            started_at=started,
            finished_at=self._now(),
        )
        log = logger.warning if missed else logger.info
        log(
            "tenant caught up",
            extra={
                "org_id": org_id,
                "tenant_id": tenant_id,
                "reason": request.reason,
                "calls": calls,
                "records_sent": sent,
                "missed_by_webhooks": missed,
            },
        )
        return outcome

    def _resource(
        self, org_id: str, tenant_id: str, xero: XeroReader, *, resource: str, cursor: datetime, run_id: str
    ) -> tuple[datetime | None, int, int]:
        """Every page of ``resource`` changed since ``cursor``, sent; the newest change seen, sent, missed."""
        options = dict(source_filter(resource, incremental=True))
        pages = (
            [xero.list_page(resource, if_modified_since=cursor, **options)]
            if resource in UNPAGED
            else every_page(xero, resource, page_size=PLAN_PAGE_SIZE, if_modified_since=cursor, **options)
        )
        newest: datetime | None = None
        sent = missed = 0
        for page in pages:
            versions = [v for v in (_updated(r) for r in page.records) if v is not None]
            if versions:
                newest = max([*versions, *([newest] if newest else [])])
            if resource in WEBHOOK_RESOURCES:
                missed += self._missed(tenant_id, resource, page.records)
            published = self._publisher.publish(
                org_id=org_id,
                tenant_id=tenant_id,
                resource=resource,
                records=page.records,
                bad_records=page.bad_records,
                source=RecordSource(
                    kind="catch_up",
                    run_id=run_id,
                    resource=resource,
                    cursor=cursor,
                    fetched_at=self._publisher.now(),
                ),
                incremental=True,
            )
            sent += published.records_sent
        return newest, sent, missed

    def _missed(self, tenant_id: str, resource: str, records: Sequence[XeroModel]) -> int:
        """Records newer than ours (or imported, not held) changed longer than :data:`MISSED_AFTER` ago."""
        long_ago = self._xero_now() - MISSED_AFTER
        candidates = {}
        for record in records:
            key, updated = record_key(resource, record), _updated(record)
            if key is not None and updated is not None and updated < long_ago:
                candidates[key] = (record, updated)
        if not candidates:
            return 0
        held = self._records.get_many(tenant_id, list(candidates))
        missed = 0
        for key, (record, updated) in candidates.items():
            ours = held.get(key)
            if ours is not None:
                missed += ours.xero_updated_at < updated
            elif why_not_imported(record, incremental=True) is None and not _archived(record):
                # (an archived contact we never held is only marked inactive if held: not a miss)
                missed += 1
        return missed

    def _skipped(
        self, request: CatchUpRequest, started: datetime, because: str, *, save: bool = True
    ) -> CatchUpOutcome:
        outcome = CatchUpOutcome(
            org_id=request.org_id or "",
            tenant_id=request.tenant_id or "",
            reason=request.reason,
            status="skipped",
            skipped_because=because,
            started_at=started,
            finished_at=self._now(),
        )
        logger.info(
            "catch-up skipped",
            extra={"org_id": outcome.org_id, "tenant_id": outcome.tenant_id, "because": because},
        )
        if save:
            self._states.save_outcome(outcome)
        return outcome


def _archived(record: XeroModel) -> bool:
    return str(getattr(record, "contact_status", "") or "").upper() == "ARCHIVED"


def _updated(record: XeroModel) -> datetime | None:
    value = getattr(record, "updated_date_utc", None)
    return value if isinstance(value, datetime) else None
