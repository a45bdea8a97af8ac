"""Composition: the real adapters behind each use case, built from the settings. It only composes.

Handlers call these factories; services never import adapters. Each factory builds exactly what its use case
needs, and a setting that use case cannot do without is required here (``Settings.require``): a function
missing it fails with the variable's name, never later inside a service. Everything is lazy: nothing
touches AWS or Xero until a use case runs; what a container may reuse (the token vault's cache, the rate
limiter, the HTTP pool) is built once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from typing import TYPE_CHECKING

from xero_bridge.domain.app_budget import Priority
from xero_bridge.settings import Settings, get_settings

# Each factory imports its own flow's adapters and services when it is called: a function's cold start
# imports only what its own flows use.
if TYPE_CHECKING:
    import httpx
    from pydantic import SecretStr

    from xero_bridge.adapters.aws.app_limiter import AppLimiter
    from xero_bridge.adapters.aws.export_queue import SqsExportQueue
    from xero_bridge.adapters.aws.payments_table import PaymentLedgerTable
    from xero_bridge.adapters.aws.queues import SqsCatchUpQueue
    from xero_bridge.adapters.aws.rate_limiter import DynamoDBRateLimiter
    from xero_bridge.adapters.aws.reconciliation_table import ReconciliationTable
    from xero_bridge.adapters.aws.secrets import SecretsManagerKey
    from xero_bridge.adapters.aws.sqs import SqsDeadLetters
    from xero_bridge.adapters.aws.sync_machine import StepFunctionsSyncMachine
    from xero_bridge.adapters.aws.writes_queue import SqsWritesQueue
    from xero_bridge.adapters.xero.metered import MeteredXeroFactory
    from xero_bridge.adapters.xero.oauth import XeroEndpoints, XeroOAuthClient
    from xero_bridge.domain.app_budget import AppLimits
    from xero_bridge.models.balances import RecordChange
    from xero_bridge.models.messages import RecordsMessage
    from xero_bridge.services.balances.keep import KeepBalances
    from xero_bridge.services.balances.refetch import RefetchCustomer
    from xero_bridge.services.catch_up.fan_out import RequestCatchUps
    from xero_bridge.services.catch_up.tenant import CatchUpTenant
    from xero_bridge.services.connection.connect import BeginConnect, CompleteConnect, StartConnect
    from xero_bridge.services.connection.disconnect import DisconnectOrg
    from xero_bridge.services.connection.status import ConnectionStatusService
    from xero_bridge.services.export.consumer import ExportFromQueue, ReplayFromQueue
    from xero_bridge.services.export.query import PaymentQueries
    from xero_bridge.services.export.record import RecordPayment
    from xero_bridge.services.export.replay import ReplayPayments
    from xero_bridge.services.export.settings import ExportSettingsService
    from xero_bridge.services.publish_records import RecordPublisher
    from xero_bridge.services.records.explain import ExplainRecords
    from xero_bridge.services.records.listing import ListRecords
    from xero_bridge.services.records.read import ReadRecords
    from xero_bridge.services.sync.fetch_page import FetchPage
    from xero_bridge.services.sync.finish import FinishSync, RecordSyncFailure
    from xero_bridge.services.sync.plan import PlanSync
    from xero_bridge.services.sync.progress import SyncProgressQuery
    from xero_bridge.services.sync.start import StartSync
    from xero_bridge.services.token_vault import TokenVault
    from xero_bridge.services.webhooks.consume import ConsumeDelivery
    from xero_bridge.services.webhooks.receive import ReceiveWebhook
    from xero_bridge.services.writer.write_records import WriteSummary

__all__ = [
    "app_limiter",
    "balance_keeper",
    "begin_connect",
    "catch_up_tenant",
    "complete_connect",
    "connection_status",
    "consume_delivery",
    "decode_record_change",
    "disconnect_org",
    "explain_records",
    "export_from_queue",
    "export_settings",
    "fetch_page",
    "finish_sync",
    "list_records",
    "payment_queries",
    "plan_sync",
    "rate_limiter",
    "read_records",
    "receive_webhook",
    "record_payment",
    "record_sync_failure",
    "refetch_customer",
    "replay_from_queue",
    "replay_payments",
    "request_catch_ups",
    "reset_wiring",
    "start_connect",
    "start_sync",
    "sync_progress",
    "token_vault",
    "write_records",
]


def _endpoints(settings: Settings) -> XeroEndpoints:
    from xero_bridge.adapters.xero.oauth import XeroEndpoints

    return XeroEndpoints(
        login_url=settings.xero_login_url,
        identity_url=settings.xero_identity_url,
        api_url=settings.xero_api_url,
    )


_shared_http: list[httpx.Client] = []


def _http() -> httpx.Client:
    # One connection pool per container, reused across invocations (Xero keeps connections alive).
    if not _shared_http:
        import httpx

        read = get_settings().xero_read_timeout_seconds
        _shared_http.append(httpx.Client(timeout=httpx.Timeout(read, connect=5.0)))
    return _shared_http[0]


def _client_secret(settings: Settings) -> SecretStr:
    from xero_bridge.adapters.aws.secrets import read_secret

    return read_secret(settings.xero_client_secret_name, max_age=settings.secret_max_age_seconds)


def _secret_key(settings: Settings, name_setting: str) -> SecretsManagerKey:
    """A key kept in Secrets Manager under the secret the setting ``name_setting`` names (cached)."""
    from xero_bridge.adapters.aws.secrets import SecretsManagerKey

    return SecretsManagerKey(settings.require(name_setting), max_age=settings.secret_max_age_seconds)


def _oauth(settings: Settings, redirect_uri: str, client_secret: SecretStr | str) -> XeroOAuthClient:
    from xero_bridge.adapters.xero.oauth import XeroOAuthClient

    return XeroOAuthClient(
        settings.xero_client_id, client_secret, redirect_uri, _endpoints(settings), http=_http()
    )


# --- connect and the connection ------------------------------------------------------------------------


def start_connect() -> StartConnect:
    """``POST /orgs/{org_id}/connect``: a single-use connect link."""
    from xero_bridge.adapters.aws.connections_table import ConnectSessionsTable
    from xero_bridge.services.connection.connect import StartConnect

    return StartConnect(sessions=ConnectSessionsTable(get_settings().table_name))


def begin_connect(redirect_uri: str) -> BeginConnect:
    """``/connect`` for this API's ``redirect_uri``; it never reads the client secret (nor is granted it)."""
    from xero_bridge.adapters.aws.connections_table import ConnectSessionsTable, OAuthStatesTable
    from xero_bridge.adapters.xero.oauth import new_pkce_pair
    from xero_bridge.services.connection.connect import BeginConnect

    settings = get_settings()
    return BeginConnect(
        sessions=ConnectSessionsTable(settings.table_name),
        states=OAuthStatesTable(settings.table_name),
        oauth=_oauth(settings, redirect_uri, ""),
        pkce=new_pkce_pair,
        state_ttl_seconds=settings.oauth_state_ttl_seconds,
    )


