"""Benchmark: one Xero app shared by 100, 1,000 and 10,000 organisations (``make bench BENCH=scale``).

Runs :mod:`tests.bench.scale_sim`: the real per-tenant window arithmetic, the real app-wide limiter and the
real catch-up schedule on a simulated clock against a simulated Xero (the emulator's own limits), with
webhook traffic, payment exports, catch-ups, a wave of new connections doing initial syncs, and another
client of the same Xero app spending 3,000 calls a minute between minutes 12 and 18 (what
``X-AppMinLimit-Remaining`` is for). No network, no AWS; figures, not assertions (a unit test replays a
small configuration and asserts the limit).

Run: ``PYTHONPATH=layers/shared:emulator:. .venv/bin/python -m tests.bench.bench_scale [--orgs 100 1000]``
"""

from __future__ import annotations

import argparse
import json
import time

from tests.bench.scale_sim import ScaleConfig, simulate
from xero_bridge.observability import logger

LABELS = {
    "max_calls_any_rolling_minute": "our calls, most in any rolling minute",
    "max_with_outside_traffic": "... with the other client's (Xero's count)",
    "mean_calls_per_minute": "our calls a minute, mean",
    "rate_limited_by_problem": "429s by X-Rate-Limit-Problem",
    "tenants_with_a_429": "tenants that met a 429",
    "catch_up_interval_min": "catch-up interval per tenant (min)",
    "catch_up_lag_p50_s": "catch-up lag p50 (s, asked -> done)",
    "catch_up_lag_p99_s": "catch-up lag p99 (s)",
    "export_latency_p50_s": "export latency p50 (s, recorded -> in Xero)",
    "export_latency_p99_s": "export latency p99 (s)",
    "webhook_fetch_p99_s": "webhook fetch p99 (s, delivery -> fetched)",
    "initial_syncs": "initial syncs finished / started",
    "initial_sync_p50_min": "initial sync time p50 (min)",
    "initial_sync_p99_min": "initial sync time p99 (min)",
    "sync_s_per_call_p50_p99": "initial sync seconds per call p50, p99",
    "dynamodb_requests_per_xero_call": "DynamoDB requests per Xero call",
    "tenant_slots_cancelled": "tenant slots given back (app budget spent)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orgs", type=int, nargs="*", default=[100, 1_000, 10_000])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print each run's figures as JSON")
    args = parser.parse_args()
    logger.setLevel("ERROR")  # the fan-out logs every tick
    for orgs in args.orgs:
        config = ScaleConfig(orgs=orgs, minutes=args.minutes, seed=args.seed, outside=(12.0, 18.0, 3_000))
        started = time.perf_counter()
        result = simulate(config)
        figures = result.figures()
        print(
            f"\n{orgs:,} organisations, {args.minutes:g} simulated minutes,"
            f" {figures['xero_calls']:,} Xero calls"
            f" ({figures['calls_by_priority']}), simulated in {time.perf_counter() - started:.1f} s;"
            f" app limit {figures['app_limit_per_minute']:,}/min, planned {config.limits.budget_per_minute:,}"
        )
        if args.json:
            print(json.dumps(figures))
            continue
        for key, label in LABELS.items():
            print(f"  {label:<46} {figures[key]}")
        print(f"  {'our calls per minute':<46} {result.per_minute}")


if __name__ == "__main__":
    main()
