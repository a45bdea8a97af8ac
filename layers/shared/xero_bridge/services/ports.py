"""Ports: what the use cases need from the outside world, one per adapter.

Services depend on these protocols only; adapters (``xero_bridge.adapters``) satisfy them structurally, and
unit tests pass in-memory fakes (type-checked against these by mypy). ``wiring.py`` is the one place where
a port meets its adapter:

===============  ==================================================  =======================
port             adapter                                             used by
===============  ==================================================  =======================
XeroOAuthPort    adapters.xero.oauth.XeroOAuthClient                 connect, token vault
UsersLookup      adapters.xero.users.XeroUsersLookup                 connect (admin check)
XeroReaders      adapters.xero.metered.MeteredXeroFactory            sync
TokenProvider    services.token_vault.TokenVault (a service)         the Xero client adapter
StateStore       adapters.aws.connections_table.OAuthStatesTable     connect
ConnectionStore  adapters.aws.connections_table.ConnectionsTable     connect, vault, sync
TokenStore       adapters.aws.connections_table.TokensTable          token vault
RefreshLease     adapters.aws.connections_table.RefreshLeaseTable    token vault
TokenCipher      adapters.aws.token_cipher.KmsTokenCipher            connect, token vault
SyncMachine      adapters.aws.sync_machine.StepFunctionsSyncMachine  connect, sync
RunStore         adapters.aws.sync_runs.SyncRunsTable                sync, writer
WritesQueue      adapters.aws.writes_queue.SqsWritesQueue            record publishing, sync
RecordsStore     adapters.aws.records_table.RecordsTable             writer
RateLimiter      adapters.aws.rate_limiter.DynamoDBRateLimiter       sync progress
===============  ==================================================  =======================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from xero_bridge.models.connection import (
    ConnectionStatus,
    OAuthState,
    StoredTokens,
    TokenRecord,
    XeroConnection,
)
from xero_bridge.models.oauth import AccessTokenClaims, TokenSet
from xero_bridge.models.pages import Page, RateStatus
from xero_bridge.models.records import RecordSource, SkippedRecord, SyncedRecord, WriteOutcome
from xero_bridge.models.sync import PageCheckpoint, Part, PartitionPlan, RunCounters, SyncRun, SyncStatus
from xero_bridge.models.xero import Connection, Organisation, User, XeroModel

__all__ = [
    "Clock",
    "ConnectionStore",
    "RateLimiter",
    "RecordsStore",
    "RefreshLease",
    "RunStore",
    "StateStore",
    "SyncMachine",
    "TimeLeft",
    "TokenCipher",
    "TokenProvider",
    "TokenStore",
    "UsersLookup",
    "WritesQueue",
    "XeroOAuthPort",
    "XeroReader",
    "XeroReaders",
]


class Clock(Protocol):
    """Aware-UTC wall clock."""

    def __call__(self) -> datetime: ...


TimeLeft = Callable[[], float]
"""Real seconds the caller (a Lambda) has left; bounds a rate-limiter wait."""


# --- Xero ------------------------------------------------------------------------------------------------


class XeroOAuthPort(Protocol):
    """Xero's identity service: consent URL, code exchange, refresh, revocation, connections."""

    def authorization_url(self, *, state: str, code_challenge: str) -> str: ...
    def exchange_code(self, *, code: str, code_verifier: str) -> TokenSet: ...
    def refresh(self, refresh_token: str) -> TokenSet:
        """The rotated token set; ``XeroInvalidGrant`` when the refresh token is dead."""
        ...

    def revoke(self, refresh_token: str) -> None: ...
    def connections(self, access_token: str, *, auth_event_id: str | None = None) -> list[Connection]: ...
    def delete_connection(self, access_token: str, connection_id: str) -> None: ...
    def claims(self, access_token: str) -> AccessTokenClaims: ...


class UsersLookup(Protocol):
    """``GET /api.xro/2.0/Users`` for one tenant with a given access token."""

    def users(self, access_token: str, tenant_id: str) -> Sequence[User]: ...


