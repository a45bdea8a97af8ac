"""Use case C2: the AR platform disconnects an org from Xero.

At Xero: the Xero connection is deleted and the refresh token revoked (the grant is gone; Xero shows the app
disconnected). Here: the token set is erased, a running sync is stopped, and the connection is marked
``disconnected`` while its tenant is freed for another org, in one transaction. From then on the change
fetcher drops the tenant's webhooks and the catch-up skips it (both read the status); the synced records
stay, readable as from a disconnected source. Xero failing to answer does not stop the disconnect: what we
hold is erased whatever Xero says, and the answer says what Xero did.

Idempotent: disconnecting a disconnected org answers the same, and changes nothing.
"""

from __future__ import annotations

from xero_bridge.errors import NeedsReconnect, NotConnectedError, XeroError, XeroNotFound
from xero_bridge.models.connection import ConnectionStatus, DisconnectOutcome
from xero_bridge.observability import logger
from xero_bridge.services.ports import (
    Clock,
    ConnectionStore,
    RunStore,
    SyncMachine,
    TokenCipher,
    TokenProvider,
    TokenStore,
    XeroOAuthPort,
    utc_now,
)

__all__ = ["DISCONNECTED_REASON", "DisconnectOrg"]

DISCONNECTED_REASON = "disconnected by the AR platform: connect Xero again to resume"


class DisconnectOrg:
    """``DELETE /orgs/{org_id}/connection``.

    Parameters
    ----------
    connections : ConnectionStore
        The org's connection.
    tokens : TokenStore
        Its encrypted token set (read for the revocation, then erased).
    cipher : TokenCipher
        Decrypts it.
    vault : TokenProvider
        A valid access token for the ``DELETE /connections`` call (refreshed under the lease if needed).
    oauth : XeroOAuthPort
        Xero's identity service (connection deletion, revocation).
    runs : RunStore
        The org's latest sync run.
    machine : SyncMachine
        Stops a running sync execution.
    now : callable
        Aware-UTC clock.
    """

    def __init__(
        self,
        *,
        connections: ConnectionStore,
        tokens: TokenStore,
        cipher: TokenCipher,
        vault: TokenProvider,
        oauth: XeroOAuthPort,
        runs: RunStore,
        machine: SyncMachine,
        now: Clock = utc_now,
    ) -> None:
        self._connections = connections
        self._tokens = tokens
        self._cipher = cipher
        self._vault = vault
        self._oauth = oauth
        self._runs = runs
        self._machine = machine
        self._now = now

    def disconnect(self, org_id: str) -> DisconnectOutcome:
        """Disconnect the org: Xero's side first (best effort), then ours (always).

        Raises
        ------
        NotConnectedError
            The org has never connected Xero.
        """
        connection = self._connections.get_connection(org_id)
        if connection is None:
            raise NotConnectedError(f"org {org_id} has never connected a Xero organisation", org_id=org_id)
        if connection.status == ConnectionStatus.DISCONNECTED:
            return DisconnectOutcome(org_id=org_id, tenant_id=connection.tenant_id, already_disconnected=True)
        deleted = revoked = False
        if connection.status == ConnectionStatus.CONNECTED:
            deleted = self._delete_xero_connection(
                org_id, connection.tenant_id, connection.xero_connection_id
            )
        revoked = self._revoke(org_id)
        self._tokens.delete_tokens(org_id)
        self._connections.disconnect(
            org_id, connection.tenant_id, reason=DISCONNECTED_REASON, now=self._now()
        )
        stopped = self._stop_sync(org_id)
        logger.info(
            "xero disconnected",
            extra={
                "org_id": org_id,
                "tenant_id": connection.tenant_id,
                "xero_connection_deleted": deleted,
                "refresh_token_revoked": revoked,
                "sync_stopped": stopped,
            },
        )
        return DisconnectOutcome(
            org_id=org_id,
            tenant_id=connection.tenant_id,
            xero_connection_deleted=deleted,
            refresh_token_revoked=revoked,
            sync_stopped=stopped,
        )

    def _delete_xero_connection(self, org_id: str, tenant_id: str, connection_id: str | None) -> bool:
        if not connection_id:
            return False
        try:
            access_token = self._vault.access_token(tenant_id)
            self._oauth.delete_connection(access_token, connection_id)
        except XeroNotFound:
            return True  # already gone at Xero
        except (XeroError, NeedsReconnect) as exc:
            logger.warning(
                "could not delete the Xero connection; disconnecting here anyway",
                extra={"org_id": org_id, "error": type(exc).__name__},
            )
            return False
        return True

    def _revoke(self, org_id: str) -> bool:
        record = self._tokens.get_tokens(org_id)
        if record is None:
            return False
        tokens = self._cipher.decrypt(record.ciphertext, org_id=record.org_id, tenant_id=record.tenant_id)
        try:
            self._oauth.revoke(tokens.refresh_token.get_secret_value())
        except XeroError as exc:
            logger.warning(
                "could not revoke the refresh token at Xero; erasing it here anyway",
                extra={"org_id": org_id, "error": type(exc).__name__},
            )
            return False
        return True

    def _stop_sync(self, org_id: str) -> bool:
        run = self._runs.latest_run(org_id)
        if run is None or not run.status.active or not run.execution_arn:
            return False
        stopped = self._machine.stop(run.execution_arn, cause="the org disconnected Xero")
        self._runs.fail_run(org_id, run.run_id, "the org disconnected Xero", now=self._now())
        return stopped
