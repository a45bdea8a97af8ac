"""Ports: what the use cases need from the outside world, one per adapter.

Services depend on these protocols only; adapters (``xero_bridge.adapters``) satisfy them structurally, and
unit tests pass in-memory fakes (type-checked against these by mypy). ``wiring.py`` is the one place where
a port meets its adapter:

===================  ==================================================  ============================"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

# Only annotations use these: a function importing the ports does not import every flow's models.
if TYPE_CHECKING:
    from pydantic import SecretStr

    from xero_bridge.errors import NeedsReconnect
    from xero_bridge.models.balances import CustomerBalance
    from xero_bridge.models.connection import (
        ConnectionStatus,
        ConnectSession,
        OAuthState,
        ReconnectReason,
        StoredTokens,
        TokenRecord,
        XeroConnection,
    )
    from xero_bridge.models.listings import Position, RecordQuery, RecordsPage
    from xero_bridge.models.oauth import AccessTokenClaims, IdTokenClaims, TokenSet
    from xero_bridge.models.pages import Page, RateStatus
    from xero_bridge.models.payments import ExportSettings, PaymentRecord, PaymentStatus
    from xero_bridge.models.records import (
        BankAccount,
        Invoice,
        RecordSource,
        RecordType,
        SkippedRecord,
        StoredRecord,
        SyncedRecord,
        WriteOutcome,
    )
    from xero_bridge.models.records import (
        Organisation as SyncedOrganisation,
    )
    from xero_bridge.models.sync import PageCheckpoint, Part, PartitionPlan, RunCounters, SyncRun, SyncStatus
    from xero_bridge.models.webhooks import (
        CatchUpOutcome,
        CatchUpPace,
        CatchUpRequest,
        SequenceCheck,
        WebhookHealth,
    )
    from xero_bridge.models.xero import (
        Connection,
        Organisation,
        PaymentCreate,
        PaymentResult,
        User,
        XeroModel,
    )
    from xero_bridge.models.xero import Invoice as XeroInvoice

__all__ = [
    "BalanceStore",
    "CatchUpRequests",
    "CatchUpStates",
    "Clock",
    "ConnectSessionStore",
    "ConnectionLookup",
    "ConnectionStore",
    "DeadLetters",
    "ExportQueue",
    "ExportSettingsStore",
    "PaymentLedger",
    "RateLimiter",
    "RecordHistory",
    "RecordsStore",
    "RefreshLease",
    "RunStore",
    "SigningKeySource",
    "StaleLog",
    "StateStore",
    "SyncMachine",
    "SyncedRecords",
    "TimeLeft",
    "TokenCipher",
    "TokenProvider",
    "TokenStore",
    "UsersLookup",
    "WebhookQueue",
    "WebhookSequences",
    "WritesQueue",
    "XeroOAuthPort",
    "XeroPayments",
    "XeroPaymentsClient",
    "XeroReader",
    "XeroReaders",
    "utc_now",
]


class Clock(Protocol):
    """Aware-UTC wall clock."""

    def __call__(self) -> datetime: ...


def utc_now() -> datetime:
    """The wall clock: the ``clock`` every service is given unless told otherwise."""
    return datetime.now(UTC)


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
    def id_claims(self, id_token: str) -> IdTokenClaims: ...


class UsersLookup(Protocol):
    """``GET /api.xro/2.0/Users`` for one tenant with a given access token."""

    def users(self, access_token: str, tenant_id: str) -> Sequence[User]: ...


class TokenProvider(Protocol):
    """Gives the current access token of a tenant (the token vault, serialising refreshes)."""

    def access_token(self, tenant_id: str, *, force_refresh: bool = False) -> str:
        """The access token; ``force_refresh`` after Xero answered 401 to the one given before."""
        ...

    def refused(self, tenant_id: str, reason: ReconnectReason) -> NeedsReconnect | None:
        """Xero refused the tenant's access even after a refresh (a 401 or 403 that survived it): mark the
        connection ``needs_reconnect`` with ``reason`` and return the error to raise (None: not ours to mark).
        """
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

    def fetch_by_ids(self, resource: str, ids: Sequence[str]) -> Page[XeroModel]:
        """The records of ``ids`` (``IDs=`` in requests of 50, or ``where`` on the id); unknown ids absent."""
        ...

    def organisation(self) -> Organisation: ...


class XeroReaders(Protocol):
    """``xero(tenant_id, time_left=...)``: a metered reader for one tenant; ``time_left`` bounds each
    rate-limiter wait (a wait the caller could not finish raises ``RateLimitWaitExceeded``)."""

    def __call__(self, tenant_id: str, *, time_left: TimeLeft | None = None) -> XeroReader: ...


# --- Connections and tokens ------------------------------------------------------------------------------


class ConnectSessionStore(Protocol):
    """Connect links the AR platform asked for (by the hash of their token)."""

    def put_session(self, session: ConnectSession) -> None: ...

    def take_session(self, token_hash: str, *, now: datetime) -> ConnectSession:
        """Remove and return the session; ``InvalidSessionError`` if unknown, already used or expired."""
        ...


class StateStore(Protocol):
    """Pending OAuth states."""

    def put_state(self, state: OAuthState) -> None: ...

    def take_state(self, state: str, *, now: datetime) -> OAuthState:
        """Remove and return the state; ``InvalidStateError`` if unknown, already taken or expired."""
        ...


class ConnectionLookup(Protocol):
    """One AR org's connection, read only (the flows that need no more: the export's API)."""

    def get_connection(self, org_id: str) -> XeroConnection | None: ...


class ConnectionStore(ConnectionLookup, Protocol):
    """AR orgs' Xero connections, and the tenant → org route."""

    def find_by_tenant(self, tenant_id: str) -> list[XeroConnection]: ...
    def list_connected(self) -> list[XeroConnection]:
        """Every connection whose status is ``connected`` (the catch-up's fan-out)."""
        ...

    def save_connection(
        self, connection: XeroConnection, *, ciphertext: bytes, access_expires_at: datetime, now: datetime
    ) -> int:
        """Store the connection and its new grant's encrypted token set atomically; return the token version.

        Refused with ``ConnectionConflictError`` when the org holds another, not disconnected, tenant.
        """
        ...

    def set_status(
        self,
        org_id: str,
        status: ConnectionStatus,
        reason: str | None,
        *,
        now: datetime,
        reason_code: str | None = None,
    ) -> None: ...

    def disconnect(self, org_id: str, tenant_id: str, *, reason: str, now: datetime) -> None:
        """Mark the connection disconnected and free the tenant for another org, in one transaction."""
        ...

    def record_change(self, org_id: str, at: datetime) -> None:
        """A change from Xero reached the writer at ``at`` (kept if newer than the one recorded)."""
        ...


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

    def delete_tokens(self, org_id: str) -> None:
        """Erase the token set (a disconnect): nothing can call Xero for the org any more."""
        ...


