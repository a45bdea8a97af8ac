"""The layer's dependency rule, checked on its imports: handler → service → ports ← adapters.

Read from the source (every ``import`` and ``from ... import``, also inside functions), so a rule broken in a
corner of the code fails here, not in review:

- nothing under ``services/`` or ``domain/`` imports an adapter;
- ``models/`` import only models and errors; ``domain/`` only models, errors and domain;
- a flow's folder under ``services/`` imports no other flow's folder (what two flows share lives at
  ``services/`` level: ``ports``, ``publish_records``, ``token_vault``, ``chase_ready``);
- nothing in the layer imports a handler; handlers import no boto3, httpx or adapter;
- ``wiring.py`` only composes: it defines no class;
- every log line goes through the one Powertools Logger of ``observability.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared" / "xero_bridge"
FUNCTIONS = ROOT / "functions"
SHARED_SERVICES = {"chase_ready", "ports", "publish_records", "token_vault"}


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _ours(path: Path) -> set[str]:
    return {name for name in _imports(path) if name.startswith("xero_bridge")}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_layer_is_where_the_rules_look() -> None:
    assert len(_modules(LAYER / "services")) > 10 and len(_modules(LAYER / "adapters")) > 10


@pytest.mark.parametrize("folder", ["services", "domain"])
def test_services_and_domain_never_import_adapters(folder: str) -> None:
    offenders = sorted(
        f"{_rel(path)}: {name}"
        for path in _modules(LAYER / folder)
        for name in _ours(path)
        if name.startswith("xero_bridge.adapters")
    )
    assert offenders == []


def test_models_import_only_models_and_errors() -> None:
    allowed = ("xero_bridge.models", "xero_bridge.errors")
    offenders = sorted(
        f"{_rel(path)}: {name}"
        for path in _modules(LAYER / "models")
        for name in _ours(path)
        if not name.startswith(allowed)
    )
    assert offenders == []


def test_domain_imports_only_models_errors_and_domain() -> None:
    allowed = ("xero_bridge.models", "xero_bridge.errors", "xero_bridge.domain")
    offenders = sorted(
        f"{_rel(path)}: {name}"
        for path in _modules(LAYER / "domain")
        for name in _ours(path)
        if not name.startswith(allowed)
    )
    assert offenders == []


def test_a_flow_never_imports_another_flow() -> None:
    flows = sorted(p.name for p in (LAYER / "services").iterdir() if p.is_dir() and p.name != "__pycache__")
    assert "sync" in flows
    offenders = []
    for flow in flows:
        for path in _modules(LAYER / "services" / flow):
            for name in _ours(path):
                parts = name.split(".")
                if len(parts) >= 3 and parts[1] == "services" and parts[2] in flows and parts[2] != flow:
                    offenders.append(f"{_rel(path)}: {name}")
    assert offenders == []


def test_shared_services_are_the_only_top_level_service_modules() -> None:
    top_level = {p.stem for p in (LAYER / "services").glob("*.py") if p.stem != "__init__"}
    assert top_level == SHARED_SERVICES


def test_nothing_in_the_layer_imports_a_handler() -> None:
    offenders = sorted(
        f"{_rel(path)}: {name}"
        for path in _modules(LAYER)
        for name in _imports(path)
        if name.startswith("functions")
    )
    assert offenders == []


def test_handlers_import_no_boto3_httpx_or_adapter() -> None:
    handlers = _modules(FUNCTIONS)
    assert handlers
    offenders = sorted(
        f"{_rel(path)}: {name}"
        for path in handlers
        for name in _imports(path)
        if name.split(".")[0] in {"boto3", "botocore", "httpx"} or name.startswith("xero_bridge.adapters")
    )
    assert offenders == []


def test_wiring_only_composes() -> None:
    tree = ast.parse((LAYER / "wiring.py").read_text())
    classes = [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    assert classes == []


def test_no_module_of_the_layer_makes_a_logger_of_its_own() -> None:
    offenders = []
    for path in _modules(LAYER):
        if path.name == "observability.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in {"getLogger", "Logger"}:
                    offenders.append(f"{_rel(path)}:{node.lineno}: {name}()")
        if "logging" in set(_imports(path)):
            offenders.append(f"{_rel(path)}: imports logging")
    assert offenders == []
