"""Use case: the connection status the AR app shows, with the reconnect banner (C1, C3, C10)."""

from __future__ import annotations

from xero_bridge.models.connection import ConnectionView
from xero_bridge.services.ports import CatchUpStates, ConnectionStore, RateLimiter, WebhookSequences

__all__ = ["ConnectionStatusService"]


class ConnectionStatusService:
    """Reads one AR org's Xero connection.

    Parameters
    ----------
    connections : ConnectionStore
        Where connections are kept.
    catch_ups : CatchUpStates
        The org's last catch-up (when the data was last brought up to date, or why not).
    webhooks : WebhookSequences
        The app's webhook health (last delivery, sequence gaps seen).
    limiter : RateLimiter
        The tenant's Xero quota left this minute and today (Xero's last answer).
    """

    def __init__(
        self,
        connections: ConnectionStore,
        catch_ups: CatchUpStates,
        webhooks: WebhookSequences,
        limiter: RateLimiter,
    ) -> None:
        self._connections = connections
        self._catch_ups = catch_ups
        self._webhooks = webhooks
        self._limiter = limiter

    def status(self, org_id: str) -> ConnectionView:
        """Return ``connected``, ``needs_reconnect`` (with its reason), ``disconnected`` or ``not_connected``.

        Parameters
        ----------
        org_id : str
            The AR organisation.

        Returns
        -------
        ConnectionView
            The status, its reason when there is one, and the tenant it concerns.
        """
        connection = self._connections.get_connection(org_id)
        if connection is None:
            return ConnectionView(org_id=org_id, status="not_connected")
        quota = self._limiter.status(connection.tenant_id)
        pace = self._catch_ups.pace()
        return ConnectionView(
            org_id=org_id,
            status=connection.status.value,
            reason=connection.reason,
            tenant_id=connection.tenant_id,
            tenant_name=connection.tenant_name,
            connected_at=connection.connected_at,
            reason_code=connection.reason_code,
            last_change_at=connection.last_change_at,
            quota_minute_remaining=quota.minute_remaining,
            quota_day_remaining=quota.day_remaining,
            catch_up=self._catch_ups.last_outcome(org_id),
            catch_up_interval_minutes=None if pace is None else pace.interval_minutes,
            webhooks=self._webhooks.health(),
        )
