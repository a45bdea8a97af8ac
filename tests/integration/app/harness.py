"""Helpers of the issue-3 checks: the app under test, the browser's connect, the consent screen.

The browser is driven by hand (httpx, no redirects followed): ``/connect`` (ours) → the emulator's
consent screen → ``/callback`` (ours) → the AR app's return URL. Nothing secret is printed: assertion
messages carry status codes and our own redirects, never Xero's ``code``.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from tests.support.waiting import wait_for
from tools.local_stack.app import LocalApp
from xero_emulator.oauth import BearerError, BearerIdentity, IdentityService, OAuthError

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


class LogSink(io.StringIO):
    """What every function printed (the local stack's ``log_sink``), kept for the secrecy checks."""

    def text(self) -> str:
        return self.getvalue()


@dataclass
class IssuedSecrets:
    """Every code and token the emulator handed out, seen on its identity service (its admin API never
    shows token values, on purpose), and every refresh grant it answered."""

    codes: list[str] = field(default_factory=list)
    grants: list[dict[str, str]] = field(default_factory=list)  # each token response: kind -> value
    refreshes: list[bool] = field(default_factory=list)  # one per refresh grant: True when it succeeded
    expired_calls: list[int] = field(default_factory=list)  # one per API call refused: token expired (401)

    @classmethod
    def watch(cls, identity: IdentityService) -> IssuedSecrets:
        seen = cls()
        authorize, token, verify_bearer = identity.authorize, identity.token, identity.verify_bearer

        def watched_authorize(params: Any) -> str:
            location = authorize(params)
            seen.codes.extend(v for k, v in parse_qsl(urlsplit(location).query) if k == "code")
            return location

        def watched_token(form: Any, authorization: str | None) -> dict[str, Any]:
            refresh = form.get("grant_type") == "refresh_token"
            try:
                body = token(form, authorization)
            except OAuthError:
                if refresh:
                    seen.refreshes.append(False)
                raise
            if refresh:
                seen.refreshes.append(True)
            kinds = ("access_token", "refresh_token", "id_token")
            seen.grants.append({k: str(body[k]) for k in kinds if k in body})
            return body

        def watched_verify_bearer(authorization: str | None) -> BearerIdentity:
            try:
                return verify_bearer(authorization)
            except BearerError as exc:
                if exc.detail.startswith("TokenExpired"):
                    seen.expired_calls.append(exc.status)
                raise

        identity.authorize = watched_authorize  # type: ignore[method-assign]
        identity.verify_bearer = watched_verify_bearer  # type: ignore[method-assign]
        identity.token = watched_token  # type: ignore[method-assign]
        return seen

    @property
    def tokens(self) -> list[str]:
        return [value for grant in self.grants for value in grant.values()]

    def last(self, kind: str) -> str:
        """The latest ``access_token``/``refresh_token`` issued (for the test's own Xero calls)."""
        return next(grant[kind] for grant in reversed(self.grants) if kind in grant)


@dataclass
class App:
    """A running app plus what the tests observe around it."""

    local: LocalApp
    logs: LogSink
    issued: IssuedSecrets
    # The finance user's browser: it keeps the cookie /connect sets until /callback reads it.
    browser: httpx.Client = field(
        default_factory=lambda: httpx.Client(follow_redirects=False, timeout=30.0, headers=BROWSER)
    )

    def __getattr__(self, name: str) -> Any:  # app.api_url, app.admin, app.stack... as on LocalApp
        return getattr(self.local, name)

    @property
    def default_user_id(self) -> str:
        return str(self.local.emulator.config.consent_user_id)

    @property
    def return_url(self) -> str:
        """Where the callback sends the browser back to (the template's ``AppReturnUrl``)."""
        return self.function_env("OAuthCallbackFunction")["APP_RETURN_URL"]

    def function_env(self, logical_id: str) -> dict[str, str]:
        """A function's environment as the local stack resolves it (template, parameters, Lambda's own)."""
        runtime = self.local.stack.runtime
        return runtime.environment(runtime.function(logical_id))


# --- the AR platform's backend ---------------------------------------------------------------------------


def api_client(app: LocalApp | App) -> httpx.Client:
    """The AR platform's backend calling the integration API, signed by ``LocalApp.api_auth`` (the one place
    a test's request gets its credentials: the API key and a SigV4 signature)."""
    return httpx.Client(base_url=app.api_url, auth=app.api_auth, timeout=30.0)


def synced(app: App, org_id: str) -> None:
    """Wait for the org's initial sync to finish, then for the writer to drain what it sent."""
    with api_client(app) as api:
        wait_for(
            "the initial sync",
            lambda: api.get(f"/orgs/{org_id}/sync").json().get("status") == "finished",
            timeout=120,
        )
    app.stack.drain(timeout=60)


# --- the consent screen ---------------------------------------------------------------------------------


def consent(
    app: App,
    tenant_ids: list[str] | None,
    *,
    user_id: str | None = None,
    role: str = "FINANCIALADVISER",
    deny: bool = False,
) -> None:
    """What the Xero user does on the consent screen: which organisations they tick, who they are, Allow."""
    app.admin.set_consent(tenant_ids=tenant_ids, user_id=user_id or app.default_user_id, role=role, deny=deny)


def reset_consent(app: App) -> None:
    config = app.local.emulator.config
    app.admin.set_consent(
        tenant_ids=None,
        user_id=config.consent_user_id,
        role=config.consent_role,
        deny=config.consent_deny,
        grant_only_scopes=None,
    )


# --- the browser ----------------------------------------------------------------------------------------


def new_browser() -> httpx.Client:
    """Another browser: no cookie of the one the connect link was opened in."""
    return httpx.Client(follow_redirects=False, timeout=30.0, headers=BROWSER)


def connect_link(app: App, org_id: str, *, user_email: str | None = None) -> str:
    """``POST /orgs/{org_id}/connect`` as the AR platform's backend asks it: the single-use link."""
    body = {"user_email": user_email} if user_email else {}
    response = httpx.post(f"{app.api_url}/orgs/{org_id}/connect", json=body, auth=app.api_auth, timeout=30.0)
    assert response.status_code == 201, response.text
    link = str(response.json()["connect_url"])
    assert link.startswith(f"{app.api_url}/connect?session="), link
    return link


def consent_redirect(
    app: App, org_id: str, *, user_email: str | None = None, browser: httpx.Client | None = None
) -> str:
    """The connect link opened in the finance user's browser, then the emulator's consent screen: the URL
    Xero sends the browser back to (our ``/callback`` with ``code`` and ``state``, or ``error``)."""
    browser = browser or app.browser
    start = browser.get(connect_link(app, org_id, user_email=user_email))
    assert start.status_code == 302, f"/connect answered {start.status_code}"
    assert "xero_bridge_connect" in browser.cookies, "/connect binds the flow to the browser with a cookie"
    authorize = start.headers["location"]
    to_xero = authorize.startswith(f"{app.xero_url}/identity/connect/authorize?")
    assert to_xero, "/connect must send the browser to Xero's consent screen"
    consent_screen = browser.get(authorize)
    assert consent_screen.status_code == 302, f"Xero's authorize answered {consent_screen.status_code}"
    back = consent_screen.headers["location"]
    to_our_callback = back.startswith(f"{app.api_url}/callback?")  # (a bool: pytest never prints the code)
    assert to_our_callback, "Xero's consent screen must send the browser back to our /callback"
    return back


def follow(app: App, callback: str, *, browser: httpx.Client | None = None) -> httpx.Response:
    """The browser lands on ``/callback`` (the answer is the redirect back to the AR app)."""
    return (browser or app.browser).get(callback)


def connect(app: App, org_id: str) -> httpx.Response:
    """The whole connect, by hand: /connect → Xero's authorize → /callback; the last answer."""
    return follow(app, consent_redirect(app, org_id))


def without(url: str, *names: str) -> str:
    """``url`` without the query parameters ``names`` (a truncated or tampered redirect)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in names]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def returned(app: App, response: httpx.Response) -> dict[str, str]:
    """The redirect back to the AR app, as the AR app reads it (``status``, ``error``, ``reason``...)."""
    assert response.status_code == 302, f"/callback answered {response.status_code}: {response.text[:200]}"
    location = response.headers["location"]
    assert location.startswith(app.return_url + "?"), "the browser must go back to the AR app"
    return query_of(location)


def connection_status(app: App, org_id: str) -> dict[str, Any]:
    """``GET /orgs/{org_id}/connection`` as the AR backend calls it (signed, with its API key)."""
    response = httpx.get(f"{app.api_url}/orgs/{org_id}/connection", auth=app.api_auth, timeout=30.0)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def executions_for(app: App, org_id: str) -> list[dict[str, Any]]:
    """The inputs of the initial-sync executions started for ``org_id`` (each input names its org)."""
    sfn = app.stack.client("stepfunctions")
    machine = app.stack.resources["InitialSyncStateMachine"].arn
    found = []
    for execution in sfn.list_executions(stateMachineArn=machine)["executions"]:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        payload = json.loads(described["input"])
        if payload.get("org_id") == org_id:
            found.append(payload)
    return found


def new_org() -> str:
    return f"org-{uuid.uuid4().hex[:12]}"