def complete_connect(redirect_uri: str) -> CompleteConnect:
    """``/callback`` for this API's ``redirect_uri``: the code exchange, the checks, the sync's start."""
    from xero_bridge.adapters.aws.connections_table import ConnectionsTable, OAuthStatesTable
    from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
    from xero_bridge.adapters.aws.token_cipher import KmsTokenCipher
    from xero_bridge.adapters.xero.users import XeroUsersLookup
    from xero_bridge.services.connection.connect import CompleteConnect

    settings = get_settings()
    return CompleteConnect(
        states=OAuthStatesTable(settings.table_name),
        connections=ConnectionsTable(settings.table_name),
        cipher=KmsTokenCipher(settings.token_key_id),
        oauth=_oauth(settings, redirect_uri, _client_secret(settings)),
        users=XeroUsersLookup(_endpoints(settings), http=_http()),
        machine=_sync_machine(settings),
        runs=SyncRunsTable(settings.table_name),
        catch_ups=_catch_up_queue(settings),
    )


def disconnect_org() -> DisconnectOrg:
    """``DELETE /orgs/{org_id}/connection``: Xero's connection deleted and grant revoked, ours erased."""
    from xero_bridge.adapters.aws.connections_table import ConnectionsTable, TokensTable
    from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
    from xero_bridge.adapters.aws.token_cipher import KmsTokenCipher
    from xero_bridge.services.connection.disconnect import DisconnectOrg

    settings = get_settings()
    return DisconnectOrg(
        connections=ConnectionsTable(settings.table_name),
        tokens=TokensTable(settings.table_name),
        cipher=KmsTokenCipher(settings.token_key_id),
        vault=token_vault(),
        oauth=_oauth(settings, settings.xero_redirect_uri, _client_secret(settings)),
        runs=SyncRunsTable(settings.table_name),
        machine=_sync_machine(settings),
    )


