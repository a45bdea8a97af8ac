"""``python -m xero_emulator`` starts, prints its settings (secrets masked) and serves until stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
