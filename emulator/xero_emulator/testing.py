"""Pytest helpers: a real emulator on a free port, stopped afterwards.

>>> with running_emulator(seed="small", clock_scale=60) as xero:
...     httpx.get(f"{xero.base_url}/connections")   # 401: no token
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import Any

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
