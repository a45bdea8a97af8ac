"""``make bench``: every benchmark, one after another, each printing its own figures.

Benchmarks measure; they never assert on time (these machines are noisy: compare ratios measured side by
side in one run). ``make bench BENCH=client`` runs one of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

#: Our own tools first, so the later figures are known not to be bounded by them.
BENCHMARKS = {
    "cold_import": "tests.bench.bench_cold_import",  # each function's cold import (a cold start's init)
    "client": "tests.bench.bench_client",  # the client's parse rate for 1,000-invoice pages
    "emulator": "tests.bench.bench_emulator",  # the emulator's request rate
    "rate_limiter": "tests.bench.bench_rate_limiter",  # rate use under the shared limiter
    "writer": "tests.bench.bench_writer",  # writer records/s
    "initial_sync": "tests.bench.bench_initial_sync",  # a large organisation on the local stack
    "realtime": "tests.bench.bench_realtime",  # webhook ack, change to visible, catch-up cost
    "export": "tests.bench.bench_export",  # payments per Xero call and per second at the rate limit
    "listings": "tests.bench.bench_listings",  # items DynamoDB reads per page of each API listing
    "balances": "tests.bench.bench_balances",  # one customer's balance check; the large organisation's
    "scale": "tests.bench.bench_scale",  # 100 / 1,000 / 10,000 orgs on one Xero app, simulated
}


def main(argv: list[str]) -> int:
    chosen = [name for name in argv if name] or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    failed = []
    for name in chosen:
        print(f"\n=== {name} ({BENCHMARKS[name]}) ===", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", BENCHMARKS[name]], env=os.environ.copy(), check=False)
        print(f"--- {name}: exit {result.returncode}, {time.perf_counter() - started:.1f} s", flush=True)
        if result.returncode:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks that did not complete: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
