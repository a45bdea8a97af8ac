"""Pytest helpers: a real emulator on a free port, stopped afterwards.

>>> with running_emulator(seed="small", clock_scale=60) as xero:
...     httpx.get(f"{xero.base_url}/connections")   # 401: no token
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import fields
from typing import Any

from xero_emulator.admin_client import AdminClient
from xero_emulator.config import EmulatorConfig
from xero_emulator.server import Emulator


def make_config(**overrides: Any) -> EmulatorConfig:
    """An :class:`EmulatorConfig` from keyword overrides; an unknown name is an error, not ignored."""
    known = {f.name for f in fields(EmulatorConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown emulator setting(s): {', '.join(unknown)}")
    if "redirect_uris" in overrides and isinstance(overrides["redirect_uris"], str):
        overrides["redirect_uris"] = (overrides["redirect_uris"],)
    return EmulatorConfig(**overrides)


@contextmanager
def running_emulator(*, host: str = "127.0.0.1", port: int = 0, **overrides: Any) -> Iterator[Emulator]:
    """Start an emulator (``EmulatorConfig`` fields as keywords) and stop it when the block ends."""
    emulator = Emulator(make_config(**overrides))
    emulator.start(host=host, port=port)
    try:
        yield emulator
    finally:
        emulator.stop()


class _RemoteStats:
    """``Emulator.stats`` of an emulator in another process, read through its admin API."""

    def __init__(self, admin: AdminClient) -> None:
        self._admin = admin

    def snapshot(self) -> dict[str, Any]:
        return self._admin.stats()


class EmulatorProcess:
    """An emulator serving from a child process, so that it has a CPU (and a GIL) of its own.

    Benchmarks use it: in one process the emulator's JSON encoding competes with the code being measured.
    The child is forked after seeding, so this side keeps the seeded store as it was (``store``) to
    compare against; it is a snapshot, read-only in spirit: what is changed over HTTP is not seen here.
    ``stats`` reads the child's call counts through the admin API.
    """

    def __init__(self, emulator: Emulator, base_url: str, process: Any, control: Any) -> None:
        self.config = emulator.config
        self.store = emulator.store
        self.base_url = base_url
        self.admin = AdminClient(base_url)
        self.stats = _RemoteStats(self.admin)
        self._process = process
        self._control = control

    def stop(self) -> None:
        self.admin.close()
        with suppress(BrokenPipeError, OSError):
            self._control.send("stop")
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()


def _serve_until_told(emulator: Emulator, host: str, port: int, control: Any, parents_end: Any) -> None:
    # The fork copied the parent's end of the pipe too: while this process holds it open, the pipe never
    # reaches EOF, and a parent killed without stopping us (a benchmark or test run stopped by SIGTERM or
    # SIGKILL) left this emulator serving, holding its port, for good. Closed, the parent's death is an EOF.
    parents_end.close()
    control.send(emulator.start(host=host, port=port))
    with suppress(EOFError, OSError):
        control.recv()  # "stop", or EOF when the parent has gone
    emulator.stop()


@contextmanager
def emulator_in_process(
    *, host: str = "127.0.0.1", port: int = 0, **overrides: Any
) -> Iterator[EmulatorProcess]:
    """Like :func:`running_emulator`, but the emulator serves from a forked child process (POSIX only)."""
    import multiprocessing

    emulator = Emulator(make_config(**overrides))  # seeded here, before the fork: both sides hold the data
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    process = context.Process(
        target=_serve_until_told, args=(emulator, host, port, theirs, ours), name="xero-emulator", daemon=True
    )
    process.start()
    theirs.close()
    if not ours.poll(60):
        process.kill()
        raise RuntimeError("the emulator's process did not start within 60 s")
    remote = EmulatorProcess(emulator, ours.recv(), process, ours)
    try:
        yield remote
    finally:
        remote.stop()
