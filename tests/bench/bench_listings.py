"""Listings benchmark (not a pytest test): what a page of each integration-API listing reads from DynamoDB.

Run: ``.venv/bin/python -m tests.bench.bench_listings [--invoices 20000] [--pages 5]``

An organisation of ``--invoices`` sales invoices (statuses as an AR ledger has them: most PAID, a few DRAFT),
one customer in 400 holding 2% of them, written by the writer's own upsert on moto with the template's
table. For each listing, ``--pages`` pages of 50 are read as the AR app reads them (each from the previous
page's position) and the items DynamoDB read per page are counted (``ScannedCount``: what a read costs),
beside what the first DRAFT page would read with a FilterExpression on the table's key instead of an index.
Times are moto's, in-process: compare them with each other, never with DynamoDB's.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
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

from tests.support.counting import CountingClient  # noqa: E402
from tests.support.tables import create_template_table  # noqa: E402
from xero_bridge.adapters.aws.records_table import RecordsTable  # noqa: E402
from xero_bridge.models.listings import RecordQuery  # noqa: E402
from xero_bridge.models.records import (  # noqa: E402
    Customer,
    Invoice,
    InvoiceStatus,
    RecordPayload,
    RecordSource,
    RecordType,
    SyncedRecord,
)

TENANT = "tenant-bench"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
SOURCE = RecordSource(kind="page", run_id="bench", resource="Invoices", page=1, fetched_at=T0)
STATUSES = {
    "PAID": 0.75,
    "AUTHORISED": 0.10,
    "SUBMITTED": 0.05,
    "VOIDED": 0.05,
    "DRAFT": 0.03,
    "DELETED": 0.02,
}
LIMIT = 50


def organisation(invoices: int, rng: random.Random) -> tuple[list[RecordPayload], str]:
    customers = [
        Customer(xero_id=f"c-{n:05d}", name=f"Customer {n}", active=n % 20 != 0, xero_updated_at=T0)
        for n in range(max(invoices // 100, 10))
    ]
    big = customers[1].xero_id
    statuses, weights = zip(*STATUSES.items(), strict=True)
    payloads: list[RecordPayload] = [*customers]
    for n in range(invoices):
        payloads.append(
            Invoice(
                xero_id=f"i-{n:07d}",
                contact_id=big if n % 50 == 0 else rng.choice(customers).xero_id,
                status=rng.choices(statuses, weights)[0],
                date=date(2020, 1, 1) + timedelta(days=rng.randrange(2000)),
                total=Decimal("100.00"),
                xero_updated_at=T0 + timedelta(seconds=rng.randrange(30_000_000)),
            )
        )
    return payloads, big


def read_pages(
    table: RecordsTable, counter: CountingClient, query: RecordQuery, pages: int
) -> tuple[float, float, float]:
    """Items read per page, queries per page, ms per page over ``pages`` pages."""
    counter.reset()
    resume_at = None
    started = time.perf_counter()
    done = 0
    for _ in range(pages):
        page = table.list_page(TENANT, query, resume_at=resume_at, limit=LIMIT)
        done += 1
        resume_at = page.resume_at
        if resume_at is None:
            break
    elapsed = time.perf_counter() - started
    return counter.scanned / done, len(counter.queries) / done, 1000 * elapsed / done


def filtered_instead(client: Any, table_name: str, status: str) -> int:
    """Items a first page of 50 in ``status`` would read with a FilterExpression on the table's key."""
    scanned = kept = 0
    start = None
    while kept < LIMIT:
        request: dict[str, Any] = {
            "TableName": table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "FilterExpression": "#d.#s = :status",
            "ExpressionAttributeNames": {"#d": "data", "#s": "status"},
            "ExpressionAttributeValues": {
                ":pk": {"S": f"TENANT#{TENANT}"},
                ":prefix": {"S": "INVOICE#"},
                ":status": {"S": status},
            },
        }
        if start:
            request["ExclusiveStartKey"] = start
        response = client.query(**request)
        scanned += int(response["ScannedCount"])
        kept += len(response["Items"])
        start = response.get("LastEvaluatedKey")
        if not start:
            break
    return scanned


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=20_000)
    parser.add_argument("--pages", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(7)
    with mock_aws():
        client = boto3.client("dynamodb")
        name = create_template_table(client, "RecordsTable", "records-bench")
        payloads, big = organisation(args.invoices, rng)
        writer = RecordsTable(name, client=client, workers=8)
        started = time.perf_counter()
        for start in range(0, len(payloads), 1000):
            writer.upsert_many(
                TENANT, "org-bench", [SyncedRecord.of(p, SOURCE) for p in payloads[start : start + 1000]]
            )
        writer.close()
        print(f"{len(payloads):,} records written in {time.perf_counter() - started:.1f} s (moto)")
        counter = CountingClient(client)
        table = RecordsTable(name, client=counter, workers=1)  # type: ignore[arg-type]
        invoices = RecordQuery(record_types=(RecordType.INVOICE,))
        since = T0 + timedelta(seconds=29_000_000)
        listings = {
            "invoices (no filter)": invoices,
            "invoices status=DRAFT (3%)": invoices.model_copy(update={"status": InvoiceStatus.DRAFT}),
            "invoices status=PAID (75%)": invoices.model_copy(update={"status": InvoiceStatus.PAID}),
            "invoices updated_since (last ~3%)": invoices.model_copy(update={"updated_since": since}),
            "invoices customer_id (2% of all)": invoices.model_copy(update={"customer_id": big}),
            "invoices customer_id + status=DRAFT": invoices.model_copy(
                update={"customer_id": big, "status": InvoiceStatus.DRAFT}
            ),
            "customers active=false (5%)": RecordQuery(record_types=(RecordType.CONTACT,), active=False),
            "customers (no filter)": RecordQuery(record_types=(RecordType.CONTACT,)),
        }
        print(f"\n{'listing (pages of 50)':40} {'items read/page':>16} {'queries/page':>13} {'ms/page':>9}")
        for label, query in listings.items():
            scanned, queries, ms = read_pages(table, counter, query, args.pages)
            print(f"{label:40} {scanned:16.0f} {queries:13.1f} {ms:9.1f}")
        print("\nthe same first page by a FilterExpression on the table's key (what an index saves):")
        print(f"  status=DRAFT: {filtered_instead(client, name, 'DRAFT'):,} items read for 50 kept")


if __name__ == "__main__":
    main()
