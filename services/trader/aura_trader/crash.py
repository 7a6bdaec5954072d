"""A TEST HOOK for the crash campaign: kill this process with SIGKILL at a named point of the cycle.

Inert unless ``AURA_CRASH_AT`` is set. ``AURA_CRASH_AT=<point>:<n>[,<point>:<n>...]`` makes the trader
``os.kill(os.getpid(), SIGKILL)`` the n-th time (1-based, counted within this process) it reaches ``<point>``:

    intent_written   the cycle's intents are committed to the journal, nothing sent yet
    order_in_flight  an order request is being sent: the kill comes IN_FLIGHT_KILL_S later, from a timer thread,
                     i.e. while the response is awaited (with a slow venue the request is still on its way)
    order_sent       the order request reached the venue and was processed; its response not yet read
    order_acked      the venue's response was read; nothing of it journaled yet
    fill_recording   inside the transaction recording an order's fills (the first fill written, not committed)
    snapshot_writing the journal copy is written to its temp file, not yet renamed into place

SIGKILL cannot be caught: no finally blocks, no flushing, exactly what a power cut or an OOM kill does.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping

ENV = "AURA_CRASH_AT"
POINTS = ("intent_written", "order_in_flight", "order_sent", "order_acked", "fill_recording", "snapshot_writing")
DELAYED = {"order_in_flight"}  # points whose kill comes IN_FLIGHT_KILL_S after reaching them
IN_FLIGHT_KILL_S = 0.1


class CrashSpecError(ValueError):
    pass


def parse(spec: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        point, sep, n = part.partition(":")
        if point not in POINTS:
            raise CrashSpecError(f"{ENV}: unknown crash point {point!r} (one of {', '.join(POINTS)})")
        if not sep or not n.isdigit() or int(n) < 1:
            raise CrashSpecError(f"{ENV}: {part!r} must be <point>:<n> with n >= 1")
        out[point] = int(n)
    return out


class CrashHook:
    def __init__(self, targets: Mapping[str, int] | None = None) -> None:
        self.targets = dict(targets or {})
        self.counts = {p: 0 for p in POINTS}

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CrashHook:
        spec = environ.get(ENV, "")
        return cls(parse(spec) if spec else None)

    @property
    def armed(self) -> bool:
        return bool(self.targets)

    def reach(self, point: str) -> None:
        if point not in self.counts:
            raise ValueError(f"unknown crash point {point!r}")
        if not self.targets:
            return
        self.counts[point] += 1
        if self.targets.get(point) == self.counts[point]:
            n = self.counts[point]
            if point in DELAYED:
                timer = threading.Timer(IN_FLIGHT_KILL_S, _kill, (point, n))
                timer.daemon = True
                timer.start()
            else:
                _kill(point, n)


def _kill(point: str, n: int) -> None:
    logging.getLogger(__name__).warning("[CRASH_HOOK] point=%s n=%d pid=%d", point, n, os.getpid())
    for h in logging.getLogger().handlers:
        h.flush()
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)
