"""``aura risk reset [--reason TEXT] [--wait SECONDS]``: re-arm trading after the kill switch tripped.

The trader is the journal's only writer. If a trader holds the journal lock, the command writes an atomic request
file into ``<journal dir>/control/`` and the trader applies it at its next risk tick (journaling the reset with
time, reason and requester); ``--wait`` waits for that and prints the outcome. If no trader holds the lock, the
command takes it and applies the reset directly through the journal writer. The output says which happened.

Exit codes: 0 reset applied, requested, or nothing to reset; 1 runtime failure (no journal, a request not applied
within --wait); 2 bad configuration or arguments.
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
import time
from pathlib import Path

from aura_common.adapters.clock import SystemClock
from aura_common.adapters.journal import Journal, JournalError, JournalLockedError
from aura_common.config import load_config
from aura_trader import risk_reset

EXIT_OK, EXIT_FAILURE = 0, 1


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", help="why trading may resume (journaled with the reset)")
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="when a trader is running, wait this long for it to apply the request")


def requester() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def run(args: argparse.Namespace) -> int:
    config = load_config(getattr(args, "config", None))
    journal_path = Path(config.paths.journal)
    who = requester()
    reason = (args.reason or "").strip() or f"reset by {who} with aura risk reset (no reason given)"
    if args.wait < 0:
        print("aura risk reset: --wait must be >= 0", file=sys.stderr)
        return 2
    if not journal_path.exists():
        print(f"aura risk reset: no journal at {journal_path} (paths.journal): nothing to reset", file=sys.stderr)
        return EXIT_FAILURE
    clock = SystemClock()
    try:
        journal = Journal.open(journal_path, clock)
    except JournalLockedError as exc:
        path = risk_reset.write_request(risk_reset.control_dir(journal_path), reason, who, clock.now_ms())
        print(f"aura risk reset: requested: the running trader ({exc.holder}) holds {journal_path}; "
              f"it applies {path} at its next tick")
        return _wait(path, args.wait) if args.wait > 0 else EXIT_OK
    except JournalError as exc:
        print(f"aura risk reset: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    with journal:
        result = risk_reset.apply_reset(journal, reason, f"aura risk reset ({who})", "direct")
    if result == "reset":
        print(f"aura risk reset: applied directly (no trader holds {journal_path}): kill switch re-armed; "
              f"reason: {reason}")
    else:
        print(f"aura risk reset: applied directly (no trader holds {journal_path}): the kill switch was already "
              "armed; nothing changed")
    return EXIT_OK


def _wait(path: Path, seconds: float) -> int:
    done = risk_reset.done_path(path)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done.exists():
            try:
                outcome = json.loads(done.read_text())
            except (OSError, json.JSONDecodeError):
                outcome = {}
            result = outcome.get("result", "unknown")
            print(f"aura risk reset: the trader applied the request: {result}")
            return EXIT_OK if result in ("reset", "already_armed") else EXIT_FAILURE
        time.sleep(0.2)
    print(f"aura risk reset: the trader did not apply {path} within {seconds:g}s; it stays pending",
          file=sys.stderr)
    return EXIT_FAILURE
