"""Where a stored connection stands: a module of its own, so that the synced records (which name the status of
the connection they came through) do not import the connection's models (a cold start's worth for the writer).
``xero_bridge.models.connection`` re-exports it."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ConnectionStatus"]


class ConnectionStatus(StrEnum):
    """Where a stored connection stands. ``not_connected`` (no record at all) only exists in the view."""

    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs_reconnect"
    DISCONNECTED = "disconnected"
