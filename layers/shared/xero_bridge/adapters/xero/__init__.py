"""Xero adapters: OAuth 2.0 and connections (:mod:`.oauth`), the Accounting API client (:mod:`.client`), the
retry loop both share (:mod:`.transport`), the rate-limited and metered client of the flows
(:mod:`.metered`) and the Users lookup of the connect admin check (:mod:`.users`)."""

from xero_bridge.adapters.xero.client import Resource, XeroClient
from xero_bridge.adapters.xero.oauth import PRODUCT_SCOPES, XeroEndpoints, XeroOAuthClient, new_pkce_pair
from xero_bridge.adapters.xero.transport import RetryPolicy

__all__ = [
    "PRODUCT_SCOPES",
    "Resource",
    "RetryPolicy",
    "XeroClient",
    "XeroEndpoints",
    "XeroOAuthClient",
    "new_pkce_pair",
]
