"""Use cases: "why is this not in the AR platform?" (``GET /orgs/{org_id}/explain/{xero_id}``) and the sync
trail of one record (``GET /orgs/{org_id}/records/{xero_id}/trail``), for support and finance users.

Both answer first from what we keep: the record we hold under any type, or why the import rules left it out
(kept since the initial sync), and every version we stored with its source. Xero is asked only when that
cannot decide (explain: an id we never saw) or to show what Xero holds now (trail), through the shared rate
limiter, a handful of calls at most.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from xero_bridge.domain.balances import describe_source
from xero_bridge.domain.import_rules import map_records, why_not_imported
from xero_bridge.errors import RecordNotHeld
from xero_bridge.models.balances import (
    ExplainAnswer,
    ExplainStatus,
    FieldDifference,
    RecordTrail,
    StaleDelivery,
    VersionReceived,
)
from xero_bridge.models.connection import ConnectionStatus, XeroConnection
from xero_bridge.models.records import (
    RESOURCE_OF,
    RecordSource,
    RecordType,
    SkippedRecord,
    StoredRecord,
    SyncTrail,
)
from xero_bridge.services.ports import (
    BalanceStore,
    ConnectionStore,
    RecordHistory,
    RunStore,
    XeroReaders,
    utc_now,
)
from xero_bridge.services.records.read import records_connection

__all__ = ["ExplainRecords"]

# Every kind a Xero id may be held under; the lookup in Xero asks the likeliest first.
_KINDS: tuple[RecordType, ...] = (
    RecordType.CONTACT,
    RecordType.INVOICE,
    RecordType.CREDIT_NOTE,
    RecordType.PAYMENT,
    RecordType.OVERPAYMENT,
    RecordType.PREPAYMENT,
    RecordType.BANK_ACCOUNT,
)
_LOOKUP = ("Contacts", "Invoices", "CreditNotes", "Payments", "Overpayments", "Prepayments")
_RESOURCE_KIND = {resource: kind for kind, resource in RESOURCE_OF.items()}
_NOUN = {
    RecordType.CONTACT: "contact",
    RecordType.INVOICE: "invoice",
    RecordType.CREDIT_NOTE: "credit note",
    RecordType.PAYMENT: "payment",
    RecordType.OVERPAYMENT: "overpayment",
    RecordType.PREPAYMENT: "prepayment",
    RecordType.BANK_ACCOUNT: "account",
}
_REASONS: dict[str, tuple[str | None, str]] = {
    "supplier_only": (
        "IsCustomer=false",
        "a supplier only in Xero: it has bills but no sales invoices, so there is nothing to chase. It "
        "appears here as soon as it gets a sales invoice",
    ),
    "not_a_customer": (
        "IsCustomer=false",
        "not a customer in Xero yet (no sales invoice): it appears here once it has one",
    ),
    "archived": (
        "ContactStatus=ARCHIVED",
        "archived in Xero before it was imported: archived contacts are not imported (one archived after "
        "import stays, marked inactive). Restore it in Xero to bring it in",
    ),
    "gdpr_request": ("ContactStatus=GDPRREQUEST", "erased in Xero on a GDPR request"),
    "not_receivable": (
        None,
        "a bill or a supplier document, not a receivable: the AR platform chases sales only",
    ),
    "not_a_bank_account": (None, "an account payments cannot go into (not BANK, payments not enabled)"),
    "malformed": (None, "Xero sent it in a shape we cannot read"),
}


def _instant(value: object) -> datetime:
    """An instant as ``ReconciliationTable`` and ``RecordsTable`` keep it (ISO 8601, ``Z`` for UTC)."""
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _differences(ours: dict[str, Any], xero: dict[str, Any]) -> list[FieldDifference]:
    """The fields whose values differ between our version and Xero's (the version stamps aside)."""
    return [
        FieldDifference(field=name, ours=ours.get(name), xero=xero.get(name))
        for name in sorted(set(ours) | set(xero))
        if name not in ("xero_updated_at", "record_type") and ours.get(name) != xero.get(name)
    ]


def _xero_field(skipped: SkippedRecord) -> str | None:
    field, _ = _REASONS.get(skipped.reason.value, (None, ""))
    if skipped.reason.value == "not_receivable":
        match = re.match(r"a (\S+) ", skipped.detail)
        kind = match.group(1) if match else "ACCPAY"
        field = f"PaymentType={kind}" if skipped.record_type is RecordType.PAYMENT else f"Type={kind}"
    return field