@lru_cache(maxsize=1)
def token_vault() -> TokenVault:
    """The container's token vault (its cache lives as long as the container)."""
    from xero_bridge.adapters.aws.connections_table import ConnectionsTable, RefreshLeaseTable, TokensTable
    from xero_bridge.adapters.aws.token_cipher import KmsTokenCipher
    from xero_bridge.services.token_vault import TokenVault

    settings = get_settings()
    return TokenVault(
        connections=ConnectionsTable(settings.table_name),
        tokens=TokensTable(settings.table_name),
        lease=RefreshLeaseTable(settings.table_name),
        cipher=KmsTokenCipher(settings.token_key_id),
        # Refresh never sends a redirect URI; the configured one is passed for completeness.
        oauth=_oauth(settings, settings.xero_redirect_uri, _client_secret(settings)),
    )


def connection_status() -> ConnectionStatusService:
    from xero_bridge.adapters.aws.catch_up_state import CatchUpStateTable
    from xero_bridge.adapters.aws.connections_table import ConnectionsTable
    from xero_bridge.adapters.aws.webhooks_table import WebhookSequenceTable
    from xero_bridge.services.connection.status import ConnectionStatusService

    table = get_settings().table_name
    return ConnectionStatusService(
        ConnectionsTable(table), CatchUpStateTable(table), WebhookSequenceTable(table), rate_limiter()
    )


# --- the initial sync ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def rate_limiter() -> DynamoDBRateLimiter:
    """The container's shared per-tenant rate limiter (one DynamoDB item per tenant, in ConnectionsTable)."""
    from xero_bridge.adapters.aws.rate_limiter import DynamoDBRateLimiter

    settings = get_settings()
    return DynamoDBRateLimiter(settings.table_name, time_scale=settings.rate_limit_time_scale)


def app_limits(settings: Settings) -> AppLimits:
    from xero_bridge.domain.app_budget import AppLimits

    return AppLimits(
        per_minute=settings.xero_app_minute_limit,
        headroom=settings.app_limit_headroom,
        shards=settings.app_limit_shards,
    )


@lru_cache(maxsize=1)
def app_limiter() -> AppLimiter:
    """The container's app-wide limiter (sharded items in ConnectionsTable), on the tenant limiter's clock."""
    from xero_bridge.adapters.aws.app_limiter import AppLimiter, DynamoDBBudgetStore

    settings = get_settings()
    tenants = rate_limiter()
    return AppLimiter(
        DynamoDBBudgetStore(settings.table_name),
        limits=app_limits(settings),
        clock=tenants.now,
        sleep=tenants.sleep,
    )


def _xero_readers(settings: Settings, priority: Priority) -> MeteredXeroFactory:
    from xero_bridge.adapters.xero.metered import MeteredXeroFactory

    return MeteredXeroFactory(
        limiter=rate_limiter(),
        tokens=token_vault(),
        endpoints=_endpoints(settings),
        http=_http(),
        time_scale=settings.rate_limit_time_scale,
        app=app_limiter(),
        priority=priority,
    )


