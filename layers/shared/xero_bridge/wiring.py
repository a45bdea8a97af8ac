"""Composition: the real adapters behind each use case, built once per container from the settings.

Handlers call these factories; services never import adapters. Everything here is lazy: nothing touches
AWS or Xero until a use case runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import httpx

from xero_bridge.adapters.aws.connections_table import ConnectionsTable
from xero_bridge.adapters.aws.secrets import read_secret
from xero_bridge.adapters.aws.sync_machine import StepFunctionsSyncMachine
from xero_bridge.adapters.aws.token_cipher import KmsTokenCipher
from xero_bridge.adapters.rate_limiter import DynamoDBRateLimiter
from xero_bridge.adapters.records_repository import RecordsRepository
from xero_bridge.adapters.sync_progress import DynamoSyncProgress
from xero_bridge.adapters.sync_runs import SyncRunsTable
from xero_bridge.adapters.writes_queue import SqsWritesQueue
from xero_bridge.adapters.xero.client import XeroClient
from xero_bridge.adapters.xero.oauth import XeroEndpoints, XeroOAuthClient, new_pkce_pair
from xero_bridge.adapters.xero.transport import RetryPolicy
from xero_bridge.adapters.xero_metered import LimiterAttempts, MeteredXero
from xero_bridge.adapters.xero_users import XeroUsersLookup
from xero_bridge.services.connect import ConnectService
from xero_bridge.services.connection_status import ConnectionStatusService
from xero_bridge.services.initial_sync import InitialSyncService
from xero_bridge.services.token_vault import TokenVault
from xero_bridge.settings import Settings, get_settings

__all__ = [
    "connect_service",
    "connection_status_service",
    "initial_sync_service",
    "rate_limiter",
    "records_writer",
    "reset_wiring",
    "token_vault",
]


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
        StepFunctionsSyncMachine(settings.require("initial_sync_state_machine_arn")) if completing else None
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


# --- the initial sync ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def rate_limiter() -> DynamoDBRateLimiter:
    """The container's shared per-tenant rate limiter (one DynamoDB item per tenant, in ConnectionsTable)."""
    settings = get_settings()
    return DynamoDBRateLimiter(settings.table_name, time_scale=settings.rate_limit_time_scale)


class _LimiterQuota:
    def __init__(self, limiter: DynamoDBRateLimiter) -> None:
        self._limiter = limiter

    def quota(self, tenant_id: str) -> tuple[int | None, int | None]:
        status = self._limiter.status(tenant_id)
        return status.minute_remaining, status.day_remaining


#: Of a page fetcher's remaining time, what one Xero attempt (15 s read timeout, a slow 1,000-record
#: answer) and the page's mapping, SQS sends and checkpoint may need after the limiter grants a slot.
CALL_RESERVE_SECONDS = 30.0


class MeteredXeroFactory:
    """``xero(tenant_id)``: a fresh metered client per task (its call and 429 counts are the task's).

    ``time_left`` (real seconds, e.g. the Lambda context's remaining time) bounds each limiter wait to what
    leaves :data:`CALL_RESERVE_SECONDS` for the call and the work after it.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        scale = settings.rate_limit_time_scale
        # Retry-After and backoff are in Xero's (possibly scaled) seconds: sleep them scaled too.
        self._retry = RetryPolicy(sleep=lambda seconds: _sleep(seconds / scale))

    def __call__(self, tenant_id: str, *, time_left: Callable[[], float] | None = None) -> MeteredXero:
        limiter = rate_limiter()
        scale = self._settings.rate_limit_time_scale

        def clock() -> datetime:
            return datetime.fromtimestamp(limiter.now(), UTC)

        def max_wait() -> float | None:
            if time_left is None:
                return None
            return max(0.0, time_left() - CALL_RESERVE_SECONDS) * scale  # in the limiter's seconds

        attempts = LimiterAttempts(limiter, tenant_id, clock=clock, max_wait=max_wait)
        client = XeroClient(
            token_vault(),
            tenant_id,
            _endpoints(self._settings),
            http=_http(),
            retry=self._retry,
            clock=clock,
            limiter=attempts,
        )
        return MeteredXero(client, attempts)


def _sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)


@lru_cache(maxsize=1)
def initial_sync_service() -> InitialSyncService:
    """The initial sync's use cases with their real adapters (what each function needs, built on use)."""
    settings = get_settings()
    queue = SqsWritesQueue(settings.writes_queue_url) if settings.writes_queue_url else None
    machine = (
        StepFunctionsSyncMachine(settings.initial_sync_state_machine_arn)
        if settings.initial_sync_state_machine_arn
        else None
    )
    scale = settings.rate_limit_time_scale

    def to_wall_clock(when: datetime) -> datetime:
        if scale == 1.0:
            return when
        limiter_now = datetime.fromtimestamp(rate_limiter().now(), UTC)
        return datetime.now(UTC) + timedelta(seconds=max((when - limiter_now).total_seconds(), 0) / scale)

    return InitialSyncService(
        runs=SyncRunsTable(settings.table_name),
        xero=MeteredXeroFactory(settings),
        queue=queue,
        machine=machine,
        connections=_table(settings),
        quota=_LimiterQuota(rate_limiter()),
        to_wall_clock=to_wall_clock,
        max_finish_checks=settings.sync_finish_max_checks,
    )


@lru_cache(maxsize=1)
def records_writer() -> tuple[RecordsRepository, DynamoSyncProgress]:
    """The writer's ports: the records table (its only writer) and the run's progress counters."""
    settings = get_settings()
    return RecordsRepository(settings.records_table_name), DynamoSyncProgress(settings.table_name)


def reset_wiring(*, http: httpx.Client | None = None) -> None:
    """Forget the container-wide objects; ``http`` replaces the shared httpx client (tests: a fake Xero)."""
    token_vault.cache_clear()
    initial_sync_service.cache_clear()
    rate_limiter.cache_clear()
    records_writer.cache_clear()
    _shared_http.clear()
    if http is not None:
        _shared_http.append(http)