def _not_held(xero_id: str, skipped: SkippedRecord, *, checked: bool) -> ExplainAnswer:
    _, text = _REASONS.get(skipped.reason.value, (None, skipped.detail))
    noun = _NOUN.get(skipped.record_type, "record")
    detail = f" ({skipped.detail})" if skipped.reason.value in ("not_receivable", "malformed") else ""
    return ExplainAnswer(
        xero_id=xero_id,
        status=ExplainStatus.NOT_HELD,
        reason=skipped.reason.value,
        record_type=skipped.record_type,
        explanation=f"This {noun} is not in the AR platform: {text}{detail}.",
        xero_field=_xero_field(skipped),
        checked_in_xero=checked,
    )


class ExplainRecords:
    """``GET /orgs/{org_id}/explain/{xero_id}`` and ``GET /orgs/{org_id}/records/{xero_id}/trail``.

    Parameters
    ----------
    connections, records, history, runs
        The org's connection, ``RecordsTable`` (read), ``ReconciliationTable`` (versions), the sync runs.
    xero
        Rate-limited Xero readers.
    clock
        Aware-UTC clock.
    """

    def __init__(
        self,
        *,
        connections: ConnectionStore,
        records: RecordHistory,
        history: BalanceStore,
        runs: RunStore,
        xero: XeroReaders,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._connections = connections
        self._records = records
        self._history = history
        self._runs = runs
        self._xero = xero
        self._clock = clock

    # --- explain ----------------------------------------------------------------------------------------

    def explain(self, org_id: str, xero_id: str) -> ExplainAnswer:
        connection = records_connection(self._connections, org_id)
        tenant_id = connection.tenant_id
        held, skipped = self._records.find_any(tenant_id, xero_id, _KINDS)
        if held is not None:
            return self._held(connection, held)
        if skipped is not None:
            return _not_held(xero_id, skipped, checked=False)
        if connection.status is ConnectionStatus.DISCONNECTED:
            return ExplainAnswer(
                xero_id=xero_id,
                status=ExplainStatus.NOT_HELD,
                reason="disconnected",
                explanation="Xero was disconnected from the AR platform before this record reached us: "
                "records of a disconnected organisation are no longer synced. Reconnect Xero to bring it in.",
            )
        run = self._runs.latest_run(org_id)
        if run is not None and run.status.active:
            return ExplainAnswer(
                xero_id=xero_id,
                status=ExplainStatus.NOT_HELD,
                reason="not_yet_synced",
                explanation="The initial sync of this Xero organisation is still running: this record has "
                "not been imported yet (see GET /orgs/{org_id}/sync for its progress).".replace(
                    "{org_id}", org_id
                ),
            )
        if connection.status is not ConnectionStatus.CONNECTED:
            return ExplainAnswer(
                xero_id=xero_id,
                status=ExplainStatus.NOT_HELD,
                reason="needs_reconnect",
                explanation="The connection to Xero needs a reconnect: changes made in Xero since are not "
                "synced, and Xero cannot be asked about this id.",
            )
        return self._look_up(org_id, tenant_id, xero_id)

    def _held(self, connection: XeroConnection, held: StoredRecord) -> ExplainAnswer:
        versions = self._history.versions(connection.tenant_id, held.record_type, held.xero_id)
        since = _instant(versions[0][1]) if versions else held.received_at
        noun = _NOUN.get(held.record_type, "record")
        text = (
            f"This {noun} is in the AR platform since {since.isoformat()}; the version held was changed in "
            "Xero "
            f"at {held.xero_updated_at.isoformat()} and came from {describe_source(held.source)}."
        )
        if connection.status is ConnectionStatus.DISCONNECTED:
            text += " It is from a disconnected Xero organisation: kept as it was, no longer kept current."
        active = getattr(held.payload, "active", True)
        if active is False:
            text += " It was archived in Xero after it was imported (ContactStatus=ARCHIVED): kept, inactive."
        return ExplainAnswer(
            xero_id=held.xero_id,
            status=ExplainStatus.HELD,
            reason="disconnected" if connection.status is ConnectionStatus.DISCONNECTED else "held",
            record_type=held.record_type,
            explanation=text,
            xero_field="ContactStatus=ARCHIVED" if active is False else None,
            held_since=since,
            source=SyncTrail.of(held, connection.status),
        )

    def _look_up(self, org_id: str, tenant_id: str, xero_id: str) -> ExplainAnswer:
        reader = self._xero(tenant_id)
        for resource in _LOOKUP:
            page = reader.fetch_by_ids(resource, [xero_id])
            if not page.records:
                continue
            record = page.records[0]
            refusal = why_not_imported(record, incremental=False)
            if refusal is not None:
                return _not_held(xero_id, refusal, checked=True)
            updated = getattr(record, "updated_date_utc", None)
            when = f" (changed in Xero at {updated.isoformat()})" if isinstance(updated, datetime) else ""
            return ExplainAnswer(
                xero_id=xero_id,
                status=ExplainStatus.NOT_HELD,
                reason="not_yet_synced",
                record_type=_RESOURCE_KIND[resource],
                explanation=f"Xero has this {_NOUN[_RESOURCE_KIND[resource]]}{when} and it will be "
                "imported: the "
                "change is newer than the last catch-up (every few minutes) and no webhook has brought it "
                "yet.",
                checked_in_xero=True,
            )
        return ExplainAnswer(
            xero_id=xero_id,
            status=ExplainStatus.NOT_HELD,
            reason="unknown",
            explanation="Neither the AR platform nor Xero knows this id in the connected organisation: check "
            "that it was copied from this organisation's Xero (a contact, invoice, credit note, payment, "
            "overpayment or prepayment id).",
            checked_in_xero=True,
        )

    # --- trail ------------------------------------------------------------------------------------------

    def trail(self, org_id: str, xero_id: str) -> RecordTrail:
        """What we hold beside what Xero holds now, every version's source, and what came stale.

        Raises
        ------
        RecordNotHeld
            We hold no record with this id (with why, when we left it out).
        """
        connection = records_connection(self._connections, org_id)
        tenant_id = connection.tenant_id
        held, skipped = self._records.find_any(tenant_id, xero_id, _KINDS)
        if held is None:
            if skipped is not None:
                raise RecordNotHeld(
                    f"this record is not in the AR platform: {skipped.detail}",
                    code=skipped.reason.value,
                    org_id=org_id,
                )
            raise RecordNotHeld("no record with this id has been synced from Xero", org_id=org_id)
        ours = held.payload.model_dump(mode="json", exclude_none=True)
        xero: dict[str, Any] | None = None
        xero_version: datetime | None = None
        status = "not_checked"
        differences: list[FieldDifference] = []
        resource = RESOURCE_OF[held.record_type]
        if connection.status is ConnectionStatus.CONNECTED:
            page = self._xero(tenant_id).fetch_by_ids(resource, [xero_id])
            mapped = map_records(resource, page.records, RecordSource(kind="by_id"), incremental=True)
            if not mapped.records:
                status = "not_in_xero"
            else:
                theirs = mapped.records[0].payload
                xero = theirs.model_dump(mode="json", exclude_none=True)
                xero_version = theirs.xero_updated_at
                differences = _differences(ours, xero)
                if theirs.xero_updated_at > held.xero_updated_at:
                    status = "newer_in_xero"
                else:
                    status = "differs" if differences else "same"
        versions = [
            VersionReceived(
                xero_updated_at=_instant(v),
                received_at=_instant(r),
                kind=source.kind,
                **{"from": describe_source(source)},
                run_id=source.run_id,
                page=source.page,
                event_ids=source.event_ids,
                event_sequence=source.event_sequence,
                cursor=source.cursor,
            )
            for v, r, source in self._history.versions(tenant_id, held.record_type, xero_id)
        ]
        stale = []
        for note in self._records.stale_deliveries(tenant_id, held.record_type, xero_id):
            source = RecordSource.model_validate(note["source"])
            stale.append(
                StaleDelivery(
                    xero_updated_at=_instant(note["xero_updated_at"]),
                    received_at=_instant(note["received_at"]),
                    kind=source.kind,
                    **{"from": describe_source(source)},
                )
            )
        return RecordTrail(
            xero_id=xero_id,
            record_type=held.record_type,
            held=ours,
            held_version=held.xero_updated_at,
            xero=xero,
            xero_version=xero_version,
            xero_status=status,
            differences=tuple(differences),
            versions=tuple(versions),
            stale=tuple(stale),
            sync=SyncTrail.of(held, connection.status),
        )