class RefreshLease(Protocol):
    """The per-connection refresh lease, shared by every Lambda."""

    def acquire(self, org_id: str, owner: str, *, now: datetime, seconds: float) -> bool: ...
    def extend(self, org_id: str, owner: str, *, now: datetime, seconds: float) -> bool:
        """Push a lease we hold ``seconds`` further; False when it is no longer ours."""
        ...

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
    def stop(self, execution_arn: str, *, cause: str) -> bool:
        """Stop a running execution; False when it was not running."""
        ...


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

    def get(self, tenant_id: str, record_type: RecordType, xero_id: str) -> StoredRecord | None: ...

    def get_many(
        self, tenant_id: str, keys: Sequence[tuple[RecordType, str]]
    ) -> dict[tuple[RecordType, str], StoredRecord]:
        """The records we hold among ``keys`` (absent ones left out)."""
        ...

    def get_skipped(self, tenant_id: str, record_type: RecordType, xero_id: str) -> SkippedRecord | None:
        """Why we last left this record out, if we did."""
        ...

    def list_page(
        self, tenant_id: str, query: RecordQuery, *, resume_at: Position | None, limit: int
    ) -> RecordsPage:
        """Up to ``limit`` records of ``query`` from ``resume_at`` (a position an earlier page gave), and
        where the next page starts (None at the end). ``InvalidCursorError`` for a position that does not
        fit the query."""
        ...


