"""Benchmark of the initial sync on the local stack against the emulator (not a pytest test).

``make bench BENCH=initial_sync`` prints a table. Each figure is measured where it means something:

1. **Fetch phase, ``large`` organisation** (30,000 contacts, 120,000 invoices): the state machine's planner
   and page fetchers, through the shared DynamoDB rate limiter, against the emulator with its clock scaled
   ``BENCH_CLOCK_SCALE`` times (and ``RATE_LIMIT_TIME_SCALE`` the same, so both sides' allowed rate is
   60 x scale calls a real minute). Xero calls against the floor of the split (one call a page of each
   partition: each part's share of each resource), rate use = calls ÷ (fetch time x allowed rate), wall
   time ÷ (calls ÷ allowed rate). From the execution's start to the history part fetched. The time to
   chase-ready on Xero's side is the time until the chase part is fetched (every customer, outstanding
   invoice and open credit in the writes queue), in real seconds and in Xero's (x scale).
   The writer is paused meanwhile: on AWS it runs on machines of its own, but here its sandboxes share this
   machine's cores with the fetchers', and moto (this process serves every DynamoDB write, one at a time)
   would take the CPU the fetchers need. Xero is served from a child process (``BENCH_EMULATOR_PROCESS=1``,
   the default), as it would be from Xero's own machines. The CPU used during the phase by this process and
   the function sandboxes is printed, so a reader can see whether the machine, rather than the rate limit,
   bounded it.
   Nothing lost, as far as this phase goes: every message the fetchers sent is read back from the writes
   queue and its records compared, type by type and record by record, with the emulator's organisation
   through the import rules. (200k records through moto's PutItem would take ~10 minutes alone.)
2. **Page fetcher memory**: the peak of reading, validating, mapping and packing one 1,000-invoice page
   (tracemalloc).
3. **End to end, ``medium`` organisation** (a tenth of ``large``, ``BENCH_MEDIUM_FRACTION``): the same
   fetch with the writer paused, then the writer drains the queue (records/s = records written ÷ drain
   time, moto's conditional PutItem per record), the execution must finish (SUCCEEDED), and DynamoDB must
   equal the emulator, record for record.
4. **Chase-ready end to end, ``small`` slice of ``large``** (``BENCH_E2E_FRACTION``, a twentieth): the writer
   runs from the start, as it does on AWS, and the run records ``chase_ready_at`` (the chase part fetched
   *and written*) and ``finished_at``. Here one process runs the fetchers and the writer against moto, so
   the writer (moto's PutItem) sets both paces; on AWS the writer has sandboxes of its own.
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import time
import tracemalloc
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.bench.cpu import stack_cpu_seconds

SCALE = float(os.environ.get("BENCH_CLOCK_SCALE", "3"))
MEDIUM_FRACTION = float(os.environ.get("BENCH_MEDIUM_FRACTION", "0.1"))
E2E_FRACTION = float(os.environ.get("BENCH_E2E_FRACTION", "0.05"))
#: Serve Xero from a child process (1, the default), so the emulator's CPU is not the measured process's.
EMULATOR_PROCESS = os.environ.get("BENCH_EMULATOR_PROCESS", "1") == "1"
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ.setdefault(_name, "testing")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

PAGE_SIZE = 1000
PLANNING_CALLS = 2  # Organisation and Accounts (page 1 of each paged partition is data, counted in the floor)
LARGE_CONTACTS, LARGE_INVOICES = 30_000, 120_000


@dataclass
class FetchFigures:
    counts: dict[str, int]
    calls: int
    rate_limited: int
    floor: int  # the floor of the split: one call a page of each partition
    unsplit_floor: int  # one call a page of each resource read whole
    extra_partitions: int
    chase_floor: int  # the chase part's pages, Organisation and Accounts included
    chase_records: int
    seconds: float
    chase_seconds: float  # from the execution's start to the chase part fetched
    cpu_seconds: float
    records_sent: int
    pages_reread: int
    run_id: str
    execution_arn: str
    setup_seconds: float
    detail: str = ""
    lines: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def allowed_per_second(self) -> float:
        return 60 * SCALE / 60

    @property
    def rate_use(self) -> float:
        return self.calls / (self.seconds * self.allowed_per_second)

    @property
    def wall_ratio(self) -> float:
        return self.seconds / (self.calls / self.allowed_per_second)


def _fetch_phase(world: Any, setup_seconds: float) -> FetchFigures:
    """Run the machine with the writer paused until both parts are fetched (every page checkpointed)."""
    from xero_bridge.models.sync import Part

    world.stack.stop_pollers()
    counts = world.xero.store.counts(world.tenant_id)
    cpu0, started = stack_cpu_seconds(world.stack), time.monotonic()
    started_at = datetime.now(UTC)
    payload = {"org_id": world.org_id, "tenant_id": world.tenant_id, "trigger": "connect"}
    arn = world.stack.start_execution("InitialSyncStateMachine", payload)
    runs = world.runs
    run_id = None
    while True:
        # One GetItem a poll (the run item: its parts' state), not a query of every checkpoint: this loop
        # runs in the measured process.
        time.sleep(0.25)
        run_id = run_id or runs.latest_run_id(world.org_id)
        found = runs.get_run_and_counters(world.org_id, run_id) if run_id else None
        if found is not None and found[0].part(Part.HISTORY).fetched_at is not None:
            run, counters = found
            break
        if time.monotonic() - started > 1800:
            raise TimeoutError("the fetch phase did not end within 30 minutes")
        description = world.stack.client("stepfunctions").describe_execution(executionArn=arn)
        if description["status"] != "RUNNING":
            raise RuntimeError(f"the execution ended during the fetch phase: {description}")
    cpu = stack_cpu_seconds(world.stack) - cpu0
    chase_fetched, all_fetched = run.part(Part.CHASE).fetched_at, run.part(Part.HISTORY).fetched_at
    assert run_id is not None and chase_fetched is not None and all_fetched is not None
    stats = world.xero.stats.snapshot()["tenants"][world.tenant_id]
    paged = [p for p in run.plan.values() if p.share is not None]
    floor = sum(p.pages_total or 1 for p in paged)
    by_resource: dict[str, list[Any]] = defaultdict(list)
    for plan in paged:
        by_resource[plan.resource].append(plan)
    unsplit = sum(
        max(1, math.ceil(sum(p.item_count or 0 for p in plans) / PAGE_SIZE)) for plans in by_resource.values()
    )
    chase = run.partitions(Part.CHASE)
    calls_by_resource = {path.rsplit("/", 1)[-1]: n for path, n in stats["by_path"].items()}
    pages = {r: sum(p.pages_total or 1 for p in plans) for r, plans in by_resource.items()}
    detail = (
        f"by status {stats['by_status']}, 429s by problem {stats['by_problem']}; calls/floor per resource "
        + ", ".join(f"{r} {n}/{pages.get(r, 1)}" for r, n in sorted(calls_by_resource.items()))
        + "; partitions (pages): "
        + ", ".join(f"{p.key} {p.pages_total}" for p in paged)
    )
    return FetchFigures(
        detail=detail,
        counts=counts,
        calls=int(stats["calls"]),
        rate_limited=int(stats["rate_limited"]),
        floor=floor,
        unsplit_floor=unsplit,
        extra_partitions=len(paged) - len(by_resource),
        chase_floor=sum(p.pages_total or 1 for p in chase),
        chase_records=sum(counters.partition(p.key).records_sent for p in chase),
        seconds=(all_fetched - started_at).total_seconds(),
        chase_seconds=(chase_fetched - started_at).total_seconds(),
        cpu_seconds=cpu,
        records_sent=counters.records_sent,
        pages_reread=counters.pages_reread,
        run_id=run_id,
        execution_arn=arn,
        setup_seconds=setup_seconds,
    )


def _messages_in_queue(world: Any) -> dict[Any, dict[str, dict[str, Any]]]:
    """Every record the fetchers sent, read back from the writes queue, per type and id (last version)."""
    from xero_bridge.models.messages import RecordsMessage

    sqs, url = world.stack.client("sqs"), world.stack.physical_id("WritesQueue")
    sent: dict[Any, dict[str, dict[str, Any]]] = defaultdict(dict)
    empty = 0
    while empty < 2:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            empty += 1
            continue
        empty = 0
        for message in messages:
            body = RecordsMessage.model_validate_json(message["Body"])
            for record in body.records:
                sent[record.record_type][record.xero_id] = record.payload.model_dump(mode="json")
    return sent


def _compare(expected: dict[Any, dict[str, Any]], held: dict[Any, dict[str, Any]]) -> tuple[list[str], int]:
    lines, differ = [], 0
    for record_type, records in expected.items():
        got = held.get(record_type, {})
        same = got == records
        differ += 0 if same else 1
        verdict = (
            "yes"
            if same
            else f"NO ({len(set(records) - set(got))} missing, {len(set(got) - set(records))} extra)"
        )
        lines.append(f"  {record_type.value:<14} {len(records):>9} {len(got):>9}  {verdict}")
    return lines, differ


def page_memory(store: Any, tenant_id: str) -> tuple[float, int]:
    """Peak MiB of reading, validating, mapping and packing one page of up to 1,000 invoices."""
    from xero_bridge.domain.import_rules import map_records
    from xero_bridge.models.messages import RecordsMessage
    from xero_bridge.models.records import RecordSource
    from xero_bridge.models.xero import Invoice
    from xero_emulator import xero_json

    raw = xero_json.dumps_str(store.list_resource(tenant_id, "Invoices", page=1, page_size=PAGE_SIZE))
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


def _fetch_rows(label: str, f: FetchFigures) -> list[tuple[str, str, str]]:
    cpu_share = f.cpu_seconds / f.seconds
    return [
        (
            f"[{label}] Xero calls",
            f"{f.calls}",
            f"floor of the split {f.floor} (one a page of each partition; read whole: {f.unsplit_floor}, "
            f"+{f.floor - f.unsplit_floor} for {f.extra_partitions} extra partitions, at most one each) "
            f"+ planning {PLANNING_CALLS} = {f.floor + PLANNING_CALLS}; pages read again: {f.pages_reread}",
        ),
        (
            f"[{label}] chase part fetched",
            f"{f.chase_seconds:.1f} s",
            f"= {f.chase_seconds * SCALE:.0f} s of Xero time (aim ≤ 60): {f.chase_floor} calls "
            f"({_rolling_minute(f.chase_floor)}), {f.chase_records} records (customers, outstanding "
            "invoices, open credit, bank accounts) in the writes queue",
        ),
        (
            f"[{label}] all fetched",
            f"{f.seconds:.1f} s",
            f"= {f.seconds * SCALE:.0f} s of Xero time: the history part after the chase part",
        ),
        (f"[{label}] 429s met", f"{f.rate_limited}", "the emulator's own count"),
        (
            f"[{label}] fetch wall time",
            f"{f.seconds:.1f} s",
            f"calls ÷ allowed rate = {f.calls / f.allowed_per_second:.1f} s; "
            f"ratio {f.wall_ratio:.3f} (aim ≤ 1.15)",
        ),
        (f"[{label}] rate use", f"{f.rate_use:.1%}", "calls ÷ (fetch time x allowed rate); aim ≥ 90%"),
        (
            f"[{label}] CPU (this process and the sandboxes)",
            f"{cpu_share:.0%} of a core",
            f"of {os.cpu_count()} cores: near all of them means the machine, not the limit, bounded it",
        ),
        (
            f"[{label}] records sent",
            f"{f.records_sent}",
            f"seeding and stack setup took {f.setup_seconds:.0f} s",
        ),
    ]


def _rolling_minute(calls: int) -> str:
    """What Xero's 60 calls a rolling minute allow ``calls`` at best."""
    if calls <= 60:
        return "all within Xero's first rolling minute"
    return f"60 in Xero's first rolling minute, {calls - 60} once it turns: at best just past 60 s"