class TokenProvider(Protocol):
    """Gives the current access token of a tenant (the token vault, serialising refreshes)."""

    def access_token(self, tenant_id: str, *, force_refresh: bool = False) -> str:
        """The access token; ``force_refresh`` after Xero answered 401 to the one given before."""
        ...


class XeroReader(Protocol):
    """The Xero calls a sync makes for one tenant, metered (every HTTP attempt and every 429 counted)."""

    @property
    def calls(self) -> int: ...
    @property
    def rate_limited(self) -> int: ...

    def list_page(
        self,
        resource: str,
        *,
        page: int | None = None,
        page_size: int | None = None,
        if_modified_since: datetime | None = None,
        where: str | None = None,
        statuses: Sequence[str] | None = None,
        include_archived: bool = False,
        summary_only: bool = False,
        order: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> Page[XeroModel]:
        """One page: records validated one by one, bad ones beside them, Xero's pagination."""
        ...

    def organisation(self) -> Organisation: ...


class XeroReaders(Protocol):
    """``xero(tenant_id, time_left=...)``: a metered reader for one tenant; ``time_left`` bounds each
    rate-limiter wait (a wait the caller could not finish raises ``RateLimitWaitExceeded``)."""

    def __call__(self, tenant_id: str, *, time_left: TimeLeft | None = None) -> XeroReader: ...


# --- Connections and tokens ------------------------------------------------------------------------------


class StateStore(Protocol):
    """Pending OAuth states."""

    def put_state(self, state: OAuthState) -> None: ...

    def take_state(self, state: str, *, now: datetime) -> OAuthState:
        """Remove and return the state; ``InvalidStateError`` if unknown, already taken or expired."""
        ...


class ConnectionStore(Protocol):
    """AR orgs' Xero connections, and the tenant → org route."""

    def get_connection(self, org_id: str) -> XeroConnection | None: ...
    def find_by_tenant(self, tenant_id: str) -> list[XeroConnection]: ...

    def save_connection(
        self, connection: XeroConnection, *, ciphertext: bytes, access_expires_at: datetime, now: datetime
    ) -> int:
        """Store the connection and its new grant's encrypted token set atomically; return the token version.

        Refused with ``ConnectionConflictError`` when the org holds another, not disconnected, tenant.
        """
        ...

    def set_status(
        self, org_id: str, status: ConnectionStatus, reason: str | None, *, now: datetime
    ) -> None: ...


class TokenStore(Protocol):
    """Encrypted token sets, versioned."""

    def get_tokens(self, org_id: str) -> TokenRecord | None:
        """Strongly consistent read of the encrypted token set."""
        ...

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
        """Store a token set and return its new version.

        ``expected_version=None`` replaces whatever is there (a new grant); otherwise the write only
        happens if the stored version is still ``expected_version`` (``StaleTokenVersionError``).
        """
        ...


class RefreshLease(Protocol):
    """The per-connection refresh lease, shared by every Lambda."""

    def acquire(self, org_id: str, owner: str, *, now: datetime, seconds: float) -> bool: ...
    def release(self, org_id: str, owner: str) -> None: ...


class TokenCipher(Protocol):
    """Encryption of token sets, bound to their connection."""

    def encrypt(self, tokens: StoredTokens, *, org_id: str, tenant_id: str) -> bytes: ...
    def decrypt(self, ciphertext: bytes, *, org_id: str, tenant_id: str) -> StoredTokens: ...


# --- The sync ---------------------------------------------------------------------------------------------


class SyncMachine(Protocol):
    """The initial-sync state machine."""

    def start(self, name: str, payload: Mapping[str, str]) -> str:
        """Start an execution named ``name`` (the existing one's ARN if that name was started already)."""
        ...

    def is_running(self, execution_arn: str) -> bool: ...


class RunStore(Protocol):
    """Sync runs, their parts, page checkpoints, counters and cursors."""

    def create_run(self, run: SyncRun) -> bool: ...
    def get_run(self, org_id: str, run_id: str) -> SyncRun | None: ...
    def get_run_and_counters(self, org_id: str, run_id: str) -> tuple[SyncRun, RunCounters] | None: ...
    def latest_run(self, org_id: str) -> SyncRun | None: ...
    def restart_run(self, org_id: str, run_id: str, *, attempt: int, trigger: str) -> bool: ...
    def set_execution(self, org_id: str, run_id: str, execution_arn: str) -> None: ...
    def save_partition_plan(self, org_id: str, run_id: str, plan: PartitionPlan) -> None: ...
    def set_snapshot(self, org_id: str, run_id: str, at: datetime) -> datetime:
        """Set the run's snapshot unless it has one; the snapshot the run keeps (the first one set)."""
        ...

    def mark_part_planned(
        self,
        org_id: str,
        run_id: str,
        part: Part,
        *,
        now: datetime,
        base_currency: str | None = None,
        timezone: str | None = None,
    ) -> None: ...
    def add_part_pass(self, org_id: str, run_id: str, part: Part) -> int:
        """Count one more planner pass that handed out pages of ``part``; the count."""
        ...

    def mark_part_fetched(self, org_id: str, run_id: str, part: Part, *, now: datetime) -> None: ...
    def mark_part_ready(self, org_id: str, run_id: str, part: Part, *, now: datetime) -> bool:
        """Set the part's ``ready_at`` once; False when it was set already."""
        ...

    def set_status(
        self,
        org_id: str,
        run_id: str,
        status: SyncStatus,
        *,
        finished_at: datetime | None = None,
        paused_until: datetime | None = None,
    ) -> None: ...
    def fail_run(self, org_id: str, run_id: str, reason: str, *, now: datetime) -> bool: ...
    def add_usage(self, org_id: str, run_id: str, *, calls: int, rate_limited: int) -> None: ...
    def add_finish_check(self, org_id: str, run_id: str) -> int: ...
    def page_checkpoint(
        self, run_id: str, partition: str, page: int, repair_of: int | None = None
    ) -> PageCheckpoint | None: ...
    def checkpoints(self, run_id: str) -> Sequence[PageCheckpoint]: ...
    def checkpoint_page(
        self,
        org_id: str,
        run_id: str,
        partition: str,
        page: int,
        *,
        records: int,
        skipped: int,
        malformed: int,
        is_last: bool,
        now: datetime,
        item_count: int | None = None,
        repair_of: int | None = None,
    ) -> bool:
        """Mark the page read and count it on the run, atomically and once; False if it was read already."""
        ...

    def set_cursors(self, org_id: str, run_id: str, resources: Sequence[str], cursor: datetime) -> None: ...
    def get_cursors(self, org_id: str) -> dict[str, datetime]: ...
    def records_written(self, org_id: str, run_id: str, partition: str, count: int) -> bool:
        """The writer stored ``count`` versions of the run's records of ``partition``."""
        ...

    def records_unchanged(self, org_id: str, run_id: str, partition: str, count: int) -> bool:
        """The writer already held ``count`` of them (same or newer version)."""
        ...


class WritesQueue(Protocol):
    """The writer's queue."""

    def send_records(
        self,
        records: Sequence[SyncedRecord],
        *,
        org_id: str,
        tenant_id: str,
        source: RecordSource,
        run_id: str | None = None,
        skipped: Sequence[SkippedRecord] = (),
    ) -> None:
        """Send records (and skipped ones) to the writer; ``WritesQueueError`` if SQS keeps refusing."""
        ...

    def is_empty(self) -> bool:
        """No message visible, in flight or delayed (approximate, as SQS reports it)."""
        ...


class RecordsStore(Protocol):
    """Synced records under the "never overwrite newer" rule."""

    def upsert_many(
        self, tenant_id: str, org_id: str, records: Sequence[SyncedRecord]
    ) -> list[WriteOutcome]: ...

    def record_skipped(
        self, tenant_id: str, org_id: str, skipped: SkippedRecord, source: RecordSource
    ) -> None: ...


class RateLimiter(Protocol):
    """The shared per-tenant rate limiter, as services read it."""

    def status(self, tenant_id: str) -> RateStatus:
        """Xero's last quota headers for the tenant and our own count of its calls."""
        ...
