"""The real-time sync on the local stack, as Xero and the AR app see it: a connected org, synced once, with
the emulator's webhook registered to the local API and the pollers running.

Changes are made through the emulator's admin API (acting as a Xero user); what the AR app sees is read
through the integration API (``GET /orgs/{org_id}/invoices/{id}``) or from DynamoDB.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tests.integration.app.harness import LogSink
from tests.integration.sync.harness import connect
from tools.local_stack.app import LocalApp, running_app
from xero_bridge.adapters.aws.records_table import RecordsTable
from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
from xero_bridge.models.records import RecordType, StoredRecord

ORG_ID = "ar-org-realtime"
CLOCK_SCALE = 60.0


@dataclass
class RealtimeWorld:
    app: LocalApp
    org_id: str
    tenant_id: str
    logs: LogSink

    @property
    def admin(self) -> Any:
        return self.app.admin

    @property
    def records(self) -> RecordsTable:
        stack = self.app.stack
        return RecordsTable(stack.physical_id("RecordsTable"), client=stack.client("dynamodb"), workers=1)

    @property
    def runs(self) -> SyncRunsTable:
        stack = self.app.stack
        return SyncRunsTable(stack.physical_id("ConnectionsTable"), client=stack.client("dynamodb"))

    def held(self, record_type: RecordType, xero_id: str) -> StoredRecord | None:
        return self.records.get(self.tenant_id, record_type, xero_id)

    def api(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.app.api_url}{path}", auth=self.app.api_auth, timeout=30)

    def xero_record(self, resource: str, xero_id: str) -> dict[str, Any]:
        return self.app.emulator.store.get_resource(self.tenant_id, resource, xero_id)

    def xero_calls(self) -> int:
        return int(self.app.emulator.stats.snapshot()["tenants"].get(self.tenant_id, {}).get("calls", 0))

    def post_webhook(self, body: bytes, signature: str | None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["x-xero-signature"] = signature
        return httpx.post(f"{self.app.api_url}/webhooks/xero", content=body, headers=headers, timeout=30)

    def sign(self, body: bytes, key: str | None = None) -> str:
        secret = key if key is not None else self.app.emulator.config.webhook_key
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def drain(self, timeout: float = 60.0) -> None:
        """Every queue empty and every poller idle (webhook deliveries out of the emulator first)."""
        self.admin.wait_webhooks(timeout=timeout)
        self.app.stack.drain(timeout=timeout)


def field(stored: StoredRecord, name: str) -> Any:
    """One field of a held record's payload (the payload is a union of our record models)."""
    return stored.payload.model_dump().get(name)


def delivery(events: list[dict[str, Any]], first: int, last: int) -> bytes:
    """A webhook body as Xero writes it (compact JSON)."""
    body = {"events": events, "firstEventSequence": first, "lastEventSequence": last, "entropy": "ABCDEFGHIJ"}
    return json.dumps(body, separators=(",", ":")).encode()


@contextmanager
def realtime_world(*, seed: str = "small") -> Iterator[RealtimeWorld]:
    """The emulator and the stack wired to each other, one org connected and its initial sync finished."""
    logs = LogSink()
    with running_app(
        seed=seed,
        emulator_settings={"clock_scale": CLOCK_SCALE},
        env_overrides={"Parameters": {"RATE_LIMIT_TIME_SCALE": str(CLOCK_SCALE)}},
        log_sink=logs,
    ) as app:
        assert (app.webhook_registration or {}).get("passed"), app.webhook_registration
        tenant_id = connect(app.stack, app.emulator, ORG_ID, redirect_uri=f"{app.api_url}/callback")
        arn = app.stack.start_execution(
            "InitialSyncStateMachine", {"org_id": ORG_ID, "tenant_id": tenant_id, "trigger": "connect"}
        )
        status, output = app.stack.wait_execution(arn, timeout=180)
        assert status == "SUCCEEDED", output
        world = RealtimeWorld(app=app, org_id=ORG_ID, tenant_id=tenant_id, logs=logs)
        world.drain()
        yield world
