"""``make chaos [CHAOS_SEED=N]``: every flow at once on the local stack, under random faults and kills.

The whole story runs against the Xero emulator while it injects faults at random -- 429s of every
``X-Rate-Limit-Problem`` (minute, concurrent, day, appminute), 5xx, slow answers, dropped connections, and
answers lost after Xero saved a write -- and the local runtime SIGKILLs function sandboxes at random points:
before or after their SQS sends and DynamoDB writes, and right before or after their Xero calls (the rate
limiters' grant and release are the writes on either side of each call):

1. organisations connect through the browser flow and their initial syncs run;
2. meanwhile Xero users edit, create and pay invoices by hand and archive customers (webhooks and the
   catch-up bring those in), and the AR app records payments (some in a currency with no bank account, one
   on an invoice already paid by hand);
3. the catch-up schedule fires; one organisation disconnects and reconnects; the failed exports are
   replayed, through the API and as SQS messages.

Then the faults and kills stop, the dead-letter queues are redriven as an operator would, failed syncs are
resumed, the catch-up runs once more and the queues drain. Verified, and printed as counts:

- DynamoDB equals Xero, record for record (``tools/reconcile.py``), for every organisation;
- every payment the API accepted is in Xero exactly once when ``exported`` (found by its ``[AR:...]`` tag),
  absent when ``error`` (with its code) or ``closed``; no payment is left ``pending`` or ``sending``;
- every dead-lettered message is accounted for with its reason; every sync finished.

Time is compressed as in the other local-stack tests: the emulator's clock and the rate limiters run 60x,
and the queues' visibility timeouts, the export's claim and the catch-up's lease are shortened so that a
killed invocation's work comes back within seconds instead of Lambda's minutes.

Run: ``PYTHONPATH=layers/shared:emulator:. .venv/bin/python -m tools.chaos --seed 1 [--orgs 3 ...]``
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

import httpx

from tools.local_stack.app import LocalApp, running_app
from tools.local_stack.aws_server import AwsRequest
from tools.reconcile import Records, differences, expected_records, held_records
from xero_bridge.adapters.aws.records_table import RecordsTable
from xero_bridge.domain.import_rules import map_records
from xero_bridge.models.records import RecordSource, RecordType

CLOCK_SCALE = 60.0
#: Every source queue's visibility timeout during the run (the template's: 6 x its consumer's timeout). Like
#: the template's, longer than the export's claim and the catch-up's lease below: a message comes back only
#: once the work of the invocation that died holding it may be taken again.
VISIBILITY_SECONDS = 30
RESUMED_SYNC_SECONDS = 120.0  # a resumed sync of a chaos organisation finishes in seconds
SOURCE_QUEUES = ("WebhooksQueue", "CatchUpQueue", "ExportQueue", "ExportReplayQueue", "WritesQueue")
DEAD_LETTERS = {
    "WebhooksDeadLetterQueue": "WebhooksQueue",
    "CatchUpDeadLetterQueue": "CatchUpQueue",
    "ExportsDeadLetterQueue": "ExportQueue",
    "ExportReplayDeadLetterQueue": "ExportReplayQueue",
    "WritesDeadLetterQueue": "WritesQueue",
}
#: Open (README, "Chaos"): now and then one webhook delivery stays invisible in WebhooksQueue past the
#: settling time, with no function running and nothing else amiss. Reported, and named by this prefix.
OPEN_STUCK_DELIVERY = "queues did not drain: not drained after"
STUCK_DELIVERY_SOURCE = "{'ChangeFetcherFunctionDeliveries': ("  # only that queue, none in flight

#: Where an answer lost after Xero saved the write matters: the payment export's PUT /Payments.
LOST_ANSWER = {"method": "PUT", "path_prefix": "/api.xro/2.0/Payments"}
KILLED_OPERATIONS = frozenset(
    {"SendMessage", "SendMessageBatch", "PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"}
)
#: The browser's connect and the API answer a person: a killed one is a 502 the person retries, which the
#: run does not model; every function behind a queue, a schedule or the state machine may die.
SPARED_FUNCTIONS = frozenset({"OAuthConnectFunction", "OAuthCallbackFunction", "IntegrationApiFunction"})


@dataclass
class ChaosConfig:
    seed: int = 1
    orgs: int = 3
    contacts: int = 12
    invoices: int = 30
    payments: int = 8  # recorded through the API per org
    fault_every: float = 0.4  # real seconds between two injected faults
    kill_chance: float = 0.03  # of each eligible AWS request from a function
    max_kills: int = 40
    settle_seconds: float = 420.0


@dataclass
class Report:
    faults: Counter[str] = field(default_factory=Counter)
    faults_fired: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    records_verified: int = 0
    record_differences: dict[str, Any] = field(default_factory=dict)
    payments: Counter[str] = field(default_factory=Counter)
    payments_in_xero: int = 0
    duplicated: int = 0
    lost: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    syncs: Counter[str] = field(default_factory=Counter)
    settled_seconds: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        kills_by_when = Counter(k.split(":", 1)[0] for k in self.kills.elements())
        return [
            f"faults injected: {sum(self.faults.values())} ({dict(sorted(self.faults.items()))}),"
            f" fired {self.faults_fired}",
            f"invocations killed: {sum(self.kills.values())} ({dict(kills_by_when)})",
            f"  where: {dict(sorted(self.kills.items()))}",
            f"records verified equal to Xero: {self.records_verified};"
            f" differences: {self.record_differences}",
            f"payments: {dict(self.payments)}; in Xero exactly once: {self.payments_in_xero};"
            f" duplicated: {self.duplicated}; lost: {self.lost}",
            f"dead letters (redriven, reason): {dict(self.dead_letters)}",
            f"syncs: {dict(self.syncs)}; settled (DLQs redriven, queues drained) in {self.settled_seconds} s",
            "problems: " + ("none" if not self.problems else "; ".join(self.problems)),
        ]


@dataclass
class Org:
    org_id: str
    tenant_id: str
    contact_ids: list[str]
    invoice_ids: list[str]
    accounts: dict[str, str]  # code -> AccountID


# --- the world ----------------------------------------------------------------------------------------


class Chaos:
    """One run: the app, its organisations, the faults and kills, the story, the checks."""

    def __init__(self, local: LocalApp, config: ChaosConfig) -> None:
        self.local = local
        self.config = config
        self.rng = random.Random(config.seed)
        self.report = Report()
        self.http = httpx.Client(timeout=60.0)
        self.orgs: list[Org] = []
        self.payments: dict[str, tuple[Org, str, Decimal]] = {}  # payment id -> org, invoice, amount
        self._stop = threading.Event()
        self._kills_on = threading.Event()
        self._lock = threading.Lock()

    # --- the AR app's side ------------------------------------------------------------------------------

    def api(self, method: str, org: Org, path: str, **kwargs: Any) -> httpx.Response:
        """A call of the integration API, retried on a 5xx as the AR backend's client does."""
        url = f"{self.local.api_url}/orgs/{org.org_id}{path}"
        for attempt in range(8):
            response = self.http.request(method, url, auth=self.local.api_auth, **kwargs)
            if response.status_code < 500:
                return response
            time.sleep(0.5 * (attempt + 1))
        return response

    def connect(self, org: Org) -> None:
        self.local.admin.set_consent(tenant_ids=[org.tenant_id])
        errors: list[str] = []
        for attempt in range(12):
            asked = self.api("POST", org, "/connect", json={})
            assert asked.status_code == 201, asked.text
            with httpx.Client(follow_redirects=False, timeout=60.0) as browser:
                start = browser.get(asked.json()["connect_url"])
                consent = browser.get(start.headers["location"])
                done = browser.get(consent.headers["location"])
            answer = parse_qs(urlsplit(done.headers.get("location", "")).query)
            if answer.get("status", [""])[0] == "connected":
                return
            errors.append(answer.get("error", [str(done.status_code)])[0])
            time.sleep(1.0 + attempt / 2)  # Xero failed the callback's calls (a fault): the user tries again
        raise AssertionError(f"{org.org_id} could not connect: {errors}")

    # --- Xero's side ------------------------------------------------------------------------------------

    def new_org(self, n: int) -> Org:
        admin = self.local.admin
        tenant_id = admin.add_tenant(f"Chaos {n} {uuid.uuid4().hex[:6]}", base_currency="GBP")
        accounts = {
            "200": admin.add_account(tenant_id, code="200", name="Sales", type="REVENUE")["AccountID"],
            "090": admin.add_account(tenant_id, code="090", name="Current", currency_code="GBP")["AccountID"],
            "091": admin.add_account(tenant_id, code="091", name="USD", currency_code="USD")["AccountID"],
            "092": admin.add_account(tenant_id, code="092", name="EUR", currency_code="EUR")["AccountID"],
        }
        contacts = [
            {"Name": f"Customer {n}-{i}", "IsCustomer": i % 4 != 0, "IsSupplier": i % 4 == 0}
            for i in range(self.config.contacts)
        ]
        made = admin.create_contacts(tenant_id, {"Contacts": contacts})["Contacts"]
        contact_ids = [c["ContactID"] for c in made]
        invoices = []
        for i in range(self.config.invoices):
            currency = "USD" if i % 5 == 4 else ("EUR" if i % 7 == 6 else "GBP")
            invoices.append(
                {
                    "Type": "ACCREC" if i % 6 else "ACCPAY",
                    "Contact": {"ContactID": contact_ids[i % len(contact_ids)]},
                    "Date": "2026-11-02",
                    "DueDate": "2026-12-02",
                    "Status": "DRAFT" if i % 9 == 8 else "AUTHORISED",
                    "CurrencyCode": currency,
                    "LineAmountTypes": "NoTax",
                    "Reference": f"R{i}",
                    "LineItems": [
                        {
                            "Description": "Work",
                            "Quantity": 1,
                            "UnitAmount": f"{100 + 7 * i}.50",
                            "AccountCode": "200",
                        }
                    ],
                }
            )
        made = admin.create_invoices(tenant_id, {"Invoices": invoices})["Invoices"]
        invoice_ids = [inv["InvoiceID"] for inv in made if inv["Type"] == "ACCREC"]
        return Org(f"chaos-{self.config.seed}-{n}", tenant_id, contact_ids, invoice_ids, accounts)

    def xero_invoice(self, org: Org, invoice_id: str) -> dict[str, Any]:
        return dict(
            self.local.emulator.store.get_resource(org.tenant_id, "Invoices", invoice_id)["Invoices"][0]
        )

    def act_as_xero_users(self, org: Org) -> None:
        """Edits, a new invoice, a payment by hand, a customer archived: what webhooks and catch-ups bring."""
        admin, rng = self.local.admin, self.rng
        for invoice_id in rng.sample(org.invoice_ids, 3):
            admin.edit_invoice(org.tenant_id, invoice_id, {"Reference": f"edited-{rng.randrange(10**6)}"})
        body = {
            "Invoices": [
                {
                    "Type": "ACCREC",
                    "Contact": {"ContactID": org.contact_ids[1]},
                    "Date": "2026-11-20",
                    "DueDate": "2026-12-20",
                    "Status": "AUTHORISED",
                    "CurrencyCode": "GBP",
                    "LineAmountTypes": "NoTax",
                    "LineItems": [
                        {"Description": "Late", "Quantity": 1, "UnitAmount": "55.00", "AccountCode": "200"}
                    ],
                }
            ]
        }
        org.invoice_ids.append(admin.create_invoices(org.tenant_id, body)["Invoices"][0]["InvoiceID"])
        archived = org.contact_ids[-1]
        if archived != org.contact_ids[1]:
            admin.archive_contact(org.tenant_id, archived)

    # --- faults and kills ---------------------------------------------------------------------------------

    def inject_faults(self) -> None:
        """A thread: one random fault every ``fault_every`` seconds until the run's chaos ends."""
        rng, admin = random.Random(self.config.seed * 7919), self.local.admin
        paths = ["/api.xro/2.0/", "/api.xro/2.0/Invoices", "/api.xro/2.0/Payments", "/api.xro/2.0/Contacts"]
        while not self._stop.wait(self.config.fault_every):
            org = rng.choice(self.orgs) if self.orgs else None
            common: dict[str, Any] = {"count": 1, "path_prefix": rng.choice(paths)}
            if org is not None and rng.random() < 0.7:
                common["tenant_id"] = org.tenant_id
            kind = rng.choice(
                [
                    "429 minute",
                    "429 concurrent",
                    "429 appminute",
                    "429 day",
                    "500",
                    "503",
                    "slow",
                    "drop",
                    "lost answer (500 after the write)",
                    "lost answer (drop after the write)",
                ]
            )
            try:
                if kind.startswith("429"):
                    problem = kind.split()[1]
                    retry = rng.choice([1, 5, 20]) if problem != "day" else 30
                    admin.add_fault("rate_limit", problem=problem, retry_after=retry, **common)
                elif kind in ("500", "503"):
                    admin.add_fault("error", status=int(kind), **common)
                elif kind == "slow":
                    admin.add_fault("slow", delay_ms=rng.randrange(500, 4000), **common)
                elif kind == "drop":
                    admin.add_fault("drop", **common)
                elif kind.startswith("lost answer (500"):
                    admin.add_fault("error", status=500, phase="after", **{**common, **LOST_ANSWER})
                else:
                    admin.add_fault("drop", phase="after", **{**common, **LOST_ANSWER})
            except httpx.HTTPError:
                continue
            self.report.faults[kind] += 1

    def kill_hook(self, request: AwsRequest) -> None:
        """Kill the sender of a random eligible AWS request, before or after it is served."""
        sender = request.sender
        if not self._kills_on.is_set() or sender is None or sender.function in SPARED_FUNCTIONS:
            return
        operation = request.operation
        if operation not in KILLED_OPERATIONS:
            return
        with self._lock:
            if (
                sum(self.report.kills.values()) >= self.config.max_kills
                or self.rng.random() >= self.config.kill_chance
            ):
                return
            after = self.rng.random() < 0.5
            what = _what(request, operation)
            self.report.kills[f"{'after' if after else 'before'}: {sender.function} {what}"] += 1
        if after:
            request.kill_sender_after()
        else:
            request.kill_sender()

    # --- the story ----------------------------------------------------------------------------------------

    def run(self) -> Report:
        local, cfg = self.local, self.config
        for n in range(cfg.orgs):
            self.orgs.append(self.new_org(n))
        self._shorten_time()
        faults = threading.Thread(target=self.inject_faults, name="chaos-faults", daemon=True)
        with local.stack.intercept_aws(self.kill_hook):
            self._kills_on.set()
            faults.start()
            try:
                for org in self.orgs:
                    self.connect(org)
                for org in self.orgs:
                    self.act_as_xero_users(org)
                    self.set_banks(org, "GBP", "USD")
                for org in self.orgs:
                    self.record_payments(org)
                self.fire_catch_up()
                self.disconnect_and_reconnect(self.orgs[0])
                for org in self.orgs:
                    self.set_banks(org, "GBP", "USD", "EUR")
                    self.replay(org)
                self.fire_catch_up()
                time.sleep(5.0)
            finally:
                self._stop.set()
                faults.join()
                self._kills_on.clear()
                self.report.faults_fired = sum(self.report.faults.values()) - len(local.admin.faults())
                local.admin.clear_faults()
        self.settle()
        self.verify()
        return self.report

    def set_banks(self, org: Org, *currencies: str) -> None:
        """The finance team chooses its bank accounts, once the initial sync has brought them."""
        codes = {"GBP": "090", "USD": "091", "EUR": "092"}
        body = {"bank_accounts": {currency: org.accounts[codes[currency]] for currency in currencies}}
        deadline = time.monotonic() + self.config.settle_seconds
        while True:
            response = self.api("PUT", org, "/settings", json=body)
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            if self.api("GET", org, "/sync").json().get("status") == "failed":
                self.api("POST", org, "/sync", params={"resume": "true"})  # the user presses "resume"
            time.sleep(1.0)
        if response.status_code != 200:
            self.report.problems.append(
                f"PUT /settings answered {response.status_code}: {response.text[:200]}"
            )

    def record_payments(self, org: Org) -> None:
        rng = self.rng
        by_hand = org.invoice_ids[0]
        invoice = self.xero_invoice(org, by_hand)
        if invoice["Status"] == "AUTHORISED":
            self.local.admin.record_payment(org.tenant_id, by_hand, Decimal(str(invoice["AmountDue"])))
        candidates = org.invoice_ids[: max(2, self.config.payments)]
        for i in range(self.config.payments):
            invoice_id = candidates[i % len(candidates)]
            held = self.xero_invoice(org, invoice_id)
            payment_id = f"pay-{org.org_id}-{i}"
            amount = Decimal("10.00") + Decimal(rng.randrange(0, 500)) / 100
            body = {
                "payment_id": payment_id,
                "invoice_id": invoice_id,
                "amount": str(amount),
                "currency": held["CurrencyCode"],
                "date": "2026-11-25",
                "reference": f"chaos {i}",
            }
            response = self.api("POST", org, "/payments", json=body)
            if response.status_code in (200, 202):
                self.payments[payment_id] = (org, invoice_id, amount)
            else:
                self.report.problems.append(
                    f"POST /payments answered {response.status_code}: {response.text[:200]}"
                )

    def replay(self, org: Org) -> None:
        if self.rng.random() < 0.5:
            self.api("POST", org, "/payments/replay", json={"status": "error"})
        else:
            sqs = self.local.stack.client("sqs")
            url = self.local.stack.physical_id("ExportReplayQueue")
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"org_id": org.org_id, "status": "error"}))

    def fire_catch_up(self) -> None:
        self.local.stack.fire_schedule("CatchUpFunction")

    def disconnect_and_reconnect(self, org: Org) -> None:
        response = self.api("DELETE", org, "/connection")
        if response.status_code != 200:
            self.report.problems.append(f"disconnect answered {response.status_code}: {response.text[:200]}")
        self.local.admin.edit_invoice(org.tenant_id, org.invoice_ids[2], {"Reference": "while disconnected"})
        self.connect(org)

    # --- the end --------------------------------------------------------------------------------------------

    def settle(self) -> None:
        """What an operator does once Xero is healthy: redrive the DLQs, resume failed syncs, catch up."""
        stack, started = self.local.stack, time.monotonic()
        deadline = started + self.config.settle_seconds
        self.local.admin.wait_webhooks(timeout=60)
        for round_ in range(3):
            self._drain(deadline)
            self._redrive()
            for org in self.orgs:
                view = self.api("GET", org, "/sync").json()
                if view.get("status") == "failed":
                    self.api("POST", org, "/sync", params={"resume": "true"})
                    # A resumed sync runs again from its checkpoints: it gets its own time, since the drain
                    # before may have waited out the settling time on a message it cannot see.
                    self._wait_sync(org, max(deadline, time.monotonic() + RESUMED_SYNC_SECONDS))
                else:
                    self._wait_sync(org, deadline)
            for org in self.orgs:
                self.api("POST", org, "/payments/replay", json={"status": "error"})
            self.fire_catch_up()
            self._drain(deadline)
            if round_ and not self._dead_letter_count():
                break
        try:  # a message a killed invocation held comes back after the visibility timeout: wait for it
            stack.drain(timeout=max(2.0 * VISIBILITY_SECONDS + 10, deadline - time.monotonic()))
        except TimeoutError as exc:
            self.report.problems.append(f"queues did not drain: {exc}")
        self.report.settled_seconds = round(time.monotonic() - started)

    def verify(self) -> None:
        report, stack = self.report, self.local.stack
        records = RecordsTable(stack.physical_id("RecordsTable"), client=stack.client("dynamodb"), workers=1)
        for org in self.orgs:
            expected = expected_records(self.local.emulator.store, org.tenant_id)
            held = held_records(records, org.tenant_id)
            self._archived_later(org, expected, held)
            diff = differences(expected, held)
            report.records_verified += sum(len(v) for v in expected.values())
            if diff:
                report.record_differences[org.org_id] = {str(k): v for k, v in diff.items()}
                report.problems.append(f"{org.org_id}: DynamoDB differs from Xero: {_detail(expected, held)}")
            status = self.api("GET", org, "/sync").json().get("status")
            report.syncs[str(status)] += 1
            if status != "finished":
                report.problems.append(f"{org.org_id}: sync {status}")
        tags = self._tags_in_xero()
        for payment_id, (org, _invoice_id, amount) in self.payments.items():
            view = self.api("GET", org, f"/payments/{payment_id}").json()
            status = view.get("status")
            report.payments[f"{status} {_why(view)}".strip()] += 1
            found = tags.get(payment_id, [])
            if len(found) > 1:
                report.duplicated += 1
                report.problems.append(f"{payment_id} is in Xero {len(found)} times")
            if status == "exported":
                if len(found) == 1 and Decimal(str(found[0])) == amount:
                    report.payments_in_xero += 1
                else:
                    report.lost += 1
                    report.problems.append(f"{payment_id} exported but Xero holds {found}")
            elif status in ("error", "closed"):
                if found:
                    report.problems.append(f"{payment_id} is {status} but in Xero {len(found)} times")
            else:
                report.lost += 1
                report.problems.append(f"{payment_id} left {status}: {view.get('history', [])[-3:]}")
        for dlq in DEAD_LETTERS:
            left = self._receive_all(dlq)
            for message in left:
                reason = _reason(message) or "no reason"
                report.dead_letters[f"{dlq} (left): {reason[:80]}"] += 1
                report.problems.append(f"{dlq} still holds a message: {reason[:200]}")

    def _archived_later(self, org: Org, expected: Records, held: Records) -> None:
        """A customer archived in Xero after we imported it stays, inactive (the import rules): expected too.

        The full sync's filter leaves archived contacts out, so ``expected_records`` lacks one we imported
        before a Xero user archived it; it must be held, marked inactive, with what Xero holds now.
        """
        store = self.local.emulator.store
        for xero_id in held[RecordType.CONTACT].keys() - expected[RecordType.CONTACT].keys():
            contact = store.get_resource(org.tenant_id, "Contacts", xero_id)["Contacts"][0]
            if contact.get("ContactStatus") == "ARCHIVED":
                source = RecordSource(kind="page", run_id="expected", resource="Contacts", page=1)
                batch = map_records("Contacts", [contact], source, incremental=True)
                for record in batch.records:
                    expected[RecordType.CONTACT][record.xero_id] = record.payload.model_dump(mode="json")

    # --- helpers ------------------------------------------------------------------------------------

    def _shorten_time(self) -> None:
        sqs = self.local.stack.client("sqs")
        for name in SOURCE_QUEUES:
            sqs.set_queue_attributes(
                QueueUrl=self.local.stack.physical_id(name),
                Attributes={"VisibilityTimeout": str(VISIBILITY_SECONDS)},
            )

    def _drain(self, deadline: float) -> None:
        try:
            self.local.admin.wait_webhooks(timeout=30)
            self.local.stack.drain(timeout=max(5.0, deadline - time.monotonic()))
        except TimeoutError as exc:
            self.report.problems.append(f"queues did not drain: {exc}")

    def _wait_sync(self, org: Org, deadline: float) -> None:
        while True:
            status = self.api("GET", org, "/sync").json().get("status")
            if status in ("finished", "failed") or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        if status in ("finished", "failed"):
            return
        self.report.problems.append(f"{org.org_id}: sync still {status} when the settling time ran out")

    def _receive_all(self, logical_id: str) -> list[dict[str, Any]]:
        sqs, url = self.local.stack.client("sqs"), self.local.stack.physical_id(logical_id)
        found: dict[str, dict[str, Any]] = {}
        for _ in range(3):
            for message in sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
            ).get("Messages", []):
                found[message["MessageId"]] = message
        return list(found.values())

    def _dead_letter_count(self) -> int:
        return sum(len(self._receive_all(dlq)) for dlq in DEAD_LETTERS)

    def _redrive(self) -> None:
        """``aws sqs start-message-move-task`` for every DLQ (moto has none): each message back, counted."""
        sqs = self.local.stack.client("sqs")
        for dlq, source in DEAD_LETTERS.items():
            dlq_url, to = self.local.stack.physical_id(dlq), self.local.stack.physical_id(source)
            while batch := sqs.receive_message(
                QueueUrl=dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=30
            ).get("Messages", []):
                for message in batch:
                    reason = _reason(message)
                    self.report.dead_letters[
                        f"{dlq}: {(reason or 'redriven by SQS after maxReceiveCount')[:70]}"
                    ] += 1
                    sqs.send_message(QueueUrl=to, MessageBody=message["Body"])
                    sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])

    def _tags_in_xero(self) -> dict[str, list[str]]:
        """Every live payment in Xero carrying an ``[AR:payment_id]`` tag: payment id -> amounts."""
        tags: dict[str, list[str]] = {}
        store = self.local.emulator.store
        for org in self.orgs:
            page = 1
            while True:
                body = store.list_resource(org.tenant_id, "Payments", page=page, page_size=1000)
                for payment in body.get("Payments", []):
                    reference = str(payment.get("Reference") or "")
                    if "[AR:" in reference and payment.get("Status") != "DELETED":
                        tag = reference.rsplit("[AR:", 1)[1].rstrip("]")
                        tags.setdefault(tag, []).append(str(payment.get("Amount")))
                if len(body.get("Payments", [])) < 1000:
                    break
                page += 1
        return tags


