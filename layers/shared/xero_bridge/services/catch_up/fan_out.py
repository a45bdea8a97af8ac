"""The schedule's fan-out: one catch-up request per connected tenant, on ``CatchUpQueue``."""

from __future__ import annotations

from xero_bridge.models.webhooks import CatchUpRequest
from xero_bridge.observability import logger
from xero_bridge.services.ports import CatchUpRequests, ConnectionStore

__all__ = ["RequestCatchUps"]


class RequestCatchUps:
    """Asks the catch-up of every connected tenant (the schedule, or a webhook sequence gap).

    Parameters
    ----------
    connections
        The connections (only ``connected`` ones are caught up: a disconnected tenant is skipped).
    catch_ups
        ``CatchUpQueue``.
    """

    def __init__(self, *, connections: ConnectionStore, catch_ups: CatchUpRequests) -> None:
        self._connections = connections
        self._catch_ups = catch_ups

    def everyone(self, reason: str) -> int:
        """Queue one request per connected tenant; returns how many were queued."""
        requests = [
            CatchUpRequest(scope="tenant", org_id=c.org_id, tenant_id=c.tenant_id, reason=reason)
            for c in self._connections.list_connected()
        ]
        self._catch_ups.request_many(requests)
        logger.info("catch-ups requested", extra={"tenants": len(requests), "reason": reason})
        return len(requests)
