"""A real emulator on a free port, driven over HTTP with httpx, as a client of Xero would drive Xero."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from xero_emulator.admin_client import AdminClient
from xero_emulator.oauth import s256
from xero_emulator.server import Emulator
from xero_emulator.testing import running_emulator

CLIENT_ID = "xero-bridge-local"
CLIENT_SECRET = "local-client-secret"
REDIRECT_URI = "http://127.0.0.1:3000/callback"
ROOT = Path(__file__).resolve().parents[3]
SCOPES = "openid profile email offline_access accounting.contacts accounting.transactions accounting.settings"


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}


@dataclass
class Xero:
    """One running emulator with its tenants, an HTTP client and the admin client."""

    em: Emulator
    http: httpx.Client
    admin: AdminClient
    tenants: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.em.base_url

    # --- OAuth ---------------------------------------------------------------------------------------

    def authorize(self, *, scope: str = SCOPES, verifier: str | None = None, **params: str) -> httpx.Response:
        query = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "state": "state-1",
        }
        if verifier is not None:
            query.update(code_challenge=s256(verifier), code_challenge_method="S256")
        query.update(params)
        return self.http.get("/identity/connect/authorize", params=query)

    def code(self, **kwargs: Any) -> str:
        response = self.authorize(**kwargs)
        assert response.status_code == 302, response.text
        return query_of(response.headers["location"])["code"]

    def token(
        self, form: dict[str, str], *, secret: str | None = CLIENT_SECRET, basic: bool = True
    ) -> httpx.Response:
        if secret is None:
            return self.http.post("/connect/token", data={**form, "client_id": CLIENT_ID})
        if basic:
            return self.http.post("/connect/token", data=form, auth=(CLIENT_ID, secret))
        return self.http.post(
            "/connect/token", data={**form, "client_id": CLIENT_ID, "client_secret": secret}
        )

    def exchange(self, code: str, verifier: str | None = None, **kwargs: Any) -> httpx.Response:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
        if verifier is not None:
            form["code_verifier"] = verifier
        return self.token(form, **kwargs)

    def refresh(self, refresh_token: str) -> httpx.Response:
        return self.token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def connect(self, scope: str = SCOPES) -> dict[str, Any]:
        """The whole consent flow with PKCE; returns the token response."""
        verifier = secrets.token_urlsafe(48)
        response = self.exchange(self.code(scope=scope, verifier=verifier), verifier)
        assert response.status_code == 200, response.text
        return response.json()

    # --- API -----------------------------------------------------------------------------------------

    def api(self, method: str, path: str, token: str, tenant_id: str | None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if tenant_id is not None:
            headers["xero-tenant-id"] = tenant_id
        headers.update(kwargs.pop("headers", {}))
        return self.http.request(method, f"/api.xro/2.0/{path}", headers=headers, **kwargs)


def port_is_free(base_url: str) -> bool:
    host, port = base_url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


def add_customers(em: Emulator, tenant_id: str, count: int, prefix: str = "Customer") -> list[str]:
    ids = []
    for n in range(count):
        contact = em.store.admin_create_contact(tenant_id, f"{prefix} {n:04d}")
        ids.append(contact["ContactID"])
    return ids


@pytest.fixture
def make_xero() -> Iterator[Any]:
    """Factory: ``make_xero(tenants=2, **EmulatorConfig overrides)`` -> :class:`Xero` (stopped afterwards)."""
    stack: list[Any] = []

    def factory(tenants: int = 1, **overrides: Any) -> Xero:
        """``tenants`` organisations, each with a BANK account (code 090) and a sales account (200)."""
        context = running_emulator(**overrides)
        em = context.__enter__()
        stack.append(context)
        http = httpx.Client(base_url=em.base_url, timeout=15)
        admin = AdminClient(em.base_url)
        stack.append(http)
        stack.append(admin)
        tenant_ids = [em.store.add_tenant(f"Org {n + 1}") for n in range(tenants)]
        for tenant_id in tenant_ids:
            accounts = {a["Code"] for a in em.store.list_resource(tenant_id, "Accounts")["Accounts"]}
            if "090" not in accounts:
                em.store.admin_add_account(tenant_id, code="090", name="Business Bank", type="BANK")
            if "200" not in accounts:
                em.store.admin_add_account(tenant_id, code="200", name="Sales", type="REVENUE")
        return Xero(em=em, http=http, admin=admin, tenants=tenant_ids)

    yield factory
    for item in reversed(stack):
        if isinstance(item, httpx.Client | AdminClient):
            item.close()
        else:
            item.__exit__(None, None, None)


@pytest.fixture
def xero(make_xero: Any) -> Xero:
    return make_xero(tenants=2)
