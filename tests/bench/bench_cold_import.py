"""Cold import of every function, beside the floor, in an environment holding only what Lambda has.

What a cold start's init costs us is the import of ``functions/<name>/app.py`` with the shared layer on the
path. It is measured in a virtual environment of its own (``.venv/layer-env``) holding only the layer's
requirements and boto3 (which the Lambda runtime provides): the development environment's extras (httpx's
command-line packages, moto, test tools) would change what gets imported. The floor is ``import boto3`` plus
a Powertools ``Logger()``, measured in the same run, each function's probe interleaved with a floor probe so
that the machine's noise hits both alike; the ratio is the function's median over the floor's median.

The function's probe imports boto3 first: every function calls AWS, and its lazily built clients import boto3
on the first invocation anyway, so leaving it out would flatter the ratio. ``wiring`` imports a flow's
adapters and services when its factory is first called; the ``+flow`` columns add those imports (found in
``wiring.py``'s factories the function calls), which the first invocation pays.

The variables are those Lambda sets (``AWS_LAMBDA_FUNCTION_NAME``, ``AWS_EXECUTION_ENV``...) and the
template's ``POWERTOOLS_*`` ones, so Powertools behaves as it does in Lambda.

The built layer's size is printed too: ``layers/shared/Makefile`` run as ``sam build`` runs it, into a
scratch folder (cp313 aarch64 wheels; needs the package index).

``BENCH_REPEATS`` (default 7) sets the fresh interpreters per function; ``BENCH_FUNCTIONS`` (comma separated)
limits the functions measured.
"""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import venv
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared"
REQUIREMENTS = LAYER / "requirements.txt"
ENV_DIR = ROOT / ".venv" / "layer-env"
REPEATS = int(os.environ.get("BENCH_REPEATS", "7"))
AIM = 1.3

_FUNCTION_PROBE = """
import importlib, importlib.util, sys, time
sys.path[:0] = [{code!r}, {layer!r}]
started = time.perf_counter()
import boto3
spec = importlib.util.spec_from_file_location("app", {app!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
imported = time.perf_counter() - started
for name in {flow!r}:
    importlib.import_module(name)
print(imported, time.perf_counter() - started, len(sys.modules))
"""

_FLOOR_PROBE = """
import sys, time
started = time.perf_counter()
import boto3
from aws_lambda_powertools import Logger
Logger()
print(time.perf_counter() - started, time.perf_counter() - started, len(sys.modules))
"""


def flow_modules(app: Path) -> list[str]:
    """What the function's first invocation imports beyond ``app.py``: the modules its ``wiring`` factories
    import when called (each factory imports its own flow's adapters and services), transitively."""
    wiring = ast.parse((LAYER / "xero_bridge" / "wiring.py").read_text())
    factories = {node.name: node for node in wiring.body if isinstance(node, ast.FunctionDef)}
    used: set[str] = set()
    for node in ast.walk(ast.parse(app.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "xero_bridge.wiring":
            used.update(alias.name for alias in node.names)
        elif (
            isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "wiring"
        ):
            used.add(node.attr)
    modules: set[str] = set()
    todo, seen = [name for name in used if name in factories], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in ast.walk(factories[name]):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules.add(node.module)
            elif isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Name) and node.id in factories:
                todo.append(node.id)
    return sorted(modules)


def _lambda_env(function: str) -> dict[str, str]:
    """What a function's module-level code sees in Lambda (no AWS call happens at import)."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return keep | {
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / function),
        "POWERTOOLS_SERVICE_NAME": "xero-bridge",
        "POWERTOOLS_METRICS_NAMESPACE": "XeroBridge",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_LOGGER_LOG_EVENT": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def layer_python() -> Path:
    """The layer-only environment's interpreter, (re)created when the requirements or boto3 changed."""
    boto3 = metadata.version("boto3")  # the development pin stands for the runtime's boto3
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes() + boto3.encode()).hexdigest()
    stamp = ENV_DIR / ".requirements"
    python = ENV_DIR / "bin" / "python"
    if not (stamp.is_file() and stamp.read_text() == wanted and python.is_file()):
        print(
            f"creating {ENV_DIR.relative_to(ROOT)}: the layer's requirements and boto3=={boto3}", flush=True
        )
        shutil.rmtree(ENV_DIR, ignore_errors=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(ENV_DIR)
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "-r", REQUIREMENTS, f"boto3=={boto3}"], check=True
        )
        stamp.write_text(wanted)
    return python


