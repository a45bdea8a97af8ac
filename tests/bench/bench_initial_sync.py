"""Benchmark of the initial sync on the local stack against the emulator's ``large`` organisation.

Not a pytest test: ``make bench`` (or ``.venv/bin/python -m tests.bench.bench_initial_sync``) prints a table.
The emulator's clock runs ``SCALE`` times faster than real time, and so does the rate limiter
(``RATE_LIMIT_TIME_SCALE``), so Xero's 60 calls a minute become 60 x SCALE a real minute.

Figures: Xero calls against the floor (pages per resource at 1,000 a page, plus the two unpaged calls),
rate use = calls ÷ (fetch time x allowed rate), writer records/s, the page fetcher's peak memory for one
1,000-invoice page (tracemalloc), and whether DynamoDB equals the emulator (counts per type).
"""

from __future__ import annotations

import json
import math
import os
import time
import tracemalloc
from decimal import Decimal

SCALE = float(os.environ.get("BENCH_CLOCK_SCALE", "60"))
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ.setdefault(_name, "testing")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


def page_memory(store: object, tenant_id: str) -> tuple[float, int]:
    """Peak MiB of reading, validating, mapping and packing one page of up to 1,000 invoices."""
    from xero_bridge.domain.import_rules import map_records
    from xero_bridge.models.records import RecordSource
    from xero_bridge.models.xero import Invoice
    from xero_bridge.services.write_records import RecordsMessage

    raw = json.dumps(store.list_resource(tenant_id, "Invoices", page=1, page_size=1000), default=str)  # type: ignore[attr-defined]
    tracemalloc.start()
    data = json.loads(raw, parse_float=Decimal)
    invoices = [Invoice.model_validate(item) for item in data["Invoices"]]
    source = RecordSource(kind="page", run_id="bench", resource="Invoices", page=1)
    batch = map_records("Invoices", invoices, source, incremental=False)
    RecordsMessage.split_for_sqs(
        batch.records, org_id="o", tenant_id=tenant_id, source=source, run_id="bench"
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20, len(invoices)


def main() -> None:
    from tests.integration.sync.harness import sync_world

    with sync_world(seed="large", clock_scale=SCALE, pollers=4) as world:
        counts = world.xero.store.counts(world.tenant_id)
        started = time.monotonic()
        status, output = world.run_sync(timeout=3600)
        fetched = time.monotonic()
        world.stack.drain(timeout=600)
        drained = time.monotonic()
        assert status == "SUCCEEDED", output
        stats = world.xero.stats.snapshot()["tenants"][world.tenant_id]
        run_id = world.runs.latest_run_id(world.org_id)
        found = world.runs.get_run_and_counters(world.org_id, run_id or "")
        assert found is not None
        run, counters = found
        expected, held = world.expected(), world.held()
        memory_mib, page_records = page_memory(world.xero.store, world.tenant_id)

    plan = run.plan or {}
    floor = sum(
        math.ceil((p.item_count or 0) / 1000) or 1
        for r, p in plan.items()
        if r not in ("Organisation", "Accounts")
    )
    calls = int(stats["calls"])
    fetch_seconds = fetched - started
    allowed_per_second = 60 * SCALE / 60
    rate_use = calls / (fetch_seconds * allowed_per_second) if fetch_seconds else 0.0
    written = counters.get("records_written", 0)
    rows = [
        ("Xero calls", f"{calls}", f"floor {floor} + planning 2 = {floor + 2}"),
        ("429s met", f"{stats['rate_limited']}", "Xero's own count"),
        (
            "sync wall time",
            f"{fetch_seconds:.1f} s",
            f"calls ÷ allowed rate = {calls / allowed_per_second:.1f} s",
        ),
        ("rate use", f"{rate_use:.0%}", "aim ≥ 90% (small orgs are bound by latency, not the limit)"),
        ("writer", f"{written / max(drained - started, 1e-9):.0f} records/s", f"{written} records written"),
        (
            "fetcher peak memory",
            f"{memory_mib:.1f} MiB",
            f"one page of {page_records} invoices (tracemalloc)",
        ),
    ]
    print(f"Initial sync of the 'large' organisation, emulator clock x{SCALE:g}")
    print(f"{'figure':<22} {'value':>20}  note")
    for name, value, note in rows:
        print(f"{name:<22} {value:>20}  {note}")
    print()
    print(f"{'type':<14} {'emulator':>9} {'DynamoDB':>9}  equal")
    lost = 0
    for record_type, records in expected.items():
        same = records == held[record_type]
        lost += 0 if same else 1
        verdict = "yes" if same else "NO"
        print(f"{record_type.value:<14} {len(records):>9} {len(held[record_type]):>9}  {verdict}")
    print(f"emulator raw counts (all records, before the import rules): {counts}")
    print("nothing lost" if lost == 0 else f"{lost} type(s) differ")


if __name__ == "__main__":
    main()
