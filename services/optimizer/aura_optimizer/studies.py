"""Optuna studies on a shared storage: one study per fold, plus a ``meta`` study carrying the run's spec.

Storage is an RDB URL. The default is SQLite in the run directory, prepared for several processes on one
machine: WAL journal (readers never block the writer), ``synchronous=NORMAL`` (no fsync per commit: a power cut
may lose the last trials, never corrupt the file; a lost trial is simply run again on resume) and a 60 s busy
timeout, so that concurrent workers queue for the write lock instead of failing. A worker that still hits
``database is locked`` retries its step (bounded). Across machines, use a server database
(``postgresql://...``) that every optimizer container can reach: its connections are checked before use
(``pool_pre_ping``), and a step that fails because the server is unreachable (restarting, failing over, a dropped
connection: SQLSTATE class 08 or 57P, or no SQLSTATE at all) is retried with back-off for up to
``RECONNECT_SECONDS``, one ``[OPTIMIZE_STORAGE]`` line when the server goes away and one when it is back. A
refused password or a missing database is not retried. Each finished trial is one transaction, so a worker that
dies (SIGKILL, OOM, a lost machine) leaves nothing half-written: its unfinished trial is simply never stored.

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
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from aura_common.adapters.logs import event, redact
from aura_common.core.redaction import redact_url_credentials

from aura_optimizer import stop

log = logging.getLogger("aura.optimize")
DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
SQLITE_TIMEOUT_S = 60.0
LOCK_RETRIES = 20
SYNC_SECONDS = 1.0
RECONNECT_SECONDS = float(os.environ.get("AURA_OPTIMIZER_RECONNECT_SECONDS", "300"))
CONNECT_TIMEOUT_S = 10
# a connection the server refuses for good (waiting does not help): libpq's wording, stable across versions
REFUSALS = ("authentication failed", "does not exist", "no pg_hba.conf entry", "permission denied",
            "password supplied", "no password", "invalid", "SSL is not enabled")


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


class StorageError(RuntimeError):
    """The study storage cannot be opened (refused password, missing database, server gone for too long)."""


def describe(exc: BaseException) -> str:
    """The driver's own words for a database error, on one line, without any password."""
    from sqlalchemy import exc as sa_exc
    inner = next((e.orig for e in _chain(exc) if isinstance(e, sa_exc.DBAPIError) and e.orig is not None), exc)
    lines = [ln.strip() for ln in str(inner).splitlines() if ln.strip()]
    return redact(f"{type(inner).__name__}: {'; '.join(lines)[:400]}")