def _probe(python: Path, code: str, env: dict[str, str]) -> tuple[float, float, int]:
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, check=False, cwd="/")
    if done.returncode:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "probe failed")
    imported, with_flow, modules = done.stdout.split()
    return float(imported), float(with_flow), int(modules)


@dataclass
class Figures:
    floor: list[float] = field(default_factory=list)
    imported: list[float] = field(default_factory=list)
    with_flow: list[float] = field(default_factory=list)
    floor_modules: int = 0
    modules: int = 0


def measure(python: Path, function_dir: Path) -> Figures:
    """``REPEATS`` pairs (floor, function), interleaved; the times and the modules each leaves loaded."""
    env = _lambda_env(function_dir.name)
    app = function_dir / "app.py"
    code = _FUNCTION_PROBE.format(
        code=str(function_dir), layer=str(LAYER), app=str(app), flow=flow_modules(app)
    )
    figures = Figures()
    for _ in range(REPEATS):
        seconds, _, figures.floor_modules = _probe(python, _FLOOR_PROBE, env)
        figures.floor.append(seconds)
        imported, with_flow, figures.modules = _probe(python, code, env)
        figures.imported.append(imported)
        figures.with_flow.append(with_flow)
    return figures


def layer_size() -> tuple[int, int] | None:
    """The built layer's size (unzipped, zipped), built as ``sam build`` builds it; None if it cannot be."""
    with tempfile.TemporaryDirectory(prefix="layer-build-") as scratch:
        source, artifacts = Path(scratch) / "source", Path(scratch) / "artifacts"
        shutil.copytree(LAYER, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        artifacts.mkdir()
        built = subprocess.run(
            ["make", "-s", "-C", source, "build-SharedLayer", f"ARTIFACTS_DIR={artifacts}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if built.returncode:
            print(f"layer build failed: {built.stderr.strip()[-300:]}")
            return None
        files = [p for p in artifacts.rglob("*") if p.is_file()]
        unzipped = sum(p.stat().st_size for p in files)
        archive = Path(scratch) / "layer.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in files:
                zipped.write(path, path.relative_to(artifacts))
        return unzipped, archive.stat().st_size


def main() -> int:
    python = layer_python()
    chosen = {name for name in os.environ.get("BENCH_FUNCTIONS", "").split(",") if name}
    functions = sorted(
        p
        for p in (ROOT / "functions").iterdir()
        if (p / "app.py").is_file() and (not chosen or p.name in chosen)
    )
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    )
    print(
        f"Cold import of each function's app.py beside `import boto3` + `Logger()` (the floor), "
        f"{REPEATS} interleaved pairs of fresh interpreters each, layer-only environment, "
        f"Python {version.stdout.strip()}; aim: ratio <= {AIM}"
    )
    print(
        f"{'function':18} {'import ms':>10} {'floor ms':>9} {'ratio':>6} {'best ratio':>11} "
        f"{'+flow ms':>9} {'flow ratio':>11} {'modules/floor':>14}"
    )
    over = []
    for function_dir in functions:
        got = measure(python, function_dir)
        floor = statistics.median(got.floor)
        ratio = statistics.median(got.imported) / floor
        best = min(got.imported) / min(got.floor)
        print(
            f"{function_dir.name:18} {statistics.median(got.imported) * 1000:>10.0f} {floor * 1000:>9.0f} "
            f"{ratio:>6.2f} {best:>11.2f} {statistics.median(got.with_flow) * 1000:>9.0f} "
            f"{statistics.median(got.with_flow) / floor:>11.2f} {got.modules:>8}/{got.floor_modules}",
            flush=True,
        )
        if ratio > AIM:
            over.append(function_dir.name)
    print(f"over {AIM}: {', '.join(over) or 'none'}")
    size = layer_size()
    if size:
        print(
            f"built layer (cp313 aarch64): {size[0] / 2**20:.1f} MiB unzipped, "
            f"{size[1] / 2**20:.1f} MiB zipped"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