def _writes_queue(settings: Settings) -> SqsWritesQueue:
    from xero_bridge.adapters.aws.writes_queue import SqsWritesQueue

    return SqsWritesQueue(settings.require("writes_queue_url"))


def _publisher(settings: Settings) -> RecordPublisher:
    """Mapped records on their way to the writer (``WRITES_QUEUE_URL``)."""
    from xero_bridge.services.publish_records import RecordPublisher

    return RecordPublisher(queue=_writes_queue(settings))


def _limiter_clock() -> Callable[[], datetime]:
    """Xero's time as the rate limiter keeps it (real time in AWS; scaled with the emulator's in tests)."""
    limiter = rate_limiter()
    return lambda: datetime.fromtimestamp(limiter.now(), UTC)


def _wall_clock(settings: Settings) -> Callable[[datetime], datetime]:
    """A rate-limiter time (scaled in benchmarks) as the wall-clock time a Step Functions Wait waits for."""
    scale = settings.rate_limit_time_scale

    def to_wall_clock(when: datetime) -> datetime:
        if scale == 1.0:
            return when
        limiter_now = datetime.fromtimestamp(rate_limiter().now(), UTC)
        return datetime.now(UTC) + timedelta(seconds=max((when - limiter_now).total_seconds(), 0) / scale)

    return to_wall_clock


def _sync_machine(settings: Settings) -> StepFunctionsSyncMachine:
    from xero_bridge.adapters.aws.sync_machine import StepFunctionsSyncMachine

    return StepFunctionsSyncMachine(settings.require("initial_sync_state_machine_arn"))


def start_sync() -> StartSync:
    from xero_bridge.adapters.aws.connections_table import ConnectionsTable
    from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
    from xero_bridge.services.sync.start import StartSync

    settings = get_settings()
    return StartSync(
        runs=SyncRunsTable(settings.table_name),
        machine=_sync_machine(settings),
        connections=ConnectionsTable(settings.table_name),
    )


def sync_progress() -> SyncProgressQuery:
    from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
    from xero_bridge.services.sync.progress import SyncProgressQuery

    settings = get_settings()
    return SyncProgressQuery(runs=SyncRunsTable(settings.table_name), limiter=rate_limiter())


def plan_sync() -> PlanSync:
    from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
    from xero_bridge.services.sync.plan import PlanSync

    settings = get_settings()
    return PlanSync(
        runs=SyncRunsTable(settings.table_name),
        xero=_xero_readers(settings, Priority.SYNC),
        publisher=_publisher(settings),
    )


def fetch_page() -> FetchPage:
    from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
    from xero_bridge.services.sync.fetch_page import FetchPage

    settings = get_settings()
    return FetchPage(
        runs=SyncRunsTable(settings.table_name),
        xero=_xero_readers(settings, Priority.SYNC),
        publisher=_publisher(settings),
        to_wall_clock=_wall_clock(settings),
    )


def finish_sync() -> FinishSync:
    """The finisher: the run's end, and every customer's balance checked once the writer drained it."""
    from xero_bridge.adapters.aws.records_table import RecordsTable
    from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
    from xero_bridge.services.sync.finish import FinishSync

    settings = get_settings()
    return FinishSync(
        runs=SyncRunsTable(settings.table_name),
        queue=_writes_queue(settings),
        max_finish_checks=settings.sync_finish_max_checks,
        records=RecordsTable(settings.records_table_name),
        balances=_reconciliation(settings) if settings.reconciliation_table_name else None,
    )


def record_sync_failure() -> RecordSyncFailure:
    from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
    from xero_bridge.services.sync.finish import RecordSyncFailure

    return RecordSyncFailure(runs=SyncRunsTable(get_settings().table_name))


