"""Unit tests are pure: no socket is opened (moto runs in-process, Xero is a fake or an httpx transport).
Their AWS is in-process moto with the template's own tables (the fixtures below).

A test that reaches for the network fails with ``SocketBlockedError`` instead of quietly depending on a
server (pytest-socket, the well-kept plugin for exactly this).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import pytest_socket
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from tests.support.tables import create_template_table
from xero_bridge.adapters.aws.clients import reset_clients
from xero_bridge.settings import reset_settings
from xero_bridge.wiring import reset_wiring


def pytest_runtest_setup(item: pytest.Item) -> None:
    pytest_socket.disable_socket(allow_unix_socket=False)


def pytest_runtest_teardown(item: pytest.Item) -> None:
    pytest_socket.enable_socket()


# --- moto with the template's own tables ------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"


def create_table(logical_id: str, name: str) -> str:
    return create_template_table(boto3.client("dynamodb", region_name=REGION), logical_id, name)


@pytest.fixture
def aws() -> Iterator[None]:
    """A fresh in-process moto account; every cached client and secret is forgotten around it."""
    with mock_aws():
        reset_clients()
        parameters.clear_caches()
        parameters.base.DEFAULT_PROVIDERS.clear()
        yield
    reset_clients()
    parameters.clear_caches()
    parameters.base.DEFAULT_PROVIDERS.clear()


@pytest.fixture
def connections_table(aws: None) -> str:
    return create_table("ConnectionsTable", "connections-test")


@pytest.fixture
def stack(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """What template.yaml provisions for the connect functions, in moto, and their environment."""
    table = create_table("ConnectionsTable", "connections-test")
    records = create_table("RecordsTable", "records-test")
    reconciliation = create_table("ReconciliationTable", "reconciliation-test")
    key_id = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["KeyId"]
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secret_arn = secrets.create_secret(
        Name="xero-bridge-test/xero-client-secret", SecretString="test-client-secret"
    )["ARN"]
    cursor_key_arn = secrets.create_secret(
        Name="xero-bridge-test/cursor-signing-key", SecretString="test-cursor-signing-key"
    )["ARN"]
    definition = (ROOT / "statemachines" / "initial_sync.asl.json").read_text()
    machine_arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
        name="initial-sync",
        definition=json.dumps(json.loads(definition)),
        roleArn="arn:aws:iam::123456789012:role/initial-sync",
    )["stateMachineArn"]
    env = {
        "TABLE_NAME": table,
        "RECORDS_TABLE_NAME": records,
        "RECONCILIATION_TABLE_NAME": reconciliation,
        "TOKEN_KEY_ID": key_id,
        "XERO_CLIENT_ID": "test-client-id",
        "XERO_CLIENT_SECRET_NAME": secret_arn,
        "XERO_LOGIN_URL": "https://login.xero.test",
        "XERO_IDENTITY_URL": "https://identity.xero.test",
        "XERO_API_URL": "https://api.xero.test",
        "XERO_REDIRECT_URI": "",
        "APP_RETURN_URL": "https://app.example.test/settings/xero",
        "INITIAL_SYNC_STATE_MACHINE_ARN": machine_arn,
        "CURSOR_KEY_NAME": cursor_key_arn,
        "CATCH_UP_QUEUE_URL": boto3.client("sqs", region_name=REGION).create_queue(QueueName="catch-up")[
            "QueueUrl"
        ],
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    reset_wiring()
    yield env
    reset_settings()
    reset_wiring()
