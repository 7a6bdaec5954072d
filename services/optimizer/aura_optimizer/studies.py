"""Optuna studies on a shared storage: one study per fold, plus a ``meta`` study carrying the run's spec.

Storage is an RDB URL. The default is SQLite in the run directory, prepared for several processes on one
machine: WAL journal (readers never block the writer), ``synchronous=NORMAL`` (no fsync per commit: a power cut
may lose the last trials, never corrupt the file; a lost trial is simply run again on resume) and a 60 s busy
timeout, so that concurrent workers queue for the write lock instead of failing. A worker that still hits
``database is locked`` retries its step (bounded). Across machines, use a server database
(``postgresql://...``) that every optimizer container can reach.

Determinism: a fold's study is driven by ``TPESampler(seed = run seed + fold)``. When one process runs a
study (the normal case: folds are spread over processes, never shared), the same seed and data give the same
trials and the same best parameters. Workers that ``--join`` a study interleave their trials by timing, so a
shared study is valid but not bit-for-bit reproducible.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
SQLITE_TIMEOUT_S = 60.0
LOCK_RETRIES = 20

optuna.logging.set_verbosity(optuna.logging.WARNING)


def default_storage_url(run_dir: Path) -> str:
    return f"sqlite:///{(run_dir / 'study.sqlite3').resolve()}"


def _sqlite_file(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    return Path(url[len("sqlite:///"):])


def make_storage(url: str) -> optuna.storages.RDBStorage:
    file = _sqlite_file(url)
    if file is None:
        return optuna.storages.RDBStorage(url)
    file.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(file, timeout=SQLITE_TIMEOUT_S)
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # persistent in the file
    finally:
        conn.close()
    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": SQLITE_TIMEOUT_S}})
    from sqlalchemy import event

    @event.listens_for(storage.engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # every pooled connection
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")
        dbapi_conn.execute(f"PRAGMA busy_timeout={int(SQLITE_TIMEOUT_S * 1000)}")

    storage.engine.dispose()  # connections made before the listener existed are dropped
    return storage


def fold_study_name(run_id: str, fold: int) -> str:
    return f"{run_id}.fold{fold:02d}"


def meta_study_name(run_id: str) -> str:
    return f"{run_id}.meta"


def _locked(exc: Exception) -> bool:
    return "database is locked" in str(exc) or "database is busy" in str(exc)


def retry_locked(fn: Callable[[], Any]) -> Any:
    """Run ``fn``; on SQLite lock contention retry with a growing pause (bounded)."""
    for attempt in range(LOCK_RETRIES):
        try:
            return fn()
        except Exception as exc:  # sqlalchemy.exc.OperationalError, wrapped variously by optuna
            if not _locked(exc) or attempt == LOCK_RETRIES - 1:
                raise
            time.sleep(min(0.05 * 2 ** attempt, 2.0))
    raise AssertionError("unreachable")


def publish_spec(storage: optuna.storages.RDBStorage, run_id: str, spec: Mapping[str, Any]) -> None:
    study = retry_locked(lambda: optuna.create_study(study_name=meta_study_name(run_id), storage=storage,
                                                     load_if_exists=True))
    retry_locked(lambda: study.set_user_attr("spec", json.dumps(spec, sort_keys=True)))


def read_spec(storage: optuna.storages.RDBStorage, run_id: str) -> dict[str, Any] | None:
    try:
        study = optuna.load_study(study_name=meta_study_name(run_id), storage=storage)
    except KeyError:
        return None
    text = study.user_attrs.get("spec")
    return json.loads(text) if text else None


def fold_study(storage: optuna.storages.RDBStorage, run_id: str, fold: int, seed: int | None) -> optuna.Study:
    sampler = optuna.samplers.TPESampler(seed=seed)
    return retry_locked(lambda: optuna.create_study(
        study_name=fold_study_name(run_id, fold), storage=storage, sampler=sampler, direction="maximize",
        load_if_exists=True))


def done_trials(study: optuna.Study) -> int:
    return len(retry_locked(lambda: study.get_trials(deepcopy=False, states=DONE_STATES)))


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_study(study: optuna.Study, objective: Callable, n_trials: int, shared: bool,
              on_trial: Callable[[], None] | None = None) -> int:
    """Add trials until the study holds ``n_trials`` finished ones; returns how many this process added.

    ``shared``: other processes may be adding trials too (``MaxTrialsCallback`` stops everyone at the target;
    the overshoot is at most one trial per extra worker).
    """
    added = 0

    def callback(study_: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal added
        if trial.state in DONE_STATES:
            added += 1
            if on_trial is not None:
                on_trial()

    callbacks = [callback]
    if shared:
        callbacks.append(optuna.study.MaxTrialsCallback(n_trials, states=DONE_STATES))
    for _ in range(LOCK_RETRIES):
        remaining = n_trials - done_trials(study)
        if remaining <= 0:
            break
        try:
            study.optimize(objective, n_trials=remaining, callbacks=callbacks, gc_after_trial=False)
        except Exception as exc:
            if not _locked(exc):
                raise
            time.sleep(0.5)
    return added
