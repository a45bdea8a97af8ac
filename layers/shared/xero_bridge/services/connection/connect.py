"""Use case C1: a finance user connects their AR organisation to one Xero organisation (and C3's reconnect).

:class:`BeginConnect` sends the browser to Xero's consent screen with a fresh ``state`` (bound to the AR
org, single use, expiring) and a PKCE challenge. :class:`CompleteConnect` handles Xero's redirect back: it
burns the state, exchanges the code, finds the tenant(s) this very consent authorised (``authEventId``),
insists on exactly one tenant, on the same tenant for a reconnect, and on a Xero admin, then stores the
tokens encrypted, marks the connection ``connected`` and starts the initial sync.

Every refusal is a :class:`ConnectError` with a stable ``code`` and a ``reason`` a finance user can act
on; whatever Xero granted on the way to a refusal is undone (extra connections deleted, grant revoked).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from xero_bridge.domain.executions import execution_name
from xero_bridge.errors import (
    ConnectError,
    ConnectionConflictError,
    InvalidStateError,
    XeroError,
    XeroForbidden,
    XeroInvalidGrant,
)
from xero_bridge.models.connection import (
    ConnectionStatus,
    ConnectOutcome,
    OAuthState,
    StoredTokens,
    XeroConnection,
)
from xero_bridge.models.sync import SyncRequest, SyncTrigger
from xero_bridge.models.xero import Connection, User
from xero_bridge.observability import logger
from xero_bridge.services.ports import (
    Clock,
    ConnectionStore,
    StateStore,
    SyncMachine,
    TokenCipher,
    UsersLookup,
    XeroOAuthPort,
)

__all__ = ["ADMIN_ROLES", "BeginConnect", "CompleteConnect", "initial_sync_execution_name"]

# Xero's OrganisationRole enum has no ADMIN: its full-access role, which can manage users and connected
# apps, is FINANCIALADVISER (the "Adviser" of Xero's UI). The organisation's subscriber (its owner) is an
# admin whatever its role says, so IsSubscriber counts too.
ADMIN_ROLES = frozenset({"FINANCIALADVISER"})
ORGANISATION_TENANT = "ORGANISATION"


@dataclass(frozen=True)
class _Grant:
    """What the code exchange gave us, for the checks and the clean-up of a refusal."""

    org_id: str
    tokens: StoredTokens
    xero_user_id: str | None
    auth_event_id: str | None

    @property
    def access_token(self) -> str:
        return self.tokens.access_token.get_secret_value()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def initial_sync_execution_name(org_id: str, connect_id: str) -> str:
    """The initial sync of one connect: a callback retried after a timeout cannot start a second one."""
    return execution_name("initial-sync", org_id, connect_id, hashed=True)


class BeginConnect:
    """``/connect``: a single-use state for the AR org, and Xero's consent URL with a PKCE challenge.

    Parameters
    ----------
    states : StateStore
        Pending OAuth states.
    oauth : XeroOAuthPort
        Xero's identity service, built with the redirect URI of this API (no client secret needed).
    pkce : callable
        Returns a fresh ``(code_verifier, code_challenge)`` pair.
    state_ttl_seconds : int
        How long a ``/connect`` may wait for Xero's callback.
    now : callable
        Aware-UTC clock.
    """

    def __init__(
        self,
        *,
        states: StateStore,
        oauth: XeroOAuthPort,
        pkce: Callable[[], tuple[str, str]],
        state_ttl_seconds: int = 600,
        now: Clock = _utc_now,
    ) -> None:
        self._states = states
        self._oauth = oauth
        self._pkce = pkce
        self._state_ttl = timedelta(seconds=state_ttl_seconds)
        self._now = now

    def begin(self, org_id: str) -> str:
        """Create a single-use state for ``org_id`` and return Xero's consent URL to redirect to.

        Parameters
        ----------
        org_id : str
            The AR organisation being connected.

        Returns
        -------
        str
            The authorize URL (with ``state`` and the S256 ``code_challenge``).
        """
        verifier, challenge = self._pkce()
        now = self._now()
        state = OAuthState(
            state=secrets.token_urlsafe(32),
            org_id=org_id,
            code_verifier=SecretStr(verifier),
            created_at=now,
            expires_at=now + self._state_ttl,
        )
        self._states.put_state(state)
        logger.info("connect started", extra={"org_id": org_id, "state_expires_at": state.expires_at})
        return self._oauth.authorization_url(state=state.state, code_challenge=challenge)


class CompleteConnect:
    """``/callback``: finish a connect (or a reconnect) and start the initial sync.

    Parameters
    ----------
    states : StateStore
        Pending OAuth states.
    connections : ConnectionStore
        Connections with their encrypted token sets.
    cipher : TokenCipher
        Encrypts the token set before it is stored.
    oauth : XeroOAuthPort
        Xero's identity service, built with the redirect URI of this API.
    users : UsersLookup
        Xero's Users API, for the admin check.
    machine : SyncMachine
        The initial-sync state machine.
    now : callable
        Aware-UTC clock.
    """

    def __init__(
        self,
        *,
        states: StateStore,
        connections: ConnectionStore,
        cipher: TokenCipher,
        oauth: XeroOAuthPort,
        users: UsersLookup,
        machine: SyncMachine,
        now: Clock = _utc_now,
    ) -> None:
        self._states = states
        self._connections = connections
        self._cipher = cipher
        self._oauth = oauth
        self._users = users
        self._machine = machine
        self._now = now

    # --- /callback -----------------------------------------------------------------------------------------

    def complete(
        self,
        state: str | None,
        code: str | None,
        error: str | None,
        error_description: str | None = None,
    ) -> ConnectOutcome:
        """Finish a connect from Xero's redirect.

        Parameters
        ----------
        state, code, error, error_description : str or None
            The callback's query parameters as Xero sent them.

        Returns
        -------
        ConnectOutcome
            The org, the connected tenant, whether it was a reconnect, and the initial sync started.

        Raises
        ------
        ConnectError
            For every reason the connect cannot complete (see its ``code``).
        XeroError
            Xero failed in a way that is not the user's doing (after the client's retries).
        """
        pending = self._take_state(state)
        org_id = pending.org_id
        logger.append_keys(org_id=org_id)
        if error:
            raise self._xero_error(error, error_description, org_id)
        if not code:
            raise ConnectError(
                "missing_code", "Xero's answer has no authorisation code; connect again", org_id=org_id
            )
        try:
            token_set = self._oauth.exchange_code(
                code=code, code_verifier=pending.code_verifier.get_secret_value()
            )
        except XeroInvalidGrant as exc:
            raise ConnectError(
                "code_rejected",
                "Xero refused the authorisation code (expired or already used); connect again",
                org_id=org_id,
            ) from exc
        tokens = StoredTokens.from_token_set(token_set)
        claims = self._oauth.claims(tokens.access_token.get_secret_value())
        grant = _Grant(
            org_id=org_id,
            tokens=tokens,
            xero_user_id=claims.xero_userid,
            auth_event_id=claims.authentication_event_id,
        )
        chosen, previous = self._choose_tenant(grant)
        logger.append_keys(tenant_id=chosen.tenant_id)
        self._check_admin(grant, chosen)
        self._check_not_in_use(grant, chosen)
        return self._store_and_start(grant, chosen, previous, connect_id=grant.auth_event_id or pending.state)

    def _take_state(self, state: str | None) -> OAuthState:
        if not state:
            raise ConnectError("invalid_state", "the connect link is incomplete (no state); connect again")
        try:
            return self._states.take_state(state, now=self._now())
        except InvalidStateError as exc:
            if exc.reason == "expired":
                raise ConnectError(
                    "expired_state", "the connect link expired; connect again", org_id=exc.org_id
                ) from exc
            raise ConnectError(
                "invalid_state", "the connect link is unknown or was already used; connect again"
            ) from exc

    @staticmethod
    def _xero_error(error: str, description: str | None, org_id: str) -> ConnectError:
        if error == "access_denied":
            return ConnectError(
                "access_denied",
                "access to Xero was not granted (the consent screen was cancelled); "
                "connect again to allow it",
                org_id=org_id,
            )
        # Xero's own error code only: its description is free text from a query string we do not trust.
        return ConnectError(
            "xero_error", f"Xero refused the connection ({error}); connect again", org_id=org_id
        )

    def _choose_tenant(self, grant: _Grant) -> tuple[Connection, XeroConnection | None]:
        """The one Xero organisation this consent connects, and the org's previous connection if any."""
        authorised = [
            c
            for c in self._oauth.connections(grant.access_token, auth_event_id=grant.auth_event_id)
            if c.tenant_type.upper() == ORGANISATION_TENANT
        ]
        previous = self._connections.get_connection(grant.org_id)
        if not authorised:
            self._undo(grant, [], revoke=True)
            raise ConnectError(
                "no_organisation",
                "no Xero organisation was authorised; connect again and choose one organisation",
                org_id=grant.org_id,
            )
        if len(authorised) > 1:
            same = [c for c in authorised if previous and c.tenant_id == previous.tenant_id]
            if not same:
                self._undo(grant, authorised, revoke=True)
                raise ConnectError(
                    "several_organisations",
                    f"{len(authorised)} Xero organisations were authorised: "
                    "choose exactly one Xero organisation when you connect",
                    org_id=grant.org_id,
                )
            # A reconnect that also ticked other organisations: keep the one this org already had.
            self._undo(grant, [c for c in authorised if c is not same[0]], revoke=False)
            authorised = same
        chosen = authorised[0]
        live = previous is not None and previous.status != ConnectionStatus.DISCONNECTED
        if previous is not None and live and previous.tenant_id != chosen.tenant_id:
            self._undo(grant, [chosen], revoke=False)
            raise ConnectError(
                "different_organisation",
                "this account is connected to the Xero organisation "
                f"{previous.tenant_name or previous.tenant_id}; reconnect that organisation, "
                f"not {chosen.tenant_name or chosen.tenant_id}",
                org_id=grant.org_id,
            )
        return chosen, previous

    def _check_admin(self, grant: _Grant, chosen: Connection) -> None:
        """Only an admin of the Xero organisation may connect it (C1)."""
        not_admin = (
            "only a Xero admin can connect Xero: "
            f"ask an admin of {chosen.tenant_name or 'the Xero organisation'} to connect"
        )
        try:
            users: Sequence[User] = self._users.users(grant.access_token, chosen.tenant_id)
        except XeroForbidden as exc:
            self._undo(grant, [chosen], revoke=True)
            raise ConnectError(
                "admin_check_failed",
                "Xero did not let us check that you are an admin of the organisation; connect again",
                org_id=grant.org_id,
            ) from exc
        user = next((u for u in users if u.user_id == grant.xero_user_id), None)
        role = user.organisation_role if user else None
        is_admin = user is not None and ((role or "").upper() in ADMIN_ROLES or bool(user.is_subscriber))
        if grant.xero_user_id is None or not is_admin:
            logger.info("connect refused: not an admin", extra={"role": role or "unknown"})
            self._undo(grant, [chosen], revoke=True)
            raise ConnectError("not_admin", not_admin, org_id=grant.org_id)

    def _check_not_in_use(self, grant: _Grant, chosen: Connection) -> None:
        """One Xero organisation feeds one AR org: webhooks and records are routed by tenant id."""
        others = [
            c
            for c in self._connections.find_by_tenant(chosen.tenant_id)
            if c.org_id != grant.org_id and c.status != ConnectionStatus.DISCONNECTED
        ]
        if others:
            # Xero's connection (and grant) may be the one the other AR org uses: leave Xero untouched.
            raise ConnectError(
                "organisation_in_use",
                f"the Xero organisation {chosen.tenant_name or chosen.tenant_id} is already connected to "
                "another account; disconnect it there first",
                org_id=grant.org_id,
            )

    def _store_and_start(
        self, grant: _Grant, chosen: Connection, previous: XeroConnection | None, *, connect_id: str
    ) -> ConnectOutcome:
        now = self._now()
        reconnect = previous is not None and previous.tenant_id == chosen.tenant_id
        connection = XeroConnection(
            org_id=grant.org_id,
            tenant_id=chosen.tenant_id,
            tenant_name=chosen.tenant_name,
            status=ConnectionStatus.CONNECTED,
            xero_connection_id=chosen.id,
            connected_by_user_id=grant.xero_user_id,
            auth_event_id=grant.auth_event_id,
            scopes=grant.tokens.scopes,
            first_connected_at=previous.first_connected_at if previous and reconnect else now,
            connected_at=now,
            updated_at=now,
        )
        ciphertext = self._cipher.encrypt(grant.tokens, org_id=grant.org_id, tenant_id=chosen.tenant_id)
        try:
            self._connections.save_connection(
                connection, ciphertext=ciphertext, access_expires_at=grant.tokens.expires_at, now=now
            )
        except ConnectionConflictError as exc:
            # Another callback for this org connected a different tenant between our read and write.
            self._undo(grant, [chosen], revoke=False)
            raise ConnectError(
                "different_organisation",
                "this account was just connected to another Xero organisation; reconnect that one",
                org_id=grant.org_id,
            ) from exc
        logger.info("xero connected", extra={"reconnect": reconnect, "tenant_name": chosen.tenant_name})
        # A reconnect of the same tenant resumes from the stored cursors instead of a full import.
        request = SyncRequest(
            org_id=grant.org_id,
            tenant_id=chosen.tenant_id,
            trigger=SyncTrigger.RECONNECT if reconnect else SyncTrigger.CONNECT,
        )
        execution_arn = self._machine.start(
            initial_sync_execution_name(grant.org_id, connect_id), request.as_input()
        )
        return ConnectOutcome(
            org_id=grant.org_id,
            tenant_id=chosen.tenant_id,
            tenant_name=chosen.tenant_name,
            reconnected=reconnect,
            sync_execution_arn=execution_arn,
        )

    def _undo(self, grant: _Grant, connections: Sequence[Connection], *, revoke: bool) -> None:
        """Best-effort clean-up of what Xero granted to a refused connect; never hides the refusal."""
        for connection in connections:
            try:
                self._oauth.delete_connection(grant.access_token, connection.id)
            except XeroError as exc:
                logger.warning(
                    "could not delete a refused Xero connection",
                    extra={"connection_id": connection.id, "error": type(exc).__name__},
                )
        if revoke:
            try:
                self._oauth.revoke(grant.tokens.refresh_token.get_secret_value())
            except XeroError as exc:
                logger.warning("could not revoke a refused grant", extra={"error": type(exc).__name__})
