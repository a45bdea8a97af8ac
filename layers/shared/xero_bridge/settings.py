"""Runtime settings of every function, read from the environment once and validated.

``template.yaml`` sets these variables (``Globals.Function.Environment`` for the common ones, the function
itself for the few that only one function needs). A missing or malformed variable fails the first
invocation with its *name*, never later with an empty string. Secrets are never in the environment:
``XERO_CLIENT_SECRET_NAME`` names the Secrets Manager secret, read through Powertools Parameters.

A plain pydantic model validated from ``os.environ`` (upper-case variable = field name), not a
pydantic-settings ``BaseSettings``: that package's import (its many sources: dotenv, secrets files, cloud
providers, CLI) cost every cold start 20-40 ms for a lookup of field names in the environment
(``make bench BENCH=cold_import``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError, field_validator

from xero_bridge.errors import SettingsError

__all__ = ["Settings", "get_settings", "reset_settings"]

_Url = Annotated[str, Field(min_length=1)]


class Settings(BaseModel):
    """Every environment variable a xero-bridge function reads (names are the upper-case field names)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # DynamoDB: connections, encrypted tokens, OAuth states, refresh leases, sync runs.
    table_name: str = Field(min_length=1)
    # DynamoDB: synced Xero records (filled by the sync functions).
    records_table_name: str = Field(min_length=1)
    # KMS key (id, ARN or alias) that encrypts the token sets.
    token_key_id: str = Field(min_length=1)

    xero_client_id: str = Field(min_length=1)
    # Name or ARN of the Secrets Manager secret holding the client secret (never the secret itself).
    xero_client_secret_name: str = Field(min_length=1)
    xero_login_url: _Url = "https://login.xero.com"
    xero_identity_url: _Url = "https://identity.xero.com"
    xero_api_url: _Url = "https://api.xero.com"
    # Empty means "the /callback URL of the API the request came through" (see http.callback_url()).
    xero_redirect_uri: str = ""
    # This API's public base URL (``https://api.example.com/prod``): where connect links point. Empty means
    # "as the request came" (API Gateway's host and stage); set it behind a custom domain or a proxy.
    public_api_url: str = ""
    # Where the browser goes back after a connect, with ?status=connected|error.
    app_return_url: str = Field(min_length=1)

    # The OAuth callback and the integration API (POST /orgs/{org_id}/sync) start the initial sync.
    initial_sync_state_machine_arn: str | None = None
    # SQS queue of records for the writer (the sync planner and page fetcher send, the finisher watches it).
    writes_queue_url: str | None = None
    # Real-time sync: the webhook signing key's secret (name or ARN, never the key), the queue of deliveries
    # and its dead-letter queue, the queue of catch-up requests, and the daily Xero calls a catch-up leaves
    # for payment exports.
    xero_webhook_key_name: str | None = None
    webhooks_queue_url: str | None = None
    webhooks_dlq_url: str | None = None
    catch_up_queue_url: str | None = None
    catch_up_day_reserve: int = Field(default=500, ge=0, le=5000)
    # The integration API's listings: the secret (name or ARN, never the key) their cursors are signed with.
    cursor_key_name: str | None = None
    # Test and benchmark knob only: the rate limiter runs this many times faster than real time (the Xero
    # emulator's clock_scale); 1 in every deployed environment.
    rate_limit_time_scale: float = Field(default=1.0, gt=0, le=10_000)
    # Xero's per-app minute limit, the share of it never planned for, and the items its budget is spread over
    # (the app-wide limiter, beside the per-tenant one).
    xero_app_minute_limit: int = Field(default=10_000, ge=60, le=1_000_000)
    app_limit_headroom: float = Field(default=0.10, ge=0.05, lt=1)
    app_limit_shards: int = Field(default=10, ge=1, le=100)
    # The catch-up: how often each tenant is caught up at least (the schedule's rate), and the share of the
    # catch-ups' budget their calls may plan for; the interval grows with the tenants beyond it.
    catch_up_interval_minutes: int = Field(default=5, ge=1, le=1440)
    catch_up_budget_share: float = Field(default=0.5, gt=0, le=1)
    # How long one org's catch-up holds its lease: past the function's timeout, so that only a dead
    # catch-up's lease ever lapses.
    catch_up_lease_seconds: int = Field(default=330, ge=5, le=3600)
    # Looks the sync finisher takes (one per 5 s Wait) at the writer's progress before failing the run.
    sync_finish_max_checks: int = Field(default=120, ge=1, le=10_000)

    # Off balance and the trail's history: ReconciliationTable (written by the balance keeper only).
    reconciliation_table_name: str | None = None

    # The payment export: its ledger and settings table, its queue and dead-letter queues.
    payments_table_name: str | None = None
    export_queue_url: str | None = None
    export_dead_letter_queue_url: str | None = None
    export_replay_dead_letter_queue_url: str | None = None
    # Payments per PUT /Payments (Xero's batch).
    export_batch_size: int = Field(default=50, ge=1, le=100)
    # How long an exporter's claim on a payment lasts: longer than the exporter's Lambda timeout.
    export_lease_seconds: int = Field(default=150, ge=1, le=3600)
    # First backoff of a message whose payments met a transient failure (doubling per receive, 15 min max).
    export_retry_base_seconds: int = Field(default=30, ge=0, le=900)
    # The export queue's maxReceiveCount (its RedrivePolicy): the last receive's error says "in the DLQ".
    export_max_receives: int = Field(default=5, ge=1, le=1000)
    # Read timeout of a Xero call (the exporter's Lambda timeout leaves room for its retries).
    xero_read_timeout_seconds: float = Field(default=15.0, gt=0, le=120)

    oauth_state_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    # Seconds a fetched secret is reused by this container before Secrets Manager is asked again.
    secret_max_age_seconds: int = Field(default=300, ge=0)

    @field_validator("xero_login_url", "xero_identity_url", "xero_api_url", "app_return_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        AnyHttpUrl(value)  # raises a ValidationError naming the field when it is not an http(s) URL
        return value.rstrip("/")

    @field_validator("xero_redirect_uri", "public_api_url")
    @classmethod
    def _optional_http_url(cls, value: str) -> str:
        if value:
            AnyHttpUrl(value)
        return value

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Validate the variables named after the fields (case-insensitively) from ``environ``.

        Parameters
        ----------
        environ : Mapping[str, str], optional
            The environment (``os.environ`` by default).
        """
        fields = cls.model_fields
        source = os.environ if environ is None else environ
        return cls.model_validate(
            {key.lower(): value for key, value in source.items() if key.lower() in fields}
        )

    def require(self, field_name: str) -> str:
        """Return an optional setting this function cannot do without, or fail naming its variable."""
        value = getattr(self, field_name)
        if not value:
            raise SettingsError(f"missing environment variable: {field_name.upper()}")
        return str(value)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Validate the environment once per container and return the settings.

    Raises
    ------
    SettingsError
        When a variable is missing or invalid; the message lists every offending variable by name.
    """
    try:
        return Settings.from_environment()
    except ValidationError as exc:
        missing = sorted({str(err["loc"][0]).upper() for err in exc.errors() if err["type"] == "missing"})
        invalid = sorted({str(err["loc"][0]).upper() for err in exc.errors() if err["type"] != "missing"})
        parts = []
        if missing:
            parts.append("missing environment variable(s): " + ", ".join(missing))
        if invalid:
            parts.append("invalid environment variable(s): " + ", ".join(invalid))
        raise SettingsError("; ".join(parts)) from exc


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
