"""A connection's life on the local stack (C2, C3): disconnect, the reconnect banner, a reconnect that resumes
with the catch-up only, as the AR app and Xero see them."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.integration.app.harness import (
    App,
    connect,
    connection_status,
    consent,
    executions_for,
    new_org,
    returned,
    synced,
    wait_for,
)

pytestmark = pytest.mark.integration


def xero_calls(app: App, tenant_id: str) -> int:
    return int(app.emulator.stats.snapshot()["tenants"].get(tenant_id, {}).get("calls", 0))


def connected_and_synced(app: App, new_tenant: Callable[[str], str], name: str) -> tuple[str, str]:
    tenant = new_tenant(name)
    created = app.admin.create_contacts(tenant, {"Contacts": [{"Name": "Customer One"}]})
    contact_id = created["Contacts"][0]["ContactID"]
    sale = {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "Status": "AUTHORISED",
        "LineItems": [{"Description": "Services", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200"}],
    }
    app.admin.create_invoices(tenant, {"Invoices": [sale]})  # a sales invoice makes the contact a customer
    consent(app, [tenant])
    org_id = new_org()
    assert returned(app, connect(app, org_id))["status"] == "connected"
    synced(app, org_id)
    return org_id, tenant


def test_disconnect_undoes_the_connection_at_xero_and_here_and_ignores_the_tenant_after(
    app: App, new_tenant: Callable[[str], str]
) -> None:
    org_id, tenant = connected_and_synced(app, new_tenant, "Leaving Ltd")
    assert [c for c in app.admin.connections() if c["tenantId"] == tenant]

    # When the AR platform disconnects the org
    response = httpx.delete(f"{app.api_url}/orgs/{org_id}/connection", auth=app.api_auth, timeout=30)

    # Then Xero holds no connection of ours, the tokens are erased, the status says why
    assert response.status_code == 200, response.text
    body = response.json()
    assert (
        body["xero_connection_deleted"] and body["refresh_token_revoked"] and not body["already_disconnected"]
    )
    assert [c for c in app.admin.connections() if c["tenantId"] == tenant] == []
    items = app.stack.client("dynamodb").get_item(
        TableName=app.stack.physical_id("ConnectionsTable"),
        Key={"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": "TOKENS"}},
    )
    assert "Item" not in items
    status = connection_status(app, org_id)
    assert (status["status"], status["reason_code"]) == ("disconnected", "disconnected")

    # And the tenant's later webhooks and catch-ups cost no Xero call
    calls = xero_calls(app, tenant)
    contact = app.emulator.store.list_resource(tenant, "Contacts")["Contacts"][0]
    app.admin.archive_contact(tenant, str(contact["ContactID"]))
    app.admin.wait_webhooks(timeout=10)
    app.stack.fire_schedule("CatchUpFunction")
    app.stack.drain(timeout=60)
    assert xero_calls(app, tenant) == calls

    # And the synced customer stays readable, as it was, marked as from a disconnected source
    kept = httpx.get(
        f"{app.api_url}/orgs/{org_id}/customers/{contact['ContactID']}", auth=app.api_auth, timeout=30
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["active"] is True and kept.json()["sync"]["source_connection"] == "disconnected"

    # And a second disconnect answers the same, changing nothing
    again = httpx.delete(f"{app.api_url}/orgs/{org_id}/connection", auth=app.api_auth, timeout=30)
    assert again.status_code == 200 and again.json()["already_disconnected"] is True


@pytest.mark.parametrize(
    "revoked_in_xero",
    ["grant", "connection"],
    ids=["refresh-invalid-grant", "connection-removed-403"],
)
def test_a_revoked_grant_shows_the_banner_and_the_reconnect_catches_up_without_reimporting(
    app: App, new_tenant: Callable[[str], str], revoked_in_xero: str
) -> None:
    org_id, tenant = connected_and_synced(app, new_tenant, f"Revoked {revoked_in_xero} Ltd")
    executions = len(executions_for(app, org_id))

    # Given the grant revoked at Xero (the refresh then answers invalid_grant), or the app disconnected in
    # Xero's settings (its API calls then answer 403, a refresh does not help)
    if revoked_in_xero == "grant":
        assert app.admin.revoke_grant(tenant) == 1
    else:
        assert app.admin.revoke_connection(tenant) == 1

    # When the catch-up next calls Xero for the tenant
    app.stack.fire_schedule("CatchUpFunction")
    app.stack.drain(timeout=60)

    # Then the connection shows the banner, with its stable reason
    status = wait_for(
        "the banner", lambda: (s := connection_status(app, org_id))["status"] == "needs_reconnect" and s
    )
    assert status["reason_code"] == "token_revoked"
    assert "reconnect" in status["reason"]

    # When a Xero admin reconnects the same organisation
    calls_before = xero_calls(app, tenant)
    consent(app, [tenant])
    back = returned(app, connect(app, org_id))

    # Then it is connected again and caught up from its cursors: no initial-sync execution, no page again
    assert back["status"] == "connected"
    assert len(executions_for(app, org_id)) == executions
    app.stack.drain(timeout=60)
    assert connection_status(app, org_id)["status"] == "connected"
    outcome = wait_for("the reconnect's catch-up", lambda: connection_status(app, org_id)["catch_up"])
    assert outcome["reason"] == "reconnect" and outcome["status"] == "caught_up"
    # the callback's own calls (connections, Users) and the catch-up's one call per resource at most
    assert xero_calls(app, tenant) - calls_before <= 2 + 7


def test_a_disconnected_org_may_connect_another_organisation(
    app: App, new_tenant: Callable[[str], str]
) -> None:
    org_id, _ = connected_and_synced(app, new_tenant, "Old Ltd")
    httpx.delete(f"{app.api_url}/orgs/{org_id}/connection", auth=app.api_auth, timeout=30)
    other = new_tenant("New Ltd")
    consent(app, [other])

    back = returned(app, connect(app, org_id))

    assert back["status"] == "connected" and back["tenant_id"] == other


def test_the_connecting_user_removed_from_the_organisation_shows_its_own_banner(
    app: App, new_tenant: Callable[[str], str]
) -> None:
    org_id, tenant = connected_and_synced(app, new_tenant, "User Removed Ltd")

    # Given the Xero user who connected removed from the organisation (the connection itself stays)
    app.admin.remove_user(tenant)

    # When the catch-up next calls Xero for the tenant
    app.stack.fire_schedule("CatchUpFunction")
    app.stack.drain(timeout=60)

    # Then the banner says the user is gone, not that the token was revoked
    status = wait_for(
        "the banner", lambda: (s := connection_status(app, org_id))["status"] == "needs_reconnect" and s
    )
    assert status["reason_code"] == "user_removed"
    assert "removed" in status["reason"]
