"""``make demo``: the whole product on this machine, told in plain words.

Starts the Xero emulator with a seeded organisation and the local stack from template.yaml, then plays the
story through real HTTP: a finance user connects Xero (connect → Xero's consent → callback), the initial sync
runs with progress (the chase part first: the moment it is written, the run is chase-ready; the history
after) and its counts are set beside the emulator's own, and a non-admin is refused. Then a Xero user makes
changes that arrive by webhook within seconds (an invoice edited, a payment, a new customer, an archived
one), and the catch-up brings what no webhook delivered. Then the payment export: a bank account per
currency, a payment exported into the GBP account, one failing for a currency with no account until the
account is set and "Export back to Xero" exports it, one closing by itself because its invoice was paid by
hand in Xero, and an answer Xero lost, replayed after Xero forgot its Idempotency-Key, that still leaves
exactly one payment in Xero. Last, the connection's life: a grant revoked in Xero shows the banner, a
reconnect resumes from the cursors, a disconnect undoes the connection.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tools.local_stack.app import LocalApp, running_app
from tools.reconcile import SYNCED_TYPES, differences, expected_records, held_records
from xero_bridge.adapters.aws.records_table import RecordsTable

ORG_ID = "acme-ar"
OTHER_ORG_ID = "globex-ar"
DEMO_COMPANY = "Demo Company (Global)"
SECOND_ORG = "Second Org Ltd"
SYNC_TIMEOUT_SECONDS = 300


def say(text: str = "") -> None:
    print(text, flush=True)


_steps = [0]


def step(title: str) -> None:
    """The next numbered step of the story (numbered as they are played)."""
    _steps[0] += 1
    say()
    say(f"{_steps[0]}. {title}")


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def connect_in_browser(app: LocalApp, org_id: str, user_email: str | None = None) -> dict[str, str]:
    """The AR backend asks for a connect link, then the browser follows it: /connect → Xero's consent →
    /callback → the AR app."""
    body = {"user_email": user_email} if user_email else {}
    asked_link = httpx.post(f"{app.api_url}/orgs/{org_id}/connect", json=body, auth=app.api_auth, timeout=30)
    asked_link.raise_for_status()
    link = asked_link.json()
    say(
        f"   POST /orgs/{org_id}/connect (the AR backend, signed with SigV4) → {asked_link.status_code}: "
        f"a single-use link until {link['expires_at']}"
    )
    with httpx.Client(follow_redirects=False, timeout=60) as browser:
        start = browser.get(link["connect_url"])
        authorize = start.headers["location"]
        asked = _query(authorize)
        say(
            f"   The browser opens it → {start.status_code} to Xero's consent screen, "
            "the flow bound to this browser by a cookie"
        )
        say(
            f"      PKCE {asked.get('code_challenge_method')}, state bound to {org_id}, "
            f"scopes: {asked.get('scope')}"
        )
        again = httpx.get(link["connect_url"], timeout=30)
        say(f"      the same link opened a second time (forwarded, leaked) → {again.status_code}")
        consent = browser.get(authorize)
        callback = consent.headers["location"]
        say(f"   Xero's consent screen → {consent.status_code} back to /callback with a one-time code")
        done = browser.get(callback)
        back = done.headers.get("location", "")
        say(f"   GET /callback → {done.status_code} to the AR app")
        return _query(back)


def connection_status(app: LocalApp, org_id: str) -> dict[str, Any]:
    response = httpx.get(f"{app.api_url}/orgs/{org_id}/connection", auth=app.api_auth, timeout=30)
    response.raise_for_status()
    return dict(response.json())


def tenant_named(app: LocalApp, name: str) -> str:
    return next(str(t["tenant_id"]) for t in app.admin.tenants() if t["name"] == name)


PART_LABELS = {"chase": "chase part", "history": "history"}


def _bar(done: int, total: int, width: int) -> str:
    filled = int(width * min(done, total) / total) if total else 0
    return "[" + "#" * filled + "." * (width - filled) + "]"


def progress_line(view: dict[str, Any], width: int = 20) -> str:
    """One line of progress: per part (chase first, then history), pages fetched and records stored (written,
    or held already as sent: a re-sync's records are mostly the latter)."""
    status = view.get("status")
    parts = view.get("parts") or {}
    shown = []
    for part, label in PART_LABELS.items():
        figures = parts.get(part) or {}
        total = figures.get("pages_total")
        done = int(figures.get("pages_done") or 0)
        stored = int(figures.get("records_written", 0)) + int(figures.get("records_unchanged", 0))
        sent = figures.get("records_sent", 0)
        if not total:
            shown.append(f"{label} {'not planned yet' if not done else f'{done} pages so far'}")
            continue
        shown.append(f"{label} {_bar(done, total, width)} {done}/{total} pages, {stored}/{sent} stored")
    return f"   {' | '.join(shown)}  ({status})"


def _seconds_after_start(view: dict[str, Any], moment: str) -> float | None:
    started, at = view.get("started_at"), view.get(moment)
    if not started or not at:
        return None
    return (datetime.fromisoformat(str(at)) - datetime.fromisoformat(str(started))).total_seconds()


def follow_sync(app: LocalApp, org_id: str, clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Poll GET /orgs/{org_id}/sync and draw its progress until the run ends; say when it is chase-ready."""
    deadline = clock() + SYNC_TIMEOUT_SECONDS
    last_line = ""
    told_chase_ready = False
    while clock() < deadline:
        response = httpx.get(f"{app.api_url}/orgs/{org_id}/sync", auth=app.api_auth, timeout=30)
        response.raise_for_status()
        view = dict(response.json())
        line = progress_line(view)
        if line != last_line:
            say(line)
            last_line = line
        chase_ready = _seconds_after_start(view, "chase_ready_at")
        if chase_ready is not None and not told_chase_ready:
            say(
                f"   CHASE-READY {chase_ready:.1f} s after the start: every customer, outstanding invoice "
                "and open credit is in the AR platform; the history follows"
            )
            told_chase_ready = True
        if view.get("status") in ("finished", "failed"):
            finished = _seconds_after_start(view, "finished_at")
            if finished is not None and chase_ready is not None:
                say(f"   FINISHED {finished:.1f} s after the start (chase-ready at {chase_ready:.1f} s)")
            return view
        time.sleep(0.2)
    raise TimeoutError(f"the initial sync did not end within {SYNC_TIMEOUT_SECONDS} s")


def print_counts(app: LocalApp, tenant_id: str) -> None:
    """What DynamoDB holds beside what Xero holds that the import rules let in, record for record."""
    expected = expected_records(app.emulator.store, tenant_id)
    repository = RecordsTable(app.stack.physical_id("RecordsTable"), client=app.stack.client("dynamodb"))
    held = held_records(repository, tenant_id)
    say(f"   {'record type':14} {'in DynamoDB':>12} {'in Xero (imported)':>19}")
    for record_type in SYNCED_TYPES:
        say(f"   {record_type.value:14} {len(held[record_type]):>12} {len(expected[record_type]):>19}")
    gaps = differences(expected, held)
    say(
        "   DynamoDB equals Xero, record for record and field for field."
        if not gaps
        else f"   Differences: {gaps}"
    )


def play(app: LocalApp) -> None:
    demo_tenant = tenant_named(app, DEMO_COMPANY)
    counts = app.admin.counts(demo_tenant)
    routes = len(app.stack.stack.routes)
    created = app.stack.declared_vs_created()
    say(
        f"   Xero emulator at {app.xero_url}: '{DEMO_COMPANY}' with {counts['Contacts']} contacts, "
        f"{counts['Invoices']} invoices, {counts['CreditNotes']} credit notes, {counts['Payments']} payments"
    )
    say(f"   Local stack at {app.api_url}: {len(created.created)} resources (template.yaml), {routes} routes")

    step(f"A finance user of AR org '{ORG_ID}' clicks 'Connect Xero' and picks {DEMO_COMPANY}")
    app.admin.set_consent(tenant_ids=[demo_tenant], role="FINANCIALADVISER")
    outcome = connect_in_browser(app, ORG_ID)
    say(f"   The AR app is told: status={outcome.get('status')}, tenant={outcome.get('tenant', '')}")
    status = connection_status(app, ORG_ID)
    say(f"   GET /orgs/{ORG_ID}/connection → {status['status']} to '{status['tenant_name']}'")
    say("   Tokens are stored encrypted with the stack's KMS key; none is ever logged.")

    step(f"The initial sync of {DEMO_COMPANY}, started by the connect: what the AR team chases with first")
    view = follow_sync(app, ORG_ID)
    if view.get("status") == "failed":
        raise RuntimeError(f"the initial sync failed: {view.get('failed_reason')}")
    print_counts(app, demo_tenant)
    # One call a page of each partition (Accounts and the Organisation are a page each of the chase part)
    floor = int(view.get("pages_total") or 0)
    say(
        f"   Xero calls made: {view.get('calls_made')} (the floor of the split: {floor}, one a page of each "
        f"part's share of each resource, Accounts and the Organisation included), 429s met: "
        f"{view.get('rate_limited')}, pages read again: {view.get('pages_reread', 0)}"
    )

    step(f"A Xero user without the adviser role tries to connect AR org '{OTHER_ORG_ID}' to {SECOND_ORG}")
    second = tenant_named(app, SECOND_ORG)
    app.admin.set_consent(
        tenant_ids=[second],
        user_id="demo-standard-user",
        email="sam.standard@second.example",
        first_name="Sam",
        last_name="Standard",
        role="STANDARD",
    )
    refused = connect_in_browser(app, OTHER_ORG_ID)
    say(f"   Refused: {refused.get('reason')}")
    say(f"   GET /orgs/{OTHER_ORG_ID}/connection → {connection_status(app, OTHER_ORG_ID)['status']}")

    play_real_time(app, demo_tenant)
    play_export(app, demo_tenant)
    play_connection_life(app, demo_tenant)


def wait_until(what: str, probe: Callable[[], Any], timeout: float = 30.0) -> tuple[Any, float]:
    """``probe()`` until it answers something; the answer and the seconds it took."""
    started = time.monotonic()
    while True:
        found = probe()
        if found:
            return found, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.05)


def api_get(app: LocalApp, path: str) -> httpx.Response:
    return httpx.get(f"{app.api_url}{path}", auth=app.api_auth, timeout=30)


def play_real_time(app: LocalApp, tenant_id: str) -> None:
    """Step 5 and 6: changes a Xero user makes, arriving by webhook, and what only the catch-up sees."""
    store = app.emulator.store
    step("A Xero user works in Xero; each change reaches the AR platform by webhook")
    invoices = store.list_resource(tenant_id, "Invoices", where='Type=="ACCREC" AND Status=="AUTHORISED"')
    unpaid = [i for i in invoices["Invoices"] if float(i["AmountPaid"]) == 0]
    edited, paid = str(unpaid[0]["InvoiceID"]), unpaid[1]
    path = f"/orgs/{ORG_ID}/invoices/{edited}"
    app.admin.edit_invoice(tenant_id, edited, {"Reference": "PO-4471", "DueDate": "2027-01-31"})

    def edit_arrived() -> dict[str, Any] | None:
        body = api_get(app, path).json()
        return body if body.get("reference") == "PO-4471" else None

    body, seconds = wait_until("the edited invoice", edit_arrived)
    say(f"   Invoice {body['number']} edited in Xero (reference PO-4471, due 2027-01-31)")
    say(f"      GET {path} shows it {seconds:.2f} s later, from {body['sync']['kind']} event(s)")
    say(f"      {body['sync']['event_ids'][0]}")

    bank = store.list_resource(tenant_id, "Accounts", where='Type=="BANK"')["Accounts"][0]
    amount = f"{float(paid['AmountDue']) / 2:.2f}"
    app.admin.record_payment(tenant_id, str(paid["InvoiceID"]), amount, account_code=bank["Code"])

    def payment_arrived() -> dict[str, Any] | None:
        body = api_get(app, f"/orgs/{ORG_ID}/invoices/{paid['InvoiceID']}").json()
        return body if body.get("amount_paid") not in (None, "0", "0.00") else None

    body, seconds = wait_until("the payment", payment_arrived)
    say(f"   A payment of {amount} {paid['CurrencyCode']} recorded in Xero on {paid['InvoiceNumber']}")
    say(
        f"      Xero sends no payment webhook; its invoice's did: amount paid {body['amount_paid']}, "
        f"due {body['amount_due']}, {seconds:.2f} s later, the payment itself beside it"
    )

    created = app.admin.create_contacts(tenant_id, {"Contacts": [{"Name": "Northwind Traders"}]})
    contact_id = str(created["Contacts"][0]["ContactID"])

    def explained() -> dict[str, Any] | None:
        response = api_get(app, f"/orgs/{ORG_ID}/customers/{contact_id}")
        return (
            response.json()
            if response.status_code == 404 and response.json()["error"] != "not_found"
            else None
        )

    refused, _ = wait_until("the new contact's reason", explained)
    say(f"   A new contact 'Northwind Traders' is not a customer yet: {refused['reason']}")
    app.admin.create_invoices(
        tenant_id,
        {
            "Invoices": [
                {
                    "Type": "ACCREC",
                    "Contact": {"ContactID": contact_id},
                    "Status": "AUTHORISED",
                    "Date": "2026-12-01",
                    "DueDate": "2026-12-31",
                    "LineItems": [
                        {"Description": "Consulting", "Quantity": 4, "UnitAmount": 150, "AccountCode": "200"}
                    ],
                }
            ]
        },
    )

    def customer_arrived() -> dict[str, Any] | None:
        response = api_get(app, f"/orgs/{ORG_ID}/customers/{contact_id}")
        return response.json() if response.status_code == 200 else None

    body, seconds = wait_until("the new customer", customer_arrived)
    say(f"   ... a sales invoice later it is a customer of the AR platform ({seconds:.2f} s)")

    customers = store.list_resource(
        tenant_id, "Contacts", where='ContactStatus=="ACTIVE" AND IsCustomer==true'
    )["Contacts"]
    archived = next(c for c in customers if c["ContactID"] != contact_id and c["ContactStatus"] == "ACTIVE")
    app.admin.archive_contact(tenant_id, str(archived["ContactID"]))

    def archive_arrived() -> dict[str, Any] | None:
        body = api_get(app, f"/orgs/{ORG_ID}/customers/{archived['ContactID']}").json()
        return body if body.get("active") is False else None

    _, seconds = wait_until("the archive", archive_arrived)
    say(f"   '{archived['Name']}' archived in Xero: kept, marked inactive ({seconds:.2f} s)")

    step("What no webhook says: a change made while Xero's webhook is not delivering")
    silent = str(unpaid[2]["InvoiceID"])
    with app.emulator.webhooks.muted():
        app.admin.edit_invoice(tenant_id, silent, {"Reference": "NO-WEBHOOK"})
    time.sleep(1)
    before = api_get(app, f"/orgs/{ORG_ID}/invoices/{silent}").json()
    say(f"   Invoice {before['number']} edited in Xero; no webhook came:")
    say(f"      we still hold reference {before['reference']!r}")
    app.stack.fire_schedule("CatchUpFunction")

    def caught_up() -> dict[str, Any] | None:
        body = api_get(app, f"/orgs/{ORG_ID}/invoices/{silent}").json()
        return body if body.get("reference") == "NO-WEBHOOK" else None

    body, seconds = wait_until("the catch-up", caught_up)
    status = connection_status(app, ORG_ID)
    catch_up = status.get("catch_up") or {}
    say(
        f"   The scheduled catch-up (fired now, not in 5 minutes) brings it: {body['sync']['kind']} from the "
        f"stored cursor, {seconds:.2f} s"
    )
    say(
        f"   It made {catch_up.get('calls')} Xero calls (one a resource); changes older than 2 minutes "
        f"that no webhook brought count as missed ({catch_up.get('missed_by_webhooks')} here; alarmed in AWS)"
    )
    webhooks = status.get("webhooks") or {}
    say(f"   Webhook deliveries so far: {webhooks.get('deliveries')}, sequence gaps: {webhooks.get('gaps')}")


def initial_sync_runs(app: LocalApp) -> int:
    machine = app.stack.resources["InitialSyncStateMachine"].arn
    return len(app.stack.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"])


def play_connection_life(app: LocalApp, tenant_id: str) -> None:
    """The banner after Xero revokes the grant, a reconnect that resumes, then a disconnect."""
    step("Someone disconnects the app inside Xero's settings")
    app.admin.revoke_connection(tenant_id)
    app.stack.fire_schedule("CatchUpFunction")

    def banner() -> dict[str, Any] | None:
        status = connection_status(app, ORG_ID)
        return status if status["status"] == "needs_reconnect" else None

    status, seconds = wait_until("the reconnect banner", banner)
    say(
        f"   The next Xero call is refused, again after a token refresh: the connection shows the banner "
        f"({seconds:.2f} s)"
    )
    say(
        f"      GET /orgs/{ORG_ID}/connection → {status['status']}, "
        f"{status['reason_code']}: {status['reason']}"
    )

    step(f"A Xero admin reconnects {DEMO_COMPANY}")
    runs_before = initial_sync_runs(app)
    app.admin.set_consent(tenant_ids=[tenant_id], role="FINANCIALADVISER")
    outcome = connect_in_browser(app, ORG_ID)
    say(f"   The AR app is told: status={outcome.get('status')}")

    def caught_up() -> dict[str, Any] | None:
        catch_up = connection_status(app, ORG_ID).get("catch_up") or {}
        return catch_up if catch_up.get("reason") == "reconnect" and catch_up.get("status") else None

    catch_up, seconds = wait_until("the reconnect's catch-up", caught_up)
    started = initial_sync_runs(app) - runs_before
    say(
        f"   It resumes from the stored cursors: {catch_up['status']} with {catch_up.get('calls')} "
        f"Xero calls in {seconds:.2f} s; initial syncs started: {started} (no re-import)"
    )

    step(f"The AR platform disconnects AR org '{ORG_ID}'")
    response = httpx.delete(f"{app.api_url}/orgs/{ORG_ID}/connection", auth=app.api_auth, timeout=30)
    response.raise_for_status()
    done = response.json()
    say(
        f"   DELETE /orgs/{ORG_ID}/connection → {response.status_code}: Xero connection deleted "
        f"{done['xero_connection_deleted']}, refresh token revoked {done['refresh_token_revoked']}, "
        "tokens erased here"
    )
    connections = [c for c in app.admin.connections() if c["tenantId"] == tenant_id]
    say(f"   Xero's own list of connections for {DEMO_COMPANY} now holds {len(connections)} of ours")
    store = app.emulator.store
    contact = store.list_resource(
        tenant_id, "Contacts", where='ContactStatus=="ACTIVE" AND IsCustomer==true'
    )["Contacts"][0]
    app.admin.archive_contact(tenant_id, str(contact["ContactID"]))
    app.admin.wait_webhooks(timeout=10)
    app.stack.drain(timeout=30)
    kept = api_get(app, f"/orgs/{ORG_ID}/customers/{contact['ContactID']}").json()
    say(
        f"   '{contact['Name']}' archived in Xero afterwards: the webhook is ignored; we keep it as it was "
        f"(active {kept['active']}), marked source_connection={kept['sync']['source_connection']}"
    )


# --- the payment export ------------------------------------------------------------------------------


def api(app: LocalApp, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The integration API for the demo's AR org, signed with SigV4 as the AR backend signs."""
    return httpx.request(
        method, f"{app.api_url}/orgs/{ORG_ID}{path}", auth=app.api_auth, timeout=60, **kwargs
    )


def settle(
    app: LocalApp, payment_id: str, *, until: tuple[str, ...] = ("exported", "error", "closed")
) -> Any:
    """Poll ``GET /payments/{payment_id}`` until the export has an outcome."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        view = api(app, "GET", f"/payments/{payment_id}").json()
        if view["status"] in until and not view["sending"]:
            return view
        time.sleep(0.3)
    raise TimeoutError(f"payment {payment_id} has no outcome after 60 s")


def open_invoice(app: LocalApp, tenant_id: str, currency: str) -> dict[str, Any]:
    """An approved sales invoice with money still due, as a Xero user would pick it."""
    where = f'Type=="ACCREC" AND Status=="AUTHORISED" AND CurrencyCode=="{currency}" AND AmountDue>=10'
    invoices = app.emulator.store.list_resource(tenant_id, "Invoices", where=where, order="InvoiceNumber")
    return dict(invoices["Invoices"][0])


def invoice_in_xero(app: LocalApp, tenant_id: str, currency: str, total: str) -> dict[str, Any]:
    """A Xero user invoices a customer who pays in ``currency`` (an approved invoice)."""
    contacts = app.emulator.store.list_resource(tenant_id, "Contacts", where=f'DefaultCurrency=="{currency}"')
    customer = contacts["Contacts"][0]
    today = app.emulator.clock.now().astimezone(UTC).date().isoformat()
    line = {"Description": "Consulting", "Quantity": 1, "UnitAmount": total, "AccountCode": "200"}
    body = {
        "Invoices": [
            {
                "Type": "ACCREC",
                "Contact": {"ContactID": customer["ContactID"]},
                "Date": today,
                "DueDate": today,
                "Status": "AUTHORISED",
                "CurrencyCode": currency,
                "LineAmountTypes": "NoTax",
                "LineItems": [line],
            }
        ]
    }
    invoice = dict(app.admin.create_invoices(tenant_id, body)["Invoices"][0])
    say(f"   A Xero user invoices {customer['Name']}: {invoice['InvoiceNumber']}, {total} {currency}")
    return invoice


def xero_payments(app: LocalApp, tenant_id: str, invoice_id: str) -> list[dict[str, Any]]:
    where = f'Invoice.InvoiceID==Guid("{invoice_id}") AND Status=="AUTHORISED"'
    return list(app.emulator.store.list_resource(tenant_id, "Payments", where=where)["Payments"])


def record(app: LocalApp, payment_id: str, invoice: dict[str, Any], amount: str, reference: str) -> Any:
    body = {
        "payment_id": payment_id,
        "invoice_id": invoice["InvoiceID"],
        "amount": amount,
        "currency": invoice["CurrencyCode"],
        "date": app.emulator.clock.now().astimezone(UTC).date().isoformat(),
        "reference": reference,
    }
    response = api(app, "POST", "/payments", json=body)
    say(
        f"   POST /orgs/{ORG_ID}/payments {payment_id}: {amount} {invoice['CurrencyCode']} against "
        f"{invoice['InvoiceNumber']} (due {invoice['AmountDue']}) → {response.status_code} "
        f"{response.json()['status']}"
    )
    return response


def outcome(view: Any) -> str:
    if view["status"] == "exported":
        return f"exported, Xero PaymentID {view['xero_payment_id']}"
    if view["status"] == "closed":
        return f"closed ({view['closed']['reason']}): {view['closed']['detail']}"
    error = view["error"]
    words = f' Xero said: "{error["xero_message"]}"' if error.get("xero_message") else ""
    return f"error {error['code']}: {error['message']}{words}"


def play_export(app: LocalApp, tenant_id: str) -> None:
    step("The finance team adds a GBP bank account in Xero and picks a bank account per currency")
    gbp = app.admin.add_account(tenant_id, code="093", name="GBP Bank Account", currency_code="GBP")
    started = api(app, "POST", "/sync")
    say(f"   POST /orgs/{ORG_ID}/sync → {started.status_code}: a re-sync picks the new account up")
    follow_sync(app, ORG_ID)
    accounts = api(app, "GET", "/bank-accounts").json()["bank_accounts"]
    for account in accounts:
        code, name, currency = account["code"], account["name"], account["currency"]
        say(f"   {code} {name:<24} {currency}  {account['type']:<8} {account['status']}")
    by_code = {a["code"]: a["account_id"] for a in accounts}
    refused = api(app, "PUT", "/settings", json={"bank_accounts": {"USD": by_code["090"]}})
    say(f"   PUT /settings USD → the AUD account: {refused.status_code} {refused.json()['reason']}")
    chosen = {"AUD": by_code["090"], "GBP": gbp["AccountID"]}
    saved = api(app, "PUT", "/settings", json={"bank_accounts": chosen})
    say(f"   PUT /settings {{AUD: 090, GBP: 093}} → {saved.status_code}; no account for USD yet")

    step("A customer pays a GBP invoice; the AR team records it and it is exported to Xero")
    gbp_invoice = invoice_in_xero(app, tenant_id, "GBP", "450.00")
    record(app, "ar-pay-1001", gbp_invoice, "100.00", "BACS 1001")
    view = settle(app, "ar-pay-1001")
    (held,) = xero_payments(app, tenant_id, gbp_invoice["InvoiceID"])
    due = app.emulator.store.get_resource(tenant_id, "Invoices", gbp_invoice["InvoiceID"])["Invoices"][0]
    say(f"   → {outcome(view)}")
    account, reference = held["Account"]["Code"], held["Reference"]
    say(f"   In Xero: {held['Amount']} into account {account}, reference '{reference}'")
    say(f"   {gbp_invoice['InvoiceNumber']} now has {due['AmountDue']} due (was {gbp_invoice['AmountDue']})")

    step("A USD payment, with no bank account chosen for USD")
    usd_invoice = open_invoice(app, tenant_id, "USD")
    record(app, "ar-pay-1002", usd_invoice, "50.00", "Wire 1002")
    say(f"   → {outcome(settle(app, 'ar-pay-1002'))}")

    step("The USD account is set, and the user clicks 'Export back to Xero'")
    chosen["USD"] = by_code["091"]
    api(app, "PUT", "/settings", json={"bank_accounts": chosen})
    again = api(app, "POST", "/payments/ar-pay-1002/export")
    say(f"   PUT /settings USD: 091; POST /payments/ar-pay-1002/export → {again.status_code} {again.json()}")
    view = settle(app, "ar-pay-1002", until=("exported",))
    count = len(xero_payments(app, tenant_id, usd_invoice["InvoiceID"]))
    say(f"   → {outcome(view)}; {count} payment on {usd_invoice['InvoiceNumber']} in Xero")

    step("An invoice was paid by hand in Xero before the AR team's payment was exported")
    by_hand = open_invoice(app, tenant_id, "AUD")
    app.admin.record_payment(
        tenant_id, by_hand["InvoiceID"], str(by_hand["AmountDue"]), reference="Cash at the desk"
    )
    say(f"   A Xero user records {by_hand['AmountDue']} against {by_hand['InvoiceNumber']} by hand")
    record(app, "ar-pay-1003", by_hand, str(by_hand["AmountDue"]), "Cash 1003")
    say(f"   → {outcome(settle(app, 'ar-pay-1003'))}")
    count = len(xero_payments(app, tenant_id, by_hand["InvoiceID"]))
    say(f"   In Xero: {count} payment on the invoice (the one entered by hand)")

    step("Xero saves a payment but its answer is lost, four times over")
    lost = open_invoice(app, tenant_id, "GBP")  # the GBP invoice, 350.00 still due

    def ours_in_xero() -> list[dict[str, Any]]:
        held = xero_payments(app, tenant_id, lost["InvoiceID"])
        return [p for p in held if "[AR:ar-pay-1004]" in str(p["Reference"])]

    app.admin.add_fault("drop", count=4, phase="after", path_prefix="/api.xro/2.0/Payments", method="PUT")
    record(app, "ar-pay-1004", lost, "25.00", "BACS 1004")
    view = settle(app, "ar-pay-1004")
    say(f"   → {outcome(view)}")
    say(f"   Xero did save it: {len(ours_in_xero())} payment of ar-pay-1004 on {lost['InvoiceNumber']}")
    app.admin.advance_clock(timedelta(minutes=7).total_seconds())
    say("   Seven minutes pass in Xero: it has forgotten the Idempotency-Key (it keeps one about 6 minutes)")
    again = api(app, "POST", "/payments/ar-pay-1004/export")
    say(f"   POST /payments/ar-pay-1004/export → {again.status_code} queued {again.json()['queued']}")
    view = settle(app, "ar-pay-1004", until=("exported",))
    last = view["history"][-1]
    say(f"   → {outcome(view)} ({last['event']}: looked for in Xero first, adopted, never posted again)")
    say(f"   In Xero: exactly {len(ours_in_xero())} payment of ar-pay-1004 on {lost['InvoiceNumber']}")

    step("Every payment the AR platform recorded, as the AR app lists them")
    for payment in api(app, "GET", "/payments").json()["payments"]:
        say(f"   {payment['payment_id']}  {payment['amount']:>8} {payment['currency']}  {payment['status']}")


def main() -> int:
    say("xero-bridge demo: the whole product on this machine (moto for AWS, our emulator for Xero)")
    step("Starting the Xero emulator and the local stack")
    logs = io.StringIO()
    try:
        with running_app(seed="small", log_sink=logs) as app:
            play(app)
    except Exception as exc:
        say()
        say(f"The demo stopped: {type(exc).__name__}: {exc}")
        say("The functions' last log lines:")
        for line in logs.getvalue().splitlines()[-25:]:
            say(f"   {line}")
        return 1
    say()
    say("Done. `make start` runs the same stack in the foreground for you to explore.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
