"""Disconnecting an org (C2): Xero's connection deleted and grant revoked, our tokens erased, the sync
stopped, the tenant freed; idempotent; Xero failing does not keep the org connected."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.services.sync.fakes import FakeRuns
from xero_bridge.errors import NotConnectedError, XeroServerError
from xero_bridge.models.connection import ConnectionStatus, StoredTokens, XeroConnection
from xero_bridge.models.sync import SyncRun, SyncStatus
from xero_bridge.services.connection.disconnect import DISCONNECTED_REASON, DisconnectOrg

from .fakes import T0, FakeCipher, FakeClock, FakeOAuth, FakeSync, FakeTable

ORG, TENANT = "org_acme", "tenant-acme"


class Vault:
    def __init__(self, table: FakeTable, cipher: FakeCipher) -> None:
        self.table, self.cipher = table, cipher

    def access_token(self, tenant_id: str, *, force_refresh: bool = False) -> str:
        record = self.table.tokens[ORG]
        return self.cipher.decrypt(
            record.ciphertext, org_id=ORG, tenant_id=tenant_id
        ).access_token.get_secret_value()

    def refused(self, tenant_id: str, reason: object) -> None:
        return None


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.table = FakeTable()
        self.cipher = FakeCipher()
        self.oauth = FakeOAuth(clock=self.clock)
        self.runs = FakeRuns()
        self.machine = FakeSync()
        connection = XeroConnection(
            org_id=ORG,
            tenant_id=TENANT,
            status=ConnectionStatus.CONNECTED,
            xero_connection_id="conn-acme",
            first_connected_at=T0,
            connected_at=T0,
            updated_at=T0,
        )
        tokens = StoredTokens(
            access_token="access-0", refresh_token="refresh-0", expires_at=T0 + timedelta(minutes=30)
        )
        self.table.save_connection(
            connection,
            ciphertext=self.cipher.encrypt(tokens, org_id=ORG, tenant_id=TENANT),
            access_expires_at=tokens.expires_at,
            now=T0,
        )
        self.disconnect = DisconnectOrg(
            connections=self.table,
            tokens=self.table,
            cipher=self.cipher,
            vault=Vault(self.table, self.cipher),
            oauth=self.oauth,
            runs=self.runs,
            machine=self.machine,
            now=self.clock,
        )


def test_a_disconnect_undoes_everything_at_xero_and_here() -> None:
    world = World()
    world.runs.create_run(
        SyncRun(org_id=ORG, run_id="run-1", tenant_id=TENANT, status=SyncStatus.FETCHING, started_at=T0)
    )
    world.runs.set_execution(ORG, "run-1", "arn:sync:run-1")

    outcome = world.disconnect.disconnect(ORG)

    assert (outcome.xero_connection_deleted, outcome.refresh_token_revoked, outcome.sync_stopped) == (
        True,
        True,
        True,
    )
    assert world.oauth.deleted == ["conn-acme"] and world.oauth.revoked == ["refresh-0"]
    assert ORG not in world.table.tokens  # erased
    connection = world.table.connections[ORG]
    assert (connection.status, connection.reason, connection.reason_code) == (
        ConnectionStatus.DISCONNECTED,
        DISCONNECTED_REASON,
        "disconnected",
    )
    assert TENANT not in world.table.bindings  # the tenant may connect to another org now
    assert world.machine.stopped == ["arn:sync:run-1"]
    run = world.runs.get_run(ORG, "run-1")
    assert run is not None and run.status == SyncStatus.FAILED


def test_a_second_disconnect_changes_nothing_and_answers_the_same() -> None:
    world = World()
    world.disconnect.disconnect(ORG)

    again = world.disconnect.disconnect(ORG)

    assert again.already_disconnected and again.tenant_id == TENANT
    assert world.oauth.revoked == ["refresh-0"]  # once


def test_xero_failing_does_not_keep_the_org_connected() -> None:
    world = World()

    def down(*args: object, **kwargs: object) -> None:
        raise XeroServerError("Xero is down", status_code=503)

    world.oauth.delete_connection = down  # type: ignore[method-assign]
    world.oauth.revoke = down  # type: ignore[method-assign]

    outcome = world.disconnect.disconnect(ORG)

    assert not outcome.xero_connection_deleted and not outcome.refresh_token_revoked
    assert ORG not in world.table.tokens
    assert world.table.connections[ORG].status == ConnectionStatus.DISCONNECTED


def test_an_org_that_never_connected_cannot_be_disconnected() -> None:
    with pytest.raises(NotConnectedError):
        World().disconnect.disconnect("org_never")