# --- real-time sync: webhooks and the catch-up ---------------------------------------------------------


def receive_webhook() -> ReceiveWebhook:
    """The webhook receiver: the signing key (cached per container) and the deliveries' queue, only."""
    from xero_bridge.adapters.aws.queues import SqsWebhookQueue
    from xero_bridge.services.webhooks.receive import ReceiveWebhook

    settings = get_settings()
    return ReceiveWebhook(
        key=_secret_key(settings, "xero_webhook_key_name"),
        queue=SqsWebhookQueue(settings.require("webhooks_queue_url")),
    )


def _catch_up_queue(settings: Settings) -> SqsCatchUpQueue:
    from xero_bridge.adapters.aws.queues import SqsCatchUpQueue

    return SqsCatchUpQueue(settings.require("catch_up_queue_url"))


def consume_delivery() -> ConsumeDelivery:
    """The change fetcher: a delivery's records fetched through the rate limiter and sent to the writer."""
    from xero_bridge.adapters.aws.connections_table import ConnectionsTable
    from xero_bridge.adapters.aws.queues import SqsWebhookQueue
    from xero_bridge.adapters.aws.records_table import RecordsTable
    from xero_bridge.adapters.aws.webhooks_table import WebhookSequenceTable
    from xero_bridge.services.webhooks.consume import ConsumeDelivery
    from xero_bridge.services.webhooks.fetch_changes import FetchChanges

    settings = get_settings()
    queue = SqsWebhookQueue(settings.require("webhooks_queue_url"), settings.require("webhooks_dlq_url"))
    fetch = FetchChanges(
        connections=ConnectionsTable(settings.table_name),
        sequences=WebhookSequenceTable(settings.table_name),
        catch_ups=_catch_up_queue(settings),
        xero=_xero_readers(settings, Priority.URGENT),
        records=RecordsTable(settings.records_table_name),
        publisher=_publisher(settings),
    )
    return ConsumeDelivery(
        fetch=fetch,
        queue=queue,
        limiter_clock=_limiter_clock(),
        time_scale=settings.rate_limit_time_scale,
    )


def request_catch_ups() -> RequestCatchUps:
    from xero_bridge.adapters.aws.catch_up_state import CatchUpStateTable
    from xero_bridge.adapters.aws.connections_table import ConnectionsTable
    from xero_bridge.services.catch_up.fan_out import RequestCatchUps

    settings = get_settings()
    return RequestCatchUps(
        connections=ConnectionsTable(settings.table_name),
        catch_ups=_catch_up_queue(settings),
        states=CatchUpStateTable(settings.table_name),
        limits=app_limits(settings),
        tick_seconds=settings.catch_up_interval_minutes * 60,
        share=settings.catch_up_budget_share,
        clock=_limiter_clock(),
    )


def catch_up_tenant() -> CatchUpTenant:
    from xero_bridge.adapters.aws.catch_up_state import CatchUpStateTable
    from xero_bridge.adapters.aws.connections_table import ConnectionsTable
    from xero_bridge.adapters.aws.records_table import RecordsTable
    from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
    from xero_bridge.services.catch_up.tenant import CatchUpTenant

    settings = get_settings()
    return CatchUpTenant(
        connections=ConnectionsTable(settings.table_name),
        runs=SyncRunsTable(settings.table_name),
        states=CatchUpStateTable(settings.table_name),
        limiter=rate_limiter(),
        xero=_xero_readers(settings, Priority.CATCH_UP),
        records=RecordsTable(settings.records_table_name),
        publisher=_publisher(settings),
        day_reserve=settings.catch_up_day_reserve,
        lease_seconds=settings.catch_up_lease_seconds,
        xero_clock=_limiter_clock(),
        balances=_reconciliation(settings) if settings.reconciliation_table_name else None,
        history=RecordsTable(settings.records_table_name),
    )


def _reconciliation(settings: Settings) -> ReconciliationTable:
    from xero_bridge.adapters.aws.reconciliation_table import ReconciliationTable

    return ReconciliationTable(settings.require("reconciliation_table_name"))


