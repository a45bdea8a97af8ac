"""In-memory fakes of the connect and token-vault ports (no MagicMock: each behaves like the real thing)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from xero_bridge.errors import (
    ConnectionConflictError,
    InvalidSessionError,
    InvalidStateError,
    StaleTokenVersionError,
    XeroInvalidGrant,
)
from xero_bridge.models.connection import (
    ConnectionStatus,
    ConnectSession,
    OAuthState,
    StoredTokens,
    TokenRecord,
    XeroConnection,
)
from xero_bridge.models.oauth import AccessTokenClaims, IdTokenClaims, TokenSet
from xero_bridge.models.xero import Connection, User

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class EventLog(list[str]):
    """The order in which fakes were called, shared by several fakes (e.g. "save tokens before use")."""


class FakeTable:
    """States, connections, token sets and leases, with the real table's conditional semantics."""

    def __init__(self, log: EventLog | None = None) -> None:
        self.sessions: dict[str, ConnectSession] = {}
        self.bindings: dict[str, str] = {}  # tenant -> org
        self.states: dict[str, OAuthState] = {}
        self.connections: dict[str, XeroConnection] = {}
        self.tokens: dict[str, TokenRecord] = {}
        self.leases: dict[str, tuple[str, datetime]] = {}
        self.log = log if log is not None else EventLog()
        self._lock = threading.Lock()

    # connect sessions
    def put_session(self, session: ConnectSession) -> None:
        self.sessions[session.token_hash] = session

    def take_session(self, token_hash: str, *, now: datetime) -> ConnectSession:
        with self._lock:
            found = self.sessions.pop(token_hash, None)
        if found is None:
            raise InvalidSessionError("unknown")
        if now >= found.expires_at:
            raise InvalidSessionError("expired", org_id=found.org_id)
        return found

    # states
    def put_state(self, state: OAuthState) -> None:
        self.states[state.state] = state

    def take_state(self, state: str, *, now: datetime) -> OAuthState:
        with self._lock:
            found = self.states.pop(state, None)
        if found is None:
            raise InvalidStateError("unknown")
        if found.is_expired(now):
            raise InvalidStateError("expired", org_id=found.org_id)
        return found

    # connections
    def get_connection(self, org_id: str) -> XeroConnection | None:
        return self.connections.get(org_id)

    def list_connected(self) -> list[XeroConnection]:
        return [c for c in self.connections.values() if c.status == ConnectionStatus.CONNECTED]

    def find_by_tenant(self, tenant_id: str) -> list[XeroConnection]:
        return [c for c in self.connections.values() if c.tenant_id == tenant_id]

    def save_connection(
        self, connection: XeroConnection, *, ciphertext: bytes, access_expires_at: datetime, now: datetime
    ) -> int:
        with self._lock:
            old = self.connections.get(connection.org_id)
            if old and old.tenant_id != connection.tenant_id and old.status != ConnectionStatus.DISCONNECTED:
                raise ConnectionConflictError(connection.org_id, kind="different_organisation")
            if self.bindings.get(connection.tenant_id, connection.org_id) != connection.org_id:
                raise ConnectionConflictError(connection.org_id, kind="organisation_in_use")
            self.bindings[connection.tenant_id] = connection.org_id
            self.connections[connection.org_id] = connection
            version = self._write_tokens(
                connection.org_id, connection.tenant_id, ciphertext, access_expires_at, now
            )
        self.log.append("save_connection")
        return version

    def set_status(
        self,
        org_id: str,
        status: ConnectionStatus,
        reason: str | None,
        *,
        now: datetime,
        reason_code: str | None = None,
    ) -> None:
        old = self.connections.get(org_id)
        if old:
            self.connections[org_id] = old.model_copy(
                update={"status": status, "reason": reason, "reason_code": reason_code, "updated_at": now}
            )
        self.log.append(f"set_status:{status.value}")

    def disconnect(self, org_id: str, tenant_id: str, *, reason: str, now: datetime) -> None:
        with self._lock:
            old = self.connections[org_id]
            self.connections[org_id] = old.model_copy(
                update={
                    "status": ConnectionStatus.DISCONNECTED,
                    "reason": reason,
                    "reason_code": "disconnected",
                    "updated_at": now,
                }
            )
            if self.bindings.get(tenant_id) == org_id:
                del self.bindings[tenant_id]
        self.log.append("disconnect")

    def record_change(self, org_id: str, at: datetime) -> None:
        old = self.connections.get(org_id)
        if old and (old.last_change_at is None or old.last_change_at < at):
            self.connections[org_id] = old.model_copy(update={"last_change_at": at})

    # tokens
    def get_tokens(self, org_id: str) -> TokenRecord | None:
        return self.tokens.get(org_id)

    def put_tokens(
        self,
        org_id: str,
        tenant_id: str,
        ciphertext: bytes,
        *,
        access_expires_at: datetime,
        now: datetime,
        expected_version: int | None = None,
    ) -> int:
        with self._lock:
            current = self.tokens.get(org_id)
            if expected_version is not None and (current is None or current.version != expected_version):
                raise StaleTokenVersionError(org_id)
            version = self._write_tokens(org_id, tenant_id, ciphertext, access_expires_at, now)
        self.log.append(f"put_tokens:v{version}")
        return version

    def delete_tokens(self, org_id: str) -> None:
        self.tokens.pop(org_id, None)
        self.log.append("delete_tokens")

    def _write_tokens(
        self, org_id: str, tenant_id: str, ciphertext: bytes, access_expires_at: datetime, now: datetime
    ) -> int:
        current = self.tokens.get(org_id)
        version = (current.version if current else 0) + 1
        self.tokens[org_id] = TokenRecord(
            org_id=org_id,
            tenant_id=tenant_id,
            ciphertext=ciphertext,
            version=version,
            access_expires_at=access_expires_at,
            updated_at=now,
        )
        return version

    # lease
    def acquire(self, org_id: str, owner: str, *, now: datetime, seconds: float) -> bool:
        with self._lock:
            held = self.leases.get(org_id)
            if held and held[0] != owner and held[1] > now:
                return False
            self.leases[org_id] = (owner, now + timedelta(seconds=seconds))
            return True

    def extend(self, org_id: str, owner: str, *, now: datetime, seconds: float) -> bool:
        with self._lock:
            held = self.leases.get(org_id)
            if held is None or held[0] != owner:
                return False
            self.leases[org_id] = (owner, now + timedelta(seconds=seconds))
            return True

    def release(self, org_id: str, owner: str) -> None:
        with self._lock:
            if self.leases.get(org_id, ("", T0))[0] == owner:
                del self.leases[org_id]