def _chase_ready_end_to_end() -> list[tuple[str, str, str]]:
    """A slice of the large organisation synced with the writer running: chase-ready beside finished."""
    from tests.integration.sync.harness import organisation_size, sync_world

    contacts, invoices = int(LARGE_CONTACTS * E2E_FRACTION), int(LARGE_INVOICES * E2E_FRACTION)
    with (
        organisation_size(contacts, invoices),
        sync_world(seed="large", clock_scale=SCALE, pollers=1, emulator_process=EMULATOR_PROCESS) as world,
    ):
        status, _ = world.run_sync(timeout=1800)
        run = world.runs.latest_run(world.org_id)
        _, differ = _compare(world.expected(), world.held())
    assert run is not None and run.chase_ready_at is not None and run.finished_at is not None
    ready = (run.chase_ready_at - run.started_at).total_seconds()
    finished = (run.finished_at - run.started_at).total_seconds()
    return [
        (
            "[e2e] chase-ready",
            f"{ready:.1f} s",
            f"chase part fetched and written, writer running ({contacts} contacts, {invoices} invoices); "
            f"{status}, DynamoDB {'equals' if differ == 0 else 'DIFFERS from'} Xero",
        ),
        ("[e2e] finished", f"{finished:.1f} s", "every record written; moto's writer sets both paces here"),
    ]


