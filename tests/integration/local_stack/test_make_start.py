"""``make start`` with its Make variables, and README's SigV4 calls run as written against it.

The credentials are not the defaults, so a call only passes if API_ACCESS_KEY_ID and API_SECRET_ACCESS_KEY
really reached the local API; README's curl lines and its Python client run unchanged but for the port.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.local_stack.app import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
SECTION = "## How the AR backend authenticates"
ACCESS_KEY_ID = "AKIAMAKESTARTTEST001"
SECRET_ACCESS_KEY = "make-start-test-secret-access-key"


@dataclass
class Started:
    port: int
    banner: str


def readme_blocks(language: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)


def readme_commands(starting: str) -> list[str]:
    """The README's shell commands (continuation lines joined) that start with ``starting``."""
    joined = "\n".join(readme_blocks("bash")).replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip().startswith(starting)]


@pytest.fixture(scope="module")
def make_start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    logs = tmp_path_factory.mktemp("make-start")
    api_port, xero_port = free_port(), free_port()
    with (logs / "stdout").open("w") as stdout, (logs / "stderr").open("w") as stderr:
        process = subprocess.Popen(
            [
                "make",
                "--no-print-directory",
                "start",
                f"API_PORT={api_port}",
                f"XERO_PORT={xero_port}",
                f"API_ACCESS_KEY_ID={ACCESS_KEY_ID}",
                f"API_SECRET_ACCESS_KEY={SECRET_ACCESS_KEY}",
            ],
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its own process group: make and the stack it starts stop together
        )
    try:
        deadline = time.monotonic() + 180
        while "Ctrl-C to stop." not in (banner := (logs / "stdout").read_text()):
            assert process.poll() is None, f"make start exited: {(logs / 'stderr').read_text()[-2000:]}"
            assert time.monotonic() < deadline, "make start did not serve within 180 s"
            time.sleep(0.2)
        yield Started(api_port, banner)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            stderr_tail = (logs / "stderr").read_text()[-6000:]
            pytest.fail(f"make start outlived SIGTERM by 60 s; its stderr ends:\n{stderr_tail}")


def test_make_start_prints_the_access_key_it_accepts(make_start: Started) -> None:
    assert (
        f"access key id {ACCESS_KEY_ID}, secret access key {SECRET_ACCESS_KEY} (local only), "
        "service execute-api, region eu-west-1"
    ) in make_start.banner
    assert re.search(
        r"GET +http://\S+/orgs/\{org_id\}/connection +-> IntegrationApiFunction +\[SigV4 \+ x-api-key\]",
        make_start.banner,
    )
    assert re.search(r"GET +http://\S+/connect +-> OAuthConnectFunction\n", make_start.banner)


def _curl_signs() -> bool:
    if shutil.which("curl") is None:
        return False
    help_text = subprocess.run(["curl", "--help", "all"], check=False, capture_output=True, text=True).stdout
    return "--aws-sigv4" in help_text


@pytest.mark.skipif(not _curl_signs(), reason="this curl has no --aws-sigv4 (curl 7.75 or newer has)")
def test_the_readmes_curl_calls_work_and_unsigned_ones_do_not(make_start: Started) -> None:
    commands = readme_commands("curl")
    assert len(commands) == 3 and all("--aws-sigv4" in c for c in commands)
    env = {**os.environ, "API_ACCESS_KEY_ID": ACCESS_KEY_ID, "API_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}

    answers = []
    for command in commands:
        on_our_port = command.replace("localhost:3000", f"localhost:{make_start.port}")
        done = subprocess.run(
            ["bash", "-c", f"{on_our_port} -w '\\n%{{http_code}}'"],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        body, _, status = done.stdout.rpartition("\n")
        answers.append((int(status), json.loads(body)))
    unsigned = subprocess.run(
        [
            "curl",
            "-s",
            "-H",
            "x-api-key: local-api-key",
            f"localhost:{make_start.port}/orgs/demo-org/connection",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )

    printed = re.search(r"^connect +(curl .*?)   then open its connect_url$", make_start.banner, re.MULTILINE)
    assert printed, "make start prints a signed curl line for the connect"
    from_banner = subprocess.run(
        ["bash", "-c", printed.group(1)], check=False, capture_output=True, text=True, timeout=60
    )

    (connect_status, link), (status_code, connection), (sync_status, sync) = answers
    assert "/connect?session=" in json.loads(from_banner.stdout)["connect_url"]
    assert connect_status == 201 and "/connect?session=" in link["connect_url"]
    assert (status_code, connection["status"]) == (200, "not_connected")
    assert sync_status not in (403, 500, 502) and "message" not in sync  # the function's own answer
    assert json.loads(unsigned.stdout) == {"message": "Missing Authentication Token"}


def test_the_readmes_python_client_works(make_start: Started, tmp_path: Path) -> None:
    [client] = readme_blocks("python")
    script = tmp_path / "client.py"
    script.write_text(client.replace("http://localhost:3000", f"http://localhost:{make_start.port}"))
    env = {**os.environ, "API_ACCESS_KEY_ID": ACCESS_KEY_ID, "API_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}

    done = subprocess.run(
        [sys.executable, str(script)], check=False, capture_output=True, text=True, env=env, timeout=120
    )

    assert done.returncode == 0, done.stderr[-2000:]
    connect_url, status = done.stdout.split()
    assert "/connect?session=" in connect_url and status == "not_connected"
