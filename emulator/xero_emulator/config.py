"""Settings of one emulator instance, with the defaults ``make xero`` and the tests start from.

Durations are simulated seconds (they run on the emulator :class:`~xero_emulator.clock.Clock`) unless the
name says ``real``. Secrets (client secret, webhook key) are only ever shown masked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

#: Fields that must never be shown in full (logs, admin output, the CLI banner).
SECRET_FIELDS = frozenset({"client_secret", "webhook_key"})


def mask(value: str | None) -> str:
    """``"local-client-secret"`` -> ``"loc***"``: enough to recognise a value, never enough to use it."""
    if not value:
        return ""
    return f"{value[:3]}***"


@dataclass
class EmulatorConfig:
    """Everything configurable about an emulator; ``running_emulator(**overrides)`` takes these names."""

    # --- the registered app (Xero's "My Apps" entry) ---------------------------------------------------
    client_id: str = "xero-bridge-local"
    client_secret: str = "local-client-secret"
    redirect_uris: tuple[str, ...] = ("http://127.0.0.1:3000/callback",)
    #: Xero lets a confidential client (one with a secret) skip PKCE; a public client must use it.
    require_pkce: bool = False

    # --- data ----------------------------------------------------------------------------------------
    seed: str = "none"  # none | small | large (xero_emulator.seed profiles)
    rng_seed: int = 7

    # --- clock ---------------------------------------------------------------------------------------
    clock_scale: float = 1.0

    # --- tokens (Xero's published lifetimes) ---------------------------------------------------------
    access_token_seconds: int = 30 * 60
    code_seconds: int = 5 * 60
    refresh_grace_seconds: int = 30 * 60
    refresh_unused_seconds: int = 60 * 24 * 3600

    # --- rate limits (per tenant, and per app) -------------------------------------------------------
    enforce_rate_limits: bool = True
    minute_limit: int = 60
    day_limit: int = 5000
    concurrent_limit: int = 5
    app_minute_limit: int = 10_000

    # --- idempotency ---------------------------------------------------------------------------------
    #: How long a stored Idempotency-Key answer is replayed (simulated seconds): Xero keeps a key for about
    #: six minutes, after which the same request is a new one (only the caller's own ledger stops a
    #: duplicate then).
    idempotency_window_seconds: int = 6 * 60

    # --- webhooks ------------------------------------------------------------------------------------
    webhook_url: str | None = None
    webhook_key: str = "local-webhook-key"
    #: Events of one tenant arriving within this real-time window go out in one payload.
    webhook_batch_real_seconds: float = 0.5
    webhook_max_batch: int = 100
    #: First retry after this many simulated seconds, doubling, capped at ``webhook_retry_max_seconds``.
    webhook_retry_base_seconds: float = 5.0
    webhook_retry_max_seconds: float = 3600.0
    #: Xero gives up (and disables the subscription) after retrying for 24 hours.
    webhook_retry_for_seconds: float = 24 * 3600.0
    #: Optional cap on attempts per delivery (tests use a small number); ``None`` = only the 24 h rule.
    webhook_max_attempts: int | None = None
    #: Xero waits up to 5 s for the receiver's answer (real seconds here: it is a socket timeout).
    webhook_timeout_real_seconds: float = 5.0
    webhook_categories: tuple[str, ...] = ("CONTACT", "INVOICE", "CREDITNOTE", "PREPAYMENT", "OVERPAYMENT")

    # --- consent (the non-interactive "Allow access" screen) -----------------------------------------
    consent_user_id: str = "c9b4b7a1-6a4b-4c8e-9f3e-2d3c1f7e8a01"
    consent_email: str = "finance.admin@example.com"
    consent_first_name: str = "Fiona"
    consent_last_name: str = "Admin"
    consent_role: str = "FINANCIALADVISER"
    #: Tenants the user ticks on the consent screen; ``None`` = every tenant in the store.
    consent_tenant_ids: tuple[str, ...] | None = None
    consent_deny: bool = False

    def masked(self) -> dict[str, Any]:
        """Every setting, secrets masked: what the CLI prints and ``GET /__admin/config`` answers."""
        out = asdict(self)
        for name in SECRET_FIELDS:
            out[name] = mask(out[name])
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