def read_records() -> ReadRecords:
    from xero_bridge.adapters.aws.connections_table import ConnectionsTable
    from xero_bridge.adapters.aws.records_table import RecordsTable
    from xero_bridge.services.records.read import ReadRecords

    settings = get_settings()
    return ReadRecords(
        connections=ConnectionsTable(settings.table_name),
        records=RecordsTable(settings.records_table_name),
        balances=_reconciliation(settings),
    )


def explain_records() -> ExplainRecords:
    """ "Why is this not here?" and the sync trail: what we keep, and Xero through the rate limiter."""
    from xero_bridge.adapters.aws.connections_table import ConnectionsTable
    from xero_bridge.adapters.aws.records_table import RecordsTable
    from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
    from xero_bridge.services.records.explain import ExplainRecords

    settings = get_settings()
    return ExplainRecords(
        connections=ConnectionsTable(settings.table_name),
        records=RecordsTable(settings.records_table_name),
        history=_reconciliation(settings),
        runs=SyncRunsTable(settings.table_name),
        xero=_xero_readers(settings, Priority.URGENT),  # a person waits on the answer
    )


def refetch_customer() -> RefetchCustomer:
    """The targeted re-fetch of one customer's documents, through the rate limiter, to the writer."""
    from xero_bridge.adapters.aws.connections_table import ConnectionsTable
    from xero_bridge.adapters.aws.records_table import RecordsTable
    from xero_bridge.services.balances.refetch import RefetchCustomer

    settings = get_settings()
    return RefetchCustomer(
        connections=ConnectionsTable(settings.table_name),
        records=RecordsTable(settings.records_table_name),
        balances=_reconciliation(settings),
        xero=_xero_readers(settings, Priority.URGENT),  # a person asked for it: 5 calls
        publisher=_publisher(settings),
    )


# --- the balance keeper (RecordsTable's stream) ---------------------------------------------------------


def balance_keeper() -> KeepBalances:
    """Customers' balances and the records' versions, kept from RecordsTable's stream."""
    from xero_bridge.adapters.aws.records_table import RecordsTable
    from xero_bridge.services.balances.keep import KeepBalances

    settings = get_settings()
    return KeepBalances(records=RecordsTable(settings.records_table_name), balances=_reconciliation(settings))


def decode_record_change(event_name: str, dynamodb: dict[str, object]) -> RecordChange | None:
    """A stream record of RecordsTable as the change it tells (None: not a synced record's item)."""
    from xero_bridge.adapters.aws.records_stream import decode_change

    return decode_change(event_name, dynamodb)


def list_records() -> ListRecords:
    """The integration API's paged listings: their cursors signed with a key only this API reads."""
    from xero_bridge.adapters.aws.connections_table import ConnectionsTable
    from xero_bridge.adapters.aws.records_table import RecordsTable
    from xero_bridge.services.records.listing import ListRecords

    settings = get_settings()
    return ListRecords(
        connections=ConnectionsTable(settings.table_name),
        records=RecordsTable(settings.records_table_name),
        cursor_key=_secret_key(settings, "cursor_key_name"),
        balances=_reconciliation(settings),
    )


# --- the writer ------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def write_records() -> Callable[[RecordsMessage], WriteSummary]:
    """The writer's use case on its ports: the records table (its only writer), the sync runs' counters,
    and the records table again as the note of stale deliveries."""
    from xero_bridge.adapters.aws.records_table import RecordsTable
    from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
    from xero_bridge.services.writer.write_records import write_batch

    settings = get_settings()
    records = RecordsTable(settings.records_table_name)
    return partial(write_batch, repo=records, progress=SyncRunsTable(settings.table_name), stale=records)


# --- the payment export --------------------------------------------------------------------------------


