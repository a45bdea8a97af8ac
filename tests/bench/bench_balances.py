"""Balances benchmark (not a pytest test): what keeping a customer's balance current costs.

Run: ``.venv/bin/python -m tests.bench.bench_balances [--documents 1000] [--repeat 20] [--sample 300]``

1. **One customer with ``--documents`` documents** (invoices in every status, credit notes, overpayments,
   prepayments, payments) among 2,000 records of other customers, written by the writer's own upsert to the
   template's ``RecordsTable`` on moto: the balance keeper's check of that customer
   (:func:`~xero_bridge.services.balance_check.check_customer`) ``--repeat`` times, with every DynamoDB
   request it makes counted (botocore's ``after-call`` events: GetItem, Query pages, PutItem), the items and
   bytes read, and the read units DynamoDB would bill (a strongly consistent GetItem: 1 per 4 KB; an
   eventually consistent Query on GSI1: 0.5 per 4 KB of items read).
2. **The large seeded organisation** (the emulator's ``large`` profile: 30,000 contacts, 120,000 invoices
   and their credits and payments): every Xero record mapped by the import rules as the sync maps it, every
   customer's balance computed by the same rules and compared with the emulator's own
   ``Balances.AccountsReceivable.Outstanding`` (customers off balance: must be 0), with the time it takes;
   then ``--sample`` of its customers with their documents written to moto and checked through DynamoDB,
   as the keeper does after an initial sync, to give the per-customer time and reads on the real path.
   (moto answers a GSI query by walking the whole table, so the whole organisation is not written to it.)

Times are moto's and this process's: compare them with each other, never with DynamoDB's.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT / "emulator"), str(ROOT)]  # a script
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ[_name] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "eu-west-1"

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from tests.support.tables import create_template_table  # noqa: E402
from xero_bridge.adapters.aws.reconciliation_table import ReconciliationTable  # noqa: E402
from xero_bridge.adapters.aws.records_table import RecordsTable  # noqa: E402
from xero_bridge.domain.balances import balance_of, is_balance_document  # noqa: E402
from xero_bridge.domain.import_rules import map_records  # noqa: E402
from xero_bridge.models.records import (  # noqa: E402
    CreditNote,
    Customer,
    Invoice,
    Overpayment,
    Payment,
    Prepayment,
    RecordPayload,
    RecordSource,
    SyncedRecord,
)
from xero_bridge.services.balance_check import check_customer  # noqa: E402
from xero_emulator.clock import Clock  # noqa: E402
from xero_emulator.seed import seed  # noqa: E402
from xero_emulator.store import XeroStore  # noqa: E402

TENANT = "tenant-bench"
ORG = "org-bench"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 1, tzinfo=UTC)
SOURCE = RecordSource(kind="page", run_id="bench", resource="Invoices", page=1, fetched_at=T0)
RESOURCES = ("Contacts", "Invoices", "CreditNotes", "Overpayments", "Prepayments", "Payments")


class Meter:
    """Every DynamoDB request the client makes, its items and bytes read, and the read units billed."""

    def __init__(self, client: Any) -> None:
        self.requests: dict[str, int] = defaultdict(int)
        self.items = 0
        self.bytes = 0
        self.read_units = 0.0
        self.seconds = 0.0  # inside DynamoDB's requests (moto's own work here), the rest is ours
        self._started = 0.0
        client.meta.events.register("before-call.dynamodb", self._start)
        client.meta.events.register("after-call.dynamodb", self._seen)

    def _start(self, **_: Any) -> None:
        self._started = time.perf_counter()

    def _seen(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.seconds += time.perf_counter() - self._started
        self.requests[model.name] += 1
        if model.name == "GetItem" and "Item" in parsed:
            size = len(str(parsed["Item"]))
            self.items += 1
            self.bytes += size
            self.read_units += -(-size // 4096)  # strongly consistent: 1 unit per 4 KB, rounded up
        elif model.name == "Query":
            size = sum(len(str(item)) for item in parsed.get("Items", []))
            self.items += len(parsed.get("Items", []))
            self.bytes += size
            self.read_units += 0.5 * -(-max(size, 1) // 4096)  # eventually consistent (an index)

    def reset(self) -> None:
        self.requests.clear()
        self.items = self.bytes = 0
        self.read_units = 0.0
        self.seconds = 0.0


def one_customer(documents: int, rng: random.Random) -> list[RecordPayload]:
    """A customer with ``documents`` documents, and 2,000 records of 200 other customers."""
    contact = "c-big"
    out: list[RecordPayload] = [Customer(xero_id=contact, name="Big Customer", xero_updated_at=T0)]
    statuses = ("AUTHORISED", "PAID", "PAID", "PAID", "DRAFT", "VOIDED")
    kinds = rng.choices(("inv", "cn", "op", "pp", "pay"), (70, 10, 5, 5, 10), k=documents)
    due = Decimal(0)
    for n, kind in enumerate(kinds):
        when = T0 + timedelta(minutes=n)
        day = date(2024, 1, 1) + timedelta(days=n % 700)
        if kind == "inv":
            status = rng.choice(statuses)
            amount = Decimal(rng.randrange(1_000, 500_000)) / 100
            left = amount if status == "AUTHORISED" else Decimal(0)
            due += left
            out.append(
                Invoice(
                    xero_id=f"i-{n}",
                    number=f"INV-{n}",
                    contact_id=contact,
                    status=status,
                    date=day,
                    currency="AUD",
                    total=amount,
                    amount_due=left,
                    amount_paid=amount - left,
                    amount_credited=Decimal(0),
                    xero_updated_at=when,
                )
            )
        elif kind == "pay":
            out.append(
                Payment(
                    xero_id=f"p-{n}",
                    invoice_id=f"i-{n - 1}",
                    contact_id=contact,
                    amount=Decimal("10.00"),
                    status="AUTHORISED",
                    date=day,
                    xero_updated_at=when,
                )
            )
        else:
            credit = Decimal(rng.randrange(100, 10_000)) / 100
            model: type[CreditNote] | type[Overpayment] | type[Prepayment]
            fields: dict[str, Any] = {}
            if kind == "cn":
                model = CreditNote
            else:
                model = Overpayment if kind == "op" else Prepayment
                fields["type"] = "RECEIVE-OVERPAYMENT" if kind == "op" else "RECEIVE-PREPAYMENT"
            due -= credit
            out.append(
                model(
                    xero_id=f"{kind}-{n}",
                    contact_id=contact,
                    status="AUTHORISED",
                    date=day,
                    currency="AUD",
                    total=credit,
                    remaining_credit=credit,
                    xero_updated_at=when,
                    **fields,
                )
            )
    out[0] = out[0].model_copy(update={"ar_outstanding": due})
    for n in range(2_000):
        other = f"c-{n % 200:03d}"
        if n < 200:
            out.append(
                Customer(xero_id=other, name=f"Customer {n}", ar_outstanding=Decimal(0), xero_updated_at=T0)
            )
        out.append(
            Invoice(
                xero_id=f"o-{n}",
                contact_id=other,
                status="PAID",
                total=Decimal(1),
                amount_due=Decimal(0),
                xero_updated_at=T0,
            )
        )
    return out


def write(records: RecordsTable, payloads: list[RecordPayload]) -> None:
    batch = [SyncedRecord.of(p, SOURCE) for p in payloads]
    for start in range(0, len(batch), 500):
        records.upsert_many(TENANT, ORG, batch[start : start + 500])


def bench_one_customer(documents: int, repeat: int) -> None:
    with mock_aws():
        client = boto3.client("dynamodb")
        records_name = create_template_table(client, "RecordsTable", "records-bench")
        balances_name = create_template_table(client, "ReconciliationTable", "reconciliation-bench")
        records = RecordsTable(records_name, client=client, workers=8)
        balances = ReconciliationTable(balances_name, client=client)
        write(records, one_customer(documents, random.Random(7)))
        records.close()
        meter = Meter(client)
        times = []
        inside = []
        checked = None
        for _ in range(repeat):
            meter.reset()
            started = time.perf_counter()
            checked = check_customer(
                tenant_id=TENANT, org_id=ORG, contact_id="c-big", records=records, balances=balances, now=NOW
            )
            times.append(time.perf_counter() - started)
            inside.append(meter.seconds)
        assert checked is not None
        print(f"one customer with {documents} documents (+2,000 records of 200 others), {repeat} checks:")
        print(
            f"  time per check: median {statistics.median(times) * 1000:.1f} ms, "
            f"min {min(times) * 1000:.1f} ms, of which {statistics.median(inside) * 1000:.1f} ms inside "
            f"DynamoDB's requests (moto in-process walks the whole table for a GSI query)"
        )
        requests = ", ".join(f"{name} {count}" for name, count in sorted(meter.requests.items()))
        print(f"  DynamoDB requests per check: {requests}")
        print(
            f"  items read {meter.items} ({meter.bytes / 1024:.0f} KB): {meter.read_units:.1f} read units "
            f"as DynamoDB bills them; one PutItem of the balance"
        )
        print(
            f"  the check: computed {checked.computed}, Xero's {checked.xero_outstanding}, off balance "
            f"{checked.off_balance}, {checked.documents_counted} documents counted"
        )


def xero_large() -> tuple[XeroStore, str]:
    store = XeroStore(Clock(start=NOW))
    tenant_id = seed(store, "large")[0]
    return store, tenant_id


def all_records(store: XeroStore, tenant_id: str, resource: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        body = store.list_resource(tenant_id, resource, page=page, page_size=1000, include_archived=True)
        out.extend(body[resource])
        if len(body[resource]) < 1000:
            return out
        page += 1


def bench_large(sample: int) -> None:
    started = time.perf_counter()
    store, tenant_id = xero_large()
    print(
        f"the large organisation seeded in {time.perf_counter() - started:.1f} s: {store.counts(tenant_id)}"
    )
    started = time.perf_counter()
    mapped: dict[str, list[RecordPayload]] = {}
    for resource in RESOURCES:
        batch = map_records(resource, all_records(store, tenant_id, resource), SOURCE, incremental=False)
        mapped[resource] = [r.payload for r in batch.records]
    customers = [p for p in mapped["Contacts"] if isinstance(p, Customer)]
    documents: dict[str, list[RecordPayload]] = defaultdict(list)
    for resource in RESOURCES[1:]:
        for payload in mapped[resource]:
            contact = getattr(payload, "contact_id", None)
            if contact:
                documents[contact].append(payload)
    print(
        f"  mapped by the import rules in {time.perf_counter() - started:.1f} s: {len(customers)} customers, "
        f"{sum(len(v) for v in documents.values())} documents and payments"
    )
    started = time.perf_counter()
    off = []
    for customer in customers:
        own = [d for d in documents.get(customer.xero_id, []) if is_balance_document(d)]
        ruled = balance_of(customer, own, checked_at=NOW)  # type: ignore[arg-type]
        xero = store.contact_balances(tenant_id, customer.xero_id)["AccountsReceivable"]["Outstanding"]
        if ruled.off_balance or ruled.computed != Decimal(str(xero)):
            off.append(customer.xero_id)
    spent = time.perf_counter() - started
    sizes = sorted(len(documents.get(c.xero_id, [])) for c in customers)
    print(
        f"  every customer checked by the rules in {spent:.2f} s "
        f"({spent / len(customers) * 1e6:.0f} µs each): {len(off)} off balance against the emulator's "
        "own figures"
    )
    print(
        f"  documents per customer: median {statistics.median(sizes):.0f}, max {sizes[-1]}; after an initial "
        f"sync the keeper reads each customer once per stream batch that touches it: one GetItem and "
        f"one Query page (up to 1 MB) per customer, {sum(sizes) + len(customers)} items in all"
    )
    rng = random.Random(11)
    chosen = rng.sample(customers, min(sample, len(customers)))
    with mock_aws():
        client = boto3.client("dynamodb")
        records = RecordsTable(create_template_table(client, "RecordsTable", "records-large"), client=client)
        balances = ReconciliationTable(
            create_template_table(client, "ReconciliationTable", "reconciliation-large"), client=client
        )
        payloads: list[RecordPayload] = []
        for customer in chosen:
            payloads.append(customer)
            payloads.extend(documents.get(customer.xero_id, []))
        write(records, payloads)
        records.close()
        meter = Meter(client)
        started = time.perf_counter()
        flagged = 0
        for customer in chosen:
            checked = check_customer(
                tenant_id=TENANT,
                org_id=ORG,
                contact_id=customer.xero_id,
                records=records,
                balances=balances,
                now=NOW,
            )
            flagged += int(checked is not None and checked.off_balance)
        spent = time.perf_counter() - started
        print(
            f"  {len(chosen)} of its customers ({len(payloads)} records) checked through DynamoDB on moto in "
            f"{spent:.2f} s ({spent / len(chosen) * 1000:.1f} ms each), {flagged} off balance"
        )
        requests = ", ".join(f"{name} {count}" for name, count in sorted(meter.requests.items()))
        print(
            f"  DynamoDB: {requests}; {meter.items} items read, {meter.read_units:.0f} read units "
            f"({meter.read_units / len(chosen):.2f} per customer)"
        )
        whole = len(customers) * spent / len(chosen)
        print(f"  at that rate the whole organisation's {len(customers)} customers: {whole:.0f} s of checks")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--sample", type=int, default=300)
    args = parser.parse_args()
    bench_one_customer(args.documents, args.repeat)
    bench_large(args.sample)
    return 0


if __name__ == "__main__":
    sys.exit(main())
