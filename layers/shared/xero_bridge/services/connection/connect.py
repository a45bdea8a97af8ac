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

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from pydantic import SecretStr

from xero_bridge.domain.executions import execution_name
from xero_bridge.errors import (
    ConnectError,
    ConnectionConflictError,
    InvalidSessionError,
    InvalidStateError,
    XeroError,
    XeroForbidden,
    XeroInvalidGrant,
)
from xero_bridge.models.connection import (
    ConnectionStatus,
    ConnectLink,
    ConnectOutcome,
    ConnectSession,
    OAuthState,
    StoredTokens,
    XeroConnection,
)
from xero_bridge.models.sync import SyncRequest, SyncStatus, SyncTrigger
from xero_bridge.models.webhooks import CatchUpRequest
from xero_bridge.models.xero import Connection, User
from xero_bridge.observability import logger
from xero_bridge.services.ports import (
    CatchUpRequests,
    Clock,
    ConnectionStore,
    ConnectSessionStore,
    RunStore,
    StateStore,
    SyncMachine,
    TokenCipher,
    UsersLookup,
    XeroOAuthPort,
    utc_now,
)

__all__ = [
    "ADMIN_ROLES",
    "CONNECT_SESSION_TTL",
    "BeginConnect",
    "BrowserConnect",
    "CompleteConnect",
    "StartConnect",
    "initial_sync_execution_name",
]

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
    email: str | None = None

    @property
    def access_token(self) -> str:
        return self.tokens.access_token.get_secret_value()


def initial_sync_execution_name(org_id: str, connect_id: str) -> str:
    """The initial sync of one connect: a callback retried after a timeout cannot start a second one."""
    return execution_name("initial-sync", org_id, connect_id, hashed=True)


CONNECT_SESSION_TTL = timedelta(minutes=10)
"""How long a connect link stays valid (single use)."""


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class StartConnect:
    """``POST /orgs/{org_id}/connect``: only the AR platform's backend (signed) starts a connect.

    It gets a single-use link, valid 10 minutes, optionally naming the AR user who will consent: Xero's id
    token must then carry that email. Only a hash of the link's token is stored.

    Parameters
    ----------
    sessions : ConnectSessionStore
        Connect links asked for.
    now : callable
        Aware-UTC clock.
    """

    def __init__(self, *, sessions: ConnectSessionStore, now: Clock = utc_now) -> None:
        self._sessions = sessions
        self._now = now

    def start(self, org_id: str, *, user_email: str | None, connect_endpoint: str) -> ConnectLink:
        """A new connect link for ``org_id`` (``connect_endpoint`` is this API's ``/connect`` URL)."""
        token = secrets.token_urlsafe(32)
        now = self._now()
        session = ConnectSession(
            token_hash=_sha256(token),
            org_id=org_id,
            user_email=user_email.strip().lower() if user_email else None,
            created_at=now,
            expires_at=now + CONNECT_SESSION_TTL,
        )
        self._sessions.put_session(session)
        logger.info(
            "connect link issued",
            extra={"org_id": org_id, "for_user": bool(user_email), "expires_at": session.expires_at},
        )
        return ConnectLink(connect_url=f"{connect_endpoint}?session={token}", expires_at=session.expires_at)


@dataclass(frozen=True)
class BrowserConnect:
    """Where ``/connect`` sends the browser, and the value of the cookie that binds the flow to it."""

    authorize_url: str
    browser_key: str
    org_id: str


