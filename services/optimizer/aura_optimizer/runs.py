"""Run directories ``<paths.optimizer_dir>/<run-id>/``: complete, or marked incomplete — never half-written.

A run directory is created only after every input has been validated. It holds from the start:

- ``INCOMPLETE`` — the marker (who started it, when; on failure, why); removed as the very last step;
- ``run.json`` — the run's inputs (windows, seed, trials, search space, base strategy, costs, data
  fingerprint, storage URL), so that ``--resume`` continues with exactly the same ones;
- ``study.sqlite3`` — the Optuna storage (unless ``optimizer.storage`` / ``--storage`` names another).

At the end ``equity.png``, ``stability.png``, ``in_vs_out.png``, ``proposed.yaml``, ``report.html`` and
``results.json`` are written, each atomically (temp file in the same directory, fsync, rename, fsync of the
directory), then the marker is removed. A directory with ``INCOMPLETE`` is never presented as a result.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

from aura_common.adapters.files import atomic_write_bytes as atomic_write
from aura_common.adapters.files import fsync_dir as _fsync_dir
from aura_common.adapters.logs import redact
from aura_common.config import load_strategy
from aura_common.config.loader import strategy_hash

INCOMPLETE = "INCOMPLETE"
SPEC = "run.json"
RESULTS = "results.json"
PROPOSED = "proposed.yaml"
APPLIED = "applied.jsonl"  # in the optimizer directory: one line per apply, append-only


class RunError(RuntimeError):
    """A run directory cannot be created, resumed or applied; ``usage`` marks errors of the request."""

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


def new_run_id(now: datetime, optimizer_dir: Path) -> str:
    base = now.strftime("%Y%m%dT%H%M%SZ")
    run_id, n = base, 1
    while (optimizer_dir / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def valid_run_id(run_id: str) -> bool:
    return bool(run_id) and all(c.isalnum() or c in "-_." for c in run_id) and not run_id.startswith(".")


def create_run(optimizer_dir: Path, run_id: str, now: datetime, spec: dict[str, Any]) -> Path:
    if not valid_run_id(run_id):
        raise RunError(f"invalid run id {run_id!r} (letters, digits, - _ . only)", usage=True)
    run_dir = optimizer_dir / run_id
    optimizer_dir.mkdir(parents=True, exist_ok=True)
    try:
        run_dir.mkdir()
    except FileExistsError:
        raise RunError(f"run {run_dir} already exists (continue it with --resume {run_id})", usage=True) from None
    mark_incomplete(run_dir, f"started {now.isoformat()} by {socket.gethostname()}:{os.getpid()}")
    atomic_write(run_dir / SPEC, json.dumps(spec, indent=1, sort_keys=True).encode())
    return run_dir


def mark_incomplete(run_dir: Path, why: str) -> None:
    atomic_write(run_dir / INCOMPLETE, (redact(why).rstrip() + "\n").encode())  # an error may quote the storage URL


def is_complete(run_dir: Path) -> bool:
    return (run_dir / RESULTS).is_file() and not (run_dir / INCOMPLETE).exists()


def read_run_spec(optimizer_dir: Path, run_id: str) -> tuple[Path, dict[str, Any]]:
    if not valid_run_id(run_id):
        raise RunError(f"invalid run id {run_id!r}", usage=True)
    run_dir = optimizer_dir / run_id
    try:
        return run_dir, json.loads((run_dir / SPEC).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"no optimizer run {run_dir} (no {SPEC})", usage=True) from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{run_dir / SPEC}: unreadable run spec: {exc}") from None


def finish_run(run_dir: Path, files: dict[str, bytes]) -> None:
    """Write every output atomically, ``results.json`` last, then drop the marker."""
    for name, data in files.items():
        if name != RESULTS:
            atomic_write(run_dir / name, data)
    atomic_write(run_dir / RESULTS, files[RESULTS])
    (run_dir / INCOMPLETE).unlink(missing_ok=True)
    _fsync_dir(run_dir)


def apply_proposed(run_dir: Path, strategy_file: Path) -> str:
    """Write a complete run's ``proposed.yaml`` over the strategy file, atomically; returns its hash."""
    if not is_complete(run_dir):
        raise RunError(f"run {run_dir} is not complete: nothing to apply", usage=True)
    proposed = run_dir / PROPOSED
    params = load_strategy(proposed)  # refuse anything the trader would refuse
    strategy_file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(strategy_file, proposed.read_bytes())
    return strategy_hash(params)


def refusals(run_dir: Path) -> list[str]:
    """Why a complete run's proposal should not be applied (empty: it may be). A run whose results carry no
    verdict (an older version) is refused too."""
    if not is_complete(run_dir):
        raise RunError(f"run {run_dir} is not complete: nothing to apply", usage=True)
    try:
        results = json.loads((run_dir / RESULTS).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunError(f"{run_dir / RESULTS}: unreadable results: {exc}") from None
    v = results.get("verdict")
    if not isinstance(v, dict):
        return ["the run has no out-of-sample verdict (made by an older version)"]
    return [str(p) for p in v.get("problems", [])]


def record_apply(optimizer_dir: Path, run_id: str, target: Path, digest: str, forced: bool, problems: list[str],
                 now: datetime) -> None:
    """Append the apply to ``<optimizer_dir>/applied.jsonl`` (fsynced): when, which run, which file, the strategy
    hash, and whether it was forced against the verdict (with the verdict's reasons)."""
    line = json.dumps({"time": now.isoformat(), "run": run_id, "file": str(target), "strategy_hash": digest,
                       "forced": forced, "refused_because": problems, "by": f"{socket.gethostname()}:{os.getpid()}"},
                      sort_keys=True)
    with open(optimizer_dir / APPLIED, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())
