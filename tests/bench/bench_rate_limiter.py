"""Benchmark: does the DynamoDB rate limiter run a tenant AT Xero's limit, and never over it?

Five worker threads (five "Lambdas" sharing one limiter) make 300 simulated Xero calls of half a simulated
second each, through the limiter on moto, with the limiter's clock scaled 20x (a simulated minute lasts
three real seconds). A fake Xero records when each call arrives and ends, on the same clock.

Why 20x and not 60x: an in-process moto request takes ~2-3 real ms, served one at a time. At 60x that is
~150 simulated ms per DynamoDB request (DynamoDB answers in ~5-10 ms), so the figures would measure moto:
at 60x a 300-call run shows rate ~0.8 and, through queueing between a grant and the call, a window of 61.
At 20x a moto request looks like ~50 ms, still slower than DynamoDB. ``--scale 60`` shows the effect.

Run: ``PYTHONPATH=layers/shared .venv/bin/python -m tests.bench.bench_rate_limiter [--calls 300 ...]``

Figures printed (no assertions):
- rate ÷ allowed: how close each call came to the earliest moment the rolling window allowed it
  (60 s ÷ the mean gap between call i and call i-60; 1.0 is perfect, the target is ≥ 0.9);
- wall ÷ (calls ÷ allowed rate): the quality bar of the brief (≤ 1.15; below 1 thanks to the first
  minute's burst);
- the most calls seen in any rolling 60 s and the most in flight at once, as Xero would count them;
- DynamoDB operations per call, and the conditional writes lost to another thread.
"""

from __future__ import annotations

import argparse
import threading
import time

import boto3
from moto import mock_aws

from tests.support.atomic_dynamodb import SerializedClient
from tests.support.tables import create_template_table
from xero_bridge.adapters.aws.rate_limiter import DynamoDBRateLimiter

TABLE = "xero-bridge-connections"


def max_in_rolling_window(starts: list[float], window: float) -> int:
    """The most calls whose start falls in any half-open window ``[t, t + window)``."""
    best, low = 0, 0
    for high, start in enumerate(starts):
        while start - starts[low] >= window:
            low += 1
        best = max(best, high - low + 1)
    return best


def run(calls: int, workers: int, scale: float, call_seconds: float) -> dict[str, float]:
    with mock_aws():
        raw = boto3.client("dynamodb", region_name="eu-west-1")
        create_template_table(raw, "ConnectionsTable", TABLE)
        client = SerializedClient(raw)
        limiter = DynamoDBRateLimiter(TABLE, client=client, time_scale=scale)  # type: ignore[arg-type]
        record = threading.Lock()
        tickets = iter(range(calls))
        starts: list[float] = []
        intervals: list[tuple[float, float]] = []
        in_flight = max_in_flight = 0

        def fake_xero() -> None:
            nonlocal in_flight, max_in_flight
            with record:
                arrived = limiter.now()
                starts.append(arrived)
                in_flight += 1
                max_in_flight = max(max_in_flight, in_flight)
            time.sleep(call_seconds / scale)
            with record:
                in_flight -= 1
                intervals.append((arrived, limiter.now()))

        def worker() -> None:
            while True:
                with record:
                    if next(tickets, None) is None:
                        return
                with limiter.slot("tenant-bench"):
                    fake_xero()

        threads = [threading.Thread(target=worker) for _ in range(workers)]
        began_real, began = time.perf_counter(), limiter.now()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = max(end for _, end in intervals) - began
        wall_real = time.perf_counter() - began_real

    starts.sort()
    per_minute = limiter.limits.per_minute
    window = limiter.limits.window_ms / 1000
    allowed_rate = per_minute / window
    gaps = [starts[i] - starts[i - per_minute] for i in range(per_minute, len(starts))]
    ops = sum(client.calls.values())
    return {
        "calls": calls,
        "simulated wall (s)": wall,
        "real wall (s)": wall_real,
        "rate ÷ allowed (steady state)": window / (sum(gaps) / len(gaps)) if gaps else float("nan"),
        "wall ÷ (calls ÷ allowed rate)": wall / (calls / allowed_rate),
        "max calls in any rolling 60 s": max_in_rolling_window(starts, window),
        "max in flight": max_in_flight,
        "DynamoDB ops per call": ops / calls,
        "  GetItem per call": client.calls["get_item"] / calls,
        "  UpdateItem per call": client.calls["update_item"] / calls,
        "  lost conditional writes per call": (client.calls["update_item"] - 2 * calls) / calls,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument(
        "--scale", type=float, default=20.0, help="limiter clock speed (simulated s per real s)"
    )
    parser.add_argument("--call-seconds", type=float, default=0.5, help="simulated duration of one Xero call")
    args = parser.parse_args(argv)
    print(
        f"rate limiter on moto: {args.calls} calls, {args.workers} workers, "
        f"{args.call_seconds} s per call, clock x{args.scale:g}"
    )
    for name, value in run(args.calls, args.workers, args.scale, args.call_seconds).items():
        print(f"  {name:<38} {value:.3f}" if isinstance(value, float) else f"  {name:<38} {value}")


if __name__ == "__main__":
    main()