class BeginConnect:
    """``/connect?session=…``: the link is used up, the OAuth state bound to this browser, off to Xero.

    Parameters
    ----------
    sessions : ConnectSessionStore
        Connect links asked for (single use).
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
        sessions: ConnectSessionStore,
        states: StateStore,
        oauth: XeroOAuthPort,
        pkce: Callable[[], tuple[str, str]],
        state_ttl_seconds: int = 600,
        now: Clock = utc_now,
    ) -> None:
        self._sessions = sessions
        self._states = states
        self._oauth = oauth
        self._pkce = pkce
        self._state_ttl = timedelta(seconds=state_ttl_seconds)
        self._now = now

    def begin(self, session_token: str) -> BrowserConnect:
        """Use up the connect link; a state bound to its org, its user and this browser; Xero's consent URL.

        Raises
        ------
        ConnectError
            ``invalid_session`` (unknown or already used) or ``expired_session``.
        """
        now = self._now()
        try:
            session = self._sessions.take_session(_sha256(session_token), now=now)
        except InvalidSessionError as exc:
            if exc.reason == "expired":
                raise ConnectError(
                    "expired_session", "the connect link expired; start the connect again from the AR app"
                ) from exc
            raise ConnectError(
                "invalid_session",
                "the connect link is unknown or was already used; start the connect again from the AR app",
            ) from exc
        verifier, challenge = self._pkce()
        browser_key = secrets.token_urlsafe(32)
        state = OAuthState(
            state=secrets.token_urlsafe(32),
            org_id=session.org_id,
            code_verifier=SecretStr(verifier),
            browser_hash=_sha256(browser_key),
            user_email=session.user_email,
            created_at=now,
            expires_at=now + self._state_ttl,
        )
        self._states.put_state(state)
        logger.info("connect started", extra={"org_id": session.org_id, "state_expires_at": state.expires_at})
        return BrowserConnect(
            authorize_url=self._oauth.authorization_url(state=state.state, code_challenge=challenge),
            browser_key=browser_key,
            org_id=session.org_id,
        )


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
        The initial-sync state machine (a first connect, or a reconnect of a sync that never finished).
    runs : RunStore
        The org's sync runs and cursors (a reconnect of a synced tenant resumes from its cursors).
    catch_ups : CatchUpRequests
        Where that reconnect asks its catch-up.
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
        runs: RunStore,
        catch_ups: CatchUpRequests,
        now: Clock = utc_now,
    ) -> None:
        self._states = states
        self._connections = connections
        self._cipher = cipher
        self._oauth = oauth
        self._users = users
        self._machine = machine
        self._runs = runs
        self._catch_ups = catch_ups
        self._now = now

    # --- /callback -----------------------------------------------------------------------------------------

    def complete(
        self,
        state: str | None,
        code: str | None,
        error: str | None,
        error_description: str | None = None,
        *,
        browser_key: str | None = None,
    ) -> ConnectOutcome:
        """Finish a connect from Xero's redirect.

        Parameters
        ----------
        state, code, error, error_description : str or None
            The callback's query parameters as Xero sent them.
        browser_key : str or None
            The cookie ``/connect`` set in the browser that started this connect.

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
        if not browser_key or not hmac.compare_digest(_sha256(browser_key), pending.browser_hash):
            # Not the browser the link was opened in: a state copied elsewhere cannot complete the connect.
            raise ConnectError(
                "wrong_browser",
                "this connect was started in another browser; start it again from the AR app in this one",
                org_id=org_id,
            )
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
        identity = (
            self._oauth.id_claims(token_set.id_token.get_secret_value()) if token_set.id_token else None
        )
        grant = _Grant(
            org_id=org_id,
            tokens=tokens,
            xero_user_id=claims.xero_userid or (identity.xero_userid if identity else None),
            auth_event_id=claims.authentication_event_id,
            email=(identity.email or "").strip().lower() or None if identity else None,
        )
        if pending.user_email and grant.email != pending.user_email:
            self._undo(grant, [], revoke=True)
            raise ConnectError(
                "different_user",
                "the Xero user who consented is not the AR user this connect link was made for; "
                "sign in to Xero as that user and connect again",
                org_id=org_id,
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
        # Nothing of the request is echoed: its error and description are free text anyone can send.
        return ConnectError("xero_error", "Xero refused the connection; connect again", org_id=org_id)

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
                "this account is connected to another Xero organisation; reconnect that one, or disconnect "
                "it first to connect a different one",
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
        # Xero's token names the user by ``xero_userid``, its Users API by ``UserID``: the same user, but on
        # real Xero these may be different ids, so the id token's email (verified by Xero) decides too.
        user = next(
            (u for u in users if grant.xero_user_id and u.user_id == grant.xero_user_id), None
        ) or next(
            (u for u in users if grant.email and (u.email_address or "").strip().lower() == grant.email),
            None,
        )
        role = user.organisation_role if user else None
        is_admin = user is not None and ((role or "").upper() in ADMIN_ROLES or bool(user.is_subscriber))
        if not is_admin:
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
                "this Xero organisation is already connected to another account; disconnect it there first",
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
            # Another callback won a race between our checks and this write: for this org with another
            # tenant, or for this tenant with another org. Xero's grant may be the other one's: leave it.
            self._undo(grant, [], revoke=False)
            if exc.kind == "organisation_in_use":
                raise ConnectError(
                    "organisation_in_use",
                    "this Xero organisation is already connected to another account; "
                    "disconnect it there first",
                    org_id=grant.org_id,
                ) from exc
            raise ConnectError(
                "different_organisation",
                "this account was just connected to another Xero organisation; reconnect that one",
                org_id=grant.org_id,
            ) from exc
        logger.info("xero connected", extra={"reconnect": reconnect, "tenant_name": chosen.tenant_name})
        execution_arn: str | None = None
        caught_up = False
        latest = self._runs.latest_run(grant.org_id) if reconnect else None
        if reconnect and latest is not None and latest.status == SyncStatus.FINISHED:
            # The same tenant again, synced before: what changed meanwhile comes with the catch-up from the
            # stored cursors. No page of the initial sync is fetched again.
            self._catch_ups.request(
                CatchUpRequest(org_id=grant.org_id, tenant_id=chosen.tenant_id, reason="reconnect")
            )
            caught_up = True
        else:
            # A first connect; or a reconnect whose sync never finished, which the machine takes up again.
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
            catch_up_requested=caught_up,
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
