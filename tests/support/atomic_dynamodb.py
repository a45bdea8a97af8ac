"""DynamoDB's atomicity on moto, for tests and benchmarks that share one moto backend between threads.

DynamoDB applies each write to an item atomically, conditions included. moto's in-process backend does not
lock, so two threads could both pass one condition. :class:`SerializedClient` sends calls one at a time, first
come first served, as DynamoDB would order them, and counts them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from tools.local_stack.atomic import FairLock


class SerializedClient:
    """A DynamoDB client whose calls go one at a time (shared ``lock`` = one DynamoDB), counted per operation.

    ``before[name]`` runs once, outside the lock, before the next call of ``name`` (to stage a race).
    """

    def __init__(self, client: Any, lock: FairLock | None = None) -> None:
        self._client = client
        self._lock = lock or FairLock()
        self.calls: Counter[str] = Counter()
        self.before: dict[str, Callable[[], None]] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            hook = self.before.pop(name, None)
            if hook is not None:
                hook()
            with self._lock:
                self.calls[name] += 1
                return method(*args, **kwargs)

        return call
