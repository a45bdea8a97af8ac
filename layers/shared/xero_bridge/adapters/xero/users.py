"""The Users API lookup of the connect admin check, over the Xero client with a token just granted.

At callback time the new tokens are not stored yet, so the vault cannot provide them: a fixed-token
provider hands the client the access token of the grant being checked (no refresh is possible or needed).
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from xero_bridge.adapters.xero.client import XeroClient
from xero_bridge.adapters.xero.oauth import XeroEndpoints
from xero_bridge.errors import NeedsReconnect
from xero_bridge.models.connection import ReconnectReason
from xero_bridge.models.xero import User

__all__ = ["XeroUsersLookup"]


class _FixedToken:
    """A ``TokenProvider`` for one access token that cannot be refreshed."""

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    def access_token(self, tenant_id: str, *, force_refresh: bool = False) -> str:
        # No refresh of a grant being checked: a forced "refresh" gives the same token (Xero then answers
        # as before, and that answer is the check's result).
        return self._access_token

    def refused(self, tenant_id: str, reason: ReconnectReason) -> NeedsReconnect | None:
        return None  # not a stored connection: nothing to mark


class XeroUsersLookup:
    """``GET /api.xro/2.0/Users`` for a tenant, with the access token of the connect being completed.

    Parameters
    ----------
    endpoints : XeroEndpoints
        Xero's base URLs.
    http : httpx.Client, optional
        A shared httpx client.
    """

    def __init__(self, endpoints: XeroEndpoints, http: httpx.Client | None = None) -> None:
        self._endpoints = endpoints
        self._http = http

    def users(self, access_token: str, tenant_id: str) -> Sequence[User]:
        client = XeroClient(_FixedToken(access_token), tenant_id, self._endpoints, http=self._http)
        return client.users()
