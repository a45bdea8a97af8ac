"""Cold import of every function: the time a fresh Python takes to import ``functions/<name>/app.py`` with the
shared layer on its path (a Lambda cold start's init, less the runtime's own boot), and the heaviest modules.

Each function is imported in a fresh interpreter, several times; the figures are the median and the best.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPEATS = 5

_PROBE = """
import importlib.util, sys, time
sys.path[:0] = [{code!r}, {layer!r}]
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", {app!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(time.perf_counter() - started)
"""

# What a function's module-level code needs to import in Lambda (no AWS call happens at import).
_ENV = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "POWERTOOLS_SERVICE_NAME": "xero-bridge",
    "POWERTOOLS_METRICS_NAMESPACE": "XeroBridge",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def cold_import_seconds(function_dir: Path) -> list[float]:
    code = _PROBE.format(
        code=str(function_dir), layer=str(ROOT / "layers" / "shared"), app=str(function_dir / "app.py")
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | _ENV
    times = []
    for _ in range(REPEATS):
        done = subprocess.run(
            [sys.executable, "-X", "frozen_modules=on", "-c", code],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            cwd=ROOT,
        )
        times.append(float(done.stdout.strip().splitlines()[-1]))
    return times


def main() -> None:
    print(
        f"Cold import of each function's app.py ({REPEATS} fresh interpreters each, "
        f"Python {sys.version.split()[0]})"
    )
    print(f"{'function':18} {'median ms':>10} {'best ms':>8}")
    for function_dir in sorted(p for p in (ROOT / "functions").iterdir() if (p / "app.py").is_file()):
        times = cold_import_seconds(function_dir)
        print(f"{function_dir.name:18} {statistics.median(times) * 1000:>10.0f} {min(times) * 1000:>8.0f}")


if __name__ == "__main__":
    main()