class FakeCipher:
    """Reversible 'encryption' that checks the context like KMS does."""

    def encrypt(self, tokens: StoredTokens, *, org_id: str, tenant_id: str) -> bytes:
        return f"{org_id}|{tenant_id}|".encode() + tokens.to_plaintext()

    def decrypt(self, ciphertext: bytes, *, org_id: str, tenant_id: str) -> StoredTokens:
        prefix = f"{org_id}|{tenant_id}|".encode()
        if not ciphertext.startswith(prefix):
            raise ValueError("encryption context mismatch")
        return StoredTokens.from_plaintext(ciphertext[len(prefix) :])


def token_set(
    access: str, refresh: str, *, expires_at: datetime, scopes: Sequence[str] = ("offline_access",)
) -> TokenSet:
    return TokenSet(
        access_token=SecretStr(access),
        refresh_token=SecretStr(refresh),
        id_token=SecretStr(f"id-{access}"),
        expires_at=expires_at,
        scopes=tuple(scopes),
    )


@dataclass
class FakeOAuth:
    """Xero's identity service: codes, rotating refresh tokens, connections per auth event."""

    clock: FakeClock
    user_id: str | None = "user-admin"
    email: str | None = "admin@acme.example"
    auth_event_id: str | None = "auth-event-1"
    granted: list[Connection] = field(default_factory=list)  # what the consent authorised
    all_connections: list[Connection] = field(default_factory=list)  # every connection of the user
    valid_codes: set[str] = field(default_factory=lambda: {"good-code"})
    valid_refresh: set[str] = field(default_factory=set)
    log: EventLog = field(default_factory=EventLog)
    refresh_delay: float = 0.0
    deleted: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    connections_queries: list[str | None] = field(default_factory=list)
    _counter: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def refresh_calls(self) -> int:
        return sum(1 for entry in self.log if entry.startswith("refresh"))

    def authorization_url(self, *, state: str, code_challenge: str) -> str:
        return f"https://login.example/authorize?state={state}&code_challenge={code_challenge}"

    def _issue(self) -> TokenSet:
        with self._lock:
            self._counter += 1
            n = self._counter
        refresh = f"refresh-{n}"
        self.valid_refresh.add(refresh)
        return token_set(f"access-{n}", refresh, expires_at=self.clock() + timedelta(minutes=30))

    def exchange_code(self, *, code: str, code_verifier: str) -> TokenSet:
        if code not in self.valid_codes or not code_verifier:
            raise XeroInvalidGrant("invalid_grant", status_code=400)
        self.valid_codes.discard(code)
        return self._issue()

    def refresh(self, refresh_token: str) -> TokenSet:
        import time

        self.log.append(f"refresh:{refresh_token}")
        if self.refresh_delay:
            time.sleep(self.refresh_delay)
        with self._lock:
            if refresh_token not in self.valid_refresh:
                raise XeroInvalidGrant("invalid_grant", status_code=400)
            self.valid_refresh.discard(refresh_token)  # rotation: single use
        return self._issue()

    def revoke(self, refresh_token: str) -> None:
        self.revoked.append(refresh_token)
        self.valid_refresh.discard(refresh_token)

    def connections(self, access_token: str, *, auth_event_id: str | None = None) -> list[Connection]:
        self.connections_queries.append(auth_event_id)
        return list(self.granted) if auth_event_id else list(self.all_connections or self.granted)

    def delete_connection(self, access_token: str, connection_id: str) -> None:
        self.deleted.append(connection_id)

    def claims(self, access_token: str) -> AccessTokenClaims:
        return AccessTokenClaims(authentication_event_id=self.auth_event_id, xero_userid=self.user_id)

    def id_claims(self, id_token: str) -> IdTokenClaims:
        return IdTokenClaims(email=self.email, xero_userid=self.user_id)


