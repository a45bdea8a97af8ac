"""``emulator_in_process``: the emulator serving from a child process, this side keeping the seeded data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.integration.emulator.conftest import ROOT, Xero, port_is_free
from xero_emulator.testing import emulator_in_process


def test_serves_from_another_process_with_the_seeded_data_on_both_sides() -> None:
    with emulator_in_process(seed="small", clock_scale=60) as xero:
        tenant_id = xero.store.tenant_ids()[0]
        # The child answers Xero's API (no token: Xero's 401) and its admin API, from its own process
        assert httpx.get(f"{xero.base_url}/connections").status_code == 401
        assert xero.admin.health()["pid"] != os.getpid()
        # And both sides hold the same organisation: the child's counts equal this side's copy
        assert xero.admin.counts(tenant_id) == xero.store.counts(tenant_id)
        # And calls made to the child are counted there, read through the admin API
        with httpx.Client(base_url=xero.base_url) as http:
            client = Xero(em=xero, http=http, admin=xero.admin)  # type: ignore[arg-type]  # its base_url only
            token = client.connect()["access_token"]
            assert client.api("GET", "Invoices", token, tenant_id).status_code == 200
        assert xero.stats.snapshot()["tenants"][tenant_id]["calls"] == 1
        process = xero._process
    # And leaving the block stops the child
    assert not process.is_alive()


HOLDER = """
import sys, time
from xero_emulator.testing import emulator_in_process
with emulator_in_process(seed="none") as xero:
    print(xero.base_url, flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_run_leaves_no_emulator_holding_its_port(stop: signal.Signals) -> None:
    # Given a run (a benchmark, a test session) whose emulator serves from a child process
    env = {**os.environ, "PYTHONPATH": str(ROOT / "emulator"), "PYTHONUNBUFFERED": "1"}
    run = subprocess.Popen([sys.executable, "-c", HOLDER], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert run.stdout is not None
        base_url = run.stdout.readline().strip()
        assert httpx.get(f"{base_url}/connections").status_code == 401
        # When the run is stopped without any chance to stop its emulator
        run.send_signal(stop)
        run.wait(timeout=10)
        # Then the emulator's process notices and goes, freeing the port
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not port_is_free(base_url):
            time.sleep(0.1)
        assert port_is_free(base_url), "the emulator outlived the run that started it"
    finally:
        if run.poll() is None:
            run.kill()