class StaleLog(Protocol):
    """The writer's note of deliveries that came stale (the sync trail's "skipped as stale")."""

    def record_stale(self, tenant_id: str, records: Sequence[SyncedRecord]) -> None: ...


class RecordHistory(Protocol):
    """Reads of ``RecordsTable`` the balance check, "why is this not here?" and the trail need."""

    def get(self, tenant_id: str, record_type: RecordType, xero_id: str) -> StoredRecord | None: ...

    def customer_documents(self, tenant_id: str, contact_id: str) -> list[StoredRecord]:
        """Every invoice, credit note, overpayment, prepayment and payment of one customer."""
        ...

    def find_any(
        self, tenant_id: str, xero_id: str, record_types: Sequence[RecordType]
    ) -> tuple[StoredRecord | None, SkippedRecord | None]:
        """The record we hold under any of the types, and why we left it out if we did."""
        ...

    def list_items(self, tenant_id: str, record_type: RecordType) -> Iterable[StoredRecord]:
        """Every record of one type for a tenant."""
        ...

    def stale_deliveries(
        self, tenant_id: str, record_type: RecordType, xero_id: str
    ) -> list[dict[str, object]]:
        """Deliveries that came stale, oldest first."""
        ...


class BalanceStore(Protocol):
    """Customers' balance checks and the records' version history (``ReconciliationTable``)."""

    def put_balance(self, tenant_id: str, org_id: str, balance: CustomerBalance) -> None: ...

    def put_balances(self, tenant_id: str, org_id: str, balances: Sequence[CustomerBalance]) -> None: ...

    def get_balance(self, tenant_id: str, contact_id: str) -> CustomerBalance | None: ...

    def off_balance_page(
        self, tenant_id: str, *, resume_at: Position | None, limit: int
    ) -> tuple[list[CustomerBalance], Position | None]: ...

    def off_balance_ids(self, tenant_id: str) -> list[str]: ...

    def record_versions(self, records: Sequence[StoredRecord]) -> None: ...

    def versions(
        self, tenant_id: str, record_type: RecordType, xero_id: str
    ) -> list[tuple[str, str, RecordSource]]: ...


class RateLimiter(Protocol):
    """The shared per-tenant rate limiter, as services read it."""

    def status(self, tenant_id: str) -> RateStatus:
        """Xero's last quota headers for the tenant and our own count of its calls."""
        ...


# --- Real-time sync ----------------------------------------------------------------------------------------


class SigningKeySource(Protocol):
    """A signing key held in Secrets Manager (the webhook key, the cursor key), cached per container."""

    def key(self) -> SecretStr: ...


class WebhookQueue(Protocol):
    """``WebhooksQueue`` (and its dead-letter queue): deliveries on their way to the change fetcher."""

    def send_delivery(self, body: str) -> None:
        """Enqueue a delivery as it came; ``WebhookQueueError`` if SQS refuses it."""
        ...

    def return_later(self, receipt_handle: str, seconds: int) -> None:
        """Make a received message visible again only after ``seconds`` (a rate limit's Retry-After)."""
        ...

    def dead_letter(self, body: str, reason: str) -> None:
        """Put a message that can never succeed in the dead-letter queue, with its reason."""
        ...


class WebhookSequences(Protocol):
    """The app's webhook sequence numbers: the highest seen, deliveries and gaps counted."""

    def record(self, first: int, last: int, *, now: datetime) -> SequenceCheck: ...

    def health(self) -> WebhookHealth: ...


