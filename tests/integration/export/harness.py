"""The payment export on the local stack against the Xero emulator: one organisation connected through the
browser flow, its initial sync done, a bank account per currency set, and the helpers the tests and the
export benchmark share (record a payment through the API, wait for its outcome, read what Xero holds).

Xero is acted on as a Xero user would, through the emulator's admin API (invoices, payments by hand, lock
dates, archived accounts, faults). What Xero holds is read from the emulator's own store.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.integration.app.harness import IssuedSecrets
from tools.local_stack.app import LocalApp, running_app
from xero_bridge.adapters.aws.export_queue import SqsExportQueue
from xero_bridge.adapters.aws.payments_table import PaymentLedgerTable
from xero_bridge.adapters.aws.writes_queue import SqsWritesQueue
from xero_bridge.domain.import_rules import map_invoice
from xero_bridge.models import xero
from xero_bridge.models.records import RecordSource, SyncedRecord
from xero_emulator.store import XeroStore

CLOCK_SCALE = 60.0  # Xero's minute passes in a second: limits, tokens and the Idempotency-Key window too
FINAL = ("exported", "error", "closed")
SETTLE_SECONDS = 40.0


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class ExportWorld:
    """A running app with one connected org and its Xero organisation (GBP base, GBP/USD/EUR banks)."""

    local: LocalApp
    org_id: str
    tenant_id: str
    contact_id: str
    accounts: dict[str, dict[str, Any]]  # Xero account JSON by code
    logs: io.StringIO
    issued: IssuedSecrets | None = None  # every token and code the emulator handed out
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30.0))

    # --- the AR app's side ---------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``/orgs/{org_id}{path}`` of the integration API, with the AR app's key."""
        url = f"{self.local.api_url}/orgs/{self.org_id}{path}"
        return self.http.request(method, url, auth=self.local.api_auth, **kwargs)

    def record(
        self,
        invoice_id: str,
        amount: str,
        *,
        currency: str = "GBP",
        payment_id: str | None = None,
        on: date | None = None,
        reference: str | None = None,
    ) -> str:
        """Record a payment through ``POST /payments`` (202); returns its payment id."""
        payment_id = payment_id or f"pay-{uuid.uuid4().hex[:12]}"
        body = {
            "payment_id": payment_id,
            "invoice_id": invoice_id,
            "amount": amount,
            "currency": currency,
            "date": (on or self.today()).isoformat(),
        }
        if reference:
            body["reference"] = reference
        response = self.api("POST", "/payments", json=body)
        assert response.status_code == 202, response.text
        return payment_id

    def payment(self, payment_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/payments/{payment_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def settle(
        self, payment_id: str, timeout: float = SETTLE_SECONDS, *, until: tuple[str, ...] = FINAL
    ) -> dict[str, Any]:
        """Wait until the payment is out of ``pending`` (or in one of ``until``); its view."""
        deadline = time.monotonic() + timeout
        while True:
            view = self.payment(payment_id)
            if view["status"] in until and not view["sending"]:
                return view
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{payment_id} still {view['status']} after {timeout} s: {view['history']}"
                )
            time.sleep(0.2)

    def set_bank_accounts(self, by_currency: Mapping[str, str]) -> None:
        """``PUT /settings`` with the accounts of the given codes."""
        body = {"bank_accounts": {cur: self.accounts[code]["AccountID"] for cur, code in by_currency.items()}}
        response = self.api("PUT", "/settings", json=body)
        assert response.status_code == 200, response.text

    # --- Xero's side (the emulator, acting as a Xero user) ----------------------------------------------

    @property
    def store(self) -> XeroStore:
        return self.local.emulator.store

    def today(self) -> date:
        return self.local.emulator.clock.now().astimezone(UTC).date()

    def invoice(self, total: str = "100.00", *, currency: str = "GBP", status: str = "AUTHORISED") -> str:
        """A sales invoice made in Xero; its InvoiceID."""
        body = {
            "Invoices": [
                {
                    "Type": "ACCREC",
                    "Contact": {"ContactID": self.contact_id},
                    "Date": self.today().isoformat(),
                    "DueDate": self.today().isoformat(),
                    "Status": status,
                    "CurrencyCode": currency,
                    "LineAmountTypes": "NoTax",
                    "LineItems": [
                        {"Description": "Services", "Quantity": 1, "UnitAmount": total, "AccountCode": "200"}
                    ],
                }
            ]
        }
        return str(self.local.admin.create_invoices(self.tenant_id, body)["Invoices"][0]["InvoiceID"])

    def xero_invoice(self, invoice_id: str) -> dict[str, Any]:
        return dict(self.store.get_resource(self.tenant_id, "Invoices", invoice_id)["Invoices"][0])

    def payments_in_xero(self, invoice_id: str) -> list[dict[str, Any]]:
        """Every live (not deleted) payment Xero holds against the invoice."""
        body = self.store.list_resource(
            self.tenant_id,
            "Payments",
            where=f'Invoice.InvoiceID==Guid("{invoice_id}") AND Status=="AUTHORISED"',
        )
        return list(body["Payments"])

    def sync_invoice(self, invoice_id: str) -> None:
        """Publish the invoice as Xero holds it now to the writer, as the real-time sync does on a webhook,
        and wait until RecordsTable holds that version."""
        held = xero.Invoice.model_validate(self.xero_invoice(invoice_id))
        source = RecordSource(
            kind="webhook", event_ids=(f"INVOICE:{invoice_id}",), fetched_at=datetime.now(UTC)
        )
        mapped = map_invoice(held, source, incremental=True)
        assert isinstance(mapped, SyncedRecord)
        stack = self.local.stack
        queue = SqsWritesQueue(stack.physical_id("WritesQueue"), client=stack.client("sqs"))
        queue.send_records([mapped], org_id=self.org_id, tenant_id=self.tenant_id, source=source)
        table = stack.client("dynamodb")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            item = table.get_item(
                TableName=stack.physical_id("RecordsTable"),
                Key={"pk": {"S": f"TENANT#{self.tenant_id}"}, "sk": {"S": f"INVOICE#{invoice_id}"}},
                ConsistentRead=True,
            ).get("Item")
            if item and item["data"]["M"]["status"]["S"] == str(held.status):
                return
            time.sleep(0.1)
        raise AssertionError("the writer did not store the synced invoice")

    # --- the queues -------------------------------------------------------------------------------------

    def sqs(self) -> Any:
        return self.local.stack.client("sqs")

    def queue_url(self, logical_id: str) -> str:
        return self.local.stack.physical_id(logical_id)

    def dead_letters(self, logical_id: str = "ExportsDeadLetterQueue") -> list[dict[str, Any]]:
        """Every message in a DLQ (received and made visible again)."""
        sqs, url = self.sqs(), self.queue_url(logical_id)
        found: dict[str, dict[str, Any]] = {}
        for _ in range(5):
            for message in sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
            ).get("Messages", []):
                found[message["MessageId"]] = message
        return list(found.values())

    def clear_dead_letters(self, logical_id: str = "ExportsDeadLetterQueue") -> None:
        """Delete what a DLQ holds (a test done with its letters; SQS allows one purge a minute)."""
        sqs, url = self.sqs(), self.queue_url(logical_id)
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def redrive(self, dead_letter: str = "ExportsDeadLetterQueue", source: str = "ExportQueue") -> int:
        """What ``aws sqs start-message-move-task`` does (moto has no move task): every DLQ message back to
        its source queue, as it was. Returns the messages moved."""
        sqs, dlq, to = self.sqs(), self.queue_url(dead_letter), self.queue_url(source)
        moved = 0
        while batch := sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=30).get(
            "Messages", []
        ):
            for message in batch:
                sqs.send_message(QueueUrl=to, MessageBody=message["Body"])
                sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
                moved += 1
        return moved

    def send_replay(self, body: Mapping[str, Any]) -> None:
        """A message on ExportReplayQueue, as the AR platform's tooling sends it."""
        self.sqs().send_message(QueueUrl=self.queue_url("ExportReplayQueue"), MessageBody=json.dumps(body))

    def export_queue(self) -> SqsExportQueue:
        return SqsExportQueue(self.queue_url("ExportQueue"), client=self.sqs())

    def ledger(self) -> PaymentLedgerTable:
        stack = self.local.stack
        return PaymentLedgerTable(stack.physical_id("PaymentsTable"), client=stack.client("dynamodb"))

    def exporter_env(self, **variables: str) -> None:
        """Change the exporter's environment (a new configuration is a cold start, as in Lambda)."""
        stack = self.local.stack
        overrides = dict(stack._env_overrides)
        overrides["PaymentExporterFunction"] = {**overrides.get("PaymentExporterFunction", {}), **variables}
        stack.set_env_overrides(overrides)
        stack.invoke("PaymentExporterFunction", {"Records": []}, cold_start=True)


