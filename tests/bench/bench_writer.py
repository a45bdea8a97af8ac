"""Writer benchmark (not a pytest test): records/s into RecordsTable on moto, and message sizes.

Run: ``.venv/bin/python tests/bench/bench_writer.py [--records 10000] [--latency-ms 0]``

- 10,000 realistic ACCREC invoices, sent as the page fetcher sends them: 1,000-invoice pages split into
  RecordsMessage bodies under the SQS budget; each body is parsed and written as the handler does.
- Sequential writes vs a thread pool of 1, 4 and 8, side by side, each on a fresh table.
- ``--latency-ms`` adds a per-request delay (a network round trip to real DynamoDB is ~3-10 ms); in-process
  moto answers in well under a millisecond and holds the GIL, which hides what the pool buys in AWS.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]  # a script, not under pytest's pythonpath
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ[_name] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "eu-west-1"

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from tests.support.tables import create_template_table  # noqa: E402
from xero_bridge.adapters.aws.records_table import RecordsTable  # noqa: E402
from xero_bridge.adapters.aws.sync_runs import SyncRunsTable  # noqa: E402
from xero_bridge.models.messages import SQS_BODY_LIMIT, RecordsMessage  # noqa: E402
from xero_bridge.models.records import Invoice, RecordSource, SyncedRecord, WriteOutcome  # noqa: E402
from xero_bridge.services.writer.write_records import write_batch  # noqa: E402

TENANT = "a3b6c1d2-4e5f-4a7b-8c9d-0e1f2a3b4c5d"
ORG = "org_bench"
RUN = "run-bench"
PAGE_SIZE = 1000


class _NoProgress(SyncRunsTable):
    """The run's counters left out: the figure is the records table's alone."""

    def __init__(self) -> None:
        super().__init__("unused")

    def records_written(self, org_id: str, run_id: str, resource: str, count: int) -> bool:
        return True

    def records_unchanged(self, org_id: str, run_id: str, resource: str, count: int) -> bool:
        return True


class _PoolOfOne(RecordsTable):
    """A pool of exactly one thread (the repository runs workers=1 in the calling thread)."""

    def upsert_many(self, tenant_id: str, org_id: str, records: Any) -> list[WriteOutcome]:
        with ThreadPoolExecutor(max_workers=1) as pool:
            return list(pool.map(lambda record: self.upsert(tenant_id, org_id, record), records))


def invoices(count: int, rng: random.Random) -> list[Invoice]:
    contacts = [f"{rng.getrandbits(128):032x}" for _ in range(400)]
    out = []
    for n in range(count):
        total = Decimal(rng.randrange(5_000, 2_500_000)) / 100
        tax = (total * Decimal("0.15") / Decimal("1.15")).quantize(Decimal("0.01"))
        paid = total if rng.random() < 0.4 else Decimal("0.00")
        issued = date(2025, 1, 1) + timedelta(days=rng.randrange(600))
        out.append(
            Invoice(
                xero_id=f"{rng.getrandbits(128):032x}",
                number=f"INV-{n + 1:06d}",
                contact_id=rng.choice(contacts),
                contact_name=f"Customer {rng.randrange(400):03d} Limited",
                status="PAID" if paid else rng.choice(["AUTHORISED", "AUTHORISED", "DRAFT", "SUBMITTED"]),
                date=issued,
                due_date=issued + timedelta(days=30),
                expected_payment_date=issued + timedelta(days=35) if rng.random() < 0.3 else None,
                fully_paid_on=issued + timedelta(days=20) if paid else None,
                currency=rng.choice(["NZD", "NZD", "NZD", "AUD", "USD"]),
                currency_rate=Decimal("1.000000"),
                sub_total=total - tax,
                total_tax=tax,
                total=total,
                amount_due=total - paid,
                amount_paid=paid,
                amount_credited=Decimal("0.00"),
                reference=f"PO {rng.randrange(10_000, 99_999)}",
                xero_updated_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**6)),
            )
        )
    return out


def bodies_for(records: list[Invoice]) -> tuple[list[str], list[int]]:
    """Message bodies as the page fetcher makes them; and the messages each page needed."""
    bodies: list[str] = []
    per_page: list[int] = []
    for start in range(0, len(records), PAGE_SIZE):
        page = start // PAGE_SIZE + 1
        source = RecordSource(kind="page", run_id=RUN, resource="Invoices", page=page)
        synced = [SyncedRecord.of(invoice, source) for invoice in records[start : start + PAGE_SIZE]]
        page_bodies = RecordsMessage.split_for_sqs(
            synced, org_id=ORG, tenant_id=TENANT, run_id=RUN, source=source
        )
        bodies += page_bodies
        per_page.append(len(page_bodies))
    return bodies, per_page


def run(mode: str, bodies: list[str], latency_ms: float) -> tuple[float, int]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_template_table(client, "RecordsTable", "records")
        if latency_ms:
            client.meta.events.register(
                "before-send.dynamodb.PutItem", lambda **_: time.sleep(latency_ms / 1000)
            )
        repo: RecordsTable
        if mode == "sequential":
            repo = RecordsTable("records", client=client, workers=1)
        elif mode == "pool 1":
            repo = _PoolOfOne("records", client=client, workers=1)
        else:
            repo = RecordsTable("records", client=client, workers=int(mode.split()[1]))
        written = 0
        started = time.perf_counter()
        for body in bodies:
            written += write_batch(RecordsMessage.model_validate_json(body), repo, _NoProgress()).written
        elapsed = time.perf_counter() - started
        repo.close()
        return elapsed, written


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()

    records = invoices(args.records, random.Random(7))
    bodies, per_page = bodies_for(records)
    page_bytes = [len(body.encode()) for body in bodies[: per_page[0]]]
    print(
        f"A {PAGE_SIZE}-invoice page as RecordsMessages: {sum(page_bytes):,} bytes in {per_page[0]} messages"
    )
    print(
        f"  (budget {SQS_BODY_LIMIT:,} bytes/message; message sizes {page_bytes};"
        f" ~{sum(page_bytes) // PAGE_SIZE} bytes/invoice)"
    )
    print(f"{args.records:,} invoices in {len(bodies)} messages; per-request latency {args.latency_ms} ms")
    print(f"{'mode':<12}{'seconds':>10}{'records/s':>12}{'written':>10}")
    for mode in ("sequential", "pool 1", "pool 4", "pool 8"):
        elapsed, written = run(mode, bodies, args.latency_ms)
        print(f"{mode:<12}{elapsed:>10.2f}{written / elapsed:>12,.0f}{written:>10,}")


if __name__ == "__main__":
    main()
