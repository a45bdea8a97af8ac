"""The connect use case (C1, C3's reconnect) with in-memory fakes: every refusal and every happy path."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.unit.services.sync.fakes import FakeRuns
from tests.unit.services.webhooks.fakes import FakeCatchUps
from xero_bridge.errors import ConnectError, XeroForbidden
from xero_bridge.models.connection import ConnectionStatus, ConnectOutcome, XeroConnection
from xero_bridge.models.sync import SyncRun, SyncStatus
from xero_bridge.models.xero import User
from xero_bridge.services.connection.connect import BeginConnect, CompleteConnect, StartConnect

from .fakes import (
    T0,
    FakeCipher,
    FakeClock,
    FakeOAuth,
    FakeSync,
    FakeTable,
    FakeUsers,
    xero_connection,
    xero_user,
)

ORG = "org_acme"
TENANT = "tenant-acme"


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.table = FakeTable()
        self.cipher = FakeCipher()
        self.oauth = FakeOAuth(clock=self.clock, granted=[xero_connection(TENANT, "Acme Ltd")])
        self.users = FakeUsers(
            {
                TENANT: [xero_user("user-admin", "FINANCIALADVISER"), xero_user("user-staff", "STANDARD")],
                "tenant-other": [xero_user("user-admin", "FINANCIALADVISER")],
                "tenant-third": [xero_user("user-admin", "FINANCIALADVISER")],
            }
        )
        self.sync = FakeSync()
        self.runs = FakeRuns()
        self.catch_ups = FakeCatchUps()
        self.browser_keys: dict[str, str] = {}  # state -> the cookie of the browser that opened the link
        self.starting = StartConnect(sessions=self.table, now=self.clock)
        self.beginning = BeginConnect(
            sessions=self.table,
            states=self.table,
            oauth=self.oauth,
            pkce=lambda: ("verifier-" + "v" * 40, "challenge-c"),
            state_ttl_seconds=600,
            now=self.clock,
        )
        self.completing = CompleteConnect(
            states=self.table,
            connections=self.table,
            cipher=self.cipher,
            oauth=self.oauth,
            users=self.users,
            machine=self.sync,
            runs=self.runs,
            catch_ups=self.catch_ups,
            now=self.clock,
        )

    def link(self, org_id: str = ORG, user_email: str | None = None) -> str:
        """The session token of a new connect link (``POST /orgs/{org_id}/connect``)."""
        link = self.starting.start(org_id, user_email=user_email, connect_endpoint="https://api.test/connect")
        return parse_qs(urlsplit(link.connect_url).query)["session"][0]

    def begin(self, org_id: str = ORG, user_email: str | None = None) -> str:
        started = self.beginning.begin(self.link(org_id, user_email))
        state = parse_qs(urlsplit(started.authorize_url).query)["state"][0]
        self.browser_keys[state] = started.browser_key
        return state

    def complete(
        self,
        state: str | None,
        code: str | None,
        error: str | None,
        error_description: str | None = None,
        *,
        browser_key: str | None = "same browser",
    ) -> ConnectOutcome:
        """The callback, in the browser that opened the link (unless ``browser_key`` says otherwise)."""
        key = self.browser_keys.get(state or "") if browser_key == "same browser" else browser_key
        return self.completing.complete(state, code, error, error_description, browser_key=key)

    def connected_before(self, tenant_id: str, status: ConnectionStatus = ConnectionStatus.CONNECTED) -> None:
        self.table.connections[ORG] = XeroConnection(
            org_id=ORG,
            tenant_id=tenant_id,
            tenant_name="Before Ltd",
            status=status,
            first_connected_at=T0 - timedelta(days=30),
            connected_at=T0 - timedelta(days=30),
            updated_at=T0 - timedelta(days=1),
        )


@pytest.fixture
def world() -> World:
    return World()


def refused(
    world: World, state: str | None, code: str | None = "good-code", error: str | None = None
) -> ConnectError:
    with pytest.raises(ConnectError) as info:
        world.complete(state, code, error)
    return info.value


# --- /connect -------------------------------------------------------------------------------------------


def test_begin_connect_stores_a_single_use_state_bound_to_the_org_with_pkce(world: World) -> None:
    started = world.beginning.begin(world.link(ORG))

    query = parse_qs(urlsplit(started.authorize_url).query)
    stored = world.table.states[query["state"][0]]
    assert stored.org_id == ORG == started.org_id
    assert stored.browser_hash and stored.browser_hash != started.browser_key  # only its hash is kept
    assert stored.expires_at == T0 + timedelta(seconds=600)
    assert stored.code_verifier.get_secret_value().startswith("verifier-")
    assert query["code_challenge"] == ["challenge-c"]
    assert len(query["state"][0]) >= 40  # 32 random bytes, url-safe


def test_each_connect_gets_a_fresh_state(world: World) -> None:
    assert world.begin() != world.begin()


# --- happy paths ----------------------------------------------------------------------------------------


def test_connect_stores_encrypted_tokens_marks_connected_and_starts_the_sync(world: World) -> None:
    state = world.begin()

    outcome = world.complete(state, "good-code", None)

    assert outcome.org_id == ORG and outcome.tenant_id == TENANT and outcome.tenant_name == "Acme Ltd"
    assert outcome.reconnected is False
    connection = world.table.connections[ORG]
    assert connection.status == ConnectionStatus.CONNECTED
    assert (
        connection.xero_connection_id == f"conn-{TENANT}" and connection.connected_by_user_id == "user-admin"
    )
    record = world.table.tokens[ORG]
    assert b"access-1" in record.ciphertext and record.ciphertext.startswith(f"{ORG}|{TENANT}|".encode())
    assert world.oauth.connections_queries == ["auth-event-1"]  # only what this consent authorised
    assert list(world.sync.started.values()) == [{"org_id": ORG, "tenant_id": TENANT, "reconnect": False}]
    assert outcome.sync_execution_arn and not world.oauth.deleted and not world.oauth.revoked


def test_reconnect_of_the_same_tenant_keeps_first_connected_at_and_resumes(world: World) -> None:
    world.connected_before(TENANT, ConnectionStatus.NEEDS_RECONNECT)

    outcome = world.complete(world.begin(), "good-code", None)

    assert outcome.reconnected is True
    connection = world.table.connections[ORG]
    assert connection.status == ConnectionStatus.CONNECTED and connection.reason is None
    assert connection.first_connected_at == T0 - timedelta(days=30)
    assert next(iter(world.sync.started.values()))["reconnect"] is True


def test_a_token_that_is_not_a_jwt_falls_back_to_all_connections(world: World) -> None:
    world.oauth.auth_event_id = None

    world.complete(world.begin(), "good-code", None)

    assert world.oauth.connections_queries == [None]


def test_several_tenants_on_reconnect_keep_the_one_the_org_had_and_delete_the_others(world: World) -> None:
    world.connected_before(TENANT)
    world.oauth.granted = [xero_connection("tenant-other", "Other"), xero_connection(TENANT, "Acme Ltd")]

    outcome = world.complete(world.begin(), "good-code", None)

    assert outcome.tenant_id == TENANT
    assert world.oauth.deleted == ["conn-tenant-other"]
    assert world.oauth.revoked == []


def test_connect_after_a_disconnect_may_choose_another_tenant(world: World) -> None:
    world.connected_before("tenant-other", ConnectionStatus.DISCONNECTED)

    outcome = world.complete(world.begin(), "good-code", None)

    assert outcome.tenant_id == TENANT and outcome.reconnected is False


def test_a_financial_adviser_counts_as_admin(world: World) -> None:
    world.users.by_tenant[TENANT] = [xero_user("user-admin", "FINANCIALADVISER")]

    assert world.complete(world.begin(), "good-code", None).tenant_id == TENANT


def test_the_subscriber_counts_as_admin_whatever_its_role(world: World) -> None:
    # Given the organisation's owner (IsSubscriber) holds Xero's STANDARD role
    world.users.by_tenant[TENANT] = [xero_user("user-admin", "STANDARD", subscriber=True)]

    assert world.complete(world.begin(), "good-code", None).tenant_id == TENANT


# --- refusals -------------------------------------------------------------------------------------------


def test_no_state_is_refused(world: World) -> None:
    assert refused(world, None).code == "invalid_state"


def test_unknown_state_is_refused(world: World) -> None:
    error = refused(world, "never-issued")
    assert error.code == "invalid_state" and "connect again" in error.reason


def test_state_is_single_use(world: World) -> None:
    # Given a completed connect
    state = world.begin()
    world.complete(state, "good-code", None)
    # When the same callback is replayed
    error = refused(world, state, code="good-code")
    # Then it is refused and nothing else happens
    assert error.code == "invalid_state"
    assert len(world.sync.started) == 1


def test_expired_state_is_refused_with_its_org(world: World) -> None:
    state = world.begin()
    world.clock.advance(601)

    error = refused(world, state)

    assert error.code == "expired_state" and error.org_id == ORG
    assert state not in world.table.states  # burnt, not reusable


def test_access_denied_is_refused_and_burns_the_state(world: World) -> None:
    state = world.begin()

    error = refused(world, state, code=None, error="access_denied")

    assert error.code == "access_denied" and "not granted" in error.reason and error.org_id == ORG
    assert refused(world, state).code == "invalid_state"


def test_other_xero_errors_are_refused_with_their_code_only(world: World) -> None:
    with pytest.raises(ConnectError) as info:
        world.complete(world.begin(), None, "server_error", "<script>alert(1)</script>")
    # Nothing the request sent is echoed to the user
    assert info.value.code == "xero_error"
    assert "server_error" not in info.value.reason and "<script>" not in info.value.reason
    assert "script" not in info.value.reason


def test_missing_code_is_refused(world: World) -> None:
    assert refused(world, world.begin(), code=None).code == "missing_code"


def test_a_code_xero_rejects_is_refused(world: World) -> None:
    assert refused(world, world.begin(), code="used-code").code == "code_rejected"


def test_no_organisation_authorised_is_refused_and_revoked(world: World) -> None:
    world.oauth.granted = []

    error = refused(world, world.begin())

    assert error.code == "no_organisation"
    assert world.oauth.revoked == ["refresh-1"]


def test_several_tenants_on_a_first_connect_are_refused_and_all_deleted(world: World) -> None:
    world.oauth.granted = [xero_connection(TENANT, "Acme Ltd"), xero_connection("tenant-other", "Other")]

    error = refused(world, world.begin())

    assert error.code == "several_organisations"
    assert "choose exactly one Xero organisation" in error.reason
    assert sorted(world.oauth.deleted) == sorted([f"conn-{TENANT}", "conn-tenant-other"])
    assert world.oauth.revoked == ["refresh-1"]
    assert ORG not in world.table.connections and not world.sync.started


def test_reconnect_to_a_different_tenant_is_refused_and_that_connection_deleted(world: World) -> None:
    # Given an org connected to "tenant-other" that now needs a reconnect
    world.connected_before("tenant-other", ConnectionStatus.NEEDS_RECONNECT)
    # When its user authorises Acme instead
    error = refused(world, world.begin())
    # Then the new connection is undone and the old one is left as it was
    assert error.code == "different_organisation"
    # A refusal never names the Xero organisation another connect bound to this AR org
    assert "Before Ltd" not in error.reason and "Acme Ltd" not in error.reason
    assert world.oauth.deleted == [f"conn-{TENANT}"]
    assert world.table.connections[ORG].tenant_id == "tenant-other"
    assert ORG not in world.table.tokens


def test_a_non_admin_is_refused_with_revoke_and_delete(world: World) -> None:
    world.oauth.user_id = "user-staff"

    error = refused(world, world.begin())

    assert error.code == "not_admin" and error.reason.startswith("only a Xero admin can connect")
    assert "Acme Ltd" in error.reason
    assert world.oauth.deleted == [f"conn-{TENANT}"]
    assert world.oauth.revoked == ["refresh-1"]
    assert ORG not in world.table.connections and ORG not in world.table.tokens
    assert world.users.calls == [("access-1", TENANT)]


def test_a_user_missing_from_the_users_list_is_not_an_admin(world: World) -> None:
    world.oauth.user_id = "someone-else"
    assert refused(world, world.begin()).code == "not_admin"


def test_a_token_without_user_id_cannot_prove_admin(world: World) -> None:
    world.oauth.user_id = None
    assert refused(world, world.begin()).code == "not_admin"


def test_users_api_forbidden_is_refused_and_undone(world: World) -> None:
    class ForbiddenUsers(FakeUsers):
        def users(self, access_token: str, tenant_id: str) -> list[User]:
            raise XeroForbidden("missing scope", status_code=403)

    world.completing._users = ForbiddenUsers()

    error = refused(world, world.begin())

    assert error.code == "admin_check_failed"
    assert world.oauth.deleted == [f"conn-{TENANT}"] and world.oauth.revoked == ["refresh-1"]


def test_a_tenant_already_connected_to_another_org_is_refused_without_touching_xero(world: World) -> None:
    world.table.connections["org_other"] = XeroConnection(
        org_id="org_other",
        tenant_id=TENANT,
        status=ConnectionStatus.CONNECTED,
        first_connected_at=T0,
        connected_at=T0,
        updated_at=T0,
    )

    error = refused(world, world.begin())

    assert error.code == "organisation_in_use"
    assert world.oauth.deleted == [] and world.oauth.revoked == []


# --- the connect link and the browser (issue 10) ---------------------------------------------------------


def test_a_connect_link_is_single_use_and_stores_only_a_hash_of_its_token(world: World) -> None:
    token = world.link(ORG)
    assert token not in str(world.table.sessions)  # only its SHA-256 is kept

    world.beginning.begin(token)
    with pytest.raises(ConnectError) as again:
        world.beginning.begin(token)

    assert again.value.code == "invalid_session"


def test_a_connect_link_expires_after_ten_minutes(world: World) -> None:
    token = world.link(ORG)
    world.clock.advance(601)

    with pytest.raises(ConnectError) as expired:
        world.beginning.begin(token)

    assert expired.value.code == "expired_session"


@pytest.mark.parametrize(
    "browser_key", [None, "another-browsers-cookie"], ids=["no cookie", "another cookie"]
)
def test_a_callback_from_another_browser_is_refused_and_connects_nothing(
    world: World, browser_key: str | None
) -> None:
    state = world.begin()

    with pytest.raises(ConnectError) as info:
        world.complete(state, "good-code", None, browser_key=browser_key)

    assert info.value.code == "wrong_browser"
    assert world.table.connections == {} and world.sync.started == {}
    assert "good-code" in world.oauth.valid_codes  # the code was never even exchanged


def test_a_link_made_for_one_ar_user_refuses_another_xero_user(world: World) -> None:
    state = world.begin(user_email="finance.lead@acme.example")

    error = refused(world, state)

    assert error.code == "different_user"
    assert world.table.connections == {}
    assert world.oauth.revoked == ["refresh-1"]  # what Xero granted is undone


def test_a_link_made_for_the_consenting_user_connects_whatever_the_case(world: World) -> None:
    state = world.begin(user_email="Admin@Acme.Example")

    assert world.complete(state, "good-code", None).tenant_id == TENANT


def test_the_admin_check_matches_the_id_tokens_email_when_the_ids_differ(world: World) -> None:
    # Real Xero: the token's xero_userid and the Users API's UserID may be different ids of one person
    world.oauth.user_id = "global-user-id-not-the-users-api-one"
    admin = xero_user("user-admin", "FINANCIALADVISER").model_copy(
        update={"email_address": "ADMIN@acme.example"}
    )
    world.users.by_tenant[TENANT] = [admin]

    assert world.complete(world.begin(), "good-code", None).tenant_id == TENANT


def test_a_tenant_bound_to_another_org_is_refused_even_when_the_race_is_lost_late(world: World) -> None:
    # Given another AR org won the tenant between this callback's checks and its write
    world.table.bindings[TENANT] = "org_other"

    error = refused(world, world.begin())

    assert error.code == "organisation_in_use"
    assert TENANT not in error.reason and "org_other" not in error.reason
    assert ORG not in world.table.connections


def test_a_reconnect_of_a_synced_tenant_catches_up_instead_of_importing_again(world: World) -> None:
    world.connected_before(TENANT, ConnectionStatus.NEEDS_RECONNECT)
    world.runs.create_run(
        SyncRun(org_id=ORG, run_id="run-1", tenant_id=TENANT, status=SyncStatus.FINISHED, started_at=T0)
    )

    outcome = world.complete(world.begin(), "good-code", None)

    assert outcome.reconnected and outcome.catch_up_requested and outcome.sync_execution_arn is None
    assert world.sync.started == {}
    assert [(r.org_id, r.tenant_id, r.reason) for r in world.catch_ups.requests] == [
        (ORG, TENANT, "reconnect")
    ]
