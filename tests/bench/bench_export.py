"""Benchmark of the payment export on the local stack against the emulator (not a pytest test).

``make bench BENCH=export`` prints a table. A generated organisation (``organisation_size``: the ``large``
seed's mix at ``BENCH_EXPORT_INVOICES`` invoices) is connected and synced first, so the exporter finds its
invoices in RecordsTable as it would in production. Payments, one per open invoice in a currency with a bank
account, are recorded in the ledger; the exporter runs through the shared rate limiter against the emulator
served from a child process, its clock and the limiter scaled ``BENCH_CLOCK_SCALE`` times. Two loads:

1. **Backlog** (``BENCH_EXPORT_PAYMENTS``): every payment queued at once as "Export back to Xero" queues them
   (50 to a message) -- a replay of every failed payment, or a DLQ redrive.
2. **Stream** (``BENCH_EXPORT_STREAM`` payments at ``BENCH_EXPORT_RATE`` a second): each payment its own
   message, as ``POST /payments`` sends it; the exporter's batching window (1 s) gathers them.

Figures per load: payments per ``PUT /Payments`` (aim: a full batch of 50), the exporter's Xero calls
against the floor (payments ÷ 50), payments a second beside the ceiling the rate limit allows (50 payments
a call, 60 x scale calls a real minute), 429s met, the CPU used by this process and the function
sandboxes (near 100 % of every core means this machine, not Xero's limit, bounded it). Checked: every
payment exported, each with its own PaymentID, and Xero's count of payments grown by exactly the payments
exported.

A backlog of thousands of one-payment messages is not measured: moto's SQS ``ReceiveMessage`` scans the
whole queue (about 2 s a call with 3,000 messages here), which would measure moto, not the exporter.
"""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.bench.cpu import stack_cpu_seconds

#: 1: Xero's own rate (60 calls a minute: 50 payments a second at most with full batches).
SCALE = float(os.environ.get("BENCH_CLOCK_SCALE", "1"))
#: 80 full batches: more calls than a minute's allowance, so the limiter must pace the backlog.
PAYMENTS = int(os.environ.get("BENCH_EXPORT_PAYMENTS", "4000"))
STREAM = int(os.environ.get("BENCH_EXPORT_STREAM", "1000"))
RATE = float(os.environ.get("BENCH_EXPORT_RATE", "50"))
#: About a quarter of the generated invoices are open in AUD or USD.
INVOICES = int(os.environ.get("BENCH_EXPORT_INVOICES", str(5 * (PAYMENTS + STREAM))))
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ.setdefault(_name, "testing")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

BATCH = 50


def _open_invoices(store: Any, tenant_id: str) -> list[dict[str, Any]]:
    """Open sales invoices in AUD or USD (the organisation's bank account currencies), 1.00 or more due."""
    where = 'Type=="ACCREC" AND Status=="AUTHORISED" AND AmountDue>=1'
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        chunk = store.list_resource(tenant_id, "Invoices", where=where, page=page, page_size=1000)["Invoices"]
        found += [i for i in chunk if i["CurrencyCode"] in ("AUD", "USD")]
        if len(chunk) < 1000:
            return found
        page += 1


@dataclass
class Load:
    name: str
    payments: int
    seconds: float
    cpu_seconds: float
    puts: int
    gets: int
    calls: int
    rate_limited: int
    exported: int
    distinct_ids: int
    added_in_xero: int

    def rows(self) -> list[tuple[str, str, str]]:
        floor = math.ceil(self.payments / BATCH)
        ceiling = BATCH * 60 * SCALE / 60
        label = f"[{self.name}]"
        return [
            (f"{label} exported", f"{self.exported} of {self.payments}", "every payment, each once"),
            (f"{label} PUT /Payments", f"{self.puts}", f"floor {floor} (payments ÷ {BATCH})"),
            (
                f"{label} payments per PUT",
                f"{self.payments / max(self.puts, 1):.1f}",
                f"aim {BATCH}: a full batch per call",
            ),
            (
                f"{label} Xero calls",
                f"{self.calls}",
                f"PUT {self.puts} + GET /Invoices {self.gets}; floor {floor}; 429s met {self.rate_limited}",
            ),
            (
                f"{label} payments/s",
                f"{self.payments / self.seconds:.1f}",
                f"in {self.seconds:.1f} s; Xero's limit allows {ceiling:.0f}/s here (50 a call, "
                f"{60 * SCALE:g} calls a real minute)",
            ),
            (
                f"{label} CPU",
                f"{self.cpu_seconds / self.seconds:.0%} of a core",
                f"this process and the sandboxes; near {os.cpu_count() or 1}00%: this machine bounded it",
            ),
            (
                f"{label} in Xero",
                f"+{self.added_in_xero} payments",
                f"{self.distinct_ids} distinct PaymentIDs in the ledger",
            ),
        ]


