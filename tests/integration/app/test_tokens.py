"""Issue 3, tokens after the connect: one refresh for many callers, the banner, nothing secret logged.

A caller here is what a sync Lambda is: its own container's token vault (built as ``xero_bridge.wiring``
builds it, from the function's environment as the local stack resolves it) behind the typed Xero client,
calling Xero. Each thread is one such container, so only the DynamoDB refresh lease stands between them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.integration.app.harness import App, connect, connection_status, consent, new_org, returned
from tests.support.connect_tables import ConnectTables
from xero_bridge.adapters.aws.token_cipher import KmsTokenCipher
from xero_bridge.adapters.xero.client import XeroClient
from xero_bridge.adapters.xero.oauth import XeroEndpoints, XeroOAuthClient
from xero_bridge.errors import NeedsReconnect
from xero_bridge.models.connection import StoredTokens
from xero_bridge.services.token_vault import REVOKED_REASON, TokenVault

pytestmark = pytest.mark.integration

CALLERS = 12
ACCESS_TOKEN_LIFETIME = 30 * 60
#: The function whose container asks the vault for tokens (its environment builds the callers' vaults).
TOKEN_USER = "PageFetcherFunction"


class Lambda:
    """One function container: its own vault (own cache), its own httpx pool, the stack's AWS."""

    def __init__(self, app: App, tenant_id: str) -> None:
        env = app.function_env(TOKEN_USER)
        secrets = app.stack.client("secretsmanager")
        secret = secrets.get_secret_value(SecretId=env["XERO_CLIENT_SECRET_NAME"])["SecretString"]
        self.endpoints = XeroEndpoints(env["XERO_LOGIN_URL"], env["XERO_IDENTITY_URL"], env["XERO_API_URL"])
        self.http = httpx.Client(timeout=30.0)
        table = ConnectTables.over(env["TABLE_NAME"], client=app.stack.client("dynamodb"))
        self.vault = TokenVault(
            connections=table.connections,
            tokens=table.tokens,
            lease=table.lease,
            cipher=KmsTokenCipher(env["TOKEN_KEY_ID"], client=app.stack.client("kms")),
            oauth=XeroOAuthClient(
                env["XERO_CLIENT_ID"], secret, env["XERO_REDIRECT_URI"], self.endpoints, http=self.http
            ),
        )
        self.xero = XeroClient(self.vault, tenant_id, self.endpoints, http=self.http)

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def lambdas(app: App) -> Iterator[Callable[[str, int], list[Lambda]]]:
    made: list[Lambda] = []

    def make(tenant_id: str, count: int) -> list[Lambda]:
        made.extend(Lambda(app, tenant_id) for _ in range(count))
        return made[-count:]

    yield make
    for container in made:
        container.close()


@pytest.fixture
def no_xero_rate_limits(app: App) -> Iterator[None]:
    """Many callers at once would meet Xero's 5-concurrent-calls limit; that is not what is tested here."""
    app.admin.set_limits(enforce=False)
    yield
    app.admin.set_limits(enforce=True)


def connected(app: App, tenant_id: str) -> str:
    consent(app, [tenant_id])
    org_id = new_org()
    assert returned(app, connect(app, org_id))["status"] == "connected"
    return org_id


def stored_tokens(app: App, org_id: str, tenant_id: str) -> StoredTokens:
    """The token set the product stored for the org, opened with KMS as the vault opens it."""
    item = app.stack.client("dynamodb").get_item(
        TableName=app.stack.physical_id("ConnectionsTable"),
        Key={"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": "TOKENS"}},
        ConsistentRead=True,
    )["Item"]
    plaintext = app.stack.client("kms").decrypt(
        CiphertextBlob=bytes(item["ciphertext"]["B"]),
        EncryptionContext={"org_id": org_id, "tenant_id": tenant_id},
    )["Plaintext"]
    return StoredTokens.from_plaintext(plaintext)


