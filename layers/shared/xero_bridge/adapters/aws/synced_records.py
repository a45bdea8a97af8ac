"""Reads of ``RecordsTable`` for the payment export: invoices by id, the payment accounts, the organisation.

Read only: the writer stays the one code that writes synced records (``records_table.py``). The records are
kept current by the initial sync and, within seconds, by the real-time sync; the exporter still asks Xero
itself wherever a stale record could cost a wrong payment (see ``services/export/exporter.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xero_bridge.adapters.aws.dynamodb import DynamoDBTableAdapter
from xero_bridge.adapters.aws.records_table import record_sk, records_of, stored_record, tenant_pk
from xero_bridge.models.records import BankAccount, Invoice, Organisation, RecordType

__all__ = ["SyncedRecordsReader"]


class SyncedRecordsReader(DynamoDBTableAdapter):
    """The synced records an export needs (implements ``SyncedRecords``), strongly consistent reads."""

    def invoices(self, tenant_id: str, invoice_ids: Sequence[str]) -> dict[str, Invoice]:
        """The synced invoices of ``invoice_ids`` we hold (``BatchGetItem``), by id; absent ones left out."""
        keys = [
            {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": record_sk(RecordType.INVOICE, invoice_id)}}
            for invoice_id in dict.fromkeys(invoice_ids)
        ]
        found: dict[str, Invoice] = {}
        for item in self.batch_get(keys):
            payload = stored_record(item).payload
            if isinstance(payload, Invoice):
                found[payload.xero_id] = payload
        return found

    def payment_accounts(self, tenant_id: str) -> list[BankAccount]:
        """Every synced account payments can go into (BANK, or payments enabled), archived ones included."""
        return [r for r in self._records(tenant_id, RecordType.BANK_ACCOUNT) if isinstance(r, BankAccount)]

    def organisation(self, tenant_id: str) -> Organisation | None:
        """The synced organisation (its base currency names the currency of accounts Xero gives none)."""
        found = [r for r in self._records(tenant_id, RecordType.ORGANISATION) if isinstance(r, Organisation)]
        return max(found, key=lambda o: o.xero_updated_at) if found else None

    def _records(self, tenant_id: str, record_type: RecordType) -> list[Any]:
        return [
            r.payload for r in records_of(self.client, self._table, tenant_id, record_type, consistent=True)
        ]
