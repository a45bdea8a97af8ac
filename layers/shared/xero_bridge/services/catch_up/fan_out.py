"""The schedule's fan-out: a catch-up request per tenant due, on ``CatchUpQueue``, paced to the app's budget.

Each schedule tick (``CatchUpIntervalMinutes``, 5 by default) counts the connected tenants and decides how
often each can be caught up so that catch-ups plan for at most their share of the app's Xero budget
(:func:`~xero_bridge.domain.app_budget.catch_up_interval_seconds`): every tick while that fits, every
``k``-th tick for each tenant when it does not (a stable ``1/k`` of the tenants per tick). The interval is
saved for the connection status. A sequence gap or a manual request still asks every tenant at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from xero_bridge.domain.app_budget import AppLimits, catch_up_due, catch_up_interval_seconds
from xero_bridge.models.sync import CURSOR_RESOURCES
from xero_bridge.models.webhooks import CatchUpPace, CatchUpRequest
from xero_bridge.observability import logger
from xero_bridge.services.ports import CatchUpRequests, CatchUpStates, ConnectionStore, utc_now

__all__ = ["RequestCatchUps"]


class RequestCatchUps:
    """Asks the catch-up of the tenants due (the schedule), or of every connected one (a webhook gap).

    Parameters
    ----------
    connections
        The connections (only ``connected`` ones are caught up: a disconnected tenant is skipped).
    catch_ups
        ``CatchUpQueue``.
    states
        Where the current pace is kept for the status (none: not kept).
    limits
        The app's Xero budget.
    tick_seconds
        The schedule's rate: the shortest interval.
    share
        Of what catch-ups may use of the budget, the share their schedule plans for (the rest absorbs
        catch-ups that find changes, and reconnects).
    calls_per_catch_up
        Calls one catch-up of an unchanged tenant costs (one per resource).
    clock
        Aware-UTC clock (the limiter's, so the ticks agree with the budget's).
    """

    def __init__(
        self,
        *,
        connections: ConnectionStore,
        catch_ups: CatchUpRequests,
        states: CatchUpStates | None = None,
        limits: AppLimits | None = None,
        tick_seconds: int = 300,
        share: float = 0.5,
        calls_per_catch_up: float = float(len(CURSOR_RESOURCES)),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._connections = connections
        self._catch_ups = catch_ups
        self._states = states
        self._limits = limits or AppLimits()
        self._tick = tick_seconds
        self._share = share
        self._calls = calls_per_catch_up
        self._now = clock

    def everyone(self, reason: str) -> int:
        """Queue one request per connected tenant due (every one unless ``reason`` is the schedule)."""
        connected = self._connections.list_connected()
        now = self._now()
        interval = catch_up_interval_seconds(
            len(connected),
            calls_per_catch_up=self._calls,
            limits=self._limits,
            share=self._share,
            minimum_seconds=self._tick,
        )
        if reason == "schedule":
            due = [
                c
                for c in connected
                if catch_up_due(
                    c.tenant_id, now_s=now.timestamp(), interval_seconds=interval, tick_seconds=self._tick
                )
            ]
            if self._states is not None:
                self._states.save_pace(
                    CatchUpPace(
                        interval_seconds=interval,
                        tenants=len(connected),
                        calls_per_catch_up=self._calls,
                        decided_at=now,
                    )
                )
        else:
            due = connected
        requests = [
            CatchUpRequest(scope="tenant", org_id=c.org_id, tenant_id=c.tenant_id, reason=reason) for c in due
        ]
        self._catch_ups.request_many(requests)
        logger.info(
            "catch-ups requested",
            extra={
                "tenants": len(requests),
                "connected": len(connected),
                "interval_seconds": interval,
                "reason": reason,
            },
        )
        return len(requests)
