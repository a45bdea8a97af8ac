"""Typed client of the emulator's ``/__admin/`` endpoints, for tests, the demo and benchmarks."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from xero_emulator.httputil import dumps, loads


class AdminError(Exception):
    """The admin API refused a request (HTTP status and the answer's text)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text}")
        self.status = status
        self.text = text


class AdminClient:
    """``AdminClient(base_url)``: every admin endpoint as a method; answers are JSON (Decimals exact)."""

    def __init__(self, base_url: str, *, http: httpx.Client | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        content = dumps(body).encode() if body is not None else None
        response = self._http.request(
            method,
            f"{self.base_url}/__admin/{path}",
            content=content,
            headers={"Content-Type": "application/json"} if content is not None else None,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        if response.status_code >= 400:
            raise AdminError(response.status_code, response.text)
        return loads(response.content) if response.content else None

    # --- data ----------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._call("GET", "health")

    def config(self) -> dict[str, Any]:
        return self._call("GET", "config")

    def seed(self, profile: str = "small", *, rng_seed: int = 7) -> list[str]:
        return self._call("POST", "seed", {"profile": profile, "rng_seed": rng_seed})["tenant_ids"]

    def reset(self) -> None:
        self._call("POST", "reset")

    def tenants(self) -> list[dict[str, Any]]:
        return self._call("GET", "tenants")

    def add_tenant(
        self,
        name: str,
        *,
        tenant_id: str | None = None,
        base_currency: str | None = None,
        short_code: str | None = None,
    ) -> str:
        body: dict[str, Any] = {"name": name}
        for key, value in (
            ("tenant_id", tenant_id),
            ("base_currency", base_currency),
            ("short_code", short_code),
        ):
            if value is not None:
                body[key] = value
        return self._call("POST", "tenants", body)["tenant_id"]

    def counts(self, tenant_id: str) -> dict[str, int]:
        return self._call("GET", f"tenants/{tenant_id}/counts")

    def users(self, tenant_id: str) -> list[dict[str, Any]]:
        return self._call("GET", f"tenants/{tenant_id}/users")

    def add_user(
        self,
        tenant_id: str,
        *,
        email: str,
        first_name: str = "",
        last_name: str = "",
        role: str = "FINANCIALADVISER",
        user_id: str | None = None,
    ) -> str:
        body = {
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "role": role,
            "user_id": user_id,
        }
        return self._call("POST", f"tenants/{tenant_id}/users", body)["user_id"]

    def set_user_role(self, tenant_id: str, user_id: str, role: str) -> None:
        self._call("PUT", f"tenants/{tenant_id}/users/{user_id}", {"role": role})

    def delete_user(self, tenant_id: str, user_id: str) -> None:
        self._call("DELETE", f"tenants/{tenant_id}/users/{user_id}")

    # --- act as a Xero user --------------------------------------------------------------------------

    def create_contacts(self, tenant_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` as for ``PUT /Contacts`` (``{"Contacts": [...]}``); returns Xero's answer."""
        return self._call("POST", f"tenants/{tenant_id}/contacts", body)

    def create_invoices(self, tenant_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"tenants/{tenant_id}/invoices", body)

    def edit_invoice(self, tenant_id: str, invoice_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"tenants/{tenant_id}/invoices/{invoice_id}/edit", {"changes": changes})

    def record_payment(
        self,
        tenant_id: str,
        invoice_id: str,
        amount: Decimal | str,
        *,
        account_code: str | None = None,
        on: date | None = None,
        reference: str = "",
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"amount": Decimal(str(amount)), "account_code": account_code}
        if on is not None:
            body["date"] = on.isoformat()
        if reference:
            body["reference"] = reference
        return self._call("POST", f"tenants/{tenant_id}/invoices/{invoice_id}/payments", body)

    def add_account(
        self,
        tenant_id: str,
        *,
        code: str,
        name: str,
        type: str = "BANK",
        currency_code: str = "",
        enable_payments: bool = False,
        bank_account_number: str = "",
    ) -> dict[str, Any]:
        """An account added to the chart of accounts in Xero (a BANK account in ``currency_code``)."""
        body = {
            "code": code,
            "name": name,
            "type": type,
            "currency_code": currency_code,
            "enable_payments": enable_payments,
            "bank_account_number": bank_account_number,
        }
        return self._call("POST", f"tenants/{tenant_id}/accounts", body)

    def set_account_status(self, tenant_id: str, account_id: str, status: str) -> dict[str, Any]:
        return self._call("PUT", f"tenants/{tenant_id}/accounts/{account_id}/status", {"status": status})

    def set_lock_dates(
        self, tenant_id: str, *, period: date | None = None, end_of_year: date | None = None
    ) -> dict[str, Any]:
        """Set (or, with None, clear) both lock dates; returns the Organisation."""
        body = {
            "period_lock_date": period.isoformat() if period else None,
            "end_of_year_lock_date": end_of_year.isoformat() if end_of_year else None,
        }
        return self._call("PUT", f"tenants/{tenant_id}/lock-dates", body)

    def archive_contact(self, tenant_id: str, contact_id: str) -> dict[str, Any]:
        return self._call("POST", f"tenants/{tenant_id}/contacts/{contact_id}/archive")

    # --- identity ------------------------------------------------------------------------------------

    def consent(self) -> dict[str, Any]:
        return self._call("GET", "consent")

    def set_consent(
        self,
        *,
        tenant_ids: list[str] | bool | None = False,
        user_id: str | None = None,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        role: str | None = None,
        deny: bool | None = None,
        grant_only_scopes: list[str] | bool | None = False,
    ) -> dict[str, Any]:
        """Change the consent answer; ``tenant_ids=None``: every tenant (``False``: leave unchanged)."""
        body: dict[str, Any] = {}
        if tenant_ids is not False:
            body["tenant_ids"] = tenant_ids
        if grant_only_scopes is not False:
            body["grant_only_scopes"] = grant_only_scopes
        for key, value in (
            ("user_id", user_id),
            ("email", email),
            ("first_name", first_name),
            ("last_name", last_name),
            ("role", role),
            ("deny", deny),
        ):
            if value is not None:
                body[key] = value
        return self._call("PUT", "consent", body)

    def connections(self) -> list[dict[str, Any]]:
        return self._call("GET", "connections")

    def token_families(self) -> list[dict[str, Any]]:
        return self._call("GET", "tokens")

    # --- faults --------------------------------------------------------------------------------------

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "faults")

    def add_fault(self, kind: str, **fields: Any) -> int:
        """``kind``: error | slow | drop | rate_limit; fields: count, status, delay_ms, problem, retry_after,
        path_prefix, method, tenant_id, phase (see :mod:`xero_emulator.faults`)."""
        return self._call("POST", "faults", {"kind": kind, **fields})["id"]

    def fail_next(self, count: int = 1, status: int = 500, **fields: Any) -> int:
        return self.add_fault("error", count=count, status=status, **fields)

    def slow(self, delay_ms: int, count: int | None = 1, **fields: Any) -> int:
        return self.add_fault("slow", count=count, delay_ms=delay_ms, **fields)

    def drop_next(self, count: int = 1, **fields: Any) -> int:
        return self.add_fault("drop", count=count, **fields)

    def rate_limit_next(
        self, count: int = 1, problem: str = "minute", retry_after: int = 60, **fields: Any
    ) -> int:
        return self.add_fault("rate_limit", count=count, problem=problem, retry_after=retry_after, **fields)

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def revoke_connection(self, tenant_id: str, user_id: str | None = None) -> int:
        return self._call("POST", "faults/revoke-connection", {"tenant_id": tenant_id, "user_id": user_id})[
            "removed"
        ]

    def revoke_grant(self, tenant_id: str) -> int:
        """Revoke the grants (token families) that reach the tenant: refreshes answer ``invalid_grant``."""
        return int(self._call("POST", "faults/revoke-grant", {"tenant_id": tenant_id})["revoked"])

    def remove_user(self, tenant_id: str, user_id: str | None = None) -> str:
        return self._call("POST", "faults/remove-user", {"tenant_id": tenant_id, "user_id": user_id})[
            "user_id"
        ]

    # --- clock ---------------------------------------------------------------------------------------

    def clock(self) -> dict[str, Any]:
        return self._call("GET", "clock")

    def set_clock_scale(self, scale: float) -> dict[str, Any]:
        return self._call("PUT", "clock", {"scale": scale})

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        return self._call("POST", "clock/advance", {"seconds": seconds})

    # --- webhooks ------------------------------------------------------------------------------------

    def webhooks(self) -> dict[str, Any]:
        return self._call("GET", "webhooks")

    def configure_webhooks(
        self, *, url: str | None = None, key: str | None = None, wrong_signature: bool | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if url is not None:
            body["url"] = url
        if key is not None:
            body["key"] = key
        if wrong_signature is not None:
            body["wrong_signature"] = wrong_signature
        return self._call("PUT", "webhooks", body)

    def register_webhook(self, url: str | None = None, key: str | None = None) -> dict[str, Any]:
        body = {k: v for k, v in (("url", url), ("key", key)) if v is not None}
        return self._call("POST", "webhooks/register", body)

    def deliveries(self) -> list[dict[str, Any]]:
        return self._call("GET", "webhooks/deliveries")

    def redeliver(self, first_sequence: int) -> dict[str, Any]:
        return self._call("POST", "webhooks/redeliver", {"first_sequence": first_sequence})

    def wait_webhooks(self, timeout: float = 10.0) -> bool:
        return self._call("POST", "webhooks/wait", {"timeout": timeout}, timeout=timeout + 5)["idle"]

    # --- stats and limits ----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")

    def reset_stats(self) -> None:
        self._call("DELETE", "stats")

    def limits(self) -> dict[str, Any]:
        return self._call("GET", "limits")

    def set_limits(
        self,
        *,
        enforce: bool | None = None,
        minute: int | None = None,
        day: int | None = None,
        concurrent: int | None = None,
        app_minute: int | None = None,
        reset_usage: bool = False,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            k: v
            for k, v in (
                ("enforce", enforce),
                ("minute", minute),
                ("day", day),
                ("concurrent", concurrent),
                ("app_minute", app_minute),
            )
            if v is not None
        }
        if reset_usage:
            body["reset_usage"] = True
        return self._call("PUT", "limits", body)
