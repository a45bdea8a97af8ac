"""The scale simulation (``make bench BENCH=scale``) replayed small: the app-wide limit is never exceeded.

A Xero app limited to 600 calls a minute (so that 40 organisations press on it), a wave of initial syncs,
webhooks, exports, catch-ups, and another client of the same app spending 200 calls a minute for three
minutes: Xero, as the emulator counts it, never sees more than 600 calls in any rolling minute, never
answers an app-minute 429, and every flow still finishes. Simulated time only: nothing here is timed.
"""

from __future__ import annotations

import pytest

from tests.bench.scale_sim import ScaleConfig, simulate
from xero_bridge.domain.app_budget import AppLimits, Priority

SMALL_APP = AppLimits(per_minute=600, shards=1)  # 9 a second: syncs 5, catch-ups 7, urgent 9


@pytest.mark.parametrize("seed", [1, 2])
def test_the_app_never_exceeds_its_minute_limit(seed: int) -> None:
    config = ScaleConfig(
        orgs=40,
        minutes=15,
        new_connections=0.5,
        wave_minutes=3,
        sync_pages_mean=100,
        webhooks_per_org_hour=30,
        exports_per_org_hour=12,
        limits=SMALL_APP,
        containers=8,
        outside=(6.0, 9.0, 200),
        seed=seed,
    )

    result = simulate(config)

    # the app's budget was the bottleneck: the syncs filled their share and the other flows went on top ...
    assert result.max_app_window > SMALL_APP.priority_budget_per_minute(Priority.SYNC)
    # ... and never above Xero's limit, with the other client's calls counted too
    assert result.max_app_window <= SMALL_APP.worst_case_per_window() <= SMALL_APP.per_minute
    assert result.max_total_window <= SMALL_APP.per_minute
    assert result.rate_limited["appminute"] == 0
    assert result.rate_limited["minute"] == result.rate_limited["concurrent"] == 0
    # and every flow got its calls: exports and webhooks first, catch-ups, the syncs last but finished
    assert result.syncs_started == len(result.sync_time_s) == 20
    assert result.catch_ups_done > 0 and result.export_latency_s and result.webhook_latency_s
    assert max(result.export_latency_s) < min(60.0, max(result.sync_time_s))
