"""A stop request as a flag, checked between trials: never an exception raised from a signal handler.

The service's SIGTERM handler only calls ``request()``. A run checks ``check()`` at points where stopping is safe
(before every trial of a study, while the parent of the worker process(es) waits for progress - it then terminates
them, also in the middle of a trial -, between the phases of a run) and ``check()`` raises ``KeyboardInterrupt``
there, which the CLI turns into an INCOMPLETE, resumable run. Raising from the handler itself could land anywhere -
inside an SQLAlchemy weakref callback, where Python prints "Exception ignored" and drops it, so the stop was lost and
the run went on to the end.

The flag is a plain module variable: ``request()`` takes no lock. (A ``threading.Event`` takes its condition's lock
in ``set()``; a signal that arrives while the main thread holds that same lock - inside ``clear()`` or ``wait()`` -
would deadlock the process in its own handler.)
"""

from __future__ import annotations

_requested = False


def request() -> None:
    """Ask the run to stop (safe in a signal handler: one assignment, no lock, no I/O)."""
    global _requested
    _requested = True


def requested() -> bool:
    return _requested


def clear() -> None:
    global _requested
    _requested = False


def check() -> None:
    """Raise ``KeyboardInterrupt`` when a stop was requested (call only where stopping is safe)."""
    if _requested:
        raise KeyboardInterrupt("stop requested")
