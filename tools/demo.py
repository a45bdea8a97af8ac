"""``make demo``: the whole product on this machine, told in plain words.

Starts the Xero emulator with a seeded organisation and the local stack from template.yaml, then plays the
story through real HTTP: a finance user connects Xero (connect → Xero's consent → callback), the initial sync
runs with progress (the chase part first: the moment it is written, the run is chase-ready; the history
after) and its counts are set beside the emulator's own, and a non-admin is refused.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from datetime import datetime
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


def step(number: int, title: str) -> None:
    say()
    say(f"{number}. {title}")


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def connect_in_browser(app: LocalApp, org_id: str) -> dict[str, str]:
    """Follow the redirects a browser would: /connect → Xero's consent → /callback → the AR app."""
    with httpx.Client(follow_redirects=False, timeout=60) as browser:
        start = browser.get(f"{app.api_url}/connect", params={"org_id": org_id})
        authorize = start.headers["location"]
        asked = _query(authorize)
        say(f"   GET /connect?org_id={org_id} → {start.status_code} to Xero's consent screen")
        say(
            f"      PKCE {asked.get('code_challenge_method')}, state bound to {org_id}, "
            f"scopes: {asked.get('scope')}"
        )
        consent = browser.get(authorize)
        callback = consent.headers["location"]
        say(f"   Xero's consent screen → {consent.status_code} back to /callback with a one-time code")
        done = browser.get(callback)
        back = done.headers.get("location", "")
        say(f"   GET /callback → {done.status_code} to the AR app")
        return _query(back)


def connection_status(app: LocalApp, org_id: str) -> dict[str, Any]:
    response = httpx.get(f"{app.api_url}/orgs/{org_id}/connection", headers=app.api_headers, timeout=30)
    response.raise_for_status()
    return dict(response.json())


def tenant_named(app: LocalApp, name: str) -> str:
    return next(str(t["tenant_id"]) for t in app.admin.tenants() if t["name"] == name)


PART_LABELS = {"chase": "chase part", "history": "history"}


def _bar(done: int, total: int, width: int) -> str:
    filled = int(width * min(done, total) / total) if total else 0
    return "[" + "#" * filled + "." * (width - filled) + "]"


def progress_line(view: dict[str, Any], width: int = 20) -> str:
    """One line of progress: per part (chase first, then history), pages fetched and records written."""
    status = view.get("status")
    parts = view.get("parts") or {}
    shown = []
    for part, label in PART_LABELS.items():
        figures = parts.get(part) or {}
        total = figures.get("pages_total")
        done = int(figures.get("pages_done") or 0)
        written, sent = figures.get("records_written", 0), figures.get("records_sent", 0)
        if not total:
            shown.append(f"{label} {'not planned yet' if not done else f'{done} pages so far'}")
            continue
        shown.append(f"{label} {_bar(done, total, width)} {done}/{total} pages, {written}/{sent} written")
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
        response = httpx.get(f"{app.api_url}/orgs/{org_id}/sync", headers=app.api_headers, timeout=30)
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

    step(2, f"A finance user of AR org '{ORG_ID}' clicks 'Connect Xero' and picks {DEMO_COMPANY}")
    app.admin.set_consent(tenant_ids=[demo_tenant], role="FINANCIALADVISER")
    outcome = connect_in_browser(app, ORG_ID)
    say(f"   The AR app is told: status={outcome.get('status')}, tenant={outcome.get('tenant', '')}")
    status = connection_status(app, ORG_ID)
    say(f"   GET /orgs/{ORG_ID}/connection → {status['status']} to '{status['tenant_name']}'")
    say("   Tokens are stored encrypted with the stack's KMS key; none is ever logged.")

    step(3, f"The initial sync of {DEMO_COMPANY}, started by the connect: what the AR team chases with first")
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

    step(4, f"A Xero user without the adviser role tries to connect AR org '{OTHER_ORG_ID}' to {SECOND_ORG}")
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


def main() -> int:
    say("xero-bridge demo: the whole product on this machine (moto for AWS, our emulator for Xero)")
    step(1, "Starting the Xero emulator and the local stack")
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
