"""The identity service as a Xero client sees it: authorize, token, refresh, revoke, connections."""

from __future__ import annotations

import secrets

import jwt

from tests.integration.emulator.conftest import CLIENT_ID, REDIRECT_URI, SCOPES, Xero, query_of


def test_full_flow_with_pkce_gives_tokens_and_connections(xero: Xero) -> None:
    # Given a consent screen that allows every tenant
    verifier = secrets.token_urlsafe(48)
    # When the app authorises and exchanges the code
    response = xero.authorize(verifier=verifier, state="abc")
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    assert query["state"] == "abc"
    assert set(query["scope"].split()) == set(SCOPES.split())
    tokens = xero.exchange(query["code"], verifier).json()
    # Then it holds an access token, a refresh token and an id token
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 1800
    assert tokens["refresh_token"] and tokens["id_token"]
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    for name in ("iss", "aud", "exp", "nbf", "sub", "xero_userid", "authentication_event_id", "auth_time"):
        assert name in claims
    assert claims["client_id"] == CLIENT_ID
    assert "accounting.transactions" in claims["scope"]
    assert claims["exp"] - claims["nbf"] == 1800
    # And one connection per tenant, all with the token's authEventId
    connections = xero.http.get(
        "/connections", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    assert sorted(c["tenantId"] for c in connections) == sorted(xero.tenants)
    assert {c["authEventId"] for c in connections} == {claims["authentication_event_id"]}
    assert all(c["tenantType"] == "ORGANISATION" and c["tenantName"].startswith("Org") for c in connections)


def test_id_token_is_signed_with_the_published_key(xero: Xero) -> None:
    tokens = xero.connect()
    jwks = xero.http.get("/.well-known/openid-configuration/jwks").json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    claims = jwt.decode(
        tokens["id_token"], key, algorithms=["RS256"], audience=CLIENT_ID, options={"verify_exp": False}
    )
    assert claims["email"] == "finance.admin@example.com"
    assert claims["given_name"] == "Fiona"


def test_client_secret_post_works_too(xero: Xero) -> None:
    verifier = secrets.token_urlsafe(48)
    response = xero.exchange(xero.code(verifier=verifier), verifier, basic=False)
    assert response.status_code == 200


def test_wrong_pkce_verifier_is_invalid_grant(xero: Xero) -> None:
    code = xero.code(verifier=secrets.token_urlsafe(48))
    response = xero.exchange(code, secrets.token_urlsafe(48))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_missing_pkce_verifier_is_invalid_grant(xero: Xero) -> None:
    code = xero.code(verifier=secrets.token_urlsafe(48))
    response = xero.exchange(code, None)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_pkce_method_other_than_s256_is_refused(xero: Xero) -> None:
    response = xero.authorize(code_challenge="abc", code_challenge_method="plain")
    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == "invalid_request"


def test_unregistered_redirect_uri_shows_an_error_page_and_never_redirects(xero: Xero) -> None:
    response = xero.authorize(redirect_uri="http://127.0.0.1:3000/evil")
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "Invalid redirect_uri" in response.text


def test_unknown_client_id_shows_an_error_page(xero: Xero) -> None:
    response = xero.authorize(client_id="someone-else")
    assert response.status_code == 400
    assert "location" not in response.headers


def test_wrong_response_type_and_unknown_scope_redirect_with_errors(xero: Xero) -> None:
    bad_type = xero.authorize(response_type="token")
    assert query_of(bad_type.headers["location"])["error"] == "unsupported_response_type"
    bad_scope = xero.authorize(scope="openid accounting.everything.forever nonsense")
    assert query_of(bad_scope.headers["location"])["error"] == "invalid_scope"
    assert query_of(bad_scope.headers["location"])["state"] == "state-1"


def test_wrong_secret_is_invalid_client(xero: Xero) -> None:
    verifier = secrets.token_urlsafe(48)
    response = xero.exchange(xero.code(verifier=verifier), verifier, secret="not-the-secret")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_client"}


def test_code_is_single_use(xero: Xero) -> None:
    verifier = secrets.token_urlsafe(48)
    code = xero.code(verifier=verifier)
    assert xero.exchange(code, verifier).status_code == 200
    replay = xero.exchange(code, verifier)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_code_expires_after_five_minutes(xero: Xero) -> None:
    verifier = secrets.token_urlsafe(48)
    code = xero.code(verifier=verifier)
    xero.admin.advance_clock(301)
    response = xero.exchange(code, verifier)
    assert response.json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_at_exchange(xero: Xero) -> None:
    verifier = secrets.token_urlsafe(48)
    code = xero.code(verifier=verifier)
    response = xero.token(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:3000/other",
            "code_verifier": verifier,
        }
    )
    assert response.json()["error"] == "invalid_grant"


