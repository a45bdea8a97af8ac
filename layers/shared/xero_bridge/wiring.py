"""Composition: the real adapters behind each use case, built once per container from the settings.

Handlers call these factories; services never import adapters. Everything here is lazy: nothing touches
AWS or Xero until a use case runs.
"""

from __future__ import annotations

from functools import lru_cache

import httpx

from xero_bridge.adapters.aws.connections_table import ConnectionsTable
from xero_bridge.adapters.aws.secrets import read_secret
from xero_bridge.adapters.aws.sync_starter import StepFunctionsSyncStarter
from xero_bridge.adapters.aws.token_cipher import KmsTokenCipher
from xero_bridge.adapters.xero.oauth import XeroEndpoints, XeroOAuthClient, new_pkce_pair
from xero_bridge.adapters.xero_users import XeroUsersLookup
from xero_bridge.services.connect import ConnectService
from xero_bridge.services.connection_status import ConnectionStatusService
from xero_bridge.services.token_vault import TokenVault
from xero_bridge.settings import Settings, get_settings

__all__ = ["connect_service", "connection_status_service", "reset_wiring", "token_vault"]


def _endpoints(settings: Settings) -> XeroEndpoints:
    return XeroEndpoints(
        login_url=settings.xero_login_url,
        identity_url=settings.xero_identity_url,
        api_url=settings.xero_api_url,
    )


_shared_http: list[httpx.Client] = []


def _http() -> httpx.Client:
    # One connection pool per container, reused across invocations (Xero keeps connections alive).
    if not _shared_http:
        _shared_http.append(httpx.Client(timeout=httpx.Timeout(15.0, connect=5.0)))
    return _shared_http[0]


def _table(settings: Settings) -> ConnectionsTable:
    return ConnectionsTable(settings.table_name)


def connect_service(redirect_uri: str, *, completing: bool) -> ConnectService:
    """The connect use case for this API's ``redirect_uri``.

    ``completing=False`` (``/connect``) never reads the client secret: that function is not granted it.
    """
    settings = get_settings()
    table = _table(settings)
    secret = (
        read_secret(settings.xero_client_secret_name, max_age=settings.secret_max_age_seconds)
        if completing
        else ""  # the authorize URL carries no secret
    )
    oauth = XeroOAuthClient(settings.xero_client_id, secret, redirect_uri, _endpoints(settings), http=_http())
    sync = (
        StepFunctionsSyncStarter(settings.require("initial_sync_state_machine_arn")) if completing else None
    )
    return ConnectService(
        states=table,
        connections=table,
        cipher=KmsTokenCipher(settings.token_key_id),
        oauth=oauth,
        users=XeroUsersLookup(_endpoints(settings), http=_http()),
        sync=sync,
        pkce=new_pkce_pair,
        state_ttl_seconds=settings.oauth_state_ttl_seconds,
    )


@lru_cache(maxsize=1)
def token_vault() -> TokenVault:
    """The container's token vault (its cache lives as long as the container)."""
    settings = get_settings()
    table = _table(settings)
    secret = read_secret(settings.xero_client_secret_name, max_age=settings.secret_max_age_seconds)
    # Refresh never sends a redirect URI; the configured one is passed for completeness.
    oauth = XeroOAuthClient(
        settings.xero_client_id, secret, settings.xero_redirect_uri, _endpoints(settings), http=_http()
    )
    return TokenVault(
        connections=table,
        tokens=table,
        lease=table,
        cipher=KmsTokenCipher(settings.token_key_id),
        oauth=oauth,
    )


def connection_status_service() -> ConnectionStatusService:
    return ConnectionStatusService(_table(get_settings()))


def reset_wiring(*, http: httpx.Client | None = None) -> None:
    """Forget the container-wide objects; ``http`` replaces the shared httpx client (tests: a fake Xero)."""
    token_vault.cache_clear()
    _shared_http.clear()
    if http is not None:
        _shared_http.append(http)