def connect_org(local: LocalApp, org_id: str, tenant_id: str) -> None:
    """The finance user connects ``org_id`` to the tenant in the browser; the initial sync runs to its end."""
    local.admin.set_consent(tenant_ids=[tenant_id])
    asked = httpx.post(f"{local.api_url}/orgs/{org_id}/connect", json={}, auth=local.api_auth, timeout=30)
    assert asked.status_code == 201, asked.text
    # One browser opens the link and finishes the consent: the flow is bound to its cookie.
    with httpx.Client(follow_redirects=False, timeout=30.0) as browser:
        start = browser.get(asked.json()["connect_url"])
        consent = browser.get(start.headers["location"])
        done = browser.get(consent.headers["location"])
    assert _query(done.headers["location"]).get("status") == "connected", done.headers["location"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        view = httpx.get(f"{local.api_url}/orgs/{org_id}/sync", auth=local.api_auth, timeout=30).json()
        if view.get("status") == "finished":
            return
        assert view.get("status") != "failed", view
        time.sleep(0.2)
    raise AssertionError("the initial sync did not finish")


def new_organisation(local: LocalApp, name: str) -> tuple[str, str, dict[str, dict[str, Any]]]:
    """A Xero organisation in GBP with a customer, a sales account and GBP, USD and EUR bank accounts."""
    admin = local.admin
    tenant_id = admin.add_tenant(f"{name} {uuid.uuid4().hex[:6]}", base_currency="GBP")
    accounts = {
        "200": admin.add_account(tenant_id, code="200", name="Sales", type="REVENUE"),
        "090": admin.add_account(tenant_id, code="090", name="Business Current Account", currency_code="GBP"),
        "091": admin.add_account(tenant_id, code="091", name="USD Account", currency_code="USD"),
        "092": admin.add_account(tenant_id, code="092", name="EUR Account", currency_code="EUR"),
    }
    contact = admin.create_contacts(tenant_id, {"Contacts": [{"Name": "Boom FM Ltd", "IsCustomer": True}]})
    return tenant_id, str(contact["Contacts"][0]["ContactID"]), accounts


@contextmanager
def export_world(
    *, env: Mapping[str, str] | None = None, exporter_env: Mapping[str, str] | None = None, **emulator: Any
) -> Iterator[ExportWorld]:
    """The app (emulator with a scaled clock, the stack with its pollers), one org connected and synced,
    GBP and USD bank accounts set (EUR deliberately not).

    Xero sends no webhooks here: a test plays the real-time sync with :meth:`ExportWorld.sync_invoice`
    when it needs it. Otherwise the change fetcher, hit by the faults a test injects for the exporter,
    competes for the tenant's calls and leaves retries in its queue (the real-time tests own that)."""
    logs = io.StringIO()
    overrides = {
        "Parameters": {"RATE_LIMIT_TIME_SCALE": str(CLOCK_SCALE), **dict(env or {})},
        "PaymentExporterFunction": dict(exporter_env or {}),
    }
    settings = {"clock_scale": CLOCK_SCALE, **emulator}
    with running_app(
        seed="none", log_sink=logs, emulator_settings=settings, env_overrides=overrides
    ) as local:
        issued = IssuedSecrets.watch(local.emulator.identity)
        tenant_id, contact_id, accounts = new_organisation(local, "Export Ltd")
        org_id = f"org-{uuid.uuid4().hex[:8]}"
        connect_org(local, org_id, tenant_id)
        world = ExportWorld(local, org_id, tenant_id, contact_id, accounts, logs, issued)
        world.set_bank_accounts({"GBP": "090", "USD": "091"})
        try:
            with local.emulator.webhooks.muted():
                yield world
        finally:
            world.http.close()


def amount(value: Any) -> Decimal:
    return Decimal(str(value))
