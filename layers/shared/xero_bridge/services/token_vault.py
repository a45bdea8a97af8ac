"""The token vault: the one way any function gets a Xero access token for a tenant.

Xero rotates the refresh token on every use and two concurrent refreshes of one token set break it, so a
refresh is serialised per connection across every Lambda by a DynamoDB lease; the holder re-reads the
tokens once it has the lease (someone may have refreshed meanwhile) and stores the rotated refresh token
*before* anyone uses the new access token. Waiters poll with backoff and pick up the holder's tokens.

Decrypted token sets are cached per container until shortly before the access token expires.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from xero_bridge.errors import (
    NeedsReconnect,
    StaleTokenVersionError,
    TokenRefreshTimeoutError,
    XeroInvalidGrant,
)
from xero_bridge.models.connection import (
    RECONNECT_TEXT,
    ConnectionStatus,
    ReconnectReason,
    StoredTokens,
    TokenRecord,
    XeroConnection,
)
from xero_bridge.observability import count, logger
from xero_bridge.services.ports import (
    ConnectionStore,
    RefreshLease,
    TokenCipher,
    TokenStore,
    XeroOAuthPort,
    utc_now,
)

__all__ = ["REVOKED_REASON", "TokenVault"]

REVOKED_REASON = RECONNECT_TEXT[ReconnectReason.TOKEN_REVOKED]
#: Xero expires a refresh token left unused this long: an invalid_grant after it is "expired", not "revoked".
REFRESH_TOKEN_LIFETIME = timedelta(days=60)


@dataclass(frozen=True)
class _Cached:
    org_id: str
    version: int
    tokens: StoredTokens
    cached_at: datetime


class TokenVault:
    """Access tokens per tenant, refreshed at most once at a time per connection (``TokenProvider``).

    Parameters
    ----------
    connections : ConnectionStore
        Routes a tenant to its AR org and says whether the connection is usable.
    tokens : TokenStore
        The encrypted token sets, versioned.
    lease : RefreshLease
        The per-connection refresh lease (shared by every Lambda).
    cipher : TokenCipher
        KMS encryption of the token sets.
    oauth : XeroOAuthPort
        Xero's identity service: ``refresh``, and ``connections`` to explain a 403.
    margin_seconds : float
        An access token valid for less than this is refreshed first (a Xero call must not start with a
        token about to expire).
    cache_seconds : float
        The longest a decrypted token set is reused without re-reading the connection.
    lease_seconds : float
        How long a lease protects a refresh before it is extended. The holder extends it every
        ``lease_seconds / 3`` while Xero's answer is awaited, however long the OAuth client's retries take;
        a holder that dies stops extending, and its lease frees within ``lease_seconds``.
    wait_seconds : float
        How long a caller waits for another Lambda's refresh before giving up.
    now, sleep : callable
        Clock and sleep (tests drive them).
    """

    def __init__(
        self,
        *,
        connections: ConnectionStore,
        tokens: TokenStore,
        lease: RefreshLease,
        cipher: TokenCipher,
        oauth: XeroOAuthPort,
        margin_seconds: float = 120.0,
        cache_seconds: float = 300.0,
        lease_seconds: float = 20.0,
        wait_seconds: float = 25.0,
        now: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._connections = connections
        self._tokens = tokens
        self._lease = lease
        self._cipher = cipher
        self._oauth = oauth
        self._margin = margin_seconds
        self._cache_seconds = cache_seconds
        self._lease_seconds = lease_seconds
        self._wait_seconds = wait_seconds
        self._now = now
        self._sleep = sleep
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def access_token(self, tenant_id: str, *, force_refresh: bool = False) -> str:
        """Return a valid access token for ``tenant_id``.

        Parameters
        ----------
        tenant_id : str
            The Xero tenant.
        force_refresh : bool
            Xero refused the token this vault gave out (a 401): return a different one, refreshing unless
            another Lambda already did.

        Raises
        ------
        NeedsReconnect
            No usable connection: not connected, disconnected, needs a reconnect, or Xero answered
            ``invalid_grant`` to the refresh (the connection is then marked ``needs_reconnect``).
        TokenRefreshTimeoutError
            Another Lambda's refresh took longer than ``wait_seconds``.
        """
        now = self._now()
        with self._lock:
            cached = self._cache.get(tenant_id)
        if cached and not force_refresh and self._fresh(cached, now):
            return cached.tokens.access_token.get_secret_value()
        connection = self._live_connection(tenant_id)
        record, tokens = self._read(connection)
        # The version Xero refused: a newer stored one is someone else's refresh, usable as it is.
        rejected = (cached.version if cached else record.version) if force_refresh else None
        if self._usable(record, tokens, rejected):
            return self._remember(tenant_id, record, tokens)
        return self._refresh(connection, rejected)

    def refused(self, tenant_id: str, reason: ReconnectReason) -> NeedsReconnect | None:
        """Xero refused the tenant's access after a refresh: the connection needs a reconnect, with why.

        Returns
        -------
        NeedsReconnect
            The error the caller raises (the connection now shows the banner).
        """
        found = [
            c for c in self._connections.find_by_tenant(tenant_id) if c.status == ConnectionStatus.CONNECTED
        ]
        if reason == ReconnectReason.USER_REMOVED:
            reason = self._why_unauthenticated(tenant_id)
        text = RECONNECT_TEXT[reason]
        if found:
            count("NeedsReconnect", reason=reason.value)
        for connection in found:
            self._connections.set_status(
                connection.org_id,
                ConnectionStatus.NEEDS_RECONNECT,
                text,
                now=self._now(),
                reason_code=reason.value,
            )
            logger.warning(
                "xero refused the connection after a refresh: it needs a reconnect",
                extra={"org_id": connection.org_id, "tenant_id": tenant_id, "reason": reason.value},
            )
        self.forget(tenant_id)
        return NeedsReconnect(text)

    def forget(self, tenant_id: str) -> None:
        """Drop the cached token set of a tenant (after a disconnect)."""
        with self._lock:
            self._cache.pop(tenant_id, None)

    # --- internals ---------------------------------------------------------------------------------------

    def _why_unauthenticated(self, tenant_id: str) -> ReconnectReason:
        """Tell Xero's two ``AuthenticationUnsuccessful`` 403s apart by the token's own connections.

        Xero answers the same 403 when someone disconnected the app in Xero (the connection is gone, the
        grant with it) and when the connecting user was removed from the organisation (the connection
        stays). ``GET /connections`` with the same token says which; if even that fails, the user is the
        likelier cause and the banner says so.
        """
        with self._lock:
            cached = self._cache.get(tenant_id)
        if cached is None:
            return ReconnectReason.USER_REMOVED
        try:
            tenants = {
                c.tenant_id for c in self._oauth.connections(cached.tokens.access_token.get_secret_value())
            }
        except Exception:  # any failure keeps the 403's own reading
            logger.warning(
                "could not list the token's connections to explain a 403", extra={"tenant_id": tenant_id}
            )
            return ReconnectReason.USER_REMOVED
        return ReconnectReason.USER_REMOVED if tenant_id in tenants else ReconnectReason.TOKEN_REVOKED

    def _fresh(self, cached: _Cached, now: datetime) -> bool:
        return (
            cached.tokens.valid_for(now) > self._margin
            and (now - cached.cached_at).total_seconds() < self._cache_seconds
        )

    def _usable(self, record: TokenRecord, tokens: StoredTokens, rejected_version: int | None) -> bool:
        if rejected_version is not None and record.version <= rejected_version:
            return False
        return tokens.valid_for(self._now()) > self._margin

    def _live_connection(self, tenant_id: str) -> XeroConnection:
        found = self._connections.find_by_tenant(tenant_id)
        live = [c for c in found if c.status == ConnectionStatus.CONNECTED]
        if live:
            return live[0]
        if found:
            latest = max(found, key=lambda c: c.updated_at)
            raise NeedsReconnect(
                latest.reason or f"the Xero connection is {latest.status.value}: reconnect Xero"
            )
        raise NeedsReconnect("Xero is not connected")

    def _read(self, connection: XeroConnection) -> tuple[TokenRecord, StoredTokens]:
        record = self._tokens.get_tokens(connection.org_id)
        if record is None or record.tenant_id != connection.tenant_id:
            raise NeedsReconnect("no Xero tokens are stored for this connection: reconnect Xero")
        tokens = self._cipher.decrypt(record.ciphertext, org_id=record.org_id, tenant_id=record.tenant_id)
        return record, tokens

    def _remember(self, tenant_id: str, record: TokenRecord, tokens: StoredTokens) -> str:
        with self._lock:
            self._cache[tenant_id] = _Cached(record.org_id, record.version, tokens, self._now())
        return tokens.access_token.get_secret_value()

    def _refresh(self, connection: XeroConnection, rejected: int | None) -> str:
        owner = uuid.uuid4().hex
        started = time.monotonic()
        delay = 0.05
        while True:
            if self._lease.acquire(connection.org_id, owner, now=self._now(), seconds=self._lease_seconds):
                with self._extended_lease(connection.org_id, owner):
                    return self._refresh_holding_lease(connection, rejected)
            # Someone else is refreshing: wait for their tokens rather than racing them.
            self._sleep(delay + random.uniform(0, delay / 2))
            delay = min(delay * 2, 1.0)
            connection = self._live_connection(connection.tenant_id)  # the holder may have hit invalid_grant
            record, tokens = self._read(connection)
            if self._usable(record, tokens, rejected):
                return self._remember(connection.tenant_id, record, tokens)
            if time.monotonic() - started > self._wait_seconds:
                raise TokenRefreshTimeoutError(
                    f"another refresh of the Xero tokens for tenant {connection.tenant_id} is still running"
                )

    @contextmanager
    def _extended_lease(self, org_id: str, owner: str) -> Iterator[None]:
        """Hold the lease for as long as the block runs: extend it every third of its length, then release.

        Xero's refresh may outlast one lease (the OAuth client retries a slow or dropped answer); another
        Lambda that took the lease meanwhile would refresh the same rotating token and break the set.
        """
        done = threading.Event()

        def keep() -> None:
            while not done.wait(self._lease_seconds / 3):
                if not self._lease.extend(org_id, owner, now=self._now(), seconds=self._lease_seconds):
                    logger.warning(
                        "the token refresh lease was lost while refreshing", extra={"org_id": org_id}
                    )
                    return

        keeper = threading.Thread(target=keep, name="refresh-lease", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join(timeout=5)
            self._lease.release(org_id, owner)

    def _refresh_holding_lease(self, connection: XeroConnection, rejected: int | None) -> str:
        # Under the lease, re-read: the previous holder may have refreshed just before we got it.
        record, tokens = self._read(connection)
        if self._usable(record, tokens, rejected):
            return self._remember(connection.tenant_id, record, tokens)
        try:
            token_set = self._oauth.refresh(tokens.refresh_token.get_secret_value())
        except XeroInvalidGrant as exc:
            latest = self._tokens.get_tokens(connection.org_id)
            if latest is not None and latest.version != record.version:
                # A reconnect stored a new grant while we refreshed the old one: use it.
                return self._refresh_holding_lease(self._live_connection(connection.tenant_id), rejected)
            # Unused for Xero's 60 days, the refresh token expired; otherwise it was revoked (or reused).
            expired = self._now() - record.updated_at >= REFRESH_TOKEN_LIFETIME
            reason = ReconnectReason.EXPIRED if expired else ReconnectReason.TOKEN_REVOKED
            self._connections.set_status(
                connection.org_id,
                ConnectionStatus.NEEDS_RECONNECT,
                RECONNECT_TEXT[reason],
                now=self._now(),
                reason_code=reason.value,
            )
            self.forget(connection.tenant_id)
            count("TokenRefreshes", outcome="failed")
            count("NeedsReconnect", reason=reason.value)
            logger.warning(
                "xero refused the refresh token: connection needs a reconnect",
                extra={
                    "org_id": connection.org_id,
                    "tenant_id": connection.tenant_id,
                    "reason": reason.value,
                },
            )
            raise NeedsReconnect(RECONNECT_TEXT[reason]) from exc
        rotated = StoredTokens.from_token_set(token_set)
        ciphertext = self._cipher.encrypt(rotated, org_id=connection.org_id, tenant_id=connection.tenant_id)
        # The old refresh token is now spent: the new one must be stored before the access token is used.
        try:
            version = self._tokens.put_tokens(
                connection.org_id,
                connection.tenant_id,
                ciphertext,
                access_expires_at=rotated.expires_at,
                now=self._now(),
                expected_version=record.version,
            )
        except StaleTokenVersionError:
            # Only a reconnect writes without the lease; its grant supersedes the one we just rotated.
            connection = self._live_connection(connection.tenant_id)
            record, tokens = self._read(connection)
            return self._remember(connection.tenant_id, record, tokens)
        count("TokenRefreshes", outcome="ok")
        logger.info(
            "xero tokens refreshed",
            extra={"org_id": connection.org_id, "tenant_id": connection.tenant_id, "version": version},
        )
        stored = TokenRecord(
            org_id=connection.org_id,
            tenant_id=connection.tenant_id,
            ciphertext=ciphertext,
            version=version,
            access_expires_at=rotated.expires_at,
            updated_at=self._now(),
        )
        return self._remember(connection.tenant_id, stored, rotated)
