"""The connect use case (C1, C3's reconnect) with in-memory fakes: every refusal and every happy path."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from xero_bridge.errors import ConnectError, XeroForbidden
from xero_bridge.models.connection import ConnectionStatus, XeroConnection
from xero_bridge.models.xero import User
from xero_bridge.services.connection.connect import BeginConnect, CompleteConnect

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
        self.beginning = BeginConnect(
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
            now=self.clock,
        )

    def begin(self, org_id: str = ORG) -> str:
        url = self.beginning.begin(org_id)
        return parse_qs(urlsplit(url).query)["state"][0]

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
        world.completing.complete(state, code, error)
    return info.value


# --- /connect -------------------------------------------------------------------------------------------


def test_begin_connect_stores_a_single_use_state_bound_to_the_org_with_pkce(world: World) -> None:
    url = world.beginning.begin(ORG)

    query = parse_qs(urlsplit(url).query)
    stored = world.table.states[query["state"][0]]
    assert stored.org_id == ORG
    assert stored.expires_at == T0 + timedelta(seconds=600)
    assert stored.code_verifier.get_secret_value().startswith("verifier-")
    assert query["code_challenge"] == ["challenge-c"]
    assert len(query["state"][0]) >= 40  # 32 random bytes, url-safe


def test_each_connect_gets_a_fresh_state(world: World) -> None:
    assert world.begin() != world.begin()


# --- happy paths ----------------------------------------------------------------------------------------


def test_connect_stores_encrypted_tokens_marks_connected_and_starts_the_sync(world: World) -> None:
    state = world.begin()

    outcome = world.completing.complete(state, "good-code", None)

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

    outcome = world.completing.complete(world.begin(), "good-code", None)

    assert outcome.reconnected is True
    connection = world.table.connections[ORG]
    assert connection.status == ConnectionStatus.CONNECTED and connection.reason is None
    assert connection.first_connected_at == T0 - timedelta(days=30)
    assert next(iter(world.sync.started.values()))["reconnect"] is True


def test_a_token_that_is_not_a_jwt_falls_back_to_all_connections(world: World) -> None:
    world.oauth.auth_event_id = None

    world.completing.complete(world.begin(), "good-code", None)

    assert world.oauth.connections_queries == [None]


def test_several_tenants_on_reconnect_keep_the_one_the_org_had_and_delete_the_others(world: World) -> None:
    world.connected_before(TENANT)
    world.oauth.granted = [xero_connection("tenant-other", "Other"), xero_connection(TENANT, "Acme Ltd")]

    outcome = world.completing.complete(world.begin(), "good-code", None)

    assert outcome.tenant_id == TENANT
    assert world.oauth.deleted == ["conn-tenant-other"]
    assert world.oauth.revoked == []


def test_connect_after_a_disconnect_may_choose_another_tenant(world: World) -> None:
    world.connected_before("tenant-other", ConnectionStatus.DISCONNECTED)

    outcome = world.completing.complete(world.begin(), "good-code", None)

    assert outcome.tenant_id == TENANT and outcome.reconnected is False


def test_a_financial_adviser_counts_as_admin(world: World) -> None:
    world.users.by_tenant[TENANT] = [xero_user("user-admin", "FINANCIALADVISER")]

    assert world.completing.complete(world.begin(), "good-code", None).tenant_id == TENANT


def test_the_subscriber_counts_as_admin_whatever_its_role(world: World) -> None:
    # Given the organisation's owner (IsSubscriber) holds Xero's STANDARD role
    world.users.by_tenant[TENANT] = [xero_user("user-admin", "STANDARD", subscriber=True)]

    assert world.completing.complete(world.begin(), "good-code", None).tenant_id == TENANT


# --- refusals -------------------------------------------------------------------------------------------


def test_no_state_is_refused(world: World) -> None:
    assert refused(world, None).code == "invalid_state"


def test_unknown_state_is_refused(world: World) -> None:
    error = refused(world, "never-issued")
    assert error.code == "invalid_state" and "connect again" in error.reason


def test_state_is_single_use(world: World) -> None:
    # Given a completed connect
    state = world.begin()
    world.completing.complete(state, "good-code", None)
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
        world.completing.complete(world.begin(), None, "server_error", "<script>alert(1)</script>")
    assert info.value.code == "xero_error" and "server_error" in info.value.reason
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
    assert "Before Ltd" in error.reason and "Acme Ltd" in error.reason
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