def with_password(url: str, password: str | None) -> str:
    """``url`` with ``password`` filled in when the URL names a user but no password (the password comes from a
    secret file, never from a config file or a command line that ``ps`` shows)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if not password or u.password is not None or not u.username:
        return url
    return u.set(password=password).render_as_string(hide_password=False)


def url_password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password
    except Exception:  # not a URL: storage_problem says so
        return None


def make_storage(url: str) -> optuna.storages.RDBStorage:
    file = _sqlite_file(url)
    if file is None:  # a server: drop dead pooled connections (a restarted server) before using them
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("postgresql"):
            # synchronous_commit=off, like SQLite's synchronous=NORMAL: a server crash may lose the last trials
            # (drawn again), never corrupt anything; a commit no longer waits for the WAL flush
            kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "aura-optimizer",
                                      "options": "-c synchronous_commit=off"}
        try:
            return retry_storage(lambda: optuna.storages.RDBStorage(url, engine_kwargs=kwargs), url)
        except Exception as exc:
            raise StorageError(f"storage {redact_url_credentials(url)}: {describe(exc)}") from None
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


def _chain(exc: BaseException):
    seen = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def unreachable(exc: BaseException) -> bool:
    """The database server cannot be reached or dropped the connection (worth waiting for), as opposed to an
    error that waiting does not fix (a refused password, a missing database, a bad statement)."""
    from sqlalchemy import exc as sa_exc
    for e in _chain(exc):
        if isinstance(e, sa_exc.DisconnectionError):
            return True
        if isinstance(e, sa_exc.DBAPIError):
            if e.connection_invalidated:
                return True
            if isinstance(e, (sa_exc.OperationalError, sa_exc.InterfaceError)):
                if _locked(e) or type(e.orig).__module__.startswith("sqlite3"):  # a file: nothing to wait for
                    return False
                code = getattr(e.orig, "sqlstate", None)
                if code is None:  # a failed connection attempt: the server's refusal comes as text only
                    return not any(s in str(e.orig) for s in REFUSALS)
                return code.startswith(("08", "57P"))
    return False


def retry_storage(fn: Callable[[], Any], url: str | None = None) -> Any:
    """Run ``fn``; on SQLite lock contention retry with a growing pause (bounded, ``LOCK_RETRIES``); while a
    database server is unreachable, retry for up to ``RECONNECT_SECONDS`` (pool_pre_ping replaces the dead
    connections). A requested stop still ends the wait."""
    attempt, down_since = 0, None
    while True:
        try:
            out = fn()
        except Exception as exc:  # sqlalchemy.exc.OperationalError, wrapped variously by optuna
            if _locked(exc) and attempt < LOCK_RETRIES - 1:
                time.sleep(min(0.05 * 2 ** attempt, 2.0))
                attempt += 1
                continue
            if not unreachable(exc):
                raise
            now = time.monotonic()
            if down_since is None:
                down_since = now
                fields: dict[str, Any] = {"state": "unreachable", "worker": worker_id(),
                                          "error": type(exc).__name__, "retry_for_s": int(RECONNECT_SECONDS)}
                if url:
                    fields["storage"] = redact_url_credentials(url)
                event(log, "OPTIMIZE_STORAGE", logging.WARNING, **fields)
            if now - down_since >= RECONNECT_SECONDS:
                raise
            stop.check()
            time.sleep(min(0.25 * 2 ** min(attempt, 4), 3.0))
            attempt += 1
            continue
        if down_since is not None:
            event(log, "OPTIMIZE_STORAGE", state="reconnected", worker=worker_id(),
                  after_s=round(time.monotonic() - down_since, 1))
        return out


def publish_spec(storage: optuna.storages.RDBStorage, run_id: str, spec: Mapping[str, Any]) -> None:
    study = retry_storage(lambda: optuna.create_study(study_name=meta_study_name(run_id), storage=storage,
                                                     load_if_exists=True))
    retry_storage(lambda: study.set_user_attr("spec", json.dumps(spec, sort_keys=True)))


def read_spec(storage: optuna.storages.RDBStorage, run_id: str) -> dict[str, Any] | None:
    try:
        study = retry_storage(lambda: optuna.load_study(study_name=meta_study_name(run_id), storage=storage))
    except KeyError:
        return None
    text = study.user_attrs.get("spec")
    return json.loads(text) if text else None


def fold_study(storage: optuna.storages.RDBStorage, run_id: str, fold: int, seed: int | None) -> optuna.Study:
    sampler = optuna.samplers.TPESampler(seed=seed)
    return retry_storage(lambda: optuna.create_study(
        study_name=fold_study_name(run_id, fold), storage=storage, sampler=sampler, direction="maximize",
        load_if_exists=True))


class FoldStore:
    """One study on the RDB storage, by ids: the ids of its finished trials (one small query: the count and what is
    new), one trial, and writing one trial (returns its id). What a worker does per trial costs the same at the
    1st and the 400th trial, instead of reloading the whole history whenever another worker added one."""

    _IDS = ("SELECT trial_id FROM trials WHERE study_id = :sid AND state IN ('COMPLETE', 'PRUNED') "
            "ORDER BY trial_id")

    def __init__(self, study: optuna.Study) -> None:
        backend = getattr(study._storage, "_backend", study._storage)  # optuna wraps RDBStorage in a cache
        if not isinstance(backend, optuna.storages.RDBStorage):
            raise TypeError(f"study {study.study_name} is not on an RDB storage")
        self.study, self.backend = study, backend
        self.study_id = retry_storage(lambda: backend.get_study_id_from_name(study.study_name))

    def ids(self) -> list[int]:
        from sqlalchemy import text

        def query() -> list[int]:
            with self.backend.engine.connect() as conn:
                return [r[0] for r in conn.execute(text(self._IDS), {"sid": self.study_id})]
        return retry_storage(query)

    def trial(self, trial_id: int) -> optuna.trial.FrozenTrial:
        return retry_storage(lambda: self.backend.get_trial(trial_id))

    def add(self, trial: optuna.trial.FrozenTrial) -> int:
        trial._validate()
        return retry_storage(lambda: self.backend.create_new_trial(self.study_id, template_trial=trial))


def done_trials(study: optuna.Study) -> int:
    return len(FoldStore(study).ids())


def join_ticket(storage: optuna.storages.RDBStorage, run_id: str) -> int:
    """A number unique to this joining worker (0, 1, 2, ... in order of arrival), drawn from the storage itself: a
    FAIL trial in the run's meta study naming the worker. Joiners start on different folds by it."""
    sid = retry_storage(lambda: storage.get_study_id_from_name(meta_study_name(run_id)))
    marker = optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={"joined": worker_id()})
    tid = retry_storage(lambda: storage.create_new_trial(sid, template_trial=marker))
    return retry_storage(lambda: storage.get_trial_number_from_id(tid))


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
    trials = retry_storage(lambda: study.get_trials(deepcopy=False, states=DONE_STATES))
    return [restore(t, distributions) for t in trials]


