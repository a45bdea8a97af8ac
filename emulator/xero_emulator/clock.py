"""One clock for the whole emulator: tokens, rate-limit windows, UpdatedDateUTC and webhook retries.

The clock can run faster than real time (``scale``) and be moved forward by hand (``advance``) so a test or
a benchmark can play a simulated hour in seconds. Everything in the emulator asks this clock for the time.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Simulated UTC time: ``start + (real elapsed) * scale + offset``."""

    def __init__(self, start: datetime | None = None, scale: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._start = start or datetime.now(UTC)
        self._real_start = time.monotonic()
        self._scale = scale
        self._offset = 0.0

    @property
    def scale(self) -> float:
        return self._scale

    def set_scale(self, scale: float) -> None:
        """Change the speed without jumping: simulated time continues from where it is."""
        if scale <= 0:
            raise ValueError("scale must be positive")
        with self._lock:
            now = self._now_seconds_locked()
            self._real_start = time.monotonic()
            self._start = self._start + timedelta(seconds=now)
            self._offset = 0.0
            self._scale = scale

    def _now_seconds_locked(self) -> float:
        return (time.monotonic() - self._real_start) * self._scale + self._offset

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=self._now_seconds_locked())

    def timestamp(self) -> float:
        return self.now().timestamp()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def sleep(self, simulated_seconds: float) -> None:
        """Sleep for a simulated duration (real duration = simulated / scale)."""
        if simulated_seconds > 0:
            time.sleep(simulated_seconds / self._scale)