def test_concurrent_callers_after_expiry_cause_exactly_one_refresh(
    app: App,
    new_tenant: Callable[[str], str],
    lambdas: Callable[[str, int], list[Lambda]],
    no_xero_rate_limits: None,
) -> None:
    # Given warm Lambdas that all hold the org's access token, and that token expiring in Xero
    tenant_id = new_tenant("Busy Ltd")
    org_id = connected(app, tenant_id)
    containers = lambdas(tenant_id, CALLERS)
    first = {c.vault.access_token(tenant_id) for c in containers}
    assert len(first) == 1
    refreshes_before = len(app.issued.refreshes)
    expired_before = len(app.issued.expired_calls)
    app.admin.advance_clock(ACCESS_TOKEN_LIFETIME + 60)

    # When many Lambdas call Xero at the same moment
    start = threading.Barrier(CALLERS)

    def call_xero(container: Lambda) -> str:
        start.wait(timeout=30)
        return str(container.xero.organisation().name)

    with ThreadPoolExecutor(CALLERS) as pool:
        names = list(pool.map(call_xero, containers))

    # Then every caller was refused the old token, Xero saw exactly one refresh, and every caller's call
    # succeeded with the refreshed token
    assert len(app.issued.expired_calls[expired_before:]) >= CALLERS
    assert app.issued.refreshes[refreshes_before:] == [True]
    assert len(names) == CALLERS and len(set(names)) == 1
    latest = stored_tokens(app, org_id, tenant_id)
    assert latest.access_token.get_secret_value() == app.issued.last("access_token")
    assert {c.vault.access_token(tenant_id) for c in containers} == {latest.access_token.get_secret_value()}
    assert first != {latest.access_token.get_secret_value()}
    connections = httpx.get(
        f"{app.xero_url}/connections",
        headers={"Authorization": f"Bearer {latest.access_token.get_secret_value()}"},
        timeout=30.0,
    )
    assert connections.status_code == 200
    assert tenant_id in {c["tenantId"] for c in connections.json()}
    assert connection_status(app, org_id)["status"] == "connected"


def _unused_for_61_days(app: App, org_id: str, tenant_id: str) -> None:
    app.admin.advance_clock(61 * 24 * 3600)


def _revoked(app: App, org_id: str, tenant_id: str) -> None:
    """The grant is revoked at Xero (RFC 7009 revocation of the stored refresh token)."""
    refresh = stored_tokens(app, org_id, tenant_id).refresh_token.get_secret_value()
    config = app.emulator.config
    revoked = httpx.post(
        f"{app.xero_url}/connect/revocation",
        data={"token": refresh},
        auth=(config.client_id, config.client_secret),
        timeout=30.0,
    )
    assert revoked.status_code == 200


@pytest.mark.parametrize("lose_the_grant", [_unused_for_61_days, _revoked], ids=["expired", "revoked"])
def test_a_dead_refresh_token_puts_the_connection_in_needs_reconnect_with_the_banner(
    app: App,
    new_tenant: Callable[[str], str],
    lambdas: Callable[[str, int], list[Lambda]],
    lose_the_grant: Callable[[App, str, str], None],
) -> None:
    # Given a connected org whose refresh token Xero no longer accepts (and whose access token is dead)
    tenant_id = new_tenant("Gone Quiet Ltd")
    org_id = connected(app, tenant_id)
    (container,) = lambdas(tenant_id, 1)
    lose_the_grant(app, org_id, tenant_id)
    if lose_the_grant is _revoked:
        app.admin.advance_clock(ACCESS_TOKEN_LIFETIME + 60)

    # When a Lambda needs Xero
    with pytest.raises(NeedsReconnect) as refused:
        container.xero.organisation()

    # Then the connection needs a reconnect, and the AR app shows the banner with the reason
    assert refused.value.reason == REVOKED_REASON
    status = connection_status(app, org_id)
    assert status["status"] == "needs_reconnect"
    assert status["reason"] == REVOKED_REASON
    assert status["tenant_id"] == tenant_id
    assert app.issued.refreshes[-1] is False, "Xero answered the refresh with invalid_grant"


def test_no_token_secret_or_code_is_ever_logged(
    app: App,
    new_tenant: Callable[[str], str],
    lambdas: Callable[[str, int], list[Lambda]],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Given everything logged while a user connects and a Lambda refreshes the tokens
    caplog.set_level(logging.INFO, logger="werkzeug")  # the local API Gateway's access log
    caplog.set_level(logging.INFO, logger="tools.local_stack")
    tenant_id = new_tenant("Quiet Logs Ltd")
    connected(app, tenant_id)
    (container,) = lambdas(tenant_id, 1)
    refreshes_before = len(app.issued.refreshes)
    app.admin.advance_clock(ACCESS_TOKEN_LIFETIME + 60)
    container.xero.organisation()
    assert app.issued.refreshes[refreshes_before:] == [True]
    out, err = capfd.readouterr()
    logged = "\n".join([app.logs.text(), caplog.text, out, err])
    assert "GET /callback" in logged, "the capture holds the local API's access log"

    # Then none of the app's secrets, the codes or the tokens Xero issued appears in it
    config = app.emulator.config
    secrets = {
        "the client secret": [config.client_secret],
        "the webhook key": [config.webhook_key],
        "an authorisation code": app.issued.codes,
        "a token": app.issued.tokens,
    }
    assert app.issued.codes and app.issued.tokens
    found = sorted({what for what, values in secrets.items() for value in values if value in logged})
    assert found == [], f"logged: {', '.join(found)}"
