"""One running app per test module: the seeded Xero emulator and the local stack, pointing at each other.

Module scope, never session: a live ``mock_aws`` would leak into the other test packages. Each test
connects its own AR org to its own Xero organisation (``new_tenant``) and sets the consent it needs; the
consent screen goes back to its defaults after every test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.integration.app.harness import App, IssuedSecrets, LogSink, reset_consent
from tools.local_stack.app import running_app


@pytest.fixture(scope="module")
def app() -> Iterator[App]:
    logs = LogSink()
    with running_app(seed="small", log_sink=logs) as local:
        yield App(local, logs, IssuedSecrets.watch(local.emulator.identity))


@pytest.fixture(autouse=True)
def _default_consent(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever a test did to the consent screen, the next one starts from the emulator's defaults."""
    yield
    if "app" in request.fixturenames:
        reset_consent(request.getfixturevalue("app"))


@pytest.fixture
def new_tenant(app: App) -> Callable[[str], str]:
    """``new_tenant("Acme Ltd")``: a fresh, empty Xero organisation in the emulator (its tenant id)."""

    def make(name: str) -> str:
        return app.admin.add_tenant(f"{name} {uuid.uuid4().hex[:6]}")

    return make