def main() -> None:
    from tests.integration.sync.harness import organisation_size, sync_world

    bench_started = time.monotonic()
    rows: list[tuple[str, str, str]] = []
    notes: list[str] = []

    # 1 and 2: the large organisation's fetch phase, the messages it sent, one page's memory.
    t0 = time.monotonic()
    with (
        organisation_size(LARGE_CONTACTS, LARGE_INVOICES),
        sync_world(seed="large", clock_scale=SCALE, pollers=4, emulator_process=EMULATOR_PROCESS) as world,
    ):
        large = _fetch_phase(world, time.monotonic() - t0)
        # Only the fetch phase is measured on this organisation: its execution is stopped here.
        world.stack.client("stepfunctions").stop_execution(
            executionArn=large.execution_arn, error="BenchFetchPhaseOnly"
        )
        checked = time.monotonic()
        sent, expected = _messages_in_queue(world), world.expected()
        large_lines, large_differ = _compare(expected, sent)
        check_seconds = time.monotonic() - checked
        memory_mib, page_records = page_memory(world.xero.store, world.tenant_id)
    # The large organisation's records (the queue read back, the expected records) are several GB of
    # objects: freed before the medium phase, whose figures should not carry them.
    del sent, expected, world
    gc.collect()
    rows += _fetch_rows("large", large)
    rows.append(
        ("fetcher peak memory", f"{memory_mib:.1f} MiB", f"one page of {page_records} invoices (tracemalloc)")
    )

    # 3: a medium organisation end to end: fetch, then the writer drains; DynamoDB must equal Xero.
    contacts, invoices = int(LARGE_CONTACTS * MEDIUM_FRACTION), int(LARGE_INVOICES * MEDIUM_FRACTION)
    t0 = time.monotonic()
    with (
        organisation_size(contacts, invoices),
        # One writer poller: on this one core, four concurrent writer invocations (10 messages, ~2,000
        # records each) each ran four times slower, brushed the writer's 60 s timeout, and a timed-out
        # batch waited out its 360 s visibility timeout. On AWS each invocation has a CPU of its own.
        sync_world(seed="large", clock_scale=SCALE, pollers=1, emulator_process=EMULATOR_PROCESS) as world,
    ):
        medium = _fetch_phase(world, time.monotonic() - t0)
        drain_started = time.monotonic()
        world.stack.start_pollers()
        world.stack.drain(timeout=1800)
        drain_seconds = time.monotonic() - drain_started
        status, output = world.stack.wait_execution(medium.execution_arn, timeout=600)
        found = world.runs.get_run_and_counters(world.org_id, medium.run_id)
        assert found is not None
        written = found[1].records_written
        medium_lines, medium_differ = _compare(world.expected(), world.held())
    rows += _fetch_rows("medium", medium)
    rows += [
        (
            "[medium] writer",
            f"{written / drain_seconds:.0f} records/s",
            f"{written} records written in {drain_seconds:.1f} s (moto PutItem, 1 poller)",
        ),
        (
            "[medium] execution",
            status,
            "Finish saw the writer drained" if status == "SUCCEEDED" else str(output),
        ),
    ]

    # 4: chase-ready beside finished, end to end, the writer running from the start.
    rows += _chase_ready_end_to_end()

    print()
    print(
        f"Initial sync benchmark: emulator clock and rate limiter x{SCALE:g} "
        f"(allowed {60 * SCALE:g} calls a real minute, {SCALE:g}/s); "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}"
    )
    print(f"large: {large.counts}")
    print(f"  Xero calls: {large.detail}")
    print(f"medium: {medium.counts}")
    print(f"  Xero calls: {medium.detail}")
    print(f"{'figure':<28} {'value':>20}  note")
    for name, value, note in rows:
        print(f"{name:<28} {value:>20}  {note}")
    print()
    print(
        "[large] nothing lost, fetch side: records in the writes queue vs the emulator through the "
        f"import rules ({check_seconds:.0f} s)"
    )
    print(f"  {'type':<14} {'emulator':>9} {'queue':>9}  equal")
    print("\n".join(large_lines))
    print("  " + ("nothing lost" if large_differ == 0 else f"{large_differ} type(s) differ"))
    print("[medium] nothing lost, end to end: DynamoDB vs the emulator through the import rules")
    print(f"  {'type':<14} {'emulator':>9} {'DynamoDB':>9}  equal")
    print("\n".join(medium_lines))
    print("  " + ("nothing lost" if medium_differ == 0 else f"{medium_differ} type(s) differ"))
    notes.append(
        "The large organisation's 200k records are not drained through moto here (~10 min at the writer's "
        "rate): its fetch side is checked on the messages sent, the writer end to end on the medium one."
    )
    for note in notes:
        print(f"note: {note}")
    print(f"benchmark took {time.monotonic() - bench_started:.0f} s")


if __name__ == "__main__":
    main()
