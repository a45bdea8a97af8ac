"""The project's own template.yaml provisions exactly what it declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.local_stack import LocalStack

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


@pytest.mark.skipif(not TEMPLATE.is_file(), reason="template.yaml is not written yet")
def test_real_template_declared_vs_created_is_exact() -> None:
    # A stack name of its own: the fixture stack of the session lives in the same in-process moto
    with LocalStack(TEMPLATE, stack_name="real-template") as stack:
        report = stack.declared_vs_created()
        assert report.exact, report.describe()
        assert stack.stack.unsupported_events == {}
        for spec in stack.stack.functions.values():
            assert (spec.code_dir / (spec.handler.rpartition(".")[0].replace(".", "/") + ".py")).is_file(), (
                spec.logical_id
            )
