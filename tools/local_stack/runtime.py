"""Run the template's functions the way Lambda runs them: each in sandboxes of its own, concurrently.

Why processes: Lambda runs every function in sandboxes (execution environments) of its own, and many at
once. One process cannot do that: ``os.environ``, ``sys.modules`` and ``sys.path`` are process-wide, so an
in-process runtime can only swap one function's world in at a time, and a slow page fetcher then holds up
the API (a webhook would miss Xero's 5 seconds). Here each sandbox is a process
(:mod:`tools.local_stack.sandbox`), forked from a pre-warmed zygote in a few milliseconds.

What is faithful to Lambda
    * sandboxes: one process per execution environment, running one invocation at a time; a function's
      concurrent invocations get separate sandboxes (up to ``max_sandboxes``, 10, then they queue); an
      idle sandbox is reused warm; a sandbox's module state is its own and survives between its
      invocations;
    * code: ``CodeUri`` (as ``/var/task``, also the working directory) then the layers' ``ContentUri``
      folders (as ``/opt/python``) on the import path; the handler imported once per sandbox (the init
      phase, before the first invocation runs in it: ``cold_start``, and ``Init Duration`` in the REPORT
      line); init errors in Lambda's shapes (``Runtime.ImportModuleError``, ``Runtime.HandlerNotFound``...);
    * environment: the template's variables (Refs/GetAtts resolved to local resources), Lambda's reserved
      variables, overrides in ``sam local invoke --env-vars`` format (only for declared variables, as SAM);
      credentials and ``AWS_ENDPOINT_URL`` pointing at the local stack's moto server; ``TZ`` applied;
    * context: name, memory, ARN, request id, log group/stream, ``get_remaining_time_in_millis()``;
    * timeout: past ``Timeout`` the sandbox is killed (Lambda resets a sandbox after a timeout) and the
      invocation ends with ``Sandbox.Timedout`` ("Task timed out after N.00 seconds");
    * errors: an unhandled exception gives ``{"errorMessage", "errorType", "requestId", "stackTrace"}`` and
      ``FunctionError: Unhandled``; an unserialisable result gives ``Runtime.MarshalError``; a sandbox that
      dies mid-invocation (killed, ``sys.exit``, a crash) gives ``Runtime.ExitError``;
    * logs: what the handler prints or logs is captured per invocation between ``START`` and ``END``/
      ``REPORT`` lines (``InvokeResult.logs``), echoed to the ``log_sink`` as it comes, with secret values
      (NoEcho parameters, generated secrets) masked as ``****`` before either;
    * AWS: every SDK call of a function goes over HTTP to moto's server (:mod:`.aws_server`), which serves
      the same state as the in-process moto of the tests, pollers and state machines; each sandbox names
      itself in the User-Agent (``AWS_SDK_UA_APP_ID``), so a test's hook can tell which invocation sent a
      request and kill that sandbox mid-request (``LocalStack.intercept_aws``).

Limits, stated plainly
    * changing the environment (``set_env_overrides``) or asking for ``cold_start`` retires the function's
      sandboxes (as a configuration change does in Lambda); nothing reclaims idle sandboxes otherwise;
    * the third-party packages the zygote preloads (boto3, botocore, pydantic, httpx...) are imported
      before the function's environment is set; the zygote records every variable they read and a
      function whose environment differs on one of them gets a fresh interpreter instead (slower, same
      behaviour); Powertools reads Lambda variables at import and is never preloaded;
    * sandboxes forked from one zygote share its hash seed (set and dict-of-str orders agree between
      them); memory is not limited (``MemorySize`` is only reported); there is no concurrency limit but
      the pool size, no init-phase snapshot (SnapStart), and no ``/tmp`` per sandbox;
    * what a sandbox writes to file descriptors 1 and 2 directly, bypassing ``sys.stdout``/``sys.stderr``
      (a C extension, a child process), is routed to the invocation it is running when it arrives: it may
      land after the ``END`` line, or outside any invocation (then to the ``log_sink``, or stderr);
    * AWS is moto: requests go to its server on 127.0.0.1 with dummy credentials, IAM is not enforced;
      the local stack's DynamoDB serves one request at a time (:mod:`.atomic`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from tools.local_stack import sandbox
from tools.local_stack.aws_server import Sender
from tools.local_stack.model import FunctionSpec
from tools.local_stack.sandbox import Channel, ChannelClosed, LambdaContext, error_shape

__all__ = [
    "FunctionRuntime",
    "InvokeResult",
    "LambdaContext",
    "LogCapture",
    "SandboxInfo",
    "Zygote",
    "load_env_vars_file",
]

LOG = logging.getLogger("tools.local_stack")

#: Sandboxes per function before invocations queue (Lambda scales further; this is one laptop).
MAX_SANDBOXES = 10
#: Lambda's limit on the init phase. The local limit adds the function's timeout: this machine is slower.
INIT_TIMEOUT = 10.0
#: Dummy credentials for the sandboxes: moto accepts any, and real ones must never reach a function here.
SANDBOX_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local-stack",
    "AWS_SECRET_ACCESS_KEY": "local-stack",
    "AWS_SESSION_TOKEN": "local-stack",
}
_HOST_ONLY = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL")  # prefixes kept from the sandboxes


# --------------------------------------------------------------------------------------------------
# Results and logs
# --------------------------------------------------------------------------------------------------


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


class LogCapture:
    """One invocation's log: kept in memory, echoed to a sink as it comes, secrets masked before both."""

    def __init__(self, sink: TextIO | None, mask: Callable[[str], str]) -> None:
        self.parts: list[str] = []
        self.sink = sink
        self.mask = mask
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        text = self.mask(text)
        with self._lock:
            self.parts.append(text)
            sink = self.sink
        if sink is not None:
            try:
                sink.write(text)
                sink.flush()
            except ValueError:  # the sink was closed (e.g. pytest's capture after its test)
                self.sink = None

    def text(self) -> str:
        with self._lock:
            return "".join(self.parts)


