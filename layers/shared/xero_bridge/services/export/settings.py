"""``GET /orgs/{org_id}/bank-accounts`` and ``GET``/``PUT /orgs/{org_id}/settings``: where payments go."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from xero_bridge.errors import InvalidBankAccountError, NotConnectedError
from xero_bridge.models.payments import BankAccountView, ExportSettings, ExportSettingsRequest
from xero_bridge.models.records import BankAccount
from xero_bridge.services.ports import ConnectionLookup, ExportSettingsStore, SyncedRecords, utc_now

__all__ = ["ExportSettingsService"]


class ExportSettingsService:
    """The synced payment accounts, and the bank account chosen for each currency.

    Parameters
    ----------
    settings
        The org's export settings.
    records
        The synced accounts and organisation (base currency).
    connections
        The org's Xero tenant.
    now
        Aware-UTC clock.
    """

    def __init__(
        self,
        *,
        settings: ExportSettingsStore,
        records: SyncedRecords,
        connections: ConnectionLookup,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._settings = settings
        self._records = records
        self._connections = connections
        self._now = now

    def bank_accounts(self, org_id: str) -> list[BankAccountView]:
        """The synced accounts payments can go into, by code: BANK accounts and accounts with payments
        enabled, with their currency (the organisation's base currency when Xero gives none).

        Raises
        ------
        NotConnectedError
            The org was never connected to Xero.
        """
        tenant_id = self._tenant(org_id)
        organisation = self._records.organisation(tenant_id)
        base = organisation.base_currency if organisation is not None else None
        accounts = [_view(account, base) for account in self._records.payment_accounts(tenant_id)]
        return sorted(accounts, key=lambda a: (a.code or "", a.name or "", a.account_id))

    def settings(self, org_id: str) -> ExportSettings:
        return self._settings.get_settings(org_id)

    def update(self, org_id: str, request: ExportSettingsRequest) -> ExportSettings:
        """Replace the bank account per currency; each must be a synced, active account in that currency.

        Raises
        ------
        InvalidBankAccountError
            Naming each refused entry (``bank_accounts.GBP: ...``); nothing is stored then.
        NotConnectedError
            The org was never connected to Xero.
        """
        accounts = {a.account_id.lower(): a for a in self.bank_accounts(org_id)}
        problems = []
        for currency, account_id in sorted(request.bank_accounts.items()):
            account = accounts.get(account_id.lower())
            where = f"bank_accounts.{currency}"
            if account is None:
                problems.append(f"{where}: {account_id} is not a synced bank account of this organisation")
            elif account.status not in (None, "ACTIVE"):
                problems.append(f"{where}: {account.name} ({account_id}) is {account.status} in Xero")
            elif account.currency != currency:
                held = account.currency or "the base currency"
                problems.append(f"{where}: {account.name} ({account_id}) is in {held}, not {currency}")
        if problems:
            raise InvalidBankAccountError("; ".join(problems))
        return self._settings.put_settings(
            org_id, ExportSettings(bank_accounts=dict(request.bank_accounts), updated_at=self._now())
        )

    def _tenant(self, org_id: str) -> str:
        connection = self._connections.get_connection(org_id)
        if connection is None:
            raise NotConnectedError(f"{org_id} is not connected to Xero: connect Xero first", org_id=org_id)
        return connection.tenant_id


def _view(account: BankAccount, base_currency: str | None) -> BankAccountView:
    return BankAccountView(
        account_id=account.xero_id,
        code=account.code,
        name=account.name,
        currency=account.currency or base_currency,
        type=account.type or "BANK",
        status=account.status,
    )
