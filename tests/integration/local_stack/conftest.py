"""One local stack of the fixture template for this test package (provisioning costs ~1 s).

Tests use their own keys and message bodies, and undo what they change (env overrides, pollers).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.local_stack import LocalStack

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "local_stack"
TEMPLATE = FIXTURE / "template.yaml"


@pytest.fixture(scope="package")
def stack() -> Iterator[LocalStack]:
    with LocalStack(TEMPLATE) as local:
        local.provision()
        yield local
