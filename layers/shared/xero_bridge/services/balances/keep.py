"""Use case: keep customers' balances current, and every version's source, from ``RecordsTable``'s stream.

The writer stays the one writer of synced records and knows nothing of balances: every version it stores
reaches this use case through the table's DynamoDB stream (``functions/balance_keeper``), within a second
or so. For a batch of changes:

1. each stored version is noted with its source (the trail's history of versions);
2. every customer the batch touches (a customer written, or one of its documents or payments, or a
   document moved away from it) is checked once (:func:`~xero_bridge.services.balance_check.check_customer`)
   with the batch's versions laid over what is read — except for versions from an initial sync's pages:
   those customers are checked all at once from one read of the tenant when the sync finishes
   (:func:`~xero_bridge.services.balance_check.check_tenant`, by the sync's finisher), not again and again
   as each page's records land.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from xero_bridge.models.balances import RecordChange
from xero_bridge.models.records import RecordType, StoredRecord
from xero_bridge.services.balance_check import check_customer
from xero_bridge.services.ports import BalanceStore, RecordHistory, utc_now

__all__ = ["KeepBalances", "KeptBalances"]

_BALANCE_TYPES = frozenset(
    {
        RecordType.CONTACT,
        RecordType.INVOICE,
        RecordType.CREDIT_NOTE,
        RecordType.OVERPAYMENT,
        RecordType.PREPAYMENT,
        RecordType.PAYMENT,
    }
)


@dataclass(frozen=True)
class KeptBalances:
    """What one batch did: versions noted, customers checked, of which off balance."""

    versions: int = 0
    customers_checked: int = 0
    off_balance: int = 0


class KeepBalances:
    """The balance keeper (``BalanceKeeperFunction``).

    Parameters
    ----------
    records
        ``RecordsTable``, read only.
    balances
        ``ReconciliationTable``: balances and versions.
    clock
        Aware-UTC clock (``checked_at``).
    """

    def __init__(
        self,
        *,
        records: RecordHistory,
        balances: BalanceStore,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._records = records
        self._balances = balances
        self._clock = clock

    def apply(self, changes: Sequence[RecordChange]) -> KeptBalances:
        """Note the batch's versions and check every customer it touches.

        Raises
        ------
        botocore.exceptions.ClientError, TableUnavailable
            DynamoDB failed, or kept writes unprocessed: the batch is retried whole (what was done is
            idempotent).
        """
        stored: list[StoredRecord] = [c.new for c in changes if c.new is not None]
        self._balances.record_versions(stored)
        customers: dict[tuple[str, str], str] = {}  # (tenant, contact) -> org
        for change in changes:
            if change.record_type not in _BALANCE_TYPES:
                continue
            if change.new is not None and change.new.source.kind == "page":
                continue  # checked with the whole tenant when the sync finishes
            if change.record_type is RecordType.CONTACT:
                customers[(change.tenant_id, change.xero_id)] = change.org_id
                continue
            contact_id = getattr(change.new.payload, "contact_id", None) if change.new is not None else None
            for contact in {contact_id, change.old_contact_id} - {None}:
                customers[(change.tenant_id, str(contact))] = change.org_id
        now = self._clock()
        flagged = checked = 0
        for (tenant_id, contact_id), org_id in sorted(customers.items()):
            balance = check_customer(
                tenant_id=tenant_id,
                org_id=org_id,
                contact_id=contact_id,
                records=self._records,
                balances=self._balances,
                now=now,
                seen=[s for s in stored if s.tenant_id == tenant_id],
            )
            if balance is not None:
                checked += 1
                flagged += int(balance.off_balance)
        return KeptBalances(versions=len(stored), customers_checked=checked, off_balance=flagged)
