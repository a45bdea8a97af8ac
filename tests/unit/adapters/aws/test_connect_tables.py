"""The AWS adapters against moto: conditional writes, single-use states, KMS context, idempotent starts."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest
from pydantic import SecretStr

from tests.support.connect_tables import ConnectTables
from tests.unit.services.connection.fakes import T0
from xero_bridge.adapters.aws.sync_machine import StepFunctionsSyncMachine
from xero_bridge.adapters.aws.token_cipher import KmsTokenCipher
from xero_bridge.errors import (
    ConnectionConflictError,
    InvalidStateError,
    StaleTokenVersionError,
    TokenCipherError,
)
from xero_bridge.models.connection import ConnectionStatus, OAuthState, StoredTokens, XeroConnection
from xero_bridge.services.connection.connect import initial_sync_execution_name


def state(value: str = "s-1", *, ttl: int = 600) -> OAuthState:
    return OAuthState(
        state=value,
        org_id="org_acme",
        code_verifier=SecretStr("v" * 50),
        created_at=T0,
        expires_at=T0 + timedelta(seconds=ttl),
    )


def connection(
    tenant_id: str = "tenant-acme", status: ConnectionStatus = ConnectionStatus.CONNECTED
) -> XeroConnection:
    return XeroConnection(
        org_id="org_acme",
        tenant_id=tenant_id,
        tenant_name="Acme Ltd",
        status=status,
        scopes=("offline_access", "accounting.contacts.read"),
        first_connected_at=T0,
        connected_at=T0,
        updated_at=T0,
    )


@pytest.fixture
def table(connections_table: str) -> ConnectTables:
    return ConnectTables.over(connections_table)


def test_a_state_is_taken_once(table: ConnectTables) -> None:
    table.states.put_state(state())

    taken = table.states.take_state("s-1", now=T0 + timedelta(seconds=5))

    assert taken.org_id == "org_acme" and taken.code_verifier.get_secret_value() == "v" * 50
    with pytest.raises(InvalidStateError) as info:
        table.states.take_state("s-1", now=T0 + timedelta(seconds=6))
    assert info.value.reason == "unknown"


def test_an_expired_state_is_refused_even_before_ttl_sweeps_it(table: ConnectTables) -> None:
    table.states.put_state(state())

    with pytest.raises(InvalidStateError) as info:
        table.states.take_state("s-1", now=T0 + timedelta(seconds=601))

    assert info.value.reason == "expired" and info.value.org_id == "org_acme"
    with pytest.raises(InvalidStateError) as again:
        table.states.take_state("s-1", now=T0)
    assert again.value.reason == "unknown"  # removed on the way


def test_the_state_item_carries_the_ttl_attribute(table: ConnectTables, connections_table: str) -> None:
    table.states.put_state(state())
    item = boto3.client("dynamodb").get_item(
        TableName=connections_table, Key={"pk": {"S": "STATE#s-1"}, "sk": {"S": "STATE"}}
    )["Item"]
    assert item["expires_at"] == {"N": str(int((T0 + timedelta(seconds=600)).timestamp()))}


def test_connection_round_trip_and_tenant_routing(table: ConnectTables) -> None:
    version = table.connections.save_connection(
        connection(), ciphertext=b"blob", access_expires_at=T0, now=T0
    )

    assert version == 1
    assert table.connections.get_connection("org_acme") == connection()
    assert [c.org_id for c in table.connections.find_by_tenant("tenant-acme")] == ["org_acme"]
    assert table.connections.find_by_tenant("tenant-other") == []
    tokens = table.tokens.get_tokens("org_acme")
    assert tokens is not None and tokens.ciphertext == b"blob" and tokens.tenant_id == "tenant-acme"


def test_saving_another_tenant_over_a_live_connection_is_refused(table: ConnectTables) -> None:
    table.connections.save_connection(connection(), ciphertext=b"acme", access_expires_at=T0, now=T0)

    with pytest.raises(ConnectionConflictError):
        table.connections.save_connection(
            connection("tenant-other"), ciphertext=b"other", access_expires_at=T0, now=T0
        )

    stored = table.tokens.get_tokens("org_acme")
    assert stored is not None and stored.ciphertext == b"acme"  # the transaction wrote nothing


def test_another_tenant_may_replace_a_disconnected_connection(table: ConnectTables) -> None:
    table.connections.save_connection(
        connection(status=ConnectionStatus.DISCONNECTED), ciphertext=b"a", access_expires_at=T0, now=T0
    )

    version = table.connections.save_connection(
        connection("tenant-other"), ciphertext=b"b", access_expires_at=T0, now=T0
    )

    assert version == 2
    assert table.connections.get_connection("org_acme").tenant_id == "tenant-other"  # type: ignore[union-attr]


def test_token_writes_are_conditional_on_the_version_read(table: ConnectTables) -> None:
    table.connections.save_connection(connection(), ciphertext=b"v1", access_expires_at=T0, now=T0)

    assert (
        table.tokens.put_tokens(
            "org_acme", "tenant-acme", b"v2", access_expires_at=T0, now=T0, expected_version=1
        )
        == 2
    )
    with pytest.raises(StaleTokenVersionError):
        table.tokens.put_tokens(
            "org_acme", "tenant-acme", b"v2b", access_expires_at=T0, now=T0, expected_version=1
        )


def test_set_status_records_the_reason_and_clears_it(table: ConnectTables) -> None:
    table.connections.save_connection(connection(), ciphertext=b"x", access_expires_at=T0, now=T0)

    table.connections.set_status("org_acme", ConnectionStatus.NEEDS_RECONNECT, "token revoked", now=T0)
    assert table.connections.get_connection("org_acme").reason == "token revoked"  # type: ignore[union-attr]
    table.connections.set_status("org_acme", ConnectionStatus.CONNECTED, None, now=T0)
    assert table.connections.get_connection("org_acme").reason is None  # type: ignore[union-attr]
    table.connections.set_status(
        "org_missing", ConnectionStatus.CONNECTED, None, now=T0
    )  # no-op, no item created
    assert table.connections.get_connection("org_missing") is None


def test_the_lease_has_one_holder_until_released_or_expired(table: ConnectTables) -> None:
    assert table.lease.acquire("org_acme", "a", now=T0, seconds=20)
    assert not table.lease.acquire("org_acme", "b", now=T0 + timedelta(seconds=5), seconds=20)
    table.lease.release("org_acme", "b")  # not b's: nothing happens
    assert not table.lease.acquire("org_acme", "b", now=T0 + timedelta(seconds=6), seconds=20)
    assert table.lease.acquire("org_acme", "b", now=T0 + timedelta(seconds=21), seconds=20)  # a's ran out
    table.lease.release("org_acme", "b")
    assert table.lease.acquire("org_acme", "c", now=T0 + timedelta(seconds=22), seconds=20)


def test_kms_cipher_binds_the_ciphertext_to_its_connection(aws: None) -> None:
    key_id = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    cipher = KmsTokenCipher(key_id)
    tokens = StoredTokens(access_token="a-token", refresh_token="r-token", expires_at=T0, scopes=("x",))

    blob = cipher.encrypt(tokens, org_id="org_acme", tenant_id="tenant-acme")

    assert b"r-token" not in blob
    assert cipher.decrypt(blob, org_id="org_acme", tenant_id="tenant-acme") == tokens
    with pytest.raises(TokenCipherError):
        cipher.decrypt(blob, org_id="org_other", tenant_id="tenant-acme")


def test_the_initial_sync_starts_once_per_connect(aws: None) -> None:
    arn = boto3.client("stepfunctions").create_state_machine(
        name="initial-sync",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    machine = StepFunctionsSyncMachine(arn)
    name = initial_sync_execution_name("org_acme", "auth-1")
    payload = {"org_id": "org_acme", "tenant_id": "t", "trigger": "connect"}

    first = machine.start(name, payload)
    again = machine.start(name, payload)

    assert first == again and first.endswith(name)
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"]
    assert len(executions) == 1
    assert json.loads(boto3.client("stepfunctions").describe_execution(executionArn=first)["input"]) == {
        "org_id": "org_acme",
        "tenant_id": "t",
        "trigger": "connect",
    }


# --- issue 10: connect links, one tenant one org, disconnect ------------------------------------------------


def test_a_connect_session_is_taken_once_and_not_after_it_expires(table: ConnectTables) -> None:
    from xero_bridge.errors import InvalidSessionError
    from xero_bridge.models.connection import ConnectSession

    table.sessions.put_session(
        ConnectSession(
            token_hash="h1",
            org_id="org_acme",
            user_email="a@acme.example",
            created_at=T0,
            expires_at=T0 + timedelta(minutes=10),
        )
    )
    table.sessions.put_session(
        ConnectSession(
            token_hash="h2", org_id="org_acme", created_at=T0, expires_at=T0 + timedelta(minutes=10)
        )
    )

    taken = table.sessions.take_session("h1", now=T0 + timedelta(minutes=1))
    assert (taken.org_id, taken.user_email) == ("org_acme", "a@acme.example")
    with pytest.raises(InvalidSessionError) as again:
        table.sessions.take_session("h1", now=T0 + timedelta(minutes=1))
    assert again.value.reason == "unknown"
    with pytest.raises(InvalidSessionError) as late:
        table.sessions.take_session("h2", now=T0 + timedelta(minutes=11))
    assert late.value.reason == "expired"


def test_one_tenant_is_bound_to_one_org_until_that_org_disconnects(table: ConnectTables) -> None:
    acme = connection()
    other = acme.model_copy(update={"org_id": "org_other"})
    table.connections.save_connection(acme, ciphertext=b"a", access_expires_at=T0, now=T0)

    with pytest.raises(ConnectionConflictError) as taken:
        table.connections.save_connection(other, ciphertext=b"b", access_expires_at=T0, now=T0)
    assert taken.value.kind == "organisation_in_use"
    assert table.connections.get_connection("org_other") is None  # nothing half-written
    assert table.tokens.get_tokens("org_other") is None

    table.connections.disconnect("org_acme", "tenant-acme", reason="by a test", now=T0)
    table.tokens.delete_tokens("org_acme")
    table.connections.save_connection(other, ciphertext=b"b", access_expires_at=T0, now=T0)

    disconnected = table.connections.get_connection("org_acme")
    assert disconnected is not None and disconnected.status == ConnectionStatus.DISCONNECTED
    assert disconnected.reason_code == "disconnected" and table.tokens.get_tokens("org_acme") is None
    connected = table.connections.get_connection("org_other")
    assert connected is not None and connected.status == ConnectionStatus.CONNECTED


def test_the_last_change_only_moves_forward(table: ConnectTables) -> None:
    table.connections.save_connection(connection(), ciphertext=b"a", access_expires_at=T0, now=T0)

    table.connections.record_change("org_acme", T0 + timedelta(minutes=5))
    table.connections.record_change("org_acme", T0 + timedelta(minutes=1))

    stored = table.connections.get_connection("org_acme")
    assert stored is not None and stored.last_change_at == T0 + timedelta(minutes=5)


def test_a_lease_is_extended_only_by_its_holder(table: ConnectTables) -> None:
    assert table.lease.acquire("org_acme", "a", now=T0, seconds=10)

    assert table.lease.extend("org_acme", "a", now=T0 + timedelta(seconds=9), seconds=10)
    assert not table.lease.acquire("org_acme", "b", now=T0 + timedelta(seconds=15), seconds=10)  # still a's
    assert not table.lease.extend("org_acme", "b", now=T0 + timedelta(seconds=15), seconds=10)
    assert table.lease.acquire("org_acme", "b", now=T0 + timedelta(seconds=20), seconds=10)  # a stopped
