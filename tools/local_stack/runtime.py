"""Run the template's functions in this process, the way Lambda runs them.

Why in-process: no Docker on the development machines (BRIEF §3), and one process lets moto's in-memory
AWS be shared by the functions, the tests, the local API and the pollers.

What is faithful to Lambda
    * code: the layer ``ContentUri`` folders (as ``/opt/python``) and the function ``CodeUri`` (as
      ``/var/task``) on the import path; the handler module imported once per function and kept warm, a cold
      start on request and always after a timeout (Lambda resets a sandbox after a timeout);
    * environment: the template's variables (Refs/GetAtts resolved to local resources), Lambda's reserved
      variables, overrides in ``sam local invoke --env-vars`` format (only for declared variables, as SAM);
    * context: name, memory, ARN, request id, log group/stream, ``get_remaining_time_in_millis()``;
    * timeout: the handler runs in a worker thread; past ``Timeout`` the invocation ends with Lambda's
      ``Sandbox.Timedout`` error ("Task timed out after N.00 seconds");
    * errors: an unhandled exception gives ``{"errorMessage", "errorType", "requestId", "stackTrace"}`` and
      ``FunctionError: Unhandled``; an unserialisable result gives ``Runtime.MarshalError``.

Isolation between functions (the part Lambda gets for free from separate sandboxes)
    ``os.environ``, ``sys.modules`` and ``sys.path`` are process-global, and the shared layer caches settings,
    clients and loggers at module level. So each function gets its own *container*: its own environment,
    import path and its own copies of every module loaded from its code or layer folders. A process-wide
    gate lets any number of invocations of **one** function run concurrently (a Map state, a poller's
    batches), and switches containers only when no invocation is in flight: it saves the previous
    function's modules, path and environment and installs the next one's. Waiters are served in arrival
    order, so a busy function cannot starve another.

    Limits, stated plainly: invocations of *different* functions never overlap (they queue at the gate); a
    handler that synchronously waits for another function (e.g. a synchronous Express execution) would
    deadlock; concurrent invocations of one function share one warm container (Lambda would start more);
    third-party packages (boto3, pydantic, Powertools) are shared, so module-level state *inside them*
    (e.g. a ``logging`` logger of the same service name) is shared too; a timed-out handler's thread cannot
    be killed and keeps running with whatever environment is current. Per-invocation state kept at module
    level is shared by concurrent invocations, which a Lambda sandbox never does; two such bugs showed here
    and are fixed in the handlers' code: the writer's BatchProcessor (now one per invocation) and
    Powertools' metric set (added and flushed under a lock, ``observability.SerializedEMFProvider``).
    Still shared: Powertools' Logger keys (``append_keys``: concurrent invocations' log lines can carry each
    other's keys) and an API resolver's current event (two requests to one API function at the same instant
    could be routed with each other's event; the demo and tests send one at a time).
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from tools.local_stack.model import FunctionSpec

LOG = logging.getLogger("tools.local_stack")

HOST = "__host__"  # the container key of the process itself (tests, the CLI, the API server)

#: Third-party packages that get one copy per function, like the layer's own code: Powertools keeps its
#: cold-start flag and its Logger/Metrics state at module level, which Lambda keeps per sandbox. (Packages
#: with compiled extensions, such as pydantic, cannot be imported twice in one process and stay shared.)
ISOLATED_PACKAGES: tuple[str, ...] = ("aws_lambda_powertools",)


# --------------------------------------------------------------------------------------------------
# Lambda context and results
# --------------------------------------------------------------------------------------------------


class LambdaContext:
    """The ``context`` argument of a handler, as the Python runtime builds it."""

    def __init__(self, spec: FunctionSpec, request_id: str, deadline: float) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory_size
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class InvokeResult:
    """What ``lambda:Invoke`` returns: the payload, or Lambda's error shape with ``FunctionError``."""

    function: str
    request_id: str
    payload: Any = None
    error: dict[str, Any] | None = None
    logs: str = ""
    duration_ms: float = 0.0
    timed_out: bool = False
    cold_start: bool = False

    @property
    def invocation_error(self) -> bool:
        """True when Lambda would set ``FunctionError: Unhandled``."""
        return self.error is not None

    @property
    def function_error(self) -> str | None:
        return "Unhandled" if self.error is not None else None

    def response_payload(self) -> Any:
        """The body of Lambda's Invoke response: the error shape on failure, the result otherwise."""
        return self.error if self.error is not None else self.payload


