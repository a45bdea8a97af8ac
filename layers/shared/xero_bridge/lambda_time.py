"""The Lambda's remaining time as the services take it: a callable giving real seconds left."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def time_left(context: Any) -> Callable[[], float]:
    """``context.get_remaining_time_in_millis()`` in seconds, read each time it is called."""
    return lambda: context.get_remaining_time_in_millis() / 1000
