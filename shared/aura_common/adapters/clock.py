"""The Clock port: production reads the system clock; tests, replay and the simulator step it."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Current time, UTC epoch milliseconds."""

    def sleep(self, seconds: float) -> None:
        """Wait (a stepped clock advances instead of waiting)."""


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class SteppedClock:
    """A manual clock: ``sleep`` advances time instantly. Thread-safe."""

    def __init__(self, start_ms: int) -> None:
        self._now = int(start_ms)
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += int(round(seconds * 1000))

    def set(self, now_ms: int) -> None:
        with self._lock:
            self._now = int(now_ms)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)
