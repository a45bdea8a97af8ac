"""How fast the emulator answers a paged invoice list over HTTP (rate limits off), 1 and 4 client threads.

Run: ``PYTHONPATH=emulator:. .venv/bin/python -m tests.bench.bench_emulator``. Figures, not assertions: the
sync benchmarks need the emulator to be far faster than Xero's 60 calls a minute so that the measured wall
time is the rate limit's, not the emulator's.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from xero_emulator.oauth import s256
from xero_emulator.server import Emulator
from xero_emulator.testing import running_emulator

INVOICES = 1000


@dataclass
class Rate:
    page_size: int
    threads: int
    requests: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _prepare(em: Emulator, invoices: int) -> tuple[str, str]:
    """A tenant with ``invoices`` ACCREC invoices and a token for it."""
    store = em.store
    tenant_id = store.add_tenant("Bench Org")
    codes = {a["Code"] for a in store.list_resource(tenant_id, "Accounts")["Accounts"]}
    if "200" not in codes:
        store.admin_add_account(tenant_id, code="200", name="Sales", type="REVENUE")
    contacts = [
        store.admin_create_contact(tenant_id, f"Bench Customer {n:03d}")["ContactID"] for n in range(50)
    ]
    body: dict[str, Any] = {
        "Invoices": [
            {
                "Type": "ACCREC",
                "Contact": {"ContactID": contacts[n % len(contacts)]},
                "Date": "2026-01-10",
                "DueDate": "2026-02-10",
                "Status": "AUTHORISED",
                "LineAmountTypes": "NoTax",
                "LineItems": [
                    {"Description": f"Line {n}", "Quantity": 1, "UnitAmount": "125.50", "AccountCode": "200"}
                ],
            }
            for n in range(invoices)
        ]
    }
    status, answer = store.create_invoices(tenant_id, body)
    if status != 200:
        raise RuntimeError(f"could not create bench invoices: {answer}")
    return tenant_id, _token(em)


def _token(em: Emulator) -> str:
    http = httpx.Client(base_url=em.base_url)
    verifier = secrets.token_urlsafe(48)
    redirect = em.config.redirect_uris[0]
    location = http.get(
        "/identity/connect/authorize",
        params={
            "response_type": "code",
            "client_id": em.config.client_id,
            "redirect_uri": redirect,
            "scope": "offline_access accounting.transactions.read",
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        },
    ).headers["location"]
    code = parse_qs(urlparse(location).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect,
        "code_verifier": verifier,
    }
    answer = http.post(
        "/connect/token", data=form, auth=(em.config.client_id, em.config.client_secret)
    ).json()
    http.close()
    return str(answer["access_token"])


def measure(
    em: Emulator, tenant_id: str, token: str, *, page_size: int, threads: int, requests_per_thread: int
) -> Rate:
    """``threads`` clients each GET ``/Invoices?page=..&pageSize=page_size`` ``requests_per_thread`` times."""
    headers = {"Authorization": f"Bearer {token}", "xero-tenant-id": tenant_id, "Accept": "application/json"}
    pages = max(1, INVOICES // page_size)
    errors: list[str] = []
    barrier = threading.Barrier(threads + 1)

    def client() -> None:
        with httpx.Client(base_url=em.base_url, timeout=30) as http:
            barrier.wait()
            for n in range(requests_per_thread):
                response = http.get(
                    "/api.xro/2.0/Invoices",
                    params={"page": n % pages + 1, "pageSize": page_size},
                    headers=headers,
                )
                if response.status_code != 200:
                    errors.append(str(response.status_code))

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. HTTP {errors[0]}")
    return Rate(page_size, threads, threads * requests_per_thread, elapsed)


def run(requests_per_thread: dict[int, int] | None = None) -> list[Rate]:
    """Every combination (page of 100 and of 1,000 invoices; 1 and 4 threads) on one emulator."""
    per_thread = requests_per_thread or {100: 200, 1000: 20}
    results = []
    with running_emulator(enforce_rate_limits=False) as em:
        tenant_id, token = _prepare(em, INVOICES)
        for page_size in (100, 1000):
            for threads in (1, 4):
                results.append(
                    measure(
                        em,
                        tenant_id,
                        token,
                        page_size=page_size,
                        threads=threads,
                        requests_per_thread=per_thread[page_size] // threads,
                    )
                )
    return results


def main() -> None:
    print(f"Xero emulator: GET /Invoices, tenant with {INVOICES} invoices, rate limits off")
    print(f"{'page size':>10} {'threads':>8} {'requests':>9} {'seconds':>8} {'req/s':>8} {'invoices/s':>11}")
    for rate in run():
        print(
            f"{rate.page_size:>10} {rate.threads:>8} {rate.requests:>9} {rate.seconds:>8.2f} "
            f"{rate.per_second:>8.1f} {rate.per_second * rate.page_size:>11.0f}"
        )


if __name__ == "__main__":
    main()
