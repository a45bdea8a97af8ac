"""``python -m xero_emulator`` starts, prints its settings (secrets masked) and serves until stopped."""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlparse

import httpx

from tests.integration.emulator.conftest import ROOT, port_is_free
from xero_emulator.oauth import s256


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_this_process() -> None:
    """In the child, before exec: SIGTERM it when pytest dies, so a stopped run leaves no emulator behind."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_cli(*args: str) -> tuple[subprocess.Popen[str], str]:
    """``python -m xero_emulator`` on a free port with ``args``; returns it and its URL once it serves."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "emulator"), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "xero_emulator", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_die_with_this_process,  # noqa: PLW1509 - only prctl, no locks taken
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(f"{base_url}/connections", timeout=1)
            return process, base_url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"the emulator did not start: {process.communicate()[0]}")


def seconds_to_exit_after_sigterm(process: subprocess.Popen[str]) -> float:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return time.monotonic() - started


def test_cli_prints_defaults_masks_secrets_and_serves() -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "emulator"), "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "xero_emulator",
        "--port",
        str(port),
        "--client-id",
        "cli-client",
        "--client-secret",
        "super-secret-value",
        "--redirect-uri",
        "http://127.0.0.1:3000/callback",
        "--webhook-url",
        "",
        "--webhook-key",
        "hook-key-value",
        "--seed",
        "none",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        response = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/connections", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response is not None, "the emulator did not start"
        assert response.status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert f"http://127.0.0.1:{port}" in output
    assert "client_id" in output and "cli-client" in output and "[xero-bridge-local]" in output
    assert "clock_scale" in output and "minute_limit" in output
    assert "sup***" in output and "hoo***" in output
    assert "super-secret-value" not in output and "hook-key-value" not in output
    assert "stopped" in output


def _connect(base_url: str) -> tuple[httpx.Client, dict[str, str]]:
    """OAuth as an app does; returns a client and the headers of the first tenant's API calls."""
    verifier = secrets.token_urlsafe(48)
    http = httpx.Client(base_url=base_url, timeout=10)
    consent = http.get(
        "/identity/connect/authorize",
        params={
            "response_type": "code",
            "client_id": "xero-bridge-local",
            "redirect_uri": "http://127.0.0.1:3000/callback",
            "scope": "openid offline_access accounting.contacts accounting.settings",
            "state": "cli",
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        },
    )
    code = parse_qs(urlparse(consent.headers["location"]).query)["code"][0]
    token = http.post(
        "/connect/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:3000/callback",
            "code_verifier": verifier,
        },
        auth=("xero-bridge-local", "local-client-secret"),
    ).json()["access_token"]
    tenant = http.get("/connections", headers={"Authorization": f"Bearer {token}"}).json()[0]["tenantId"]
    return http, {"Authorization": f"Bearer {token}", "xero-tenant-id": tenant}


def test_sigterm_stops_it_within_two_seconds_with_a_delivery_hanging_and_the_minute_limit_hit() -> None:
    # Given a webhook receiver that accepts connections and never answers
    with socket.socket() as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.listen(8)
        hook = f"http://127.0.0.1:{receiver.getsockname()[1]}/hooks"
        process, base_url = start_cli("--seed", "small", "--webhook-url", hook)
        try:
            http, headers = _connect(base_url)
            try:
                # And a change whose delivery is now in flight, stuck on that receiver
                created = http.put(
                    "/api.xro/2.0/Contacts", headers=headers, json={"Contacts": [{"Name": "Hook Ltd"}]}
                )
                assert created.status_code == 200, created.text
                receiver.settimeout(10)
                stuck, _ = receiver.accept()
                # And the tenant's minute limit spent
                statuses = {
                    http.get("/api.xro/2.0/Organisation", headers=headers).status_code for _ in range(62)
                }
                assert 429 in statuses
                # When the emulator gets SIGTERM
                took = seconds_to_exit_after_sigterm(process)
                stuck.close()
            finally:
                http.close()
        finally:
            if process.poll() is None:
                process.kill()
    # Then it is gone within two seconds, said so, and its port is free
    assert took < 2, f"still running {took:.1f} s after SIGTERM"
    assert process.returncode == 0
    assert "stopped" in (process.stdout.read() if process.stdout else "")
    assert port_is_free(base_url)


def test_sigterm_stops_it_within_a_second_with_the_large_seed_loaded() -> None:
    # Given the large organisation in memory (millions of objects)
    process, base_url = start_cli("--seed", "large")
    # When the emulator gets SIGTERM, then it does not spend seconds freeing them one by one
    took = seconds_to_exit_after_sigterm(process)
    assert took < 1, f"still running {took:.1f} s after SIGTERM"
    assert process.returncode == 0
    assert port_is_free(base_url)
