"""One app per module: the emulator (clock x60) and the local stack with one org connected and synced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.export.harness import ExportWorld, export_world


@pytest.fixture(scope="module")
def world() -> Iterator[ExportWorld]:
    # A Xero call times out after 2 s here (15 s in AWS), so a slow Xero is a short test; a message whose
    # payments met a transient failure comes back at once (30 s, doubling, in AWS).
    with export_world(
        exporter_env={"XERO_READ_TIMEOUT_SECONDS": "2", "EXPORT_RETRY_BASE_SECONDS": "0"}
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def _xero_as_it_was(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever faults a test injected are gone for the next one."""
    yield
    if "world" in request.fixturenames:
        request.getfixturevalue("world").local.admin.clear_faults()