def _detail(expected: Records, held: Records) -> list[str]:
    """Which records differ and how: the first few, with the fields that differ."""
    out = []
    for record_type in expected.keys() | held.keys():
        want, have = expected.get(record_type, {}), held.get(record_type, {})
        for key in sorted(want.keys() | have.keys()):
            if key not in have:
                out.append(f"{record_type.value} {key} missing")
            elif key not in want:
                out.append(f"{record_type.value} {key} extra")
            elif want[key] != have[key]:
                fields = {
                    f: (want[key].get(f), have[key].get(f))
                    for f in want[key]
                    if want[key][f] != have[key].get(f)
                }
                out.append(f"{record_type.value} {key} differs (Xero, held): {fields}")
    return out[:5]


def _reason(message: dict[str, Any]) -> str | None:
    reason = message.get("MessageAttributes", {}).get("reason", {}).get("StringValue")
    return str(reason) if reason else None


def _why(view: dict[str, Any]) -> str:
    """A payment view's code or reason (error: its code; closed: its reason)."""
    for key in ("error", "closed"):
        detail = view.get(key)
        if isinstance(detail, dict):
            return str(detail.get("code") or detail.get("reason") or "")
    return ""


def _what(request: AwsRequest, operation: str) -> str:
    """Which step an AWS request is: an SQS send, a limiter grant (before a Xero call) or release (after)."""
    if operation.startswith("Send"):
        return "SQS send"
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return operation
    key = str(
        body.get("Key", {}).get("pk", {}).get("S", "") or body.get("Item", {}).get("pk", {}).get("S", "")
    )
    expression = str(body.get("UpdateExpression", ""))
    if key.startswith("RATE#APP"):
        return "app budget unit (before a Xero call)"
    if key.startswith("RATE#"):
        if expression.startswith("REMOVE #leases"):
            return "limiter release (after a Xero call)"
        if "#calls = :calls" in expression:
            return "limiter grant (before a Xero call)"
        return "limiter write"
    return f"DynamoDB {operation} {key.split('#', 1)[0]}"


