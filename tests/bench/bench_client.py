"""How fast the Xero client turns a 1,000-invoice page into typed records (a benchmark, not a test).

Run: ``PYTHONPATH=layers/shared .venv/bin/python tests/bench/bench_client.py``.
The page is built like Xero's paged ``GET /Invoices`` answer (line items, payments, /Date()/ values, amounts
with decimals) and read through ``XeroClient.list_page`` over an in-memory transport, so the figure covers
JSON with Decimal floats, per-record validation and the Page, without a socket.
"""

from __future__ import annotations

import json
import random
import statistics
import time
import uuid
from typing import Any

import httpx

from xero_bridge.adapters.xero import Resource, RetryPolicy, XeroClient, XeroEndpoints
from xero_bridge.errors import NeedsReconnect
from xero_bridge.models.connection import ReconnectReason

PAGE_RECORDS = 1000
REPETITIONS = 15
DAY_MS = 86_400_000


class _Tokens:
    def access_token(self, tenant_id: str, *, force_refresh: bool = False) -> str:
        return "bench-token"

    def refused(self, tenant_id: str, reason: ReconnectReason) -> NeedsReconnect | None:
        return None


def _money(rng: random.Random, low: int, high: int) -> float:
    return round(rng.uniform(low, high), 2)


def _invoice(rng: random.Random, n: int) -> dict[str, Any]:
    issued = 1_704_067_200_000 + rng.randrange(0, 700) * DAY_MS
    lines: list[dict[str, Any]] = []
    for line in range(rng.randrange(1, 4)):
        unit = _money(rng, 5, 900)
        quantity = rng.randrange(1, 12)
        lines.append(
            {
                "LineItemID": str(uuid.UUID(int=rng.getrandbits(128))),
                "Description": f"Consulting services, line {line + 1}",
                "Quantity": f"{quantity}.0000",
                "UnitAmount": unit,
                "TaxType": "OUTPUT2",
                "TaxAmount": round(unit * quantity * 0.15, 2),
                "LineAmount": round(unit * quantity, 2),
                "AccountCode": "200",
                "Tracking": [],
            }
        )
    sub_total = round(sum(line["LineAmount"] for line in lines), 2)
    tax = round(sum(line["TaxAmount"] for line in lines), 2)
    total = round(sub_total + tax, 2)
    paid = round(total * rng.choice([0, 0, 0.5, 1]), 2)
    status = "PAID" if paid == total else "AUTHORISED"
    payments = (
        [
            {
                "PaymentID": str(uuid.UUID(int=rng.getrandbits(128))),
                "Date": f"/Date({issued + 20 * DAY_MS}+0000)/",
                "Amount": paid,
                "Reference": "",
                "CurrencyRate": 1.0,
                "HasAccount": False,
                "HasValidationErrors": False,
            }
        ]
        if paid
        else []
    )
    return {
        "Type": "ACCREC",
        "InvoiceID": str(uuid.UUID(int=rng.getrandbits(128))),
        "InvoiceNumber": f"INV-{n:06d}",
        "Reference": f"PO-{rng.randrange(10_000, 99_999)}",
        "Payments": payments,
        "CreditNotes": [],
        "Prepayments": [],
        "Overpayments": [],
        "AmountDue": round(total - paid, 2),
        "AmountPaid": paid,
        "AmountCredited": 0.00,
        "CurrencyRate": 1.0,
        "IsDiscounted": False,
        "HasAttachments": False,
        "HasErrors": False,
        "Contact": {
            "ContactID": str(uuid.UUID(int=rng.getrandbits(128))),
            "Name": f"Customer {rng.randrange(1, 400)} Ltd",
            "Addresses": [],
            "Phones": [],
            "ContactGroups": [],
            "ContactPersons": [],
            "HasValidationErrors": False,
        },
        "DateString": "2024-01-01T00:00:00",
        "Date": f"/Date({issued}+0000)/",
        "DueDateString": "2024-01-31T00:00:00",
        "DueDate": f"/Date({issued + 30 * DAY_MS}+0000)/",
        "ExpectedPaymentDate": f"/Date({issued + 35 * DAY_MS}+0000)/" if rng.random() < 0.3 else None,
        "Status": status,
        "LineAmountTypes": "Exclusive",
        "LineItems": lines,
        "SubTotal": sub_total,
        "TotalTax": tax,
        "Total": total,
        "UpdatedDateUTC": f"/Date({issued + rng.randrange(0, 40 * DAY_MS)}+0000)/",
        "CurrencyCode": rng.choice(["NZD", "NZD", "AUD", "USD"]),
        **({"FullyPaidOnDate": f"/Date({issued + 20 * DAY_MS}+0000)/"} if status == "PAID" else {}),
    }


def invoice_page_bytes(records: int = PAGE_RECORDS, seed: int = 7) -> bytes:
    """A realistic Xero ``GET /Invoices?page=1&pageSize=1000`` answer, as bytes."""
    rng = random.Random(seed)
    body = {
        "Id": str(uuid.UUID(int=rng.getrandbits(128))),
        "Status": "OK",
        "ProviderName": "xero-bridge bench",
        "DateTimeUTC": "/Date(1772445600000)/",
        "pagination": {"page": 1, "pageSize": records, "pageCount": 3, "itemCount": records * 3 - 17},
        "Invoices": [_invoice(rng, n) for n in range(records)],
    }
    return json.dumps(body).encode()


def bench_parse_invoice_pages(repetitions: int = REPETITIONS) -> dict[str, float | int]:
    """Parse a 1,000-invoice page ``repetitions`` times through ``XeroClient.list_page``.

    Returns
    -------
    dict
        ``records``, ``page_bytes``, ``repetitions``, ``best_seconds``, ``median_seconds``,
        ``best_records_per_second``, ``median_records_per_second``.
    """
    content = invoice_page_bytes()
    headers = {
        "Content-Type": "application/json",
        "X-MinLimit-Remaining": "59",
        "X-DayLimit-Remaining": "4999",
    }
    http = httpx.Client(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, content=content, headers=headers))
    )
    client = XeroClient(_Tokens(), "tenant", XeroEndpoints(api_url="https://xero.bench"), http, RetryPolicy())
    client.list_page(Resource.INVOICES, page=1, page_size=PAGE_RECORDS)  # warm-up (imports, schema caches)
    timings: list[float] = []
    for _ in range(repetitions):
        started = time.perf_counter()
        page = client.list_page(Resource.INVOICES, page=1, page_size=PAGE_RECORDS)
        timings.append(time.perf_counter() - started)
        if len(page.records) != PAGE_RECORDS or page.bad_records:
            raise AssertionError(f"parsed {len(page.records)} records and {len(page.bad_records)} bad ones")
    best, median = min(timings), statistics.median(timings)
    return {
        "records": PAGE_RECORDS,
        "page_bytes": len(content),
        "repetitions": repetitions,
        "best_seconds": round(best, 5),
        "median_seconds": round(median, 5),
        "best_records_per_second": round(PAGE_RECORDS / best),
        "median_records_per_second": round(PAGE_RECORDS / median),
    }


if __name__ == "__main__":
    print(json.dumps(bench_parse_invoice_pages(), indent=2))
