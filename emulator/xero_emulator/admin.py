"""``/__admin/`` JSON endpoints: the test, demo and benchmark controls of a running emulator.

Nothing here is Xero's; :class:`xero_emulator.admin_client.AdminClient` wraps every endpoint. No answer
ever contains the client secret, the webhook key or a token.

=======  =============================================  =================================================
method   path                                           what
=======  =============================================  =================================================
GET      /__admin/health                                liveness (and the serving process id)
GET      /__admin/config                                settings (secrets masked)
POST     /__admin/seed                                  ``{profile, rng_seed}`` -> tenant ids
POST     /__admin/reset                                 empty everything
GET      /__admin/tenants                               tenants with names and counts
POST     /__admin/tenants                               ``{name, tenant_id?, base_currency?, short_code?}``
GET      /__admin/tenants/<t>/counts                    records per resource
GET      /__admin/tenants/<t>/users                     the Users API answer for that tenant
POST     /__admin/tenants/<t>/users                     add ``{email, first_name, last_name, role, user_id?}``
PUT      /__admin/tenants/<t>/users/<u>                 ``{role}``
DELETE   /__admin/tenants/<t>/users/<u>                 remove the user from the organisation
POST     /__admin/tenants/<t>/contacts                  create contacts (Xero body) as a Xero user
POST     /__admin/tenants/<t>/invoices                  create invoices (Xero body) as a Xero user
POST     /__admin/tenants/<t>/invoices/<i>/edit         ``{changes}``
POST     /__admin/tenants/<t>/invoices/<i>/payments     ``{amount, account_code?, date?, reference?}``
POST     /__admin/tenants/<t>/accounts                  ``{code, name, type, currency_code?, enable_payments?,
                                                        status?, bank_account_number?}``
PUT      /__admin/tenants/<t>/accounts/<a>/status       ``{status}`` (ACTIVE, ARCHIVED)
PUT      /__admin/tenants/<t>/lock-dates                ``{period_lock_date?, end_of_year_lock_date?}`` (ISO
                                                        dates or null) -> the Organisation
POST     /__admin/tenants/<t>/contacts/<c>/archive      archive a contact
GET/PUT  /__admin/consent                               the consent screen's answer
GET      /__admin/connections                           every connection (with its user)
GET      /__admin/tokens                                token families (never a token)
GET/POST/DELETE /__admin/faults                         list / add (Fault fields) / clear
POST     /__admin/faults/revoke-connection              ``{tenant_id, user_id?}``
POST     /__admin/faults/revoke-grant                   ``{tenant_id}``: its grants revoked (invalid_grant)
POST     /__admin/faults/remove-user                    ``{tenant_id, user_id?}`` (default: consent user)
GET/PUT  /__admin/clock                                 ``{now, scale}`` / ``{scale}``
POST     /__admin/clock/advance                         ``{seconds}``
GET/PUT  /__admin/webhooks                              subscription / ``{url?, key?, wrong_signature?}``
POST     /__admin/webhooks/register                     intent-to-receive ``{url?, key?}``
GET      /__admin/webhooks/deliveries                   payloads with status and attempts
POST     /__admin/webhooks/redeliver                    ``{first_sequence}``: send a payload again
POST     /__admin/webhooks/wait                         ``{timeout}``: until all queued payloads are out
GET/DELETE /__admin/stats                               calls per tenant / reset
GET/PUT  /__admin/limits                                usage and settings / change settings
=======  =============================================  =================================================
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from xero_emulator import xero_json
from xero_emulator.errors import EmulatorError
from xero_emulator.httputil import json_response, loads

if TYPE_CHECKING:
    from xero_emulator.server import Emulator

_RULES = [
    ("GET", "/__admin/health", "health"),
    ("GET", "/__admin/config", "config"),
    ("POST", "/__admin/seed", "seed"),
    ("POST", "/__admin/reset", "reset"),
    ("GET", "/__admin/tenants", "tenants"),
    ("POST", "/__admin/tenants", "add_tenant"),
    ("GET", "/__admin/tenants/<tenant_id>/counts", "counts"),
    ("GET", "/__admin/tenants/<tenant_id>/users", "users"),
    ("POST", "/__admin/tenants/<tenant_id>/users", "add_user"),
    ("PUT", "/__admin/tenants/<tenant_id>/users/<user_id>", "set_role"),
    ("DELETE", "/__admin/tenants/<tenant_id>/users/<user_id>", "delete_user"),
    ("POST", "/__admin/tenants/<tenant_id>/contacts", "create_contacts"),
    ("POST", "/__admin/tenants/<tenant_id>/invoices", "create_invoices"),
    ("POST", "/__admin/tenants/<tenant_id>/invoices/<invoice_id>/edit", "edit_invoice"),
    ("POST", "/__admin/tenants/<tenant_id>/invoices/<invoice_id>/payments", "record_payment"),
    ("POST", "/__admin/tenants/<tenant_id>/contacts/<contact_id>/archive", "archive_contact"),
    ("POST", "/__admin/tenants/<tenant_id>/accounts", "add_account"),
    ("PUT", "/__admin/tenants/<tenant_id>/accounts/<account_id>/status", "set_account_status"),
    ("PUT", "/__admin/tenants/<tenant_id>/lock-dates", "set_lock_dates"),
    ("GET", "/__admin/consent", "consent"),
    ("PUT", "/__admin/consent", "set_consent"),
    ("GET", "/__admin/connections", "connections"),
    ("GET", "/__admin/tokens", "tokens"),
    ("GET", "/__admin/faults", "faults"),
    ("POST", "/__admin/faults", "add_fault"),
    ("DELETE", "/__admin/faults", "clear_faults"),
    ("POST", "/__admin/faults/revoke-connection", "revoke_connection"),
    ("POST", "/__admin/faults/revoke-grant", "revoke_grant"),
    ("POST", "/__admin/faults/remove-user", "remove_user"),
    ("GET", "/__admin/clock", "clock"),
    ("PUT", "/__admin/clock", "set_clock"),
    ("POST", "/__admin/clock/advance", "advance_clock"),
    ("GET", "/__admin/webhooks", "webhooks"),
    ("PUT", "/__admin/webhooks", "set_webhooks"),
    ("POST", "/__admin/webhooks/register", "register_webhook"),
    ("GET", "/__admin/webhooks/deliveries", "deliveries"),
    ("POST", "/__admin/webhooks/redeliver", "redeliver"),
    ("POST", "/__admin/webhooks/wait", "wait_webhooks"),
    ("GET", "/__admin/stats", "stats"),
    ("DELETE", "/__admin/stats", "reset_stats"),
    ("GET", "/__admin/limits", "limits"),
    ("PUT", "/__admin/limits", "set_limits"),
]


class AdminError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class AdminApi:
    def __init__(self, emulator: Emulator) -> None:
        self.em = emulator
        self._map = Map([Rule(path, methods=[method], endpoint=name) for method, path, name in _RULES])

    def handle(self, request: Request) -> Response:
        adapter = self._map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
        except HTTPException as exc:
            return json_response({"error": exc.name}, exc.code or 404)
        handler: Callable[..., Any] = getattr(self, f"_{endpoint}")
        try:
            body = loads(request.get_data()) if request.get_data().strip() else {}
            if not isinstance(body, dict):
                raise AdminError("the body must be a JSON object")
            result = handler(body, **values)
        except AdminError as exc:
            return json_response({"error": str(exc)}, exc.status)
        except EmulatorError as exc:
            return _raw(exc.status, exc.body if exc.body is not None else {"error": str(exc)})
        except (ValueError, KeyError, TypeError, LookupError) as exc:
            return json_response({"error": f"{type(exc).__name__}: {exc}"}, 400)
        if isinstance(result, Response):
            return result
        return _raw(200, result)

    # --- data ----------------------------------------------------------------------------------------

    def _health(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "base_url": self.em.base_url, "pid": os.getpid()}

    def _config(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.em.config.masked()

    def _seed(self, body: dict[str, Any]) -> dict[str, Any]:
        tenant_ids = self.em.seed(str(body.get("profile", "small")), rng_seed=int(body.get("rng_seed", 7)))
        return {"tenant_ids": tenant_ids}

    def _reset(self, body: dict[str, Any]) -> dict[str, Any]:
        self.em.reset()
        return {"ok": True}

    def _tenants(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        with self.em.store_lock:
            store = self.em.store
            return [
                {"tenant_id": t, "name": store.tenant_name(t), "counts": store.counts(t)}
                for t in store.tenant_ids()
            ]

    def _add_tenant(self, body: dict[str, Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            k: body[k] for k in ("tenant_id", "base_currency", "short_code") if k in body
        }
        with self.em.store_lock:
            tenant_id = self.em.store.add_tenant(str(body["name"]), **kwargs)
        return {"tenant_id": tenant_id}

    def _tenant(self, tenant_id: str) -> None:
        if not self.em.store.has_tenant(tenant_id):
            raise AdminError(f"unknown tenant {tenant_id}", 404)

    def _counts(self, body: dict[str, Any], tenant_id: str) -> dict[str, int]:
        with self.em.store_lock:
            self._tenant(tenant_id)
            return self.em.store.counts(tenant_id)

    def _users(self, body: dict[str, Any], tenant_id: str) -> Any:
        with self.em.store_lock:
            self._tenant(tenant_id)
            return self.em.store.list_resource(tenant_id, "Users").get("Users", [])

    def _add_user(self, body: dict[str, Any], tenant_id: str) -> dict[str, Any]:
        with self.em.store_lock:
            self._tenant(tenant_id)
            user_id = self.em.store.add_user(
                tenant_id,
                user_id=body.get("user_id"),
                email=str(body["email"]),
                first_name=str(body.get("first_name", "")),
                last_name=str(body.get("last_name", "")),
                role=str(body.get("role", "FINANCIALADVISER")),
            )
        return {"user_id": user_id}

    def _set_role(self, body: dict[str, Any], tenant_id: str, user_id: str) -> dict[str, Any]:
        with self.em.store_lock:
            self.em.store.set_user_role(tenant_id, user_id, str(body["role"]))
        return {"ok": True}

    def _delete_user(self, body: dict[str, Any], tenant_id: str, user_id: str) -> dict[str, Any]:
        with self.em.store_lock:
            self.em.store.remove_user(tenant_id, user_id)
        return {"ok": True}

    def _create_contacts(self, body: dict[str, Any], tenant_id: str) -> Response:
        with self.em.store_lock:
            status, out = self.em.store.create_contacts(tenant_id, body)
        return _raw(status, out)

    def _create_invoices(self, body: dict[str, Any], tenant_id: str) -> Response:
        with self.em.store_lock:
            status, out = self.em.store.create_invoices(tenant_id, body)
        return _raw(status, out)

    def _edit_invoice(self, body: dict[str, Any], tenant_id: str, invoice_id: str) -> dict[str, Any]:
        changes = body.get("changes", body)
        with self.em.store_lock:
            return self.em.store.admin_edit_invoice(tenant_id, invoice_id, dict(changes))

    def _record_payment(self, body: dict[str, Any], tenant_id: str, invoice_id: str) -> dict[str, Any]:
        paid_on = date.fromisoformat(str(body["date"])) if body.get("date") else None
        with self.em.store_lock:
            return self.em.store.admin_record_payment(
                tenant_id,
                invoice_id,
                Decimal(str(body["amount"])),
                account_code=body.get("account_code"),
                date=paid_on,
                reference=str(body.get("reference") or ""),
            )

    def _archive_contact(self, body: dict[str, Any], tenant_id: str, contact_id: str) -> dict[str, Any]:
        with self.em.store_lock:
            return self.em.store.admin_archive_contact(tenant_id, contact_id)

    def _add_account(self, body: dict[str, Any], tenant_id: str) -> dict[str, Any]:
        with self.em.store_lock:
            self._tenant(tenant_id)
            return self.em.store.admin_add_account(
                tenant_id,
                code=str(body["code"]),
                name=str(body["name"]),
                type=str(body["type"]),
                currency_code=str(body.get("currency_code") or ""),
                enable_payments=bool(body.get("enable_payments", False)),
                status=str(body.get("status") or "ACTIVE"),
                bank_account_number=str(body.get("bank_account_number") or ""),
            )

    def _set_account_status(self, body: dict[str, Any], tenant_id: str, account_id: str) -> dict[str, Any]:
        status = str(body["status"])
        if status not in ("ACTIVE", "ARCHIVED"):
            raise AdminError("status must be ACTIVE or ARCHIVED")
        with self.em.store_lock:
            return self.em.store.admin_set_account_status(tenant_id, account_id, status)

    def _set_lock_dates(self, body: dict[str, Any], tenant_id: str) -> dict[str, Any]:
        def day(name: str) -> date | None:
            value = body.get(name)
            return date.fromisoformat(str(value)) if value else None

        with self.em.store_lock:
            self._tenant(tenant_id)
            return self.em.store.set_lock_dates(
                tenant_id,
                period_lock_date=day("period_lock_date"),
                end_of_year_lock_date=day("end_of_year_lock_date"),
            )

    # --- identity ------------------------------------------------------------------------------------

    def _consent(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.em.identity.consent.as_dict()

    def _set_consent(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.em.identity.set_consent(body).as_dict()

    def _connections(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [dict(c.as_xero(), userId=c.user_id) for c in self.em.identity.all_connections()]

    def _tokens(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return self.em.identity.token_families()

    # --- faults --------------------------------------------------------------------------------------

    def _faults(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return self.em.faults.list()

    def _add_fault(self, body: dict[str, Any]) -> dict[str, Any]:
        fault = self.em.faults.add(body)
        return {"id": fault.id}

    def _clear_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        self.em.faults.clear()
        return {"ok": True}

    def _revoke_connection(self, body: dict[str, Any]) -> dict[str, Any]:
        removed = self.em.identity.remove_connections(str(body["tenant_id"]), body.get("user_id"))
        return {"removed": removed}

    def _revoke_grant(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"revoked": self.em.identity.revoke_grants(str(body["tenant_id"]))}

    def _remove_user(self, body: dict[str, Any]) -> dict[str, Any]:
        user_id = str(body.get("user_id") or self.em.identity.consent.user_id)
        with self.em.store_lock:
            self.em.store.remove_user(str(body["tenant_id"]), user_id)
        return {"ok": True, "user_id": user_id}

    # --- clock ---------------------------------------------------------------------------------------

    def _clock(self, body: dict[str, Any]) -> dict[str, Any]:
        clock = self.em.clock
        return {"now": clock.now().isoformat(), "scale": clock.scale}

    def _set_clock(self, body: dict[str, Any]) -> dict[str, Any]:
        self.em.clock.set_scale(float(body["scale"]))
        return self._clock({})

    def _advance_clock(self, body: dict[str, Any]) -> dict[str, Any]:
        self.em.clock.advance(float(body["seconds"]))
        return self._clock({})

    # --- webhooks ------------------------------------------------------------------------------------

    def _webhooks(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.em.webhooks.describe()

    def _set_webhooks(self, body: dict[str, Any]) -> dict[str, Any]:
        self.em.webhooks.configure(
            url=body.get("url"),
            key=body.get("key"),
            wrong_signature=body.get("wrong_signature"),
            clear_url="url" in body and not body["url"],
        )
        return self.em.webhooks.describe()

    def _register_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.em.webhooks.register(url=body.get("url"), key=body.get("key"))

    def _deliveries(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return self.em.webhooks.deliveries()

    def _redeliver(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.em.webhooks.redeliver(int(body["first_sequence"]))

    def _wait_webhooks(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"idle": self.em.webhooks.wait_idle(float(body.get("timeout", 10)))}

    # --- stats and limits ----------------------------------------------------------------------------

    def _stats(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.em.stats.snapshot()

    def _reset_stats(self, body: dict[str, Any]) -> dict[str, Any]:
        self.em.stats.reset()
        return {"ok": True}

    def _limits(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.em.limiter.snapshot()

    def _set_limits(self, body: dict[str, Any]) -> dict[str, Any]:
        settings = self.em.limiter.settings
        for name in ("enforce", "minute", "day", "concurrent", "app_minute"):
            if name in body:
                setattr(settings, name, bool(body[name]) if name == "enforce" else int(body[name]))
        if body.get("reset_usage"):
            self.em.limiter.reset()
        return self.em.limiter.snapshot()


def _raw(status: int, body: Any) -> Response:
    return Response(xero_json.dumps(body), status=status, content_type="application/json; charset=utf-8")