@contextmanager
def chaos_app(config: ChaosConfig, *, log_path: str | None = None) -> Iterator[Chaos]:
    logs: TextIO = open(log_path, "w", encoding="utf-8") if log_path else io.StringIO()  # noqa: SIM115
    env = {
        "Parameters": {"RATE_LIMIT_TIME_SCALE": str(CLOCK_SCALE)},
        "PaymentExporterFunction": {
            "EXPORT_LEASE_SECONDS": "20",  # past the exporter's work here (a 6 s read timeout)
            "EXPORT_RETRY_BASE_SECONDS": "1",
            "XERO_READ_TIMEOUT_SECONDS": "6",
        },
        "CatchUpFunction": {"CATCH_UP_LEASE_SECONDS": "20"},
    }
    with ExitStack() as stack:
        local = stack.enter_context(
            running_app(
                seed="none",
                log_sink=logs,
                emulator_settings={"clock_scale": CLOCK_SCALE},
                env_overrides=env,
            )
        )
        chaos = Chaos(local, config)
        try:
            yield chaos
        finally:
            chaos.http.close()
            logs.close()


def run(config: ChaosConfig, log_path: str | None = None) -> Report:
    started = time.monotonic()
    with chaos_app(config, log_path=log_path) as chaos:
        report = chaos.run()
    print(f"chaos seed {config.seed}: {config.orgs} organisations, {time.monotonic() - started:.0f} s")
    for line in report.lines():
        print("  " + line)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, nargs="+", default=[1])
    parser.add_argument("--orgs", type=int, default=ChaosConfig.orgs)
    parser.add_argument("--payments", type=int, default=ChaosConfig.payments)
    parser.add_argument("--log", help="write the functions' log lines of each seed to LOG.<seed>")
    args = parser.parse_args(argv)
    failed = 0
    for seed in args.seed:
        log_path = f"{args.log}.{seed}" if args.log else None
        report = run(ChaosConfig(seed=seed, orgs=args.orgs, payments=args.payments), log_path)
        failed += not report.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