# --------------------------------------------------------------------------------------------------
# Log capture: each invocation gets what its own thread wrote (print, logging, Powertools)
# --------------------------------------------------------------------------------------------------


class _Capture:
    """One invocation's log: kept in memory, echoed (masked) to a sink when one is set."""

    def __init__(self, sink: TextIO | None, mask: Callable[[str], str]) -> None:
        self.parts: list[str] = []
        self.sink = sink
        self.mask = mask
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        text = self.mask(text)
        with self._lock:
            self.parts.append(text)
        if self.sink is not None:
            try:
                self.sink.write(text)
                self.sink.flush()
            except ValueError:  # the sink was closed (e.g. pytest's capture after its test)
                self.sink = None

    def text(self) -> str:
        with self._lock:
            return "".join(self.parts)


class _ThreadRoutedStream(io.TextIOBase):
    """Replaces sys.stdout/sys.stderr: writes from an invocation's thread go to that invocation's buffer.

    Anything else passes through unchanged. Powertools' handlers bind ``sys.stdout`` when created, which is
    this object once the local stack is running, so their lines are captured per invocation too.
    """

    def __init__(self, underlying: TextIO, routes: dict[int, _Capture]) -> None:
        self.underlying = underlying
        self.routes = routes

    def write(self, text: str) -> int:
        capture = self.routes.get(threading.get_ident())
        if capture is None:
            return self.underlying.write(text)
        capture.write(text)
        return len(text)

    def flush(self) -> None:
        self.underlying.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.underlying, "encoding", "utf-8")


class LogCapture:
    """Routes each invocation thread's output to its own buffer.

    The routed streams are (re)installed at every invocation when ``sys.stdout``/``sys.stderr`` are not
    ours: pytest and other tools swap those objects between phases, and wrapping whatever is current keeps
    both them and the per-invocation capture working. The routing table is shared by every wrapper.
    """

    _lock = threading.Lock()
    _routes: dict[int, _Capture] = {}

    @classmethod
    def ensure(cls) -> None:
        with cls._lock:
            if not isinstance(sys.stdout, _ThreadRoutedStream):
                sys.stdout = _ThreadRoutedStream(sys.stdout, cls._routes)
            if not isinstance(sys.stderr, _ThreadRoutedStream):
                sys.stderr = _ThreadRoutedStream(sys.stderr, cls._routes)

    @classmethod
    def restore(cls) -> None:
        with cls._lock:
            if isinstance(sys.stdout, _ThreadRoutedStream):
                sys.stdout = sys.stdout.underlying
            if isinstance(sys.stderr, _ThreadRoutedStream):
                sys.stderr = sys.stderr.underlying

    @classmethod
    def capture(cls, capture: _Capture) -> None:
        cls._routes[threading.get_ident()] = capture

    @classmethod
    def release(cls) -> None:
        cls._routes.pop(threading.get_ident(), None)


# --------------------------------------------------------------------------------------------------
# The container gate (see the module docstring)
# --------------------------------------------------------------------------------------------------


@dataclass
class _Container:
    environment: dict[str, str]
    path: list[str]
    roots: set[str]  # top-level module (and logger) names that belong to this container
    modules: dict[str, ModuleType] = field(default_factory=dict)
    loggers: dict[str, Any] = field(default_factory=dict)


def _logging_lock() -> Any:
    return logging._lock  # type: ignore[attr-defined]  # the lock logging itself takes around loggerDict


