"""The processes behind the local runtime: one zygote (a fork server) and the Lambda sandboxes it forks.

Run as a script, never imported by a sandbox::

    python sandbox.py --zygote FD          # the fork server, FD its channel to the parent
    python sandbox.py --worker CTRL OUT    # one sandbox in a fresh interpreter (see "fresh" below)

The parent (:mod:`tools.local_stack.runtime`) imports this module for :class:`Channel` and
:class:`LambdaContext`; at import it loads nothing but the standard library.

Zygote
    Imports the third-party packages the handlers use (:data:`PRELOAD`), then forks one sandbox per request
    in a few milliseconds instead of the second those imports cost. It never imports the project's code
    (handlers, layers) nor a package that reads the Lambda environment at import: Powertools reads
    ``AWS_EXECUTION_ENV`` and ``POWERTOOLS_DEBUG`` when imported, so it is imported in each sandbox, as
    Lambda does. While it preloads, the zygote records
    every environment variable read (:func:`preload`); the parent forks a function's sandbox only when
    that function's environment gives each of them the same value, and otherwise asks for a *fresh*
    sandbox: forked, then ``exec``-ed into a new interpreter that imports everything itself.
Sandbox
    One Lambda execution environment: the function's environment (``os.environ`` replaced, ``TZ``
    applied), its import path (``CodeUri`` first, then the layer folders, then the interpreter's own),
    ``LAMBDA_TASK_ROOT`` as working directory. It imports the handler once (the init phase) and then runs
    one invocation at a time, as Lambda does. Everything the handler writes through ``sys.stdout`` or
    ``sys.stderr`` reaches the parent in order, line by line, as messages on its channel; what reaches
    file descriptors 1 and 2 directly (a C extension, a child process) goes down a pipe the parent reads.
    A sandbox dies with the zygote (``PR_SET_PDEATHSIG``), and the zygote when the parent's end of its
    channel closes, so no process outlives the program that started it.
Messages
    Length-prefixed JSON over a Unix stream socket (:class:`Channel`). Parent to sandbox: ``init``,
    ``invoke``. Sandbox to parent: ``log``, ``ready``, ``init_error``, ``result``, ``exit``.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import importlib.util
import io
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from datetime import UTC, datetime
from typing import Any, NoReturn

#: What the zygote imports before it forks: the AWS SDK and the layer's requirements, and the few submodules
#: the handlers load later (found by importing every function of template.yaml after these).
PRELOAD: tuple[str, ...] = (
    "boto3",
    "boto3.dynamodb.conditions",
    "boto3.dynamodb.types",
    "botocore.session",
    "botocore.client",
    "pydantic",
    "pydantic.networks",
    "pydantic.deprecated.config",
    "httpx",
    "jmespath",
    "dateutil",
    "urllib3",
    "encodings.idna",
    "pkgutil",
)

ALL_VARIABLES = (
    "*"  # recorded when a preloaded package read the whole environment (no sandbox is forked then)
)
_HEADER = struct.Struct("!I")
_PR_SET_NAME = 15
_PR_SET_PDEATHSIG = 1


class ChannelClosed(Exception):
    """The other end of a channel went away."""


class Channel:
    """Length-prefixed JSON messages over a connected stream socket; ``send`` is thread-safe."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()
        self._send_lock = threading.Lock()

    @staticmethod
    def encode(message: dict[str, Any]) -> bytes:
        """One frame; raises TypeError/ValueError for what JSON cannot carry."""
        data = json.dumps(message, separators=(",", ":")).encode("utf-8")
        return _HEADER.pack(len(data)) + data

    def send(self, message: dict[str, Any]) -> None:
        self.send_frame(self.encode(message))

    def send_frame(self, frame: bytes) -> None:
        with self._send_lock:
            try:
                self.sock.sendall(frame)
            except OSError as exc:
                raise ChannelClosed(str(exc)) from exc

    def send_with_fds(self, message: dict[str, Any], fds: list[int]) -> None:
        frame = self.encode(message)
        with self._send_lock:
            sent = socket.send_fds(self.sock, [frame], fds)
            if sent < len(frame):
                self.sock.sendall(frame[sent:])

    def recv(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message; TimeoutError after ``timeout`` seconds, ChannelClosed at end of stream."""
        message, _ = self._recv(timeout, with_fds=False)
        return message

    def recv_with_fds(self) -> tuple[dict[str, Any], list[int]]:
        """The next message and the file descriptors sent with it (the zygote's spawn requests)."""
        return self._recv(None, with_fds=True)

    def _recv(self, timeout: float | None, *, with_fds: bool) -> tuple[dict[str, Any], list[int]]:
        deadline = None if timeout is None else time.monotonic() + timeout
        fds: list[int] = []
        while True:
            if len(self._buffer) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(self._buffer)
                end = _HEADER.size + size
                if len(self._buffer) >= end:
                    message = json.loads(bytes(self._buffer[_HEADER.size : end]))
                    del self._buffer[:end]
                    return message, fds
            if deadline is None:
                self.sock.settimeout(None)
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("no message in time")
                self.sock.settimeout(remaining)
            try:
                if with_fds and not self._buffer:
                    chunk, received, _, _ = socket.recv_fds(self.sock, 1 << 16, 8)
                    fds.extend(received)
                else:
                    chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                raise
            except OSError as exc:
                raise ChannelClosed(str(exc)) from exc
            if not chunk:
                raise ChannelClosed("end of stream")
            self._buffer += chunk


# --------------------------------------------------------------------------------------------------
# The Lambda context
# --------------------------------------------------------------------------------------------------


class LambdaContext:
    """The ``context`` argument of a handler, as the Python runtime builds it.

    ``spec`` is anything with ``name``, ``arn`` and ``memory_size`` (a ``FunctionSpec``, or what a sandbox
    was told); ``deadline`` is on ``time.monotonic()``'s clock.
    """

    def __init__(self, spec: Any, request_id: str, deadline: float) -> None:
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


class _Function:
    def __init__(self, name: str, arn: str, memory_size: int) -> None:
        self.name, self.arn, self.memory_size = name, arn, memory_size


def error_shape(
    error_type: str, message: str, request_id: str, stack: list[str] | None = None
) -> dict[str, Any]:
    """Lambda's error payload for an unhandled error."""
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack or [],
    }


# --------------------------------------------------------------------------------------------------
# The zygote
# --------------------------------------------------------------------------------------------------


class _RecordingEnviron(MutableMapping[str, str]):
    """``os.environ`` while the zygote preloads: notes every variable read."""

    def __init__(self, environ: MutableMapping[str, str]) -> None:
        self.environ = environ
        self.read: set[str] = set()
        self.recording = True

    def _note(self, name: object) -> None:
        if self.recording:
            self.read.add(str(name))

    def __getitem__(self, name: str) -> str:
        self._note(name)
        return self.environ[name]

    def __contains__(self, name: object) -> bool:
        self._note(name)
        return name in self.environ

    def get(self, name: str, default: Any = None) -> Any:
        self._note(name)
        return self.environ.get(name, default)

    def __setitem__(self, name: str, value: str) -> None:
        self.environ[name] = value

    def __delitem__(self, name: str) -> None:
        del self.environ[name]

    def __iter__(self) -> Iterator[str]:
        self._note(ALL_VARIABLES)
        return iter(self.environ)

    def __len__(self) -> int:
        return len(self.environ)

    def copy(self) -> dict[str, str]:
        self._note(ALL_VARIABLES)
        return dict(self.environ)


def preload(modules: tuple[str, ...] = PRELOAD) -> tuple[dict[str, str | None], list[str]]:
    """Import ``modules``; returns the environment variables read meanwhile (name -> value) and failures."""
    real = os.environ
    recorder = _RecordingEnviron(real)
    os.environ = recorder  # type: ignore[assignment]  # noqa: B003 - os.getenv reads this global too
    failed = []
    try:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # a package the project does not install: the sandboxes import what they need
                failed.append(name)
    finally:
        os.environ = real  # noqa: B003 - the real environment back, unchanged
        recorder.recording = False
    if ALL_VARIABLES in recorder.read:
        return {ALL_VARIABLES: None}, failed
    return {name: real.get(name) for name in sorted(recorder.read)}, failed


def _clean_path() -> list[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    return [p for p in sys.path if p and os.path.abspath(p) != here]


def zygote(channel_fd: int) -> NoReturn:
    """Preload, say what was read, then fork a sandbox for every request until the parent goes away."""
    sys.path[:] = _clean_path()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the sandboxes: no zombies
    channel = Channel(socket.socket(fileno=channel_fd))
    started = time.monotonic()
    env_reads, failed = preload()
    gc.collect()
    gc.freeze()  # what is loaded now stays shared with the sandboxes (no copy-on-write by the collector)
    ready = {
        "type": "ready",
        "pid": os.getpid(),
        "env_reads": env_reads,
        "failed": failed,
        "modules": sorted({name.split(".", 1)[0] for name in sys.modules}),
        "preload_ms": round((time.monotonic() - started) * 1000, 1),
    }
    try:
        channel.send(ready)
    except ChannelClosed:  # the parent is gone already
        os._exit(0)
    while True:
        try:
            request, fds = channel.recv_with_fds()
        except ChannelClosed:
            os._exit(0)
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            with contextlib.suppress(ChannelClosed):
                channel.send({"type": "spawned", "error": f"expected 2 file descriptors, got {len(fds)}"})
            continue
        pid = os.fork()
        if pid == 0:
            _child(channel, fds[0], fds[1], fresh=bool(request.get("fresh")))
        for fd in fds:
            os.close(fd)
        try:
            channel.send({"type": "spawned", "pid": pid})
        except ChannelClosed:
            os._exit(0)


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _name_process(name: str) -> None:
    """The name ``ps -o comm`` and ``top`` show (the kernel keeps 15 bytes of it)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def _child(zygote_channel: Channel, ctrl_fd: int, out_fd: int, *, fresh: bool) -> NoReturn:
    """In the forked child: become a sandbox (here, or in a fresh interpreter)."""
    try:
        zygote_channel.sock.close()  # only the zygote talks to the parent on it
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _die_with_parent()
        if fresh:
            os.set_inheritable(ctrl_fd, True)
            os.set_inheritable(out_fd, True)
            script = os.path.abspath(__file__)
            os.execv(sys.executable, [sys.executable, script, "--worker", str(ctrl_fd), str(out_fd)])
        sandbox(ctrl_fd, out_fd)
    except BaseException:
        with contextlib.suppress(Exception):
            os.write(2, traceback.format_exc().encode())  # the output pipe once sandbox() has set it up
    os._exit(70)


# --------------------------------------------------------------------------------------------------
# The sandbox
# --------------------------------------------------------------------------------------------------


class _Output(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` of a sandbox: complete lines go to the parent as ``log`` messages."""

    def __init__(self, channel: Channel, fd: int, lock: threading.RLock) -> None:
        self.channel = channel
        self.fd = fd
        self.lock = lock
        self.pending: list[str] = []

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self.lock:
            self.pending.append(text)
            if "\n" in text:
                self._send()
        return len(text)

    def flush(self) -> None:
        with self.lock:
            self._send()

    def _send(self) -> None:
        if self.pending:
            text, self.pending = "".join(self.pending), []
            with contextlib.suppress(ChannelClosed):
                self.channel.send({"type": "log", "text": text})

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


class _InitError(Exception):
    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack = stack or []

    def shape(self) -> dict[str, Any]:
        return {"errorType": self.error_type, "errorMessage": self.message, "stackTrace": self.stack}


def _load_handler(handler: str) -> Callable[[Any, Any], Any]:
    """Lambda's init: import the handler's module from the import path and find the handler in it."""
    module_path, _, attribute = handler.rpartition(".")
    try:
        found = importlib.util.find_spec(module_path)
    except (ImportError, ValueError):
        found = None
    if not module_path or found is None:
        raise _InitError(
            "Runtime.ImportModuleError",
            f"Unable to import module '{module_path}': No module named '{module_path}'",
        )
    try:
        module = importlib.import_module(module_path)
    except SyntaxError as exc:
        raise _InitError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_path}': {exc}"
        ) from exc
    except ImportError as exc:
        raise _InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_path}': {exc}"
        ) from exc
    except Exception as exc:
        raise _InitError(type(exc).__name__, str(exc), traceback.format_tb(exc.__traceback__)) from exc
    function = getattr(module, attribute, None)
    if not callable(function):
        raise _InitError(
            "Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_path}'"
        )
    return function