class CatchUpRequests(Protocol):
    """``CatchUpQueue``: catch-ups asked for now (a gap, a reconnect) or fanned out by the schedule."""

    def request(self, request: CatchUpRequest) -> None: ...
    def request_many(self, requests: Sequence[CatchUpRequest]) -> None: ...


class CatchUpStates(Protocol):
    """Per org: the lease that keeps one catch-up at a time, and the last catch-up's outcome."""

    def acquire(self, org_id: str, owner: str, *, now: datetime, seconds: float) -> bool: ...
    def release(self, org_id: str, owner: str) -> None: ...
    def save_outcome(self, outcome: CatchUpOutcome) -> None: ...
    def last_outcome(self, org_id: str) -> CatchUpOutcome | None: ...
    def save_pace(self, pace: CatchUpPace) -> None: ...
    def pace(self) -> CatchUpPace | None: ...


# --- The payment export -----------------------------------------------------------------------------------


class XeroPaymentsClient(Protocol):
    """The Xero calls of an export for one tenant, metered (every HTTP attempt counted)."""

    @property
    def calls(self) -> int: ...

    def create_payments(
        self, payments: Sequence[PaymentCreate], *, idempotency_key: str
    ) -> list[PaymentResult]:
        """``PUT /Payments?summarizeErrors=false``: one result per payment, in order."""
        ...

    def invoices(self, invoice_ids: Sequence[str]) -> list[XeroInvoice]:
        """``GET /Invoices?IDs=``: the invoices Xero holds, with their payments and references."""
        ...


class XeroPayments(Protocol):
    """``payments(tenant_id, time_left=...)``: the export's Xero client for one tenant."""

    def __call__(self, tenant_id: str, *, time_left: TimeLeft | None = None) -> XeroPaymentsClient: ...


class PaymentLedger(Protocol):
    """The export ledger: one record per payment, every change conditional on its version."""

    def get(self, org_id: str, payment_id: str) -> PaymentRecord | None: ...
    def get_many(self, org_id: str, payment_ids: Sequence[str]) -> dict[str, PaymentRecord]: ...

    def create(self, record: PaymentRecord) -> bool:
        """Store a new payment; False if its id is taken."""
        ...

    def save(self, record: PaymentRecord, *, previous_version: int) -> bool:
        """Write the next version if the stored one is still ``previous_version``; False if it is not."""
        ...

    def page(
        self, org_id: str, *, status: PaymentStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[PaymentRecord], str | None]:
        """One page of payments and the cursor of the next (``InvalidCursorError`` for a foreign one)."""
        ...

    def ids_with_status(self, org_id: str, status: PaymentStatus) -> Iterator[str]: ...


class ExportSettingsStore(Protocol):
    """Each org's export settings (the bank account per currency)."""

    def get_settings(self, org_id: str) -> ExportSettings: ...
    def put_settings(self, org_id: str, settings: ExportSettings) -> ExportSettings: ...


class SyncedRecords(Protocol):
    """The synced records an export reads (never writes: the writer is their only writer)."""

    def invoices(self, tenant_id: str, invoice_ids: Sequence[str]) -> dict[str, Invoice]: ...
    def payment_accounts(self, tenant_id: str) -> list[BankAccount]: ...
    def organisation(self, tenant_id: str) -> SyncedOrganisation | None: ...


class ExportQueue(Protocol):
    """The export queue."""

    def send(self, org_id: str, payment_ids: Sequence[str], *, trigger: str = "recorded") -> int:
        """Queue payments for export; ``ExportQueueError`` if SQS keeps refusing. Returns messages sent."""
        ...

    def retry_later(self, receipt_handle: str, seconds: int) -> None:
        """Bring a received message back after ``seconds`` (the backoff of a transient failure)."""
        ...


class DeadLetters(Protocol):
    """A dead-letter queue a consumer moves a hopeless message to, with its reason."""

    def send(self, body: str, reason: str) -> None: ...