class ContainerGate:
    """Only one function's container is installed in the process at a time; see the module docstring.

    A container is: ``os.environ``, ``sys.path``, the ``sys.modules`` entries of its code, layers and
    isolated packages, and the ``logging`` loggers named after them or after its Powertools service (so
    that each function's Powertools ``Logger`` keeps its own handler, formatter and appended keys).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = HOST
        self._count = 0
        self._queue: deque[tuple[object, str, bool]] = deque()
        self._containers: dict[str, _Container] = {}
        self._roots: set[str] = set()

    def register(self, key: str, environment: dict[str, str], path: list[str], roots: set[str]) -> None:
        with self._cond:
            old = self._containers.get(key)
            self._containers[key] = _Container(
                environment, path, roots, old.modules if old else {}, old.loggers if old else {}
            )
            self._roots |= roots

    def unregister(self, key: str) -> None:
        with self._cond:
            self._containers.pop(key, None)

    def update_environment(self, key: str, environment: dict[str, str]) -> None:
        with self._cond:
            self._containers[key].environment = environment
            if self._active == key and self._count:
                os.environ.clear()
                os.environ.update(environment)

    def enter(self, key: str, *, exclusive: bool = False) -> None:
        """Block until ``key``'s container is installed; ``exclusive`` waits until nothing else runs in it."""
        ticket = object()
        with self._cond:
            self._queue.append((ticket, key, exclusive))
            while not self._may_enter(ticket, key, exclusive):
                self._cond.wait()
            self._queue.remove((ticket, key, exclusive))
            if self._active != key:
                self._switch(key)
            self._count += 1
            self._cond.notify_all()

    def _may_enter(self, ticket: object, key: str, exclusive: bool) -> bool:
        for other, other_key, other_exclusive in self._queue:
            if other is ticket:
                break
            if other_key != key or other_exclusive:
                return False  # someone for another container (or a cold start) arrived first
        if exclusive:
            return self._count == 0
        return self._count == 0 or self._active == key

    def leave(self) -> None:
        with self._cond:
            self._count -= 1
            if self._count == 0 and not self._queue and self._active != HOST:
                self._switch(HOST)  # idle: the host process gets its own environment back
            self._cond.notify_all()

    def drop_modules(self, key: str) -> None:
        """Forget a container's modules and loggers (a cold start); call inside the gate, exclusively."""
        with self._cond:
            self._take_owned()
            self._containers[key].modules = {}
            self._containers[key].loggers = {}
            importlib.invalidate_caches()

    def _owned(self, name: str) -> bool:
        return name.split(".", 1)[0] in self._roots or name.startswith("lambda_")

    def _take_owned(self) -> tuple[dict[str, ModuleType], dict[str, Any]]:
        """Remove (and return) the installed container's modules and loggers from the process."""
        modules = {n: m for n, m in sys.modules.items() if self._owned(n)}
        for name in modules:
            del sys.modules[name]
        with _logging_lock():
            registry = logging.Logger.manager.loggerDict
            loggers = {n: lg for n, lg in registry.items() if self._owned(n)}
            for name in loggers:
                del registry[name]
        return modules, loggers

    def _switch(self, key: str) -> None:
        modules, loggers = self._take_owned()
        if self._active == HOST:
            self._containers[HOST] = _Container(dict(os.environ), list(sys.path), set(), modules, loggers)
        elif self._active in self._containers:
            self._containers[self._active].modules = modules
            self._containers[self._active].loggers = loggers
        target = self._containers[key]
        sys.modules.update(target.modules)
        with _logging_lock():
            logging.Logger.manager.loggerDict.update(target.loggers)
        sys.path[:] = target.path
        os.environ.clear()
        os.environ.update(target.environment)
        importlib.invalidate_caches()
        self._active = key


GATE = ContainerGate()


# --------------------------------------------------------------------------------------------------
# The runtime
# --------------------------------------------------------------------------------------------------


def _top_level_names(folder: Path) -> set[str]:
    names: set[str] = set()
    if not folder.is_dir():
        return names
    for entry in folder.iterdir():
        if entry.suffix == ".py":
            names.add(entry.stem)
        elif entry.is_dir() and entry.name.isidentifier() and not entry.name.startswith((".", "__")):
            names.add(entry.name)
    return names