def sandbox(ctrl_fd: int, out_fd: int) -> NoReturn:
    """Serve one function: ``init`` once, then each ``invoke``, until the parent closes the channel."""
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    if out_fd not in (1, 2):
        os.close(out_fd)
    channel = Channel(socket.socket(fileno=ctrl_fd))
    lock = threading.RLock()
    sys.stdout = _Output(channel, 1, lock)
    sys.stderr = _Output(channel, 2, lock)
    try:
        init = channel.recv()
    except ChannelClosed:
        os._exit(0)
    _name_process(init.get("title") or init["function"])
    os.environ.clear()
    os.environ.update(init["env"])
    time.tzset()
    sys.path[:] = [*init["path"], *(p for p in _clean_path() if p not in init["path"])]
    os.chdir(init["cwd"])
    importlib.invalidate_caches()
    function = _Function(init["function"], init["arn"], int(init["memory_size"]))
    try:
        handler = _load_handler(init["handler"])
    except _InitError as exc:
        _flush()
        channel.send({"type": "init_error", "error": exc.shape()})
        os._exit(0)
    _flush()
    channel.send({"type": "ready"})
    while True:
        try:
            message = channel.recv()
        except ChannelClosed:
            os._exit(0)
        if message.get("type") == "invoke":
            _invoke(channel, function, handler, message)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _invoke(
    channel: Channel, function: _Function, handler: Callable[[Any, Any], Any], message: dict[str, Any]
) -> None:
    request_id = str(message["request_id"])
    deadline = time.monotonic() + float(message["timeout_ms"]) / 1000
    context = LambdaContext(function, request_id, deadline)
    try:
        value = handler(message["event"], context)
    except SystemExit as exc:
        _flush()
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        with contextlib.suppress(ChannelClosed):
            channel.send({"type": "exit", "code": code})
        os._exit(code)
    except BaseException as exc:  # everything a handler raises becomes Lambda's error shape
        stack = traceback.format_tb(exc.__traceback__)[1:]
        reply = {"type": "result", "error": error_shape(type(exc).__name__, str(exc), request_id, stack)}
        frame = Channel.encode(reply)
    else:
        try:
            frame = Channel.encode({"type": "result", "payload": value})
        except (TypeError, ValueError) as exc:
            error = error_shape("Runtime.MarshalError", f"Unable to marshal response: {exc}", request_id)
            frame = Channel.encode({"type": "result", "error": error})
    _flush()
    try:
        channel.send_frame(frame)
    except ChannelClosed:
        os._exit(0)


def main(argv: list[str]) -> NoReturn:
    if len(argv) == 3 and argv[1] == "--zygote":
        zygote(int(argv[2]))
    if len(argv) == 4 and argv[1] == "--worker":
        sys.path[:] = _clean_path()
        sandbox(int(argv[2]), int(argv[3]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
