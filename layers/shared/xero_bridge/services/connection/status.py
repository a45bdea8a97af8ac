"""Use case: the connection status the AR app shows, with the reconnect banner (C1, C3, C10)."""

from __future__ import annotations

from xero_bridge.models.connection import ConnectionView
from xero_bridge.services.ports import ConnectionStore

__all__ = ["ConnectionStatusService"]


class ConnectionStatusService:
    """Reads one AR org's Xero connection.

    Parameters
    ----------
    connections : ConnectionStore
        Where connections are kept.
    """

    def __init__(self, connections: ConnectionStore) -> None:
        self._connections = connections

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
        return ConnectionView(
            org_id=org_id,
            status=connection.status.value,
            reason=connection.reason,
            tenant_id=connection.tenant_id,
            tenant_name=connection.tenant_name,
            connected_at=connection.connected_at,
        )
