"""A stop request as a flag, checked between trials: never an exception raised from a signal handler.

The service's SIGTERM handler only calls ``request()``. A run checks ``check()`` at points where stopping is safe
(before every trial of a study, while the parent of a worker pool waits for progress, between the phases of a run)
and ``check()`` raises ``KeyboardInterrupt`` there, which the CLI turns into an INCOMPLETE, resumable run. Raising
from the handler itself could land anywhere - inside an SQLAlchemy weakref callback, where Python prints
"Exception ignored" and drops it, so the stop was lost and the run went on to the end.
"""

from __future__ import annotations

import threading

_requested = threading.Event()


def request() -> None:
    _requested.set()


def requested() -> bool:
    return _requested.is_set()


def clear() -> None:
    _requested.clear()


def check() -> None:
    """Raise ``KeyboardInterrupt`` when a stop was requested (call only where stopping is safe)."""
    if _requested.is_set():
        raise KeyboardInterrupt("stop requested")