def run_study(study: optuna.Study, objective: Callable, n_trials: int, seed: int | None,
              distributions: Mapping[str, Any], on_trial: Callable[[], None] | None = None) -> int:
    """Bring ``study`` (on the shared storage) to ``n_trials`` finished trials; returns how many this process
    added. Samples on an in-memory mirror and writes each finished trial in one transaction. Trials that other
    processes add meanwhile are counted and learnt from (fetched one by one into the mirror). Joining (unseeded) workers
    re-count before every trial, so together they overshoot the target by at most one trial per extra worker
    (W processes on one fold: at most W - 1 extra). A seeded worker re-counts every ``SYNC_SECONDS`` while it is
    alone, and before every trial from the moment it sees another worker's trial (so only trials that others
    finish within its first ``SYNC_SECONDS`` of sharing can add to that bound).

    ``seed``: re-seed TPE before every trial from (seed, finished trials): reproducible, and identical after a
    resume. ``None`` (a worker that joins a shared study): unseeded, so that workers do not draw the same point.
    """
    store = FoldStore(study)
    seen = set(store.ids())  # then the history in one read (in trial order), without what arrived in between
    history = [t for t in retry_storage(lambda: study.get_trials(deepcopy=False, states=DONE_STATES))
               if t._trial_id in seen]
    mem = optuna.create_study(direction="maximize")
    mem.add_trials([restore(t, distributions) for t in history])
    added = 0
    checked = time.monotonic()
    sync_s = 0.0 if seed is None else SYNC_SECONDS  # joiners re-count before every trial
    while True:
        stop.check()  # a requested stop ends the run here, between trials (never inside one)
        # a seeded (sole) worker reads the storage's count every SYNC_SECONDS and before stopping
        if len(seen) >= n_trials or time.monotonic() - checked >= sync_s:
            ids, checked = store.ids(), time.monotonic()
            if len(ids) >= n_trials:
                return added
            new = [i for i in ids if i not in seen]
            if new:  # another worker added trials: learn from them too
                sync_s = 0.0  # shared from now on: re-count before every trial, like a joiner
                mem.add_trials([restore(store.trial(i), distributions) for i in new])
                seen.update(new)
        n_done = len(seen)
        mem.sampler = optuna.samplers.TPESampler(seed=None if seed is None else trial_seed(seed, n_done))
        mem.optimize(objective, n_trials=1, gc_after_trial=False)
        trial = mem.get_trials(deepcopy=False)[-1]
        if trial.state not in DONE_STATES:
            raise RuntimeError(f"trial {n_done} of study {study.study_name} ended {trial.state.name}")
        seen.add(store.add(compact(trial)))
        added += 1
        if on_trial is not None:
            on_trial()
