"""The payment export on the local stack against the Xero emulator, each test asserting what Xero holds
afterwards: the payments on the invoice and its amount due. A payment is in Xero at most once, whatever
fails, and every payment the API accepted ends exported, closed or in error with its code."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.export.harness import ExportWorld, amount

pytestmark = pytest.mark.integration

PUT_PAYMENTS = "PUT /api.xro/2.0/Payments"


def xero_calls(world: ExportWorld, what: str, tenant_id: str | None = None) -> int:
    tenants = world.local.emulator.stats.snapshot()["tenants"]
    return int(tenants.get(tenant_id or world.tenant_id, {}).get("by_path", {}).get(what, 0))


def put_faults(**fields: Any) -> dict[str, Any]:
    return {"path_prefix": "/api.xro/2.0/Payments", "method": "PUT", **fields}


# --- the happy path and the request -----------------------------------------------------------------------


def test_a_payment_lands_in_the_gbp_account_once_and_the_amount_due_drops(world: ExportWorld) -> None:
    # Given an invoice of 1,250.00 GBP in Xero
    invoice_id = world.invoice("1250.00")

    # When the AR platform records a payment of 500.50 against it
    payment_id = world.record(invoice_id, "500.50", reference="BACS 4471")
    view = world.settle(payment_id)

    # Then it is exported, with Xero's PaymentID, into the GBP bank account, once
    assert view["status"] == "exported" and view["error"] is None
    (held,) = world.payments_in_xero(invoice_id)
    assert view["xero_payment_id"] == held["PaymentID"]
    assert amount(held["Amount"]) == Decimal("500.50") and held["Reference"] == f"BACS 4471 [AR:{payment_id}]"
    assert held["Account"]["AccountID"] == world.accounts["090"]["AccountID"]
    assert amount(world.xero_invoice(invoice_id)["AmountDue"]) == Decimal("749.50")
    assert [e["event"] for e in view["history"]] == ["recorded", "sending", "exported"]
    # And the same payment again is its state (200); the same id with another body is refused (409)
    body = {"payment_id": payment_id, "invoice_id": invoice_id, "amount": "500.50", "currency": "GBP"}
    body |= {"date": view["date"], "reference": "BACS 4471"}
    assert world.api("POST", "/payments", json=body).status_code == 200
    changed = world.api("POST", "/payments", json={**body, "amount": "500.00"})
    assert changed.status_code == 409 and changed.json()["error"] == "payment_conflict"
    assert len(world.payments_in_xero(invoice_id)) == 1


def test_a_malformed_request_is_a_400_naming_the_field_and_nothing_is_stored(world: ExportWorld) -> None:
    invoice_id = world.invoice("10.00")
    payment_id = f"pay-{uuid.uuid4().hex[:8]}"

    response = world.api(
        "POST",
        "/payments",
        json={
            "payment_id": payment_id,
            "invoice_id": invoice_id,
            "amount": 10.0,
            "currency": "GBP",
            "date": "x",
        },
    )

    assert response.status_code == 400
    reason = response.json()["reason"]
    assert "amount (must be a decimal string" in reason and "date (must be an ISO date" in reason
    assert world.api("GET", f"/payments/{payment_id}").status_code == 404


def test_settings_refuse_an_account_in_another_currency_naming_it(world: ExportWorld) -> None:
    listed = world.api("GET", "/bank-accounts").json()["bank_accounts"]
    assert {(a["code"], a["currency"]) for a in listed} >= {("090", "GBP"), ("091", "USD"), ("092", "EUR")}

    refused = world.api(
        "PUT", "/settings", json={"bank_accounts": {"USD": world.accounts["090"]["AccountID"]}}
    )

    assert refused.status_code == 400 and refused.json()["error"] == "invalid_bank_account"
    assert refused.json()["reason"].startswith("bank_accounts.USD: Business Current Account")
    assert set(world.api("GET", "/settings").json()["bank_accounts"]) == {"GBP", "USD"}


# --- every error code, from a real answer ----------------------------------------------------------------


def test_missing_bank_account_then_the_account_is_set_and_export_back_exports_it(world: ExportWorld) -> None:
    # Given no bank account is chosen for EUR
    invoice_id = world.invoice("300.00", currency="EUR")
    puts = xero_calls(world, PUT_PAYMENTS)
    payment_id = world.record(invoice_id, "300.00", currency="EUR")

    failed = world.settle(payment_id)

    assert failed["status"] == "error" and failed["error"]["code"] == "missing_bank_account"
    assert "bank_accounts.EUR" in failed["error"]["message"] and not failed["error"]["retrying"]
    assert xero_calls(world, PUT_PAYMENTS) == puts and world.payments_in_xero(invoice_id) == []

    # When the finance team sets the EUR account and clicks "Export back to Xero"
    world.set_bank_accounts({"GBP": "090", "USD": "091", "EUR": "092"})
    try:
        again = world.api("POST", f"/payments/{payment_id}/export")
        exported = world.settle(payment_id)
    finally:
        world.set_bank_accounts({"GBP": "090", "USD": "091"})

    # Then it is exported into the EUR account, once
    assert again.status_code == 202 and again.json()["queued"] == 1
    assert exported["status"] == "exported"
    (held,) = world.payments_in_xero(invoice_id)
    assert held["Account"]["AccountID"] == world.accounts["092"]["AccountID"]
    assert amount(world.xero_invoice(invoice_id)["AmountDue"]) == 0


def _draft(world: ExportWorld) -> tuple[str, str]:
    return world.invoice("100.00", status="DRAFT"), "100.00"


def _less_due(world: ExportWorld) -> tuple[str, str]:
    return world.invoice("50.00"), "80.00"


def _unknown_invoice(world: ExportWorld) -> tuple[str, str]:
    return str(uuid.uuid4()), "10.00"


def _usd_invoice(world: ExportWorld) -> tuple[str, str]:
    return world.invoice("100.00", currency="USD"), "100.00"  # the payment is recorded in GBP


@pytest.mark.parametrize(
    ("arrange", "code", "xero_words"),
    [
        (_draft, "invoice_not_authorised", "Payments can only be made against Authorised documents"),
        (_less_due, "amount_exceeds_due", "Payment amount exceeds the amount outstanding on this document"),
        (_unknown_invoice, "invoice_not_found", "Invoice could not be found"),
        (
            _usd_invoice,
            "currency_mismatch",
            None,
        ),  # read from Xero's invoice: never sent in the wrong currency
    ],
    ids=["invoice_not_authorised", "amount_exceeds_due", "invoice_not_found", "currency_mismatch"],
)
def test_a_refusal_has_its_code_and_xeros_words_and_xero_holds_nothing(
    world: ExportWorld, arrange: Callable[[ExportWorld], tuple[str, str]], code: str, xero_words: str | None
) -> None:
    invoice_id, paid = arrange(world)
    due_before = world.xero_invoice(invoice_id)["AmountDue"] if code != "invoice_not_found" else None

    view = world.settle(world.record(invoice_id, paid))

    assert view["status"] == "error" and view["error"]["code"] == code
    assert view["error"]["message"] and view["error"]["xero_message"] == xero_words
    if code != "invoice_not_found":
        assert world.payments_in_xero(invoice_id) == []
        assert world.xero_invoice(invoice_id)["AmountDue"] == due_before


def test_a_date_in_a_locked_period_is_period_locked(world: ExportWorld) -> None:
    invoice_id = world.invoice("100.00")
    world.local.admin.set_lock_dates(world.tenant_id, period=world.today())
    try:
        view = world.settle(world.record(invoice_id, "100.00"))
    finally:
        world.local.admin.set_lock_dates(world.tenant_id)

    assert view["error"]["code"] == "period_locked"
    assert view["error"]["xero_message"].startswith("The document date cannot be before the period lock date")
    assert world.payments_in_xero(invoice_id) == []


def test_an_account_archived_in_xero_is_xero_rejected_with_xeros_message(world: ExportWorld) -> None:
    invoice_id = world.invoice("100.00")
    bank = world.accounts["090"]["AccountID"]
    world.local.admin.set_account_status(world.tenant_id, bank, "ARCHIVED")
    try:
        view = world.settle(world.record(invoice_id, "100.00"))
    finally:
        world.local.admin.set_account_status(world.tenant_id, bank, "ACTIVE")

    assert view["error"]["code"] == "xero_rejected"
    assert view["error"]["xero_message"] == "Account code '090' is not a valid code for this document"
    assert world.payments_in_xero(invoice_id) == []


def test_an_invoice_already_paid_by_an_earlier_export_is_invoice_paid(world: ExportWorld) -> None:
    # Given the sync holds the invoice open, and a first payment pays it in full (the world's Xero sends
    # no webhooks: with them, the sync would see the invoice paid and the exporter need not ask Xero)
    invoice_id = world.invoice("100.00")
    world.sync_invoice(invoice_id)
    assert world.settle(world.record(invoice_id, "100.00"))["status"] == "exported"

    # When a second payment is recorded against it before the sync sees it paid
    view = world.settle(world.record(invoice_id, "30.00"))

    # Then Xero refused it as paid, and a person is asked to look
    assert view["error"]["code"] == "invoice_paid"
    assert view["error"]["xero_message"] == "Invoice not of valid status for modification"
    assert len(world.payments_in_xero(invoice_id)) == 1


# --- closed by itself -------------------------------------------------------------------------------------


@pytest.mark.parametrize("synced", [False, True], ids=["webhook_not_arrived", "seen_by_the_sync"])
def test_an_invoice_paid_by_hand_in_xero_closes_the_payment(world: ExportWorld, synced: bool) -> None:
    # Given the invoice was paid by hand in Xero (and the real-time sync has seen it, or not yet)
    invoice_id = world.invoice("100.00")
    world.local.admin.record_payment(world.tenant_id, invoice_id, "100.00", reference="Cash at the desk")
    if synced:
        world.sync_invoice(invoice_id)
    puts = xero_calls(world, PUT_PAYMENTS)

    view = world.settle(world.record(invoice_id, "100.00"))

    # Then the payment is closed, and Xero holds the one payment entered by hand
    assert view["status"] == "closed" and view["closed"]["reason"] == "paid_in_xero"
    assert [p["Reference"] for p in world.payments_in_xero(invoice_id)] == ["Cash at the desk"]
    if synced:
        assert xero_calls(world, PUT_PAYMENTS) == puts  # never sent


# --- Xero failing during the export -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        put_faults(kind="error", status=500, count=2),
        put_faults(kind="error", status=503, count=1),
        put_faults(kind="rate_limit", problem="minute", retry_after=30, count=1),
        put_faults(kind="drop", count=1),
        put_faults(kind="slow", delay_ms=3000, count=1),  # past the 2 s read timeout: Xero saves it meanwhile
        put_faults(kind="error", status=500, count=1, phase="after"),  # saved, then the answer lost
        put_faults(kind="drop", count=2, phase="after"),  # saved, the answer lost twice
    ],
    ids=["500x2", "503", "429", "dropped", "timeout", "500_after_saving", "dropped_after_saving"],
)
def test_a_failing_xero_is_retried_and_the_payment_is_in_xero_once(
    world: ExportWorld, fault: dict[str, Any]
) -> None:
    invoice_id = world.invoice("100.00")
    world.local.admin.add_fault(**fault)

    view = world.settle(world.record(invoice_id, "60.00"))

    assert world.local.admin.faults() == []  # every injected failure happened
    assert view["status"] == "exported", view
    (held,) = world.payments_in_xero(invoice_id)  # answers lost after saving were replayed by Xero's key
    assert held["PaymentID"] == view["xero_payment_id"]
    assert amount(world.xero_invoice(invoice_id)["AmountDue"]) == Decimal("40.00")


def test_an_answer_lost_past_the_key_window_is_found_in_xero_and_never_posted_again(
    world: ExportWorld,
) -> None:
    # Given Xero saves the payment but every answer is lost (the transport's four tries), and Xero then
    # fails every read, so the automatic retries end in the DLQ without finding it
    invoice_id = world.invoice("100.00")
    world.sync_invoice(invoice_id)  # synced: the first attempt goes straight to PUT /Payments
    world.local.admin.add_fault(**put_faults(kind="drop", count=4, phase="after"))
    world.local.admin.add_fault(
        kind="error", status=503, count=None, method="GET", path_prefix="/api.xro/2.0/Invoices"
    )
    payment_id = world.record(invoice_id, "100.00")
    deadline = time.monotonic() + 40
    while not world.dead_letters() and time.monotonic() < deadline:
        time.sleep(0.3)
    lost = world.payment(payment_id)
    assert lost["error"]["code"] == "xero_unavailable" and not lost["error"]["retrying"]
    assert len(world.payments_in_xero(invoice_id)) == 1  # Xero did save it, once
    puts = xero_calls(world, PUT_PAYMENTS)

    # When Xero has long forgotten the Idempotency-Key and the user clicks "Export back to Xero"
    world.local.admin.clear_faults()
    world.local.admin.advance_clock(timedelta(minutes=7).total_seconds())
    assert world.api("POST", f"/payments/{payment_id}/export").json()["queued"] == 1
    view = world.settle(payment_id, until=("exported",))

    # Then the exporter found its payment in Xero and adopted it: still exactly one, and no new PUT
    assert view["history"][-1]["event"] == "found_in_xero"
    (held,) = world.payments_in_xero(invoice_id)
    assert view["xero_payment_id"] == held["PaymentID"]
    assert xero_calls(world, PUT_PAYMENTS) == puts
    assert amount(world.xero_invoice(invoice_id)["AmountDue"]) == 0
    world.clear_dead_letters()


def test_retries_spent_the_message_waits_in_the_dlq_and_a_redrive_exports_it_once(world: ExportWorld) -> None:
    # Given Xero answers 500 to every PUT /Payments
    invoice_id = world.invoice("100.00")
    world.local.admin.add_fault(**put_faults(kind="error", status=500, count=None))
    payment_id = world.record(invoice_id, "100.00")

    # When the export's message has been received five times (each with the transport's own retries)
    deadline = time.monotonic() + 40
    while not world.dead_letters() and time.monotonic() < deadline:
        time.sleep(0.3)
    view = world.payment(payment_id)

    # Then it waits in the exports DLQ, and the payment says so
    (letter,) = world.dead_letters()
    assert payment_id in letter["Body"]
    reason = letter["MessageAttributes"]["reason"]["StringValue"]
    assert reason.startswith(f"retries spent after 5 receives: {payment_id}: xero_unavailable: ")
    assert view["status"] == "error" and view["error"]["code"] == "xero_unavailable"
    assert not view["error"]["retrying"] and "dead-letter queue" in view["error"]["message"]
    assert view["attempts"] == 5 and world.payments_in_xero(invoice_id) == []

    # And once Xero answers again, a redrive of the DLQ exports it, once
    world.local.admin.clear_faults()
    assert world.redrive() == 1
    assert world.settle(payment_id, until=("exported",))["attempts"] == 6
    assert len(world.payments_in_xero(invoice_id)) == 1


def test_a_poison_message_goes_to_the_dlq_with_its_reason(world: ExportWorld) -> None:
    poison = '{"schema": 1, "org_id": "' + world.org_id + '", "payment_ids": "not-a-list"}'
    world.sqs().send_message(QueueUrl=world.queue_url("ExportQueue"), MessageBody=poison)

    deadline = time.monotonic() + 20
    letters: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not any(m["Body"] == poison for m in letters):
        letters = world.dead_letters()
        time.sleep(0.2)

    (letter,) = [m for m in letters if m["Body"] == poison]
    assert letter["MessageAttributes"]["reason"]["StringValue"].startswith(
        "not an export message: payment_ids"
    )
    world.clear_dead_letters()


# --- replays ----------------------------------------------------------------------------------------------


def test_concurrent_replays_of_one_payment_put_it_in_xero_once(world: ExportWorld) -> None:
    # Given a payment in error (no EUR account yet)
    invoice_id = world.invoice("70.00", currency="EUR")
    payment_id = world.record(invoice_id, "70.00", currency="EUR")
    assert world.settle(payment_id)["error"]["code"] == "missing_bank_account"
    world.set_bank_accounts({"GBP": "090", "USD": "091", "EUR": "092"})
    try:
        # When two users click "Export back to Xero" at once, and the AR platform's tooling asks too
        start = threading.Barrier(3)
        answers: list[int] = []

        def click() -> None:
            start.wait()
            answers.append(world.api("POST", f"/payments/{payment_id}/export").status_code)

        clicks = [threading.Thread(target=click) for _ in range(2)]
        for thread in clicks:
            thread.start()
        start.wait()
        world.send_replay({"org_id": world.org_id, "payment_ids": [payment_id]})
        for thread in clicks:
            thread.join()
        view = world.settle(payment_id)
        world.local.stack.drain(timeout=30)
    finally:
        world.set_bank_accounts({"GBP": "090", "USD": "091"})

    # Then it is in Xero exactly once
    assert sorted(answers) in ([200, 202], [202, 202])
    assert view["status"] == "exported"
    assert len(world.payments_in_xero(invoice_id)) == 1 and world.payment(payment_id)["attempts"] == 2


def test_replay_of_every_failed_payment_through_the_api_and_by_message(world: ExportWorld) -> None:
    invoices = [world.invoice("20.00", currency="EUR") for _ in range(3)]
    payments = [world.record(invoice_id, "20.00", currency="EUR") for invoice_id in invoices]
    for payment_id in payments:
        assert world.settle(payment_id)["status"] == "error"
    world.set_bank_accounts({"GBP": "090", "USD": "091", "EUR": "092"})
    try:
        replayed = world.api("POST", "/payments/replay", json={"status": "error"})
        views = [world.settle(payment_id) for payment_id in payments]
        again = world.api("POST", "/payments/replay", json={"payment_ids": payments})
    finally:
        world.set_bank_accounts({"GBP": "090", "USD": "091"})

    assert replayed.status_code == 202 and replayed.json()["queued"] >= 3
    assert [v["status"] for v in views] == ["exported"] * 3
    assert again.status_code == 200 and again.json()["queued"] == 0
    assert set(again.json()["skipped"].values()) == {"exported"}
    assert all(len(world.payments_in_xero(invoice_id)) == 1 for invoice_id in invoices)


def test_a_bad_replay_message_goes_to_the_replays_dlq_with_its_reason(world: ExportWorld) -> None:
    world.send_replay({"org_id": world.org_id, "status": "exported"})

    deadline = time.monotonic() + 20
    letters: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not letters:
        letters = world.dead_letters("ExportReplayDeadLetterQueue")
        time.sleep(0.2)

    assert letters[0]["MessageAttributes"]["reason"]["StringValue"].startswith("not a replay message: status")


def test_a_revoked_connection_is_needs_reconnect(world: ExportWorld) -> None:
    # Given the organisation's connection was removed in Xero (the module's last export)
    invoice_id = world.invoice("100.00")
    world.local.admin.revoke_connection(world.tenant_id)

    view = world.settle(world.record(invoice_id, "100.00"))

    assert view["error"]["code"] == "needs_reconnect" and "reconnect Xero" in view["error"]["message"]
    assert view["error"]["xero_message"] and not view["error"]["retrying"]
    assert world.payments_in_xero(invoice_id) == []


# --- afterwards -------------------------------------------------------------------------------------------


def test_once_the_queue_is_drained_no_accepted_payment_is_pending(world: ExportWorld) -> None:
    world.local.stack.drain(timeout=90)  # retries in backoff come back and end

    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = world.api(
            "GET", "/payments", params={"limit": 7, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += page["payments"]
        cursor = page["next_cursor"]
        if not cursor:
            break

    assert seen
    assert {p["status"] for p in seen} <= {"exported", "error", "closed"}
    assert all(p["error"]["code"] for p in seen if p["status"] == "error")
    errors = world.api("GET", "/payments", params={"status": "error", "limit": 100}).json()["payments"]
    assert {p["payment_id"] for p in errors} == {p["payment_id"] for p in seen if p["status"] == "error"}
    # And no token or code reached a log line, and no whole payment did
    logs = world.logs.getvalue()
    assert world.issued is not None and world.issued.tokens
    assert not [token for token in [*world.issued.tokens, *world.issued.codes] if token in logs]
    assert '"amount"' not in logs
