"""What every function logs, over the real flows on the local stack: a connect through the browser, the
initial sync, a signed webhook and the change it names, a payment export, one failing for a missing bank
account and its replay by message. No log line carries a secret or a whole record, and every JSON line of an
org's work names the org.

The local runtime masks the stack's NoEcho parameters (client secret, webhook key) in what it echoes; the
mask is switched off here, so a leak would show. Secrets are the ones really issued: every code, access,
refresh and id token the emulator's identity service handed out, every PKCE verifier it was sent, the Xero
app's client secret and webhook key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.export.harness import ExportWorld, connect_org, export_world

pytestmark = pytest.mark.integration

#: Fields only a whole record carries (Xero's JSON, or our stored record): never in a log line.
PAYLOAD_FIELDS = ('"LineItems"', '"AmountDue"', '"Addresses"', '"Phones"', '"line_items"', '"amount_due"')
CUSTOMER = "Boom FM Ltd"  # the organisation's customer: its name is in every record about it


@dataclass
class Sent:
    """What the test saw go to Xero's identity service besides the issued tokens: the PKCE verifiers."""

    verifiers: list[str] = field(default_factory=list)


@dataclass
class Flows:
    world: ExportWorld
    sent: Sent
    invoice_id: str
    exported: dict[str, Any]
    replayed: dict[str, Any]
    webhook_status: int

    @property
    def lines(self) -> list[str]:
        return self.world.logs.getvalue().splitlines()

    def json_lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.lines:
            start = line.find("{")
            if start < 0:
                continue
            try:
                found.append(json.loads(line[start:]))
            except json.JSONDecodeError:
                continue
        return found


def _watch_verifiers(world: ExportWorld, sent: Sent) -> None:
    identity = world.local.emulator.identity
    token = identity.token

    def watched(form: Any, authorization: str | None) -> dict[str, Any]:
        if form.get("code_verifier"):
            sent.verifiers.append(str(form["code_verifier"]))
        return token(form, authorization)

    identity.token = watched  # type: ignore[method-assign]


def _signed_delivery(world: ExportWorld, invoice_id: str) -> tuple[bytes, str]:
    """An INVOICE UPDATE delivery as Xero signs it, with the Xero app's webhook key."""
    event = {
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{invoice_id}",
        "resourceId": invoice_id,
        "tenantId": world.tenant_id,
        "tenantType": "ORGANISATION",
        "eventCategory": "INVOICE",
        "eventType": "UPDATE",
        "eventDateUtc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
    }
    body = {"events": [event], "firstEventSequence": 1, "lastEventSequence": 1, "entropy": "QWERTYUIOP"}
    raw = json.dumps(body, separators=(",", ":")).encode()
    key = world.local.emulator.config.webhook_key.encode()
    return raw, base64.b64encode(hmac.new(key, raw, hashlib.sha256).digest()).decode()


@pytest.fixture(scope="module")
def flows() -> Iterator[Flows]:
    sent = Sent()
    with export_world(exporter_env={"EXPORT_RETRY_BASE_SECONDS": "0"}) as world:
        world.local.stack.runtime.redact.clear()  # a leaked secret must show, not be masked as ****
        _watch_verifiers(world, sent)
        # A connect of a second org through the browser, with the verifier watched (the world's own
        # connect happened before the watch).
        tenant_id = world.local.admin.add_tenant(f"Second Ltd {uuid.uuid4().hex[:6]}", base_currency="GBP")
        connect_org(world.local, f"org-{uuid.uuid4().hex[:8]}", tenant_id)
        # A change in Xero, and the webhook saying so
        invoice_id = world.invoice("410.00")
        raw, signature = _signed_delivery(world, invoice_id)
        answer = world.http.post(
            f"{world.local.api_url}/webhooks/xero",
            content=raw,
            headers={"x-xero-signature": signature, "content-type": "application/json"},
        )
        # A payment exported; one in error (no EUR account), then replayed by message once the account is set
        exported = world.settle(world.record(invoice_id, "100.00", reference="BACS 991"))
        eur_invoice = world.invoice("80.00", currency="EUR")
        failing = world.record(eur_invoice, "80.00", currency="EUR")
        assert world.settle(failing)["status"] == "error"
        world.set_bank_accounts({"GBP": "090", "USD": "091", "EUR": "092"})
        world.send_replay({"org_id": world.org_id, "payment_ids": [failing]})
        replayed = world.settle(failing, until=("exported",))
        world.local.stack.drain(timeout=60)
        time.sleep(0.5)  # the last invocations' END lines
        yield Flows(world, sent, invoice_id, exported, replayed, answer.status_code)


