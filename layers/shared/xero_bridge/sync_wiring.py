"""Composition of the initial sync: the real adapters behind :class:`InitialSyncService`, built lazily.

Kept beside :mod:`xero_bridge.wiring` (connect, token vault) and built on it: the sync shares the container's
token vault and httpx pool. Nothing here touches AWS or Xero until a use case runs.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from xero_bridge.adapters.rate_limiter import DynamoDBRateLimiter
from xero_bridge.adapters.sync_machine import StepFunctionsSyncMachine
from xero_bridge.adapters.sync_runs import SyncRunsTable
from xero_bridge.adapters.writes_queue import SqsWritesQueue
from xero_bridge.adapters.xero.client import XeroClient
from xero_bridge.adapters.xero.oauth import XeroEndpoints
from xero_bridge.adapters.xero.transport import RetryPolicy
from xero_bridge.adapters.xero_metered import LimiterAttempts, MeteredXero
from xero_bridge.services.initial_sync import InitialSyncService
from xero_bridge.settings import Settings, get_settings
from xero_bridge.wiring import _http, _table, token_vault

__all__ = ["initial_sync_service", "rate_limiter", "reset_sync_wiring"]


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


class MeteredXeroFactory:
    """``xero(tenant_id)``: a fresh metered client per task (its call and 429 counts are the task's)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        scale = settings.rate_limit_time_scale
        # Retry-After and backoff are in Xero's (possibly scaled) seconds: sleep them scaled too.
        self._retry = RetryPolicy(sleep=lambda seconds: _sleep(seconds / scale))

    def __call__(self, tenant_id: str) -> MeteredXero:
        limiter = rate_limiter()

        def clock() -> datetime:
            return datetime.fromtimestamp(limiter.now(), UTC)

        attempts = LimiterAttempts(limiter, tenant_id, clock=clock)
        endpoints = XeroEndpoints(
            login_url=self._settings.xero_login_url,
            identity_url=self._settings.xero_identity_url,
            api_url=self._settings.xero_api_url,
        )
        client = XeroClient(
            token_vault(),
            tenant_id,
            endpoints,
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


def reset_sync_wiring() -> None:
    """Forget the container-wide sync objects (tests change the environment between cases)."""
    initial_sync_service.cache_clear()
    rate_limiter.cache_clear()