@dataclass(frozen=True)
class SandboxInfo:
    """A live sandbox, for tests and diagnostics."""

    function: str
    sandbox_id: str
    pid: int
    forked: bool  # from the zygote (False: a fresh interpreter)
    invocations: int
    busy: bool


# --------------------------------------------------------------------------------------------------
# The zygote (one per process)
# --------------------------------------------------------------------------------------------------


class Zygote:
    """The process-wide fork server of :mod:`tools.local_stack.sandbox`, started once and shared by every
    local stack of this process; it ends when this process does (its channel closes)."""

    _shared: Zygote | None = None
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls) -> Zygote:
        """The running zygote, started now (in the background: it preloads while the caller goes on)."""
        with cls._shared_lock:
            if cls._shared is None or not cls._shared.alive():
                if cls._shared is None:
                    atexit.register(cls._close_shared)
                cls._shared = cls()
            return cls._shared

    @classmethod
    def _close_shared(cls) -> None:
        with cls._shared_lock:
            if cls._shared is not None:
                cls._shared.close()
                cls._shared = None

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.process = subprocess.Popen(
            [sys.executable, sandbox.__file__, "--zygote", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal is for the parent, which stops the sandboxes
        )
        theirs.close()
        self.channel = Channel(ours)
        self._lock = threading.Lock()
        self._ready: dict[str, Any] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def ready(self, timeout: float = 120.0) -> dict[str, Any]:
        """The zygote's report once it has preloaded (``env_reads``, ``modules``, ``failed``...)."""
        with self._lock:
            return self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> dict[str, Any]:
        if self._ready is None:
            message = self.channel.recv(timeout)
            if message.get("type") != "ready":
                raise RuntimeError(f"the sandbox zygote answered {message!r} instead of ready")
            self._ready = message
        return self._ready

    def fork_refusal(self, environment: Mapping[str, str], folders: Iterable[Path]) -> str | None:
        """Why a sandbox with this environment and code cannot be forked from the zygote (None: it can)."""
        ready = self.ready()
        for name, value in ready["env_reads"].items():
            if name == sandbox.ALL_VARIABLES:
                return "a preloaded package read the whole environment at import"
            if environment.get(name) != value:
                return f"{name} differs from what the preloaded packages read at import"
        shadowed = set(ready["modules"]) & {n for f in folders for n in _top_level_names(f)}
        if shadowed:
            return f"the function's code or layers provide {', '.join(sorted(shadowed))}, preloaded already"
        return None

    def spawn(self, fds: list[int], *, fresh: bool) -> int:
        """Fork a sandbox that owns ``fds`` (its channel and its output pipe); returns its pid."""
        with self._lock:
            self._wait_ready(120.0)
            self.channel.send_with_fds({"type": "spawn", "fresh": fresh}, fds)
            reply = self.channel.recv(30.0)
        if "pid" not in reply:
            raise RuntimeError(f"the sandbox zygote could not fork: {reply.get('error')}")
        return int(reply["pid"])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.channel.sock.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --------------------------------------------------------------------------------------------------
# Sandboxes and their pools
# --------------------------------------------------------------------------------------------------


class _Sandbox:
    """The parent's end of one sandbox process."""

    def __init__(
        self, runtime: FunctionRuntime, spec: FunctionSpec, generation: int, sandbox_id: str, forked: bool
    ) -> None:
        self.runtime = runtime
        self.spec = spec
        self.generation = generation
        self.sandbox_id = sandbox_id
        self.forked = forked
        self.pid = 0
        self.channel: Channel | None = None
        self.capture: LogCapture | None = None
        self.request_id: str | None = None
        self.invocations = 0
        self.busy = False
        self.killed: str | None = None  # why we killed it ("signal: killed")
        self.gone = False
        self.init_ms = 0.0
        self._partial = ""
        self._kill_lock = threading.Lock()

    def start(self, zygote: Zygote, environment: dict[str, str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_read, out_write = os.pipe()
        try:
            self.pid = zygote.spawn([theirs.fileno(), out_write], fresh=not self.forked)
        except BaseException:
            ours.close()
            os.close(out_read)
            raise
        finally:
            theirs.close()
            os.close(out_write)
        self.channel = Channel(ours)
        threading.Thread(
            target=self._pump, args=(out_read,), name=f"sandbox-out-{self.pid}", daemon=True
        ).start()
        spec = self.spec
        self.channel.send(
            {
                "type": "init",
                "env": environment,
                "path": [str(f) for f in [spec.code_dir, *spec.layer_dirs]],
                "cwd": str(spec.code_dir),
                "handler": spec.handler,
                "function": spec.name,
                "title": spec.logical_id,  # the process name ps shows
                "arn": spec.arn,
                "memory_size": spec.memory_size,
            }
        )

    def _pump(self, fd: int) -> None:
        """What the sandbox writes to its file descriptors 1 and 2 directly, routed like its log lines."""
        with os.fdopen(fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1 << 16):
                text = self._partial + chunk.decode("utf-8", "replace")
                lines, _, self._partial = text.rpartition("\n")
                if lines:
                    self._route(lines + "\n")
        if self._partial:
            self._route(self._partial)

    def _route(self, text: str) -> None:
        capture = self.capture
        if capture is not None:
            capture.write(text)
        else:
            self.runtime._idle_output(text)

    def kill(self, reason: str = "signal: killed") -> None:
        """SIGKILL the sandbox and wait until its process is gone (the zygote reaps it at once).

        Safe from any thread: the invocation's own thread sees its channel end and reports the death.
        """
        with self._kill_lock:
            if self.gone:
                return
            self.gone = True
            self.killed = reason
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.wait_gone()

    def wait_gone(self, timeout: float = 5.0) -> None:
        """Until the process has exited and been reaped (a closed channel only says it is exiting)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.002)

    def discard(self, reason: str) -> None:
        """Kill the sandbox and close our end of its channel (by its owner, never mid-invocation)."""
        self.kill(reason)
        self.runtime._forget(self)
        if self.channel is not None:
            with contextlib.suppress(OSError):
                self.channel.sock.close()

    def info(self) -> SandboxInfo:
        return SandboxInfo(
            self.spec.logical_id, self.sandbox_id, self.pid, self.forked, self.invocations, self.busy
        )


class _Pool:
    """A function's sandboxes: idle ones are reused (most recent first), new ones start up to ``size``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.generation = 0
        self.idle: list[_Sandbox] = []
        self.live: set[_Sandbox] = set()
        self.starting = 0
        self.closed = False
        self._cond = threading.Condition()

    def acquire(self, *, fresh: bool) -> _Sandbox | int:
        """An idle sandbox, or the generation a new one must be started for (a slot is then reserved).

        ``fresh`` never takes an idle sandbox: it retires them and waits for a free slot.
        """
        doomed: list[_Sandbox] = []
        try:
            with self._cond:
                while True:
                    if self.closed:
                        raise RuntimeError("the local runtime is closed")
                    if fresh:
                        doomed += self._take_idle()
                    elif self.idle:
                        worker = self.idle.pop()
                        worker.busy = True
                        return worker
                    if len(self.live) + self.starting < self.size:
                        self.starting += 1
                        return self.generation
                    self._cond.wait()
        finally:
            for worker in doomed:
                worker.discard("retired")

    def started(self, worker: _Sandbox) -> None:
        with self._cond:
            self.starting -= 1
            worker.busy = True
            self.live.add(worker)

    def start_failed(self) -> None:
        with self._cond:
            self.starting -= 1
            self._cond.notify()

    def release(self, worker: _Sandbox, *, reusable: bool) -> None:
        with self._cond:
            worker.busy = False
            keep = reusable and not worker.gone and not self.closed and worker.generation == self.generation
            if keep:
                self.idle.append(worker)
            else:
                self.live.discard(worker)
            self._cond.notify()
        if not keep:
            worker.discard("retired")

    def retire(self) -> None:
        """Every sandbox of this generation goes: idle ones now, busy ones when their invocation ends."""
        with self._cond:
            self.generation += 1
            doomed = self._take_idle()
        for worker in doomed:
            worker.discard("retired")

    def _take_idle(self) -> list[_Sandbox]:
        idle, self.idle = self.idle, []
        self.live.difference_update(idle)
        self._cond.notify_all()
        return idle

    def close(self) -> tuple[list[_Sandbox], list[_Sandbox]]:
        """Close the pool: its idle and its busy sandboxes (the caller ends them)."""
        with self._cond:
            self.closed = True
            idle = self._take_idle()
            busy = list(self.live)
            self.live.clear()
        return idle, busy


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
    """Invokes the template's functions in sandbox processes (see the module docstring).

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
    aws_endpoint:
        The moto server the sandboxes call (``AWS_ENDPOINT_URL``); None leaves their AWS unset.
    max_sandboxes:
        Sandboxes per function before invocations queue.
    """

    def __init__(
        self,
        functions: Mapping[str, FunctionSpec],
        *,
        region: str,
        env_overrides: Mapping[str, Mapping[str, str]] | None = None,
        log_sink: TextIO | None = None,
        redact: Iterable[str] = (),
        aws_endpoint: str | None = None,
        max_sandboxes: int = MAX_SANDBOXES,
    ) -> None:
        self.functions = dict(functions)
        self.region = region
        self.env_overrides = {k: dict(v) for k, v in (env_overrides or {}).items()}
        self.log_sink = log_sink
        self.redact = [v for v in redact if v]
        self.aws_endpoint = aws_endpoint
        self._base_env = {k: v for k, v in os.environ.items() if not k.startswith(_HOST_ONLY)}
        self._pools = {logical_id: _Pool(max_sandboxes) for logical_id in self.functions}
        self._sandboxes: dict[str, _Sandbox] = {}
        self._lock = threading.Lock()
        Zygote.shared()  # started now if not yet: it preloads in the background

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
                "AWS_SAM_LOCAL": "true",  # as sam local (Powertools reads it)
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
        if self.aws_endpoint:
            env.update(SANDBOX_CREDENTIALS)
            env["AWS_ENDPOINT_URL"] = self.aws_endpoint
        return env

    def set_env_overrides(self, overrides: Mapping[str, Mapping[str, str]]) -> None:
        """New ``--env-vars``: every sandbox is retired, the next invocations start fresh ones."""
        self.env_overrides = {k: dict(v) for k, v in overrides.items()}
        for pool in self._pools.values():
            pool.retire()

    # ---- functions and sandboxes --------------------------------------------------------------------

    def function(self, name: str) -> FunctionSpec:
        """A function by logical id, name or ARN."""
        for spec in self.functions.values():
            if name in (spec.logical_id, spec.name, spec.arn) or name.startswith(spec.arn + ":"):
                return spec
        raise KeyError(f"no function {name!r} in the template (known: {', '.join(sorted(self.functions))})")

    def sandboxes(self, name: str | None = None) -> list[SandboxInfo]:
        """The live sandboxes (of one function, or all)."""
        logical_id = self.function(name).logical_id if name else None
        with self._lock:
            live = [s for s in self._sandboxes.values() if not s.gone]
        return [s.info() for s in live if logical_id in (None, s.spec.logical_id)]

    def sender(self, sandbox_id: str) -> Sender | None:
        """The sandbox a sandbox id (``AWS_SDK_UA_APP_ID``) names, as a request's sender (None: not ours)."""
        with self._lock:
            worker = self._sandboxes.get(sandbox_id)
        if worker is None:
            return None
        return Sender(worker.spec.logical_id, worker.request_id, worker.pid, sandbox_id, worker.kill)

    def close(self) -> None:
        """Kill every sandbox of this runtime (invocations in flight end with ``Runtime.ExitError``)."""
        for pool in self._pools.values():
            idle, busy = pool.close()
            for worker in idle:
                worker.discard("runtime closed")
            for worker in busy:
                worker.kill("runtime closed")

    def _forget(self, worker: _Sandbox) -> None:
        with self._lock:
            self._sandboxes.pop(worker.sandbox_id, None)

    def _idle_output(self, text: str) -> None:
        """Output of a sandbox between invocations: to the sink (masked), else to stderr."""
        text = self._mask(text)
        sink = self.log_sink or sys.stderr
        with contextlib.suppress(ValueError, OSError):
            sink.write(text)
            sink.flush()

    def _mask(self, text: str) -> str:
        for value in self.redact:
            text = text.replace(value, "****")
        return text

    # ---- invoke -------------------------------------------------------------------------------------

    def invoke(self, name: str, event: Any, *, cold_start: bool = False) -> InvokeResult:
        """Run one invocation synchronously and return its result (never raises for handler errors).

        ``cold_start`` retires the function's idle sandboxes and runs this invocation in a new one.
        """
        spec = self.function(name)
        request_id = str(uuid.uuid4())
        message = {
            "type": "invoke",
            "request_id": request_id,
            "event": event,
            "timeout_ms": spec.timeout * 1000,
        }
        try:
            frame = Channel.encode(message)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"the event for {spec.logical_id} is not JSON: {exc}") from exc
        result = InvokeResult(function=spec.logical_id, request_id=request_id)
        log = LogCapture(self.log_sink, self._mask)
        pool = self._pools[spec.logical_id]
        acquired = pool.acquire(fresh=cold_start)
        if isinstance(acquired, _Sandbox):
            worker = acquired
        else:
            started = self._start(
                spec=spec, pool=pool, generation=acquired, log=log, request_id=request_id, result=result
            )
            if started is None:  # the init phase failed: result holds its error
                return result
            worker = started
        reusable = False
        try:
            reusable = self._run(
                worker=worker, spec=spec, frame=frame, request_id=request_id, log=log, result=result
            )
        finally:
            worker.capture = None
            worker.request_id = None
            pool.release(worker, reusable=reusable)
        return result

    def _start(
        self,
        *,
        spec: FunctionSpec,
        pool: _Pool,
        generation: int,
        log: LogCapture,
        request_id: str,
        result: InvokeResult,
    ) -> _Sandbox | None:
        """A new sandbox through its init phase, or None with ``result`` carrying the init error."""
        environment = self.environment(spec)
        sandbox_id = f"lsw-{uuid.uuid4().hex[:16]}"
        environment["AWS_SDK_UA_APP_ID"] = sandbox_id  # names the sender of each AWS request
        started = time.monotonic()
        worker: _Sandbox | None = None
        try:
            zygote = Zygote.shared()
            refusal = zygote.fork_refusal(environment, [spec.code_dir, *spec.layer_dirs])
            if refusal:
                LOG.info("%s: a fresh interpreter for this sandbox (%s)", spec.logical_id, refusal)
            worker = _Sandbox(self, spec, generation, sandbox_id, forked=refusal is None)
            worker.capture = log
            worker.request_id = request_id
            worker.start(zygote, environment)
        except BaseException:
            if worker is not None:
                worker.discard("could not start")
            pool.start_failed()
            raise
        with self._lock:
            self._sandboxes[sandbox_id] = worker
        pool.started(worker)
        assert worker.channel is not None
        reply: dict[str, Any] | None = None
        try:
            while True:
                reply = worker.channel.recv(INIT_TIMEOUT + spec.timeout - (time.monotonic() - started))
                if reply.get("type") == "log":
                    log.write(str(reply["text"]))
                    continue
                break
        except (TimeoutError, ChannelClosed) as exc:
            reply = {"type": "init_error", "error": self._init_failure(worker, spec, exc)}
        init_ms = (time.monotonic() - started) * 1000
        if reply.get("type") == "ready":
            worker.init_ms = init_ms
            return worker
        error = dict(reply.get("error") or {})
        result.error = error_shape(
            str(error.get("errorType", "Runtime.Unknown")),
            str(error.get("errorMessage", "")),
            request_id,
            list(error.get("stackTrace") or []),
        )
        result.cold_start = True
        log.write(f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: error\n")
        log.write(f"[ERROR] {result.error['errorType']}: {result.error['errorMessage']}\n")
        result.logs = log.text()
        worker.capture = None
        pool.release(worker, reusable=False)
        return None

    def _init_failure(self, worker: _Sandbox, spec: FunctionSpec, exc: Exception) -> dict[str, Any]:
        if isinstance(exc, TimeoutError):
            worker.kill("init timed out")
            limit = INIT_TIMEOUT + spec.timeout
            return {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Init timed out after {limit:.2f} seconds",
            }
        detail = "with error: signal: killed" if worker.killed else "without providing a reason"
        return {"errorType": "Runtime.ExitError", "errorMessage": f"Runtime exited {detail}"}

    def _run(
        self,
        *,
        worker: _Sandbox,
        spec: FunctionSpec,
        frame: bytes,
        request_id: str,
        log: LogCapture,
        result: InvokeResult,
    ) -> bool:
        """One invocation in ``worker``; returns whether the sandbox can serve another one."""
        assert worker.channel is not None
        cold = worker.invocations == 0
        result.cold_start = cold
        worker.capture = log
        worker.request_id = request_id
        worker.invocations += 1
        log.write(f"START RequestId: {request_id} Version: $LATEST\n")
        started = time.monotonic()
        deadline = started + spec.timeout
        reusable = True
        try:
            worker.channel.send_frame(frame)
            while True:
                reply = worker.channel.recv(max(0.0, deadline - time.monotonic()))
                if reply.get("type") == "log":
                    log.write(str(reply["text"]))
                    continue
                if reply.get("type") == "exit":
                    reusable = False
                    self._exited(result, log, request_id, f"exit status {reply.get('code')}")
                elif "error" in reply:
                    result.error = reply["error"]
                    log.write(f"[ERROR] {result.error['errorType']}: {result.error['errorMessage']}\n")
                else:
                    result.payload = reply.get("payload")
                break
        except TimeoutError:
            reusable = False
            worker.kill("timed out")
            result.timed_out = True
            message = f"RequestId: {request_id} Error: Task timed out after {spec.timeout:.2f} seconds"
            result.error = {"errorType": "Sandbox.Timedout", "errorMessage": message}
            log.write(
                f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ} {request_id} Task timed out after "
                f"{spec.timeout:.2f} seconds\n"
            )
        except ChannelClosed:
            reusable = False
            worker.wait_gone()  # (whoever killed it may still be waiting: the result says it is gone)
            self._exited(result, log, request_id, "signal: killed" if worker.killed else None)
        result.duration_ms = round((time.monotonic() - started) * 1000, 2)
        log.write(f"END RequestId: {request_id}\n")
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {result.duration_ms:.2f} ms\t"
            f"Memory Size: {spec.memory_size} MB"
        )
        if cold:
            report += f"\tInit Duration: {worker.init_ms:.2f} ms"
        log.write(report + "\n")
        result.logs = log.text()
        return reusable

    @staticmethod
    def _exited(result: InvokeResult, log: LogCapture, request_id: str, reason: str | None) -> None:
        """Lambda's answer when the runtime process dies mid-invocation."""
        detail = (
            f"Runtime exited with error: {reason}" if reason else "Runtime exited without providing a reason"
        )
        message = f"RequestId: {request_id} Error: {detail}"
        result.error = {"errorType": "Runtime.ExitError", "errorMessage": message}
        log.write(f"{message}\nRuntime.ExitError\n")
