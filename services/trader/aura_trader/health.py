"""Is the trader working? The answer of ``GET /health`` on the metrics port (the container's probe) and of the
state file ``aura status`` shows.

Unhealthy (503, the reason in the body) while, in this order:

- it cannot start (the venue unreachable, the journal locked, boot reconciliation failed): ``cannot start: ...``
  (the process stays up and retries, so `docker compose ps` shows it unhealthy instead of a silent restart loop);
- it is still starting (boot reconciliation running);
- the venue holds it back after a 429 / 418 (``CcxtBroker.held_back_seconds``);
- its last tick failed, its last venue-clock read failed, or its last account read failed (the venue unreachable);
- its last completed tick is older than ``max_tick_age_s`` of WALL time (set by the loop: a few tick intervals in
  wall time, whatever the venue's clock speed).

Healthy again as soon as a tick completes with every venue read answered and no back-off left.
The state file (``<snapshots_dir>/trader-health.json``, written atomically when the verdict changes and at most every
``write_every_s`` otherwise) carries the verdict, the reason and when it was judged, for ``aura status``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from aura_common.adapters.files import PRIVATE_FILE_MODE, atomic_write_bytes, private_dir
from aura_common.adapters.logs import event

log = logging.getLogger("aura_trader.health")
STATE_FILE = "trader-health.json"
_QUERY = re.compile(r"\?\S*")
_DIGITS = re.compile(r"\d+")


def _short(problem: str) -> str:
    """A reason for the probe's answer and the state file: URLs without their query (signed requests carry a
    timestamp and signature there), at most 300 characters."""
    return _QUERY.sub("", problem)[:300]


class TraderHealth:
    def __init__(self, state_dir: str | Path | None, *, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, write_every_s: float = 15.0) -> None:
        self.path = Path(state_dir) / STATE_FILE if state_dir else None
        self._wall, self._mono, self._write_every = wall, monotonic, write_every_s
        self._lock = threading.Lock()
        self.phase = "starting"          # starting | start_failed | running
        self.start_problem = ""
        self.tick_problem = ""
        self.clock_problem = ""
        self.account_problem = ""
        self.last_tick_mono: float | None = None
        self.last_tick_wall: float | None = None
        self.max_tick_age_s = 180.0
        self.held_back: Callable[[], tuple[float, str]] = lambda: (0.0, "")
        self._written: tuple[bool, str] | None = None
        self._written_mono = 0.0

    # --- what the loop reports ---------------------------------------------------------------------------------
    def start_failed(self, problem: str) -> None:
        with self._lock:
            self.phase, self.start_problem = "start_failed", _short(problem)
        self.publish()

    def starting(self) -> None:
        with self._lock:
            self.phase = "starting"
        self.publish()

    def running(self) -> None:
        with self._lock:
            self.phase, self.start_problem = "running", ""
            self.last_tick_mono, self.last_tick_wall = self._mono(), self._wall()
        self.publish()

    def clock_read(self, problem: str) -> None:
        self.clock_problem = _short(problem)

    def tick_done(self, account_problem: str) -> None:
        with self._lock:
            self.tick_problem, self.account_problem = "", _short(account_problem)
            self.last_tick_mono, self.last_tick_wall = self._mono(), self._wall()
        self.publish()

    def tick_failed(self, problem: str) -> None:
        self.tick_problem = _short(problem)
        self.publish()

    # --- the verdict -------------------------------------------------------------------------------------------
    def check(self) -> tuple[bool, str]:
        with self._lock:
            if self.phase == "start_failed":
                return False, f"cannot start: {self.start_problem}"
            if self.phase == "starting":
                return False, "starting: boot reconciliation not finished"
            left, why = self.held_back()
            if left > 0:
                return False, f"venue back-off: {left:.0f} s left ({why})"
            for what, problem in (("last tick failed", self.tick_problem),
                                  ("venue clock unreadable", self.clock_problem),
                                  ("account read failed", self.account_problem)):
                if problem:
                    return False, f"{what}: {problem}"
            age = self._mono() - self.last_tick_mono if self.last_tick_mono is not None else float("inf")
            if age > self.max_tick_age_s:
                return False, f"no tick completed for {age:.0f} s (limit {self.max_tick_age_s:.0f} s)"
            return True, f"last tick {age:.0f} s ago"

    def publish(self, force: bool = False) -> None:
        """Log a change of verdict (``[HEALTH]``) and write the state file (on a change, else every
        ``write_every_s``). A state file that cannot be written never stops the trader."""
        ok, reason = self.check()
        changed = self._written is None or self._written[0] != ok or (
            not ok and _DIGITS.sub("N", self._written[1]) != _DIGITS.sub("N", reason))  # not every "N s left"
        if changed:
            event(log, "HEALTH", logging.INFO if ok else logging.WARNING, status="healthy" if ok else "unhealthy",
                  reason=reason[:300])
        if self.path is None or not (changed or force or self._mono() - self._written_mono >= self._write_every):
            self._written = (ok, reason)
            return
        state = {"healthy": ok, "reason": reason, "phase": self.phase, "judged_at_s": round(self._wall(), 3),
                 "last_tick_at_s": None if self.last_tick_wall is None else round(self.last_tick_wall, 3)}
        try:
            private_dir(self.path.parent)  # 0600 in a 0700 folder, like the snapshots beside it
            atomic_write_bytes(self.path, (json.dumps(state, sort_keys=True) + "\n").encode(), mode=PRIVATE_FILE_MODE)
        except OSError as exc:
            event(log, "HEALTH_STATE_FAILED", logging.WARNING, file=self.path, problem=str(exc)[:200])
        self._written, self._written_mono = (ok, reason), self._mono()


def read_state(state_dir: str | Path) -> dict | None:
    """The trader's last published health (``None`` when it never wrote one, or it is unreadable)."""
    try:
        data = json.loads((Path(state_dir) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


__all__ = ["STATE_FILE", "TraderHealth", "read_state"]