def test_the_flows_ran(flows: Flows) -> None:
    assert flows.webhook_status == 200
    assert flows.exported["status"] == "exported" and flows.replayed["status"] == "exported"
    assert flows.world.issued is not None and flows.world.issued.tokens and flows.world.issued.codes
    assert flows.sent.verifiers
    # And every function of these flows logged
    functions = {str(line.get("function_name", "")).rsplit("-", 1)[-1] for line in flows.json_lines()}
    assert {
        "IntegrationApiFunction",
        "OAuthConnectFunction",
        "OAuthCallbackFunction",
        "SyncPlannerFunction",
        "SyncFinisherFunction",
        "WebhookReceiverFunction",
        "ChangeFetcherFunction",
        "WriterFunction",
        "PaymentsApiFunction",
        "PaymentExporterFunction",
        "ExportReplayFunction",
    } <= functions


def test_no_line_carries_a_token_code_verifier_or_secret(flows: Flows) -> None:
    issued = flows.world.issued
    assert issued is not None
    config = flows.world.local.emulator.config
    secrets = {
        **{f"token {i}": t for i, t in enumerate(issued.tokens)},
        **{f"code {i}": c for i, c in enumerate(issued.codes)},
        **{f"verifier {i}": v for i, v in enumerate(flows.sent.verifiers)},
        "client secret": config.client_secret,
        "webhook key": config.webhook_key,
    }
    leaked = sorted({what for line in flows.lines for what, value in secrets.items() if value in line})
    assert leaked == []


def test_no_line_carries_a_whole_record(flows: Flows) -> None:
    carrying = [line[:160] for line in flows.lines if any(f in line for f in PAYLOAD_FIELDS)]
    assert carrying == []
    assert [line[:160] for line in flows.lines if CUSTOMER in line] == []


def test_every_line_of_an_orgs_work_names_its_org(flows: Flows) -> None:
    lines = flows.json_lines()
    assert len(lines) > 30
    # A line that names a tenant, a run, a payment or a queue message is the work of one org: it names it.
    about_an_org = [line for line in lines if {"tenant_id", "run_id", "payment_id", "message_id"} & set(line)]
    assert len(about_an_org) > 10
    without = [
        {k: line.get(k) for k in ("message", "function_name", "tenant_id", "run_id", "payment_id")}
        for line in about_an_org
        if not line.get("org_id")
    ]
    assert without == []


def test_every_line_names_its_flow_and_a_correlation_id(flows: Flows) -> None:
    logged = [line for line in flows.json_lines() if "message" in line and "function_name" in line]
    correlations = {"correlation_id", "run_id", "message_id", "payment_id"}
    assert [line["message"] for line in logged if not line.get("flow")] == []
    assert [line["message"] for line in logged if not correlations & set(line)] == []
    assert {line["flow"] for line in logged} >= {
        "api",
        "connect",
        "initial_sync",
        "webhook",
        "write",
        "export",
    }


def test_no_line_carries_the_keys_of_an_earlier_invocation(flows: Flows) -> None:
    # Two orgs were synced by the same warm functions: a sync's lines name its own run, never the other's
    sync_lines = [
        line
        for line in flows.json_lines()
        if str(line.get("correlation_id", "")).startswith("initial-sync-") and "run_id" in line
    ]
    assert len({line["correlation_id"] for line in sync_lines}) >= 2  # both runs logged: there is a check
    mixed = [
        (line["message"], line["correlation_id"], line["run_id"])
        for line in sync_lines
        if line["run_id"] != line["correlation_id"]
    ]
    assert mixed == []
