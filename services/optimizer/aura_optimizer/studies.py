"""Optuna studies on a shared storage: one study per fold, plus a ``meta`` study carrying the run's spec.

Storage is an RDB URL. The default is SQLite in the run directory, prepared for several processes on one
machine: WAL journal (readers never block the writer), ``synchronous=NORMAL`` (no fsync per commit: a power cut
may lose the last trials, never corrupt the file; a lost trial is simply run again on resume) and a 60 s busy
timeout, so that concurrent workers queue for the write lock instead of failing. A worker that still hits
``database is locked`` retries its step (bounded). Across machines, use a server database
(``postgresql://...``) that every optimizer container can reach.

Speed (``run_study``): TPE samples on an in-memory mirror of the study, and each finished trial is written to
the shared storage in one small transaction, its parameters in one user attribute ``p`` (Optuna's RDB storage
writes and re-checks every parameter row separately, which cost more than the backtest itself). ``restore``
turns stored trials back into ordinary ones for the sampler and the report.

Determinism: the sampler is re-seeded before every trial from (run seed, fold, number of finished trials), so a
trial's parameters depend only on the seed and the history before it. The same seed and data give the same
result, and a run that is killed and resumed gives the same result as one that never stopped (a trial lost in
the crash is drawn again, identically). Normally each fold's study is searched by one process. Workers that
``--join`` a run share studies with it, unseeded: valid, but not bit-for-bit reproducible.
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

from aura_optimizer import stop

DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
SQLITE_TIMEOUT_S = 60.0
LOCK_RETRIES = 20
SYNC_SECONDS = 1.0



def quiet_optuna() -> None:
    """Optuna's own per-trial lines are noise next to ours; entry points call this after configuring logging."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)


quiet_optuna()


def default_storage_url(run_dir: Path) -> str:
    return f"sqlite:///{(run_dir / 'study.sqlite3').resolve()}"


def _sqlite_file(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    return Path(url[len("sqlite:///"):])


# database backend -> the pyproject extra that installs its default driver
DRIVER_EXTRAS = {"postgresql": "postgres"}


def storage_problem(url: str) -> str | None:
    """Why the storage URL cannot be used here (not a database URL, or its driver is not installed), in one line
    naming the extra to install; None when it can. Checked before a run directory is created."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from aura_common.core.redaction import redact_url_credentials
    shown = redact_url_credentials(url)
    try:
        u = make_url(url)
        dialect = u.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        return f"--storage / optimizer.storage {shown!r} is not a database URL SQLAlchemy knows"
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        backend, module = u.get_backend_name(), getattr(exc, "name", None) or u.get_driver_name()
        extra = DRIVER_EXTRAS.get(backend)
        how = f"the {extra!r} extra: pip install '.[{extra}]'" if extra else f"install the Python module {module}"
        return f"storage {shown} needs the {backend} driver {module}, which is not installed ({how})"
    return None


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


def trial_seed(seed: int, n_done: int) -> int:
    return (seed * 1_000_003 + n_done) % (2**32)


def compact(trial: optuna.trial.FrozenTrial) -> optuna.trial.FrozenTrial:
    """The trial as stored: parameters in the ``p`` user attribute (one row instead of one per parameter)."""
    return optuna.trial.create_trial(
        state=trial.state, value=trial.value if trial.state == TrialState.COMPLETE else None,
        user_attrs={**trial.user_attrs, "p": dict(trial.params)})


def restore(trial: optuna.trial.FrozenTrial, distributions: Mapping[str, Any]) -> optuna.trial.FrozenTrial:
    """A stored trial with its parameters back as Optuna parameters (trials added by ``run_study`` or by other
    tools already have them)."""
    attrs = dict(trial.user_attrs)
    params = attrs.pop("p", None)
    if params is None or trial.params:
        return trial
    return optuna.trial.create_trial(
        state=trial.state, value=trial.value if trial.state == TrialState.COMPLETE else None,
        params=params, distributions={k: distributions[k] for k in params}, user_attrs=attrs)


def finished_trials(study: optuna.Study, distributions: Mapping[str, Any]) -> list[optuna.trial.FrozenTrial]:
    trials = retry_locked(lambda: study.get_trials(deepcopy=False, states=DONE_STATES))
    return [restore(t, distributions) for t in trials]


def run_study(study: optuna.Study, objective: Callable, n_trials: int, seed: int | None,
              distributions: Mapping[str, Any], on_trial: Callable[[], None] | None = None) -> int:
    """Bring ``study`` (on the shared storage) to ``n_trials`` finished trials; returns how many this process
    added. Samples on an in-memory mirror and writes each finished trial in one transaction. Trials that other
    processes add meanwhile are counted and learnt from (the mirror is rebuilt). Joining (unseeded) workers
    re-count before every trial, so together they overshoot the target by at most one trial per extra worker;
    a seeded worker re-counts every ``SYNC_SECONDS`` (a joiner helping it may add up to that much extra).

    ``seed``: re-seed TPE before every trial from (seed, finished trials): reproducible, and identical after a
    resume. ``None`` (a worker that joins a shared study): unseeded, so that workers do not draw the same point.
    """
    def mirror(trials: list[optuna.trial.FrozenTrial]) -> optuna.Study:
        mem = optuna.create_study(direction="maximize")
        mem.add_trials(trials)
        return mem

    known = finished_trials(study, distributions)
    mem = mirror(known)
    since_sync = added = 0
    checked = time.monotonic()
    sync_s = 0.0 if seed is None else SYNC_SECONDS  # joiners re-count before every trial
    while True:
        stop.check()  # a requested stop ends the run here, between trials (never inside one)
        n_done = len(known) + since_sync
        # a seeded (sole) worker reads the storage's count every SYNC_SECONDS and before stopping
        if n_done >= n_trials or time.monotonic() - checked >= sync_s:
            stored, checked = done_trials(study), time.monotonic()
            if stored >= n_trials:
                return added
            if stored != n_done:  # another worker added trials: learn from the full history
                known, since_sync = finished_trials(study, distributions), 0
                mem = mirror(known)
                n_done = len(known)
        mem.sampler = optuna.samplers.TPESampler(seed=None if seed is None else trial_seed(seed, n_done))
        mem.optimize(objective, n_trials=1, gc_after_trial=False)
        trial = mem.get_trials(deepcopy=False)[-1]
        if trial.state not in DONE_STATES:
            raise RuntimeError(f"trial {n_done} of study {study.study_name} ended {trial.state.name}")
        retry_locked(lambda: study.add_trial(compact(trial)))
        since_sync += 1
        added += 1
        if on_trial is not None:
            on_trial()
