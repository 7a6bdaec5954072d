"""The simulation clock: real time, N x accelerated, or stepped by the admin API.

The simulated time is ``anchor_sim + (wall - anchor_wall) * speed``; speed 0 is a stepped clock that moves only
through ``step``/``set``. Re-anchoring on every change keeps time continuous and monotonic under speed changes.
``wall`` is injected (a function returning epoch ms) so tests can drive it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class SimClock:
    def __init__(self, start_ms: int | None = None, speed: float = 1.0,
                 wall: Callable[[], int] = wall_ms) -> None:
        if speed < 0:
            raise ValueError(f"clock speed must be >= 0, got {speed}")
        self._wall = wall
        self._lock = threading.Lock()
        w = wall()
        self._anchor_wall = w
        self._anchor_sim = int(w if start_ms is None else start_ms)
        self._speed = float(speed)

    def _now_locked(self) -> int:
        if self._speed == 0:
            return self._anchor_sim
        return self._anchor_sim + int((self._wall() - self._anchor_wall) * self._speed)

    def now_ms(self) -> int:
        with self._lock:
            return self._now_locked()

    def wall_ms(self) -> int:
        return self._wall()

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def mode(self) -> str:
        if self._speed == 0:
            return "stepped"
        return "real" if self._speed == 1 else "accelerated"

    def _reanchor(self, sim_ms: int) -> None:
        self._anchor_wall = self._wall()
        self._anchor_sim = int(sim_ms)

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError(f"clock speed must be >= 0, got {speed}")
        with self._lock:
            self._reanchor(self._now_locked())
            self._speed = float(speed)

    def step(self, ms: int) -> int:
        """Move time forward by ``ms`` (any mode). Time never goes backwards."""
        if ms < 0:
            raise ValueError(f"clock step must be >= 0 ms, got {ms}")
        with self._lock:
            self._reanchor(self._now_locked() + int(ms))
            return self._anchor_sim

    def set(self, sim_ms: int) -> int:
        """Jump to ``sim_ms``; refuses to go backwards (resting orders were matched up to now)."""
        with self._lock:
            now = self._now_locked()
            if sim_ms < now:
                raise ValueError(f"clock cannot go backwards: {sim_ms} < now {now}")
            self._reanchor(sim_ms)
            return self._anchor_sim

    def snapshot(self) -> dict:
        with self._lock:
            return {"now_ms": self._now_locked(), "speed": self._speed, "mode": self.mode,
                    "wall_ms": self._wall()}