def test_public_client_without_secret_must_use_pkce(xero: Xero) -> None:
    verifier = secrets.token_urlsafe(48)
    assert xero.exchange(xero.code(verifier=verifier), verifier, secret=None).status_code == 200
    refused = xero.exchange(xero.code(), None, secret=None)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client"


def test_denied_consent_redirects_with_access_denied(xero: Xero) -> None:
    xero.admin.set_consent(deny=True)
    response = xero.authorize()
    query = query_of(response.headers["location"])
    assert query["error"] == "access_denied"
    assert query["state"] == "state-1"
    assert "code" not in query


def test_consent_for_some_tenants_only(xero: Xero) -> None:
    xero.admin.set_consent(tenant_ids=[xero.tenants[1]], role="STANDARD")
    tokens = xero.connect()
    connections = xero.http.get(
        "/connections", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    assert [c["tenantId"] for c in connections] == [xero.tenants[1]]
    users = xero.admin.users(xero.tenants[1])
    assert [u["OrganisationRole"] for u in users] == ["STANDARD"]


def test_access_token_expires_after_30_simulated_minutes(xero: Xero) -> None:
    tokens = xero.connect()
    ok = xero.api("GET", "Organisation", tokens["access_token"], xero.tenants[0])
    assert ok.status_code == 200
    xero.admin.advance_clock(30 * 60 + 1)
    expired = xero.api("GET", "Organisation", tokens["access_token"], xero.tenants[0])
    assert expired.status_code == 401
    assert expired.json()["Detail"].startswith("TokenExpired")
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]


def test_refresh_rotates_and_the_new_pair_works(xero: Xero) -> None:
    tokens = xero.connect()
    refreshed = xero.refresh(tokens["refresh_token"]).json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert refreshed["access_token"] != tokens["access_token"]
    again = xero.refresh(refreshed["refresh_token"]).json()
    assert again["refresh_token"] not in (tokens["refresh_token"], refreshed["refresh_token"])
    claims = jwt.decode(again["access_token"], options={"verify_signature": False})
    first = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["authentication_event_id"] == first["authentication_event_id"]
    assert xero.api("GET", "Organisation", again["access_token"], xero.tenants[0]).status_code == 200


def test_grace_retry_with_the_old_token_gives_a_fresh_pair_and_kills_the_lost_one(xero: Xero) -> None:
    # Given a refresh whose response was lost
    tokens = xero.connect()
    lost = xero.refresh(tokens["refresh_token"]).json()
    # When the client retries with the old refresh token within 30 minutes
    xero.admin.advance_clock(29 * 60)
    retry = xero.refresh(tokens["refresh_token"])
    # Then it gets a fresh pair, which works, and the lost refresh token is dead
    assert retry.status_code == 200
    fresh = retry.json()
    assert fresh["refresh_token"] not in (lost["refresh_token"], tokens["refresh_token"])
    assert xero.refresh(lost["refresh_token"]).json()["error"] == "invalid_grant"
    assert xero.refresh(fresh["refresh_token"]).status_code == 200


def test_reuse_after_the_grace_period_is_invalid_grant(xero: Xero) -> None:
    tokens = xero.connect()
    xero.refresh(tokens["refresh_token"])
    xero.admin.advance_clock(30 * 60 + 5)
    response = xero.refresh(tokens["refresh_token"])
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant"}