class FakeUsers:
    def __init__(self, users: dict[str, list[User]] | None = None) -> None:
        self.by_tenant = users or {}
        self.calls: list[tuple[str, str]] = []

    def users(self, access_token: str, tenant_id: str) -> list[User]:
        self.calls.append((access_token, tenant_id))
        return self.by_tenant.get(tenant_id, [])


class FakeSync:
    """The initial-sync state machine: an execution name starts once (a second start is the same one)."""

    def __init__(self) -> None:
        self.started: dict[str, dict[str, object]] = {}
        self.stopped: list[str] = []

    def start(self, name: str, payload: Mapping[str, str]) -> str:
        self.started.setdefault(
            name,
            {
                "org_id": payload["org_id"],
                "tenant_id": payload["tenant_id"],
                "reconnect": payload["trigger"] == "reconnect",
            },
        )
        return f"arn:aws:states:eu-west-1:123456789012:execution:initial-sync:{name}"

    def is_running(self, execution_arn: str) -> bool:
        return execution_arn not in self.stopped

    def stop(self, execution_arn: str, *, cause: str) -> bool:
        self.stopped.append(execution_arn)
        return True


def xero_connection(tenant_id: str, name: str, *, connection_id: str | None = None) -> Connection:
    return Connection(
        id=connection_id or f"conn-{tenant_id}",
        tenant_id=tenant_id,
        tenant_type="ORGANISATION",
        tenant_name=name,
        auth_event_id="auth-event-1",
    )


def xero_user(user_id: str, role: str, *, subscriber: bool = False) -> User:
    return User.model_validate(
        {
            "UserID": user_id,
            "OrganisationRole": role,
            "EmailAddress": f"{user_id}@x.test",
            "IsSubscriber": subscriber,
        }
    )
