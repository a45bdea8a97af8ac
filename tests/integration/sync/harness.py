"""The initial sync on the local stack against the Xero emulator: one connected org, ready to sync.

Shared by the integration tests and ``tests/bench/bench_initial_sync.py``. The connection is made as the
callback would make it (a real code from the emulator's consent screen, exchanged with Xero's OAuth client,
stored encrypted through the token vault's repository), without the browser round trip.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tools.local_stack import LocalStack, prepare
from tools.reconcile import Records, expected_records, held_records
from xero_bridge.adapters.aws.records_table import RecordsTable
from xero_bridge.adapters.aws.sync_runs import SyncRunsTable
from xero_emulator.server import Emulator
from xero_emulator.testing import EmulatorProcess, emulator_in_process, running_emulator

ROOT = Path(__file__).resolve().parents[3]
REDIRECT_URI = "http://127.0.0.1:3000/callback"


@dataclass
class SyncWorld:
    stack: LocalStack
    xero: Emulator | EmulatorProcess
    org_id: str
    tenant_id: str

    @property
    def runs(self) -> SyncRunsTable:
        return SyncRunsTable(self.stack.physical_id("ConnectionsTable"), client=self.stack.client("dynamodb"))

    @property
    def records(self) -> RecordsTable:
        return RecordsTable(self.stack.physical_id("RecordsTable"), client=self.stack.client("dynamodb"))

    def run_sync(self, *, name: str | None = None, timeout: float = 180.0, **extra: Any) -> tuple[str, Any]:
        """Start the machine as the callback does and wait for it; the writer drains meanwhile."""
        payload = {"org_id": self.org_id, "tenant_id": self.tenant_id, "trigger": "connect", **extra}
        arn = self.stack.start_execution("InitialSyncStateMachine", payload, name=name)
        return self.stack.wait_execution(arn, timeout=timeout)

    def expected(self) -> Records:
        """The emulator's organisation through the import rules: what DynamoDB must hold, per type and id."""
        return expected_records(self.xero.store, self.tenant_id)

    def held(self) -> Records:
        return held_records(self.records, self.tenant_id)


def connect(
    stack: LocalStack,
    xero: Emulator | EmulatorProcess,
    org_id: str,
    *,
    redirect_uri: str = REDIRECT_URI,
    tenant_id: str | None = None,
) -> str:
    """Connect ``org_id`` to ``tenant_id`` (the emulator's first tenant by default) as the callback would;
    returns the tenant id."""
    return prepare.connect(stack, xero, org_id, redirect_uri=redirect_uri, tenant_id=tenant_id)


@contextmanager
def organisation_size(contacts: int, invoices: int) -> Iterator[None]:
    """The ``large`` seed profile at another size (the same generator, so the same mix of cases)."""
    from xero_emulator import seed

    original = seed._seed_large
    seed._seed_large = functools.partial(original, contacts=contacts, invoices=invoices)
    try:
        yield
    finally:
        seed._seed_large = original


@contextmanager
def sync_world(
    *,
    seed: str = "small",
    clock_scale: float = 60.0,
    pollers: int = 2,
    emulator_process: bool = False,
    **emulator: Any,
) -> Iterator[SyncWorld]:
    """An emulator (scaled clock) and the project's template on the local stack, with one connected org.

    ``emulator_process`` serves Xero from a child process (benchmarks: its CPU is then not ours); its
    ``store`` is then the seeded data as it was, and ``stats`` are read over its admin API.
    """
    start = emulator_in_process if emulator_process else running_emulator
    with start(seed=seed, clock_scale=clock_scale, **emulator) as xero:
        base = xero.base_url.rstrip("/")
        stack = LocalStack(
            ROOT / "template.yaml",
            parameter_overrides={"XeroLoginUrl": base, "XeroIdentityUrl": base, "XeroApiUrl": base},
            env_overrides={"Parameters": {"RATE_LIMIT_TIME_SCALE": str(clock_scale)}},
            pollers_per_source=pollers,
        )
        with stack:
            stack.provision()
            tenant_id = connect(stack, xero, "ar-org-1")
            stack.start_pollers()
            yield SyncWorld(stack=stack, xero=xero, org_id="ar-org-1", tenant_id=tenant_id)


def since(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)