def test_reuse_of_a_token_two_rotations_old_is_invalid_grant(xero: Xero) -> None:
    tokens = xero.connect()
    second = xero.refresh(tokens["refresh_token"]).json()
    xero.refresh(second["refresh_token"])
    assert xero.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_refresh_token_unused_for_60_days_expires(xero: Xero) -> None:
    tokens = xero.connect()
    xero.admin.advance_clock(60 * 24 * 3600 + 1)
    assert xero.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_revocation_ends_refresh_access_and_connections(xero: Xero) -> None:
    tokens = xero.connect()
    response = xero.http.post(
        "/connect/revocation",
        data={"token": tokens["refresh_token"]},
        auth=(CLIENT_ID, "local-client-secret"),
    )
    assert response.status_code == 200
    assert xero.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
    api = xero.api("GET", "Organisation", tokens["access_token"], xero.tenants[0])
    assert api.status_code == 401
    assert xero.admin.connections() == []


def test_revocation_with_a_wrong_secret_is_refused(xero: Xero) -> None:
    tokens = xero.connect()
    response = xero.http.post(
        "/connect/revocation", data={"token": tokens["refresh_token"]}, auth=(CLIENT_ID, "nope")
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


def test_connections_filtered_by_auth_event_id(xero: Xero) -> None:
    # Given two consents: the first for tenant 0, the second for tenant 1
    xero.admin.set_consent(tenant_ids=[xero.tenants[0]])
    first = xero.connect()
    xero.admin.set_consent(tenant_ids=[xero.tenants[1]])
    second = xero.connect()
    event = jwt.decode(second["access_token"], options={"verify_signature": False})["authentication_event_id"]
    headers = {"Authorization": f"Bearer {second['access_token']}"}
    # When the app asks for the connections of the second consent
    only = xero.http.get("/connections", params={"authEventId": event}, headers=headers).json()
    everything = xero.http.get("/connections", headers=headers).json()
    # Then only tenant 1 comes back, while the user holds both
    assert [c["tenantId"] for c in only] == [xero.tenants[1]]
    assert len(everything) == 2
    assert first["access_token"] != second["access_token"]


def test_reconsent_keeps_the_connection_id_and_moves_auth_event(xero: Xero) -> None:
    xero.connect()
    before = {c["tenantId"]: c for c in xero.admin.connections()}
    xero.admin.advance_clock(10)
    xero.connect()
    after = {c["tenantId"]: c for c in xero.admin.connections()}
    for tenant_id in xero.tenants:
        assert after[tenant_id]["id"] == before[tenant_id]["id"]
        assert after[tenant_id]["createdDateUtc"] == before[tenant_id]["createdDateUtc"]
        assert after[tenant_id]["authEventId"] != before[tenant_id]["authEventId"]
        assert after[tenant_id]["updatedDateUtc"] > before[tenant_id]["updatedDateUtc"]


def test_delete_connection_disconnects_the_tenant(xero: Xero) -> None:
    tokens = xero.connect()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    connections = xero.http.get("/connections", headers=headers).json()
    target = next(c for c in connections if c["tenantId"] == xero.tenants[0])
    assert xero.http.delete(f"/connections/{target['id']}", headers=headers).status_code == 204
    assert xero.http.delete(f"/connections/{target['id']}", headers=headers).status_code == 404
    assert xero.api("GET", "Organisation", tokens["access_token"], xero.tenants[0]).status_code == 403
    assert xero.api("GET", "Organisation", tokens["access_token"], xero.tenants[1]).status_code == 200


def test_admin_output_never_contains_a_token_or_secret(xero: Xero) -> None:
    tokens = xero.connect()
    dumped = str(xero.admin.token_families()) + str(xero.admin.config()) + str(xero.admin.connections())
    for secret in (
        tokens["access_token"],
        tokens["refresh_token"],
        "local-client-secret",
        "local-webhook-key",
    ):
        assert secret not in dumped