def load_env_vars_file(path: str | Path) -> dict[str, dict[str, str]]:
    """Read a ``sam local invoke --env-vars`` file: ``{"Parameters": {...}, "<LogicalId>": {...}}``."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: env vars must be an object of objects, as for sam local invoke --env-vars")
    return {k: {n: _env_value(v) for n, v in vars_.items()} for k, vars_ in data.items()}


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


class FunctionRuntime:
    """Invokes the template's functions in-process (see the module docstring).

    Parameters
    ----------
    functions:
        The provisioned functions by logical id.
    region:
        ``AWS_REGION`` of the functions.
    env_overrides:
        ``--env-vars`` content; ``"Parameters"`` applies to every function, ``"<LogicalId>"`` (or the
        function's name) to one; both only for variables the function declares, as SAM does.
    log_sink:
        Where function output is echoed while captured (None: captured only).
    redact:
        Values masked as ``****`` in captured logs (secrets, NoEcho parameters).
    isolated_packages:
        Third-party packages imported once per function (see :data:`ISOLATED_PACKAGES`).
    """

    def __init__(
        self,
        functions: Mapping[str, FunctionSpec],
        *,
        region: str,
        env_overrides: Mapping[str, Mapping[str, str]] | None = None,
        log_sink: TextIO | None = None,
        redact: Iterable[str] = (),
        isolated_packages: Iterable[str] = ISOLATED_PACKAGES,
    ) -> None:
        self.functions = dict(functions)
        self.region = region
        self.env_overrides = {k: dict(v) for k, v in (env_overrides or {}).items()}
        self.log_sink = log_sink
        self.redact = [v for v in redact if v]
        self.isolated_packages = set(isolated_packages)
        self._base_env = dict(os.environ)
        self._base_path = list(sys.path)
        self._dirty: set[str] = set()
        self._dirty_lock = threading.Lock()
        self._id = uuid.uuid4().hex[:8]
        for spec in self.functions.values():
            self._register(spec)

    # ---- environment --------------------------------------------------------------------------------

    def environment(self, spec: FunctionSpec) -> dict[str, str]:
        """The full environment of one function: host env, Lambda's reserved variables, the template's."""
        declared = dict(spec.environment)
        specific = self.env_overrides.get(spec.logical_id) or self.env_overrides.get(spec.name) or {}
        for name, value in [*self.env_overrides.get("Parameters", {}).items(), *specific.items()]:
            if name in declared:
                declared[name] = value
            elif name in specific:
                LOG.warning(
                    "env-vars override %s ignored for %s: not declared in the template (as SAM)",
                    name,
                    spec.logical_id,
                )
        env = dict(self._base_env)
        env.update(
            {
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": "$LATEST",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_SAM_LOCAL": "true",  # as sam local: Powertools' Tracer turns itself off
                "_HANDLER": spec.handler,
                "LAMBDA_TASK_ROOT": str(spec.code_dir),
                "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
                "TZ": ":UTC",
            }
        )
        level = spec.logging_config.get("ApplicationLogLevel")
        if level:
            env["AWS_LAMBDA_LOG_LEVEL"] = str(level)
        if spec.logging_config.get("LogFormat"):
            env["AWS_LAMBDA_LOG_FORMAT"] = str(spec.logging_config["LogFormat"])
        env.update(declared)
        return env

    def set_env_overrides(self, overrides: Mapping[str, Mapping[str, str]]) -> None:
        self.env_overrides = {k: dict(v) for k, v in overrides.items()}
        for spec in self.functions.values():
            GATE.update_environment(self._key(spec), self.environment(spec))

    def _register(self, spec: FunctionSpec) -> None:
        folders = [spec.code_dir, *spec.layer_dirs]
        roots: set[str] = set(self.isolated_packages)
        for folder in folders:
            roots |= _top_level_names(folder)
        environment = self.environment(spec)
        roots.add(
            environment.get("POWERTOOLS_SERVICE_NAME") or "service_undefined"
        )  # Powertools' logger name
        path = [str(f) for f in folders] + [p for p in self._base_path if p not in {str(f) for f in folders}]
        GATE.register(self._key(spec), environment, path, roots)

    def _key(self, spec: FunctionSpec) -> str:
        return f"{self._id}:{spec.logical_id}"

    def close(self) -> None:
        """Forget this runtime's containers (their modules go with them)."""
        for spec in self.functions.values():
            GATE.unregister(self._key(spec))

    # ---- invoke -------------------------------------------------------------------------------------

    def function(self, name: str) -> FunctionSpec:
        """A function by logical id, name or ARN."""
        for spec in self.functions.values():
            if name in (spec.logical_id, spec.name, spec.arn) or name.startswith(spec.arn + ":"):
                return spec
        raise KeyError(f"no function {name!r} in the template (known: {', '.join(sorted(self.functions))})")

    def invoke(self, name: str, event: Any, *, cold_start: bool = False) -> InvokeResult:
        """Run one invocation synchronously and return its result (never raises for handler errors)."""
        spec = self.function(name)
        request_id = str(uuid.uuid4())
        with self._dirty_lock:
            cold = cold_start or spec.logical_id in self._dirty
            self._dirty.discard(spec.logical_id)
        key = self._key(spec)
        GATE.enter(key, exclusive=cold)
        released = False
        try:
            if cold:
                GATE.drop_modules(key)
            result = self._run(spec, event, request_id)
            if result.timed_out:
                with self._dirty_lock:
                    self._dirty.add(spec.logical_id)
                GATE.leave()  # the stuck thread cannot be killed; the next invoke is a cold start
                released = True
            return result
        finally:
            if not released:
                GATE.leave()

    def _run(self, spec: FunctionSpec, event: Any, request_id: str) -> InvokeResult:
        LogCapture.ensure()
        log = _Capture(self.log_sink, self._mask)
        result = InvokeResult(function=spec.logical_id, request_id=request_id)
        module_name = self._module_name(spec)
        result.cold_start = module_name not in sys.modules
        log.write(f"START RequestId: {request_id} Version: $LATEST\n")
        started = time.monotonic()
        deadline = started + spec.timeout
        outcome: dict[str, Any] = {}

        def work() -> None:
            LogCapture.capture(log)
            try:
                handler = self._handler(spec, module_name)
                context = LambdaContext(spec, request_id, deadline)
                value = handler(event, context)
                try:
                    outcome["payload"] = json.loads(json.dumps(value))
                except (TypeError, ValueError) as exc:
                    outcome["error"] = _error(
                        "Runtime.MarshalError", f"Unable to marshal response: {exc}", request_id
                    )
            except _InitError as exc:
                outcome["error"] = exc.shape(request_id)
            except BaseException as exc:  # everything a handler raises becomes Lambda's error shape
                outcome["error"] = _error(
                    type(exc).__name__, str(exc), request_id, traceback.format_tb(exc.__traceback__)[1:]
                )
            finally:
                LogCapture.release()

        worker = threading.Thread(target=work, name=f"lambda-{spec.logical_id}-{request_id[:8]}", daemon=True)
        worker.start()
        worker.join(max(0.0, deadline - time.monotonic()))
        elapsed = time.monotonic() - started
        if worker.is_alive():
            result.timed_out = True
            message = f"RequestId: {request_id} Error: Task timed out after {spec.timeout:.2f} seconds"
            result.error = {"errorType": "Sandbox.Timedout", "errorMessage": message}
            log.write(
                f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ} {request_id} Task timed out after "
                f"{spec.timeout:.2f} seconds\n"
            )
        elif "error" in outcome:
            result.error = outcome["error"]
            log.write(f"[ERROR] {result.error['errorType']}: {result.error['errorMessage']}\n")
        else:
            result.payload = outcome.get("payload")
        result.duration_ms = round(elapsed * 1000, 2)
        log.write(f"END RequestId: {request_id}\n")
        log.write(
            f"REPORT RequestId: {request_id}\tDuration: {result.duration_ms:.2f} ms\t"
            f"Memory Size: {spec.memory_size} MB\n"
        )
        result.logs = log.text()
        return result

    def _mask(self, text: str) -> str:
        for value in self.redact:
            text = text.replace(value, "****")
        return text

    def _module_name(self, spec: FunctionSpec) -> str:
        return f"lambda_{spec.logical_id}"

    def _handler(self, spec: FunctionSpec, module_name: str) -> Callable[[Any, Any], Any]:
        # Lambda runs a container's init once, before any invocation reaches it. Two first invocations
        # racing here would otherwise see a half-executed module (registered, handler not yet defined).
        with _INIT_LOCK:
            return self._load_handler(spec, module_name)

    def _load_handler(self, spec: FunctionSpec, module_name: str) -> Callable[[Any, Any], Any]:
        module_path, _, attribute = spec.handler.rpartition(".")
        module = sys.modules.get(module_name)
        if module is None:
            file = spec.code_dir / (module_path.replace(".", "/") + ".py")
            if not file.is_file():
                raise _InitError(
                    "Runtime.ImportModuleError",
                    f"Unable to import module '{module_path}': No module named '{module_path}'",
                )
            module_spec = importlib.util.spec_from_file_location(module_name, file)
            assert module_spec is not None and module_spec.loader is not None
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_name] = module
            try:
                module_spec.loader.exec_module(module)
            except SyntaxError as exc:
                del sys.modules[module_name]
                raise _InitError(
                    "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_path}': {exc}"
                ) from exc
            except ImportError as exc:
                del sys.modules[module_name]
                raise _InitError(
                    "Runtime.ImportModuleError", f"Unable to import module '{module_path}': {exc}"
                ) from exc
            except Exception as exc:
                del sys.modules[module_name]
                raise _InitError(
                    type(exc).__name__, str(exc), traceback.format_tb(exc.__traceback__)
                ) from exc
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise _InitError(
                "Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_path}'"
            )
        return handler


_INIT_LOCK = threading.RLock()


class _InitError(Exception):
    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack = stack or []

    def shape(self, request_id: str) -> dict[str, Any]:
        return _error(self.error_type, self.message, request_id, self.stack)


def _error(error_type: str, message: str, request_id: str, stack: list[str] | None = None) -> dict[str, Any]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack or [],
    }