def main() -> None:
    from tests.integration.sync.harness import organisation_size, sync_world
    from xero_bridge.adapters.aws.export_queue import SqsExportQueue
    from xero_bridge.adapters.aws.payments_table import ExportSettingsTable, PaymentLedgerTable
    from xero_bridge.models.payments import ExportSettings, HistoryEntry, PaymentRecord
    from xero_emulator.admin_client import AdminClient

    started = time.monotonic()
    with (
        organisation_size(contacts=INVOICES // 20, invoices=INVOICES),
        sync_world(seed="large", clock_scale=SCALE, pollers=2, emulator_process=True) as world,
    ):
        stack = world.stack
        status, _ = world.run_sync(timeout=900)
        stack.drain(timeout=900)
        setup = time.monotonic() - started
        store = world.xero.store  # the organisation as seeded (the child serves it)
        accounts = store.list_resource(world.tenant_id, "Accounts", where='Type=="BANK" AND Status=="ACTIVE"')
        banks = {(a.get("CurrencyCode") or "AUD"): a["AccountID"] for a in accounts["Accounts"]}
        invoices = _open_invoices(store, world.tenant_id)
        assert len(invoices) >= PAYMENTS + STREAM, f"only {len(invoices)} open invoices"
        client = stack.client("dynamodb")
        ledger = PaymentLedgerTable(stack.physical_id("PaymentsTable"), client=client)
        ExportSettingsTable(stack.physical_id("PaymentsTable"), client=client).put_settings(
            world.org_id, ExportSettings(bank_accounts={c: banks[c] for c in ("AUD", "USD")})
        )
        queue = SqsExportQueue(stack.physical_id("ExportQueue"), client=stack.client("sqs"))
        admin = AdminClient(world.xero.base_url)

        def record(first: int, count: int) -> list[str]:
            now = datetime.now(UTC)
            ids = []
            for n in range(first, first + count):
                invoice = invoices[n]
                ids.append(f"bench-{n:05d}")
                ledger.create(
                    PaymentRecord(
                        org_id=world.org_id,
                        payment_id=ids[-1],
                        tenant_id=world.tenant_id,
                        invoice_id=str(invoice["InvoiceID"]).lower(),
                        amount=Decimal("1.00"),
                        currency=str(invoice["CurrencyCode"]),
                        date=now.date(),
                        reference=f"Bench {n}",
                        created_at=now,
                        updated_at=now,
                        history=(HistoryEntry(at=now, event="recorded"),),
                    )
                )
            return ids

        def measure(name: str, ids: list[str], feed: Any) -> Load:
            before = world.xero.stats.snapshot()["tenants"][world.tenant_id]
            payments_before = int(admin.counts(world.tenant_id)["Payments"])
            cpu0, t0 = stack_cpu_seconds(stack), time.monotonic()
            feed()
            stack.drain(timeout=1800)
            seconds, cpu = time.monotonic() - t0, stack_cpu_seconds(stack) - cpu0
            after = world.xero.stats.snapshot()["tenants"][world.tenant_id]
            records = ledger.get_many(world.org_id, ids)

            def delta(key: str) -> int:
                return int(after["by_path"].get(key, 0)) - int(before["by_path"].get(key, 0))

            return Load(
                name=name,
                payments=len(ids),
                seconds=seconds,
                cpu_seconds=cpu,
                puts=delta("PUT /api.xro/2.0/Payments"),
                gets=delta("GET /api.xro/2.0/Invoices"),
                calls=int(after["calls"]) - int(before["calls"]),
                rate_limited=int(after["rate_limited"]) - int(before["rate_limited"]),
                exported=sum(1 for r in records.values() if r.state.value == "exported"),
                distinct_ids=len({r.xero_payment_id for r in records.values() if r.xero_payment_id}),
                added_in_xero=int(admin.counts(world.tenant_id)["Payments"]) - payments_before,
            )

        # 1. A backlog, queued as a replay queues it: 50 payments to a message.
        backlog = record(0, PAYMENTS)
        loads = [measure("backlog", backlog, lambda: queue.send(world.org_id, backlog, trigger="replay"))]

        # 2. A stream: one message a payment, RATE a second, as POST /payments sends them.
        stream = record(PAYMENTS, STREAM)

        def trickle() -> None:
            start = time.monotonic()
            for n, payment_id in enumerate(stream):
                time.sleep(max(0.0, start + n / RATE - time.monotonic()))
                queue.send(world.org_id, [payment_id])

        loads.append(measure(f"stream {RATE:g}/s", stream, trickle))
        admin.close()

    print()
    print(
        f"Payment export benchmark: initial sync {status}; emulator clock and limiter x{SCALE:g}; "
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{platform.machine()}; setup (seed, sync, ledger) {setup:.0f} s"
    )
    print(f"{'figure':<30} {'value':>20}  note")
    for load in loads:
        for name, value, note in load.rows():
            print(f"{name:<30} {value:>20}  {note}")
    print(f"benchmark took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
