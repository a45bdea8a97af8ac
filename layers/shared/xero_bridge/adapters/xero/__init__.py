"""Xero adapters: OAuth 2.0 and connections (:mod:`.oauth`), the Accounting API client (:mod:`.client`),
and the retry loop both share (:mod:`.transport`)."""

from xero_bridge.adapters.xero.client import Resource, TokenProvider, XeroClient
from xero_bridge.adapters.xero.oauth import (
    PRODUCT_SCOPES,
    Connection,
    XeroEndpoints,
    XeroOAuthClient,
    new_pkce_pair,
)
from xero_bridge.adapters.xero.transport import RetryPolicy
from xero_bridge.models.oauth import AccessTokenClaims, TokenSet
from xero_bridge.models.pages import BadRecord, Page, Quota

__all__ = [
    "PRODUCT_SCOPES",
    "AccessTokenClaims",
    "BadRecord",
    "Connection",
    "Page",
    "Quota",
    "Resource",
    "RetryPolicy",
    "TokenProvider",
    "TokenSet",
    "XeroClient",
    "XeroEndpoints",
    "XeroOAuthClient",
    "new_pkce_pair",
]
