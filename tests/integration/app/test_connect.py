"""Issue 3, connect (C1) and reconnect (C3): what the user sees, through the local API, against the emulator.

Every test goes through real HTTP redirects (``/connect`` → Xero's consent screen → ``/callback``) and
asserts what the user sees: where the browser goes back to in the AR app (``status``, ``error``,
``reason``) and what ``GET /orgs/{org_id}/connection`` then shows.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.integration.app.harness import (
    App,
    connect,
    connect_link,
    connection_status,
    consent,
    consent_redirect,
    executions_for,
    follow,
    new_browser,
    new_org,
    query_of,
    returned,
    without,
)

pytestmark = pytest.mark.integration

JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")


def scan(app: App, table: str = "ConnectionsTable") -> list[dict[str, Any]]:
    client = app.stack.client("dynamodb")
    pages = client.get_paginator("scan").paginate(TableName=app.stack.physical_id(table))
    return [item for page in pages for item in page["Items"]]


def xero_connections(app: App, tenant_id: str) -> list[dict[str, Any]]:
    return [c for c in app.admin.connections() if c["tenantId"] == tenant_id]


# --- the happy path -------------------------------------------------------------------------------------


def test_connect_redirects_back_connected_stores_tokens_encrypted_and_starts_the_sync(
    app: App, new_tenant: Callable[[str], str]
) -> None:
    # Given a Xero admin who ticks one organisation on the consent screen
    tenant_id = new_tenant("Happy Path Ltd")
    tenant_name = next(t["name"] for t in app.admin.tenants() if t["tenant_id"] == tenant_id)
    consent(app, [tenant_id])
    org_id = new_org()

    # When they connect from the AR app
    back = returned(app, connect(app, org_id))

    # Then the browser is back in the AR app, connected to that organisation
    assert back == {"status": "connected", "org_id": org_id, "tenant": tenant_name, "tenant_id": tenant_id}
    status = connection_status(app, org_id)
    assert status["status"] == "connected"
    assert status["tenant_name"] == tenant_name
    assert status["tenant_id"] == tenant_id
    assert status["reason"] is None

    # And the tokens are stored encrypted: no token Xero issued, and nothing JWT-like, is in the table
    items = scan(app)
    tokens_item = next(i for i in items if i["pk"]["S"] == f"ORG#{org_id}" and i["sk"]["S"] == "TOKENS")
    ciphertext = bytes(tokens_item["ciphertext"]["B"])
    stored = repr(items).encode() + b"".join(
        bytes(v["B"]) for item in items for v in item.values() if "B" in v
    )
    assert app.issued.tokens, "the emulator issued tokens"
    leaked = [i for i, token in enumerate(app.issued.tokens) if token.encode() in stored]
    assert leaked == [], "a token Xero issued is stored in plaintext in ConnectionsTable"
    assert not JWT.search(repr(items)), "something JWT-like is stored in plaintext"
    # ... and only KMS, with this connection's encryption context, opens them
    kms = app.stack.client("kms")
    plaintext = kms.decrypt(
        CiphertextBlob=ciphertext, EncryptionContext={"org_id": org_id, "tenant_id": tenant_id}
    )["Plaintext"]
    assert any(token.encode() in plaintext for token in app.issued.tokens)
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(
            CiphertextBlob=ciphertext, EncryptionContext={"org_id": "another-org", "tenant_id": tenant_id}
        )

    # And the initial sync was started for this org and tenant
    assert executions_for(app, org_id) == [{"org_id": org_id, "tenant_id": tenant_id, "trigger": "connect"}]


# --- refusals -------------------------------------------------------------------------------------------


def test_an_unknown_state_is_refused(app: App) -> None:
    back = returned(app, follow(app, f"{app.api_url}/callback?state=never-issued-by-us&code=some-code"))

    assert back["status"] == "error"
    assert back["error"] == "invalid_state"
    assert "connect again" in back["reason"]


def test_an_expired_state_is_refused(app: App, new_tenant: Callable[[str], str]) -> None:
    # Given a connect whose state outlived its TTL before Xero's redirect came back (the TTL is at least
    # a minute, so time passes here by moving the state's expiry into the past, as DynamoDB would see it)
    tenant_id = new_tenant("Slow Consent Ltd")
    consent(app, [tenant_id])
    org_id = new_org()
    callback = consent_redirect(app, org_id)
    key = {"pk": {"S": f"STATE#{query_of(callback)['state']}"}, "sk": {"S": "STATE"}}
    app.stack.client("dynamodb").update_item(
        TableName=app.stack.physical_id("ConnectionsTable"),
        Key=key,
        UpdateExpression="SET expires_at = :past",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )

    # When the browser lands on the callback
    back = returned(app, follow(app, callback))

    # Then the user is told the link expired, for their org, and nothing is connected
    assert back["status"] == "error"
    assert back["error"] == "expired_state"
    assert "expired" in back["reason"]
    assert back["org_id"] == org_id
    assert connection_status(app, org_id)["status"] == "not_connected"


def test_a_replayed_callback_is_refused_and_the_connection_stays(
    app: App, new_tenant: Callable[[str], str]
) -> None:
    tenant_id = new_tenant("Replay Ltd")
    consent(app, [tenant_id])
    org_id = new_org()
    callback = consent_redirect(app, org_id)
    assert returned(app, follow(app, callback))["status"] == "connected"

    # When the very same callback URL is opened again (browser back button, a leaked link)
    back = returned(app, follow(app, callback))

    # Then it is refused as already used, and the first connect is untouched
    assert back["status"] == "error"
    assert back["error"] == "invalid_state"
    assert "already used" in back["reason"]
    status = connection_status(app, org_id)
    assert (status["status"], status["tenant_id"]) == ("connected", tenant_id)
    assert len(executions_for(app, org_id)) == 1


def test_a_callback_without_code_is_refused(app: App, new_tenant: Callable[[str], str]) -> None:
    tenant_id = new_tenant("Truncated Ltd")
    consent(app, [tenant_id])
    org_id = new_org()

    back = returned(app, follow(app, without(consent_redirect(app, org_id), "code")))

    assert back["status"] == "error"
    assert back["error"] == "missing_code"
    assert back["org_id"] == org_id
    assert connection_status(app, org_id)["status"] == "not_connected"


def test_access_denied_on_xero_consent_is_refused(app: App, new_tenant: Callable[[str], str]) -> None:
    # Given a user who clicks "Cancel" on Xero's consent screen
    consent(app, [new_tenant("Cancelled Ltd")], deny=True)
    org_id = new_org()
    callback = consent_redirect(app, org_id)
    assert query_of(callback).get("error") == "access_denied"

    back = returned(app, follow(app, callback))

    assert back["status"] == "error"
    assert back["error"] == "access_denied"
    assert "not granted" in back["reason"]
    assert connection_status(app, org_id)["status"] == "not_connected"
    assert executions_for(app, org_id) == []


def test_a_user_who_is_not_a_xero_admin_is_refused_and_the_grant_undone(
    app: App, new_tenant: Callable[[str], str]
) -> None:
    # Given a STANDARD user (not an adviser, not the subscriber) of the organisation
    tenant_id = new_tenant("Standard User Ltd")
    user_id = f"standard-{new_org()}"
    consent(app, [tenant_id], user_id=user_id, role="STANDARD")
    org_id = new_org()

    back = returned(app, connect(app, org_id))

    # Then the user is told only an admin can connect, nothing is stored, no sync starts
    assert back["status"] == "error"
    assert back["error"] == "not_admin"
    assert "only a Xero admin can connect" in back["reason"]
    assert connection_status(app, org_id)["status"] == "not_connected"
    assert executions_for(app, org_id) == []
    # And in Xero the app is no longer connected to the organisation and the grant is revoked
    assert xero_connections(app, tenant_id) == []
    families = [f for f in app.admin.token_families() if f["userId"] == user_id]
    assert families and all(f["revoked"] for f in families)


def test_several_organisations_authorised_is_refused(app: App) -> None:
    # Given a user who ticks both organisations of the seed on the consent screen
    seeded = [t["tenant_id"] for t in app.admin.tenants()][:2]
    consent(app, seeded)
    org_id = new_org()

    back = returned(app, connect(app, org_id))

    assert back["status"] == "error"
    assert back["error"] == "several_organisations"
    assert "choose exactly one" in back["reason"]
    assert connection_status(app, org_id)["status"] == "not_connected"
    # And Xero's connections this consent created are deleted again
    for tenant_id in seeded:
        assert [c for c in xero_connections(app, tenant_id) if c["userId"] == app.default_user_id] == []


def test_reconnecting_to_a_different_organisation_is_refused(
    app: App, new_tenant: Callable[[str], str]
) -> None:
    # Given an org connected to one Xero organisation
    first, other = new_tenant("First Ltd"), new_tenant("Other Ltd")
    consent(app, [first])
    org_id = new_org()
    assert returned(app, connect(app, org_id))["status"] == "connected"

    # When it reconnects and the user picks another organisation
    consent(app, [other])
    back = returned(app, connect(app, org_id))

    # Then it is refused, naming neither (a refusal never tells who an AR org is connected to), and the
    # org stays on the first organisation
    assert back["status"] == "error"
    assert back["error"] == "different_organisation"
    assert "First Ltd" not in back["reason"] and "Other Ltd" not in back["reason"]
    status = connection_status(app, org_id)
    assert (status["status"], status["tenant_id"]) == ("connected", first)
    assert xero_connections(app, other) == [], "the connection to the other organisation is deleted in Xero"
    assert len(executions_for(app, org_id)) == 1


def test_connect_without_session_is_a_400_naming_the_field(app: App) -> None:
    response = httpx.get(f"{app.api_url}/connect", timeout=30.0)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "reason": "missing or invalid: session"}
    assert "location" not in response.headers


# --- the attacks of issue 10, played as an attacker would --------------------------------------------------


def test_attack_the_open_connect_by_org_id_is_gone(app: App, new_tenant: Callable[[str], str]) -> None:
    # An attacker with no credentials names someone else's AR org and consents with their own Xero org
    attacker_org = new_tenant("Attacker Pty")
    consent(app, [attacker_org])
    victim = new_org()

    response = new_browser().get(f"{app.api_url}/connect", params={"org_id": victim})

    # Refused before Xero: no state, no consent screen, nothing bound to the victim's org
    assert response.status_code == 400 and "location" not in response.headers
    assert connection_status(app, victim)["status"] == "not_connected"


def test_attack_a_connect_link_completed_in_another_browser_is_refused(
    app: App, new_tenant: Callable[[str], str]
) -> None:
    # Given a connect link minted for an AR org, opened by its finance user's browser
    mine = new_tenant("Mine Ltd")
    consent(app, [mine])
    org_id = new_org()
    callback = consent_redirect(app, org_id)

    # When someone else's browser (no cookie) lands on the callback with that state and a code
    back = returned(app, follow(app, callback, browser=new_browser()))

    # Then it is refused and nothing is connected
    assert (back["status"], back["error"]) == ("error", "wrong_browser")
    assert connection_status(app, org_id)["status"] == "not_connected"
    assert executions_for(app, org_id) == []


def test_attack_a_forwarded_connect_link_opens_once(app: App) -> None:
    link = connect_link(app, new_org())
    first = new_browser().get(link)
    assert first.status_code == 302

    second = new_browser().get(link)  # the link forwarded to someone else

    assert second.status_code == 400 and second.json()["error"] == "invalid_session"


def test_a_link_made_for_one_ar_user_refuses_another_xero_user(
    app: App, new_tenant: Callable[[str], str]
) -> None:
    mine = new_tenant("Mine Ltd")
    consent(app, [mine])  # the emulator's consenting user, not the one the link names
    org_id = new_org()

    back = returned(app, follow(app, consent_redirect(app, org_id, user_email="someone.else@acme.example")))

    assert (back["status"], back["error"]) == ("error", "different_user")
    assert connection_status(app, org_id)["status"] == "not_connected"


def test_attack_two_callbacks_for_one_tenant_at_once_leave_it_bound_to_one_org(
    app: App, new_tenant: Callable[[str], str]
) -> None:
    # Given two AR orgs, each with a callback for the same Xero organisation ready in its own browser,
    # consented by two different advisers of that organisation
    shared = new_tenant("Contested Ltd")
    advisers = [
        app.admin.add_user(shared, email=f"adviser{n}@contested.example", role="FINANCIALADVISER")
        for n in (1, 2)
    ]
    orgs = [new_org(), new_org()]
    browsers = [new_browser(), new_browser()]
    callbacks = []
    for org, browser, adviser in zip(orgs, browsers, advisers, strict=True):
        consent(app, [shared], user_id=adviser)
        callbacks.append(consent_redirect(app, org, browser=browser))

    # When both land at the same moment
    barrier = threading.Barrier(2)
    results: list[dict[str, str]] = [{}, {}]

    def land(n: int) -> None:
        barrier.wait()
        results[n] = returned(app, follow(app, callbacks[n], browser=browsers[n]))

    threads = [threading.Thread(target=land, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then exactly one connected; the other is refused with a stable code that names no organisation
    statuses = sorted(r.get("status", "") for r in results)
    assert statuses == ["connected", "error"], results
    refusal = next(r for r in results if r["status"] == "error")
    assert refusal["error"] == "organisation_in_use"
    assert "Contested" not in refusal["reason"]
    connected = [o for o in orgs if connection_status(app, o)["status"] == "connected"]
    assert len(connected) == 1


def test_attack_the_callbacks_error_parameter_is_never_echoed(
    app: App, new_tenant: Callable[[str], str]
) -> None:
    consent(app, [new_tenant("Mine Ltd")])
    org_id = new_org()
    callback = consent_redirect(app, org_id)
    state = query_of(callback)["state"]
    forged = f"{app.api_url}/callback?state={state}&error=<script>alert(1)</script>&error_description=pwned"

    back = returned(app, follow(app, forged))

    assert back["error"] == "xero_error"
    assert "script" not in back["reason"] and "pwned" not in back["reason"]


def test_the_local_stack_created_exactly_what_the_template_declares(app: App) -> None:
    report = app.stack.declared_vs_created()

    assert report.exact, report.describe()