def _ledger(settings: Settings) -> PaymentLedgerTable:
    from xero_bridge.adapters.aws.payments_table import PaymentLedgerTable

    return PaymentLedgerTable(settings.require("payments_table_name"))


def _export_queue(settings: Settings) -> SqsExportQueue:
    from xero_bridge.adapters.aws.export_queue import SqsExportQueue

    return SqsExportQueue(settings.require("export_queue_url"))


def _export_dead_letters(settings: Settings, queue_url_setting: str) -> SqsDeadLetters:
    from xero_bridge.adapters.aws.sqs import SqsDeadLetters
    from xero_bridge.errors import ExportQueueError

    return SqsDeadLetters(settings.require(queue_url_setting), error=ExportQueueError)


def record_payment() -> RecordPayment:
    from xero_bridge.adapters.aws.connections_table import ConnectionsTable
    from xero_bridge.services.export.record import RecordPayment

    settings = get_settings()
    return RecordPayment(
        ledger=_ledger(settings),
        connections=ConnectionsTable(settings.table_name),
        queue=_export_queue(settings),
    )


def payment_queries() -> PaymentQueries:
    from xero_bridge.services.export.query import PaymentQueries

    return PaymentQueries(_ledger(get_settings()))


def export_settings() -> ExportSettingsService:
    from xero_bridge.adapters.aws.connections_table import ConnectionsTable
    from xero_bridge.adapters.aws.payments_table import ExportSettingsTable
    from xero_bridge.adapters.aws.synced_records import SyncedRecordsReader
    from xero_bridge.services.export.settings import ExportSettingsService

    settings = get_settings()
    return ExportSettingsService(
        settings=ExportSettingsTable(settings.require("payments_table_name")),
        records=SyncedRecordsReader(settings.records_table_name),
        connections=ConnectionsTable(settings.table_name),
    )


def replay_payments() -> ReplayPayments:
    from xero_bridge.services.export.replay import ReplayPayments

    settings = get_settings()
    return ReplayPayments(ledger=_ledger(settings), queue=_export_queue(settings))


def export_from_queue() -> ExportFromQueue:
    """The exporter behind the export queue: ledger, settings, synced invoices, Xero through the limiter."""
    from xero_bridge.adapters.aws.payments_table import ExportSettingsTable
    from xero_bridge.adapters.aws.synced_records import SyncedRecordsReader
    from xero_bridge.adapters.xero.payments import MeteredPaymentsFactory
    from xero_bridge.services.export.consumer import ExportFromQueue
    from xero_bridge.services.export.exporter import ExportPayments

    settings = get_settings()
    exporter = ExportPayments(
        ledger=_ledger(settings),
        settings=ExportSettingsTable(settings.require("payments_table_name")),
        records=SyncedRecordsReader(settings.records_table_name),
        xero=MeteredPaymentsFactory(_xero_readers(settings, Priority.URGENT)),
        batch_size=settings.export_batch_size,
        lease_seconds=settings.export_lease_seconds,
    )
    return ExportFromQueue(
        exporter=exporter,
        queue=_export_queue(settings),
        dead_letters=_export_dead_letters(settings, "export_dead_letter_queue_url"),
        retry_base_seconds=settings.export_retry_base_seconds,
        max_receives=settings.export_max_receives,
        lease_seconds=settings.export_lease_seconds,
    )


def replay_from_queue() -> ReplayFromQueue:
    from xero_bridge.services.export.consumer import ReplayFromQueue

    settings = get_settings()
    return ReplayFromQueue(
        replay=replay_payments(),
        dead_letters=_export_dead_letters(settings, "export_replay_dead_letter_queue_url"),
    )


def reset_wiring(*, http: httpx.Client | None = None) -> None:
    """Forget the container-wide objects; ``http`` replaces the shared httpx client (tests: a fake Xero)."""
    token_vault.cache_clear()
    rate_limiter.cache_clear()
    app_limiter.cache_clear()
    write_records.cache_clear()
    _shared_http.clear()
    if http is not None:
        _shared_http.append(http)
