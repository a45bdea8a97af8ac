"""The token vault: refresh margin, caching, rotation order, invalid_grant, and the cross-Lambda lease."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.support.atomic_dynamodb import SerializedClient
from tests.support.connect_tables import ConnectTables
from tests.unit.services.connection.fakes import T0, EventLog, FakeCipher, FakeClock, FakeOAuth, FakeTable
from xero_bridge.errors import NeedsReconnect, TokenRefreshTimeoutError
from xero_bridge.models.connection import (
    RECONNECT_TEXT,
    ConnectionStatus,
    ReconnectReason,
    StoredTokens,
    XeroConnection,
)
from xero_bridge.models.xero import Connection
from xero_bridge.services.token_vault import REVOKED_REASON, TokenVault

ORG = "org_acme"
TENANT = "tenant-acme"


def seed(table: Any, cipher: FakeCipher, oauth: FakeOAuth, *, valid_for: float) -> None:
    """A connected org whose stored access token is valid for ``valid_for`` more seconds."""
    connection = XeroConnection(
        org_id=ORG,
        tenant_id=TENANT,
        tenant_name="Acme Ltd",
        status=ConnectionStatus.CONNECTED,
        first_connected_at=T0,
        connected_at=T0,
        updated_at=T0,
    )
    tokens = StoredTokens(
        access_token="access-0",
        refresh_token="refresh-0",
        expires_at=T0 + timedelta(seconds=valid_for),
    )
    oauth.valid_refresh.add("refresh-0")
    table.save_connection(
        connection,
        ciphertext=cipher.encrypt(tokens, org_id=ORG, tenant_id=TENANT),
        access_expires_at=tokens.expires_at,
        now=T0,
    )


class World:
    def __init__(self, *, valid_for: float = 1500) -> None:
        self.log = EventLog()
        self.clock = FakeClock()
        self.table = FakeTable(self.log)
        self.cipher = FakeCipher()
        self.oauth = FakeOAuth(clock=self.clock, log=self.log)
        seed(self.table, self.cipher, self.oauth, valid_for=valid_for)
        self.log.clear()
        self.vault = self.new_vault()

    def new_vault(self, **kwargs: Any) -> TokenVault:
        return TokenVault(
            connections=self.table,
            tokens=self.table,
            lease=self.table,
            cipher=self.cipher,
            oauth=self.oauth,
            now=self.clock,
            sleep=lambda _: None,
            **kwargs,
        )


def test_a_token_valid_beyond_the_margin_is_returned_without_refresh() -> None:
    world = World(valid_for=121)

    assert world.vault.access_token(TENANT) == "access-0"
    assert world.oauth.refresh_calls == 0


def test_a_token_inside_the_margin_is_refreshed_first() -> None:
    world = World(valid_for=119)

    token = world.vault.access_token(TENANT)

    assert token == "access-1"
    assert world.oauth.refresh_calls == 1
    assert world.table.tokens[ORG].version == 2


def test_the_decrypted_tokens_are_cached_until_the_margin() -> None:
    world = World(valid_for=600)
    world.vault.access_token(TENANT)
    world.table.tokens.clear()  # a second read would now fail: the cache must answer

    assert world.vault.access_token(TENANT) == "access-0"
    world.clock.advance(600 - 119)  # inside the margin now: back to the table
    with pytest.raises(NeedsReconnect):
        world.vault.access_token(TENANT)


def test_the_cache_expires_so_a_disconnect_is_noticed() -> None:
    world = World(valid_for=1800)
    world.vault.access_token(TENANT)
    world.table.set_status(ORG, ConnectionStatus.DISCONNECTED, "disconnected by a user", now=world.clock())

    world.clock.advance(301)

    with pytest.raises(NeedsReconnect, match="disconnected by a user"):
        world.vault.access_token(TENANT)


def test_the_rotated_refresh_token_is_saved_before_the_access_token_is_used() -> None:
    world = World(valid_for=10)

    token = world.vault.access_token(TENANT)
    world.log.append(f"use:{token}")

    assert world.log == ["refresh:refresh-0", "put_tokens:v2", "use:access-1"]
    stored = world.cipher.decrypt(world.table.tokens[ORG].ciphertext, org_id=ORG, tenant_id=TENANT)
    assert stored.refresh_token.get_secret_value() == "refresh-1"


def test_a_failed_save_never_hands_out_the_new_access_token() -> None:
    world = World(valid_for=10)

    class BrokenCipher(FakeCipher):
        def encrypt(self, tokens: StoredTokens, *, org_id: str, tenant_id: str) -> bytes:
            raise RuntimeError("KMS unavailable")

    world.vault._cipher = BrokenCipher()

    with pytest.raises(RuntimeError, match="KMS unavailable"):
        world.vault.access_token(TENANT)
    assert world.table.leases == {}  # the lease is given back


def test_invalid_grant_marks_needs_reconnect_with_the_banner_reason() -> None:
    world = World(valid_for=10)
    world.oauth.valid_refresh.clear()  # revoked in Xero

    with pytest.raises(NeedsReconnect) as info:
        world.vault.access_token(TENANT)

    assert info.value.reason == REVOKED_REASON == "token revoked or expired: reconnect Xero"
    connection = world.table.connections[ORG]
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT and connection.reason == REVOKED_REASON
    # And the next caller is told the same without calling Xero again
    with pytest.raises(NeedsReconnect, match="reconnect Xero"):
        world.new_vault().access_token(TENANT)
    assert world.oauth.refresh_calls == 1


@pytest.mark.parametrize(
    ("still_connected", "expected"),
    [(True, ReconnectReason.USER_REMOVED), (False, ReconnectReason.TOKEN_REVOKED)],
    ids=["user-removed-connection-kept", "connection-removed-in-xero"],
)
def test_a_403_after_a_refresh_is_explained_by_the_tokens_own_connections(
    still_connected: bool, expected: ReconnectReason
) -> None:
    # Given a token in use, and Xero answering 403 AuthenticationUnsuccessful for the tenant
    world = World()
    world.vault.access_token(TENANT)
    listed = (
        [Connection.model_validate({"id": "c-1", "tenantId": TENANT, "tenantType": "ORGANISATION"})]
        if still_connected
        else []
    )
    world.oauth.all_connections = listed
    world.oauth.granted = listed

    # When the client reports the refusal
    problem = world.vault.refused(TENANT, ReconnectReason.USER_REMOVED)

    # Then the banner names the cause GET /connections tells apart
    connection = world.table.connections[ORG]
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert connection.reason_code == expected.value
    assert problem is not None and problem.reason == RECONNECT_TEXT[expected]


def test_a_connection_that_is_not_connected_raises_its_reason() -> None:
    world = World()
    world.table.set_status(ORG, ConnectionStatus.NEEDS_RECONNECT, "scopes missing: reconnect Xero", now=T0)

    with pytest.raises(NeedsReconnect, match="scopes missing"):
        world.vault.access_token(TENANT)


def test_an_unknown_tenant_is_not_connected() -> None:
    with pytest.raises(NeedsReconnect, match="not connected"):
        World().vault.access_token("tenant-unknown")


def test_force_refresh_refreshes_the_token_xero_refused() -> None:
    world = World(valid_for=1800)
    assert world.vault.access_token(TENANT) == "access-0"

    assert world.vault.access_token(TENANT, force_refresh=True) == "access-1"
    assert world.oauth.refresh_calls == 1


def test_force_refresh_uses_a_token_another_lambda_already_refreshed() -> None:
    # Given two containers holding the same token, and the other one already refreshed it
    world = World(valid_for=1800)
    mine, other = world.vault, world.new_vault()
    mine.access_token(TENANT)
    other.access_token(TENANT, force_refresh=True)
    # When Xero refuses my (old) token
    token = mine.access_token(TENANT, force_refresh=True)
    # Then I get the other container's token, with no second refresh
    assert token == "access-1"
    assert world.oauth.refresh_calls == 1


def test_a_holder_that_crashed_loses_its_lease_when_it_expires() -> None:
    world = World(valid_for=10)
    world.table.leases[ORG] = ("crashed-lambda", world.clock() + timedelta(seconds=20))

    world.clock.advance(21)
    world.oauth.valid_refresh.add("refresh-0")

    assert world.vault.access_token(TENANT) == "access-1"


def test_a_waiter_gives_up_when_the_lease_is_held_too_long() -> None:
    world = World(valid_for=10)
    world.table.leases[ORG] = ("slow-lambda", world.clock() + timedelta(seconds=60))
    vault = world.new_vault(wait_seconds=0.05)
    vault._sleep = lambda seconds: time.sleep(0.01)

    with pytest.raises(TokenRefreshTimeoutError):
        vault.access_token(TENANT)
    assert world.oauth.refresh_calls == 0


# --- the lease on (moto) DynamoDB ---------------------------------------------------------------------


def test_twenty_concurrent_lambdas_refresh_exactly_once(connections_table: str) -> None:
    # Given a token set about to expire, in DynamoDB, and a Xero whose refresh is slow
    clock = FakeClock()
    cipher = FakeCipher()
    oauth = FakeOAuth(clock=clock, refresh_delay=0.3)
    atomic: Any = SerializedClient(boto3.client("dynamodb"))
    table = ConnectTables.over(connections_table, client=atomic)
    seed(table.connections, cipher, oauth, valid_for=60)
    barrier = threading.Barrier(20)
    results: list[str] = []
    errors: list[BaseException] = []

    def one_lambda() -> None:
        # Each thread is its own container: its own vault and cache, the table shared.
        vault = TokenVault(
            connections=table.connections,
            tokens=table.tokens,
            lease=table.lease,
            cipher=cipher,
            oauth=oauth,
            now=clock,
        )
        barrier.wait()
        try:
            results.append(vault.access_token(TENANT))
        except BaseException as exc:
            errors.append(exc)

    # When twenty of them ask for the token at once
    threads = [threading.Thread(target=one_lambda) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then Xero saw exactly one refresh and everyone got the new token
    assert errors == []
    assert oauth.refresh_calls == 1
    assert results == ["access-1"] * 20
    stored = table.tokens.get_tokens(ORG)
    assert stored is not None and stored.version == 2
    assert cipher.decrypt(
        stored.ciphertext, org_id=ORG, tenant_id=TENANT
    ).refresh_token.get_secret_value() == ("refresh-1")


def test_a_refresh_slower_than_its_lease_keeps_the_lease_and_xero_sees_one_refresh(
    connections_table: str,
) -> None:
    # Given an expired token set, and a Xero whose refresh takes 1 s, over three times the 0.3 s lease
    clock = FakeClock(datetime.now(UTC))  # Xero's new tokens are valid for 30 real minutes
    cipher = FakeCipher()
    oauth = FakeOAuth(clock=clock, refresh_delay=1.0)
    atomic: Any = SerializedClient(boto3.client("dynamodb"))
    table = ConnectTables.over(connections_table, client=atomic)
    seed(table.connections, cipher, oauth, valid_for=-60)
    barrier = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def one_lambda(delay: float) -> None:
        # A real clock: the lease's expiry is what is tested
        vault = TokenVault(
            connections=table.connections,
            tokens=table.tokens,
            lease=table.lease,
            cipher=cipher,
            oauth=oauth,
            lease_seconds=0.3,
            wait_seconds=10,
        )
        barrier.wait()
        time.sleep(delay)  # the second Lambda comes while the first one's refresh is in flight
        try:
            results.append(vault.access_token(TENANT))
        except BaseException as exc:
            errors.append(exc)

    # When a second Lambda asks for the token after the first one's lease would have run out
    threads = [threading.Thread(target=one_lambda, args=(delay,)) for delay in (0.0, 0.5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then the first one kept its lease by extending it: one refresh reached Xero, both got its token,
    # and the rotated refresh token is the one stored (nothing broke the set)
    assert errors == []
    assert oauth.refresh_calls == 1
    assert results == ["access-1", "access-1"]
    stored = table.tokens.get_tokens(ORG)
    assert stored is not None
    assert cipher.decrypt(
        stored.ciphertext, org_id=ORG, tenant_id=TENANT
    ).refresh_token.get_secret_value() == ("refresh-1")
    connection = table.connections.get_connection(ORG)
    assert connection is not None and connection.status == ConnectionStatus.CONNECTED
