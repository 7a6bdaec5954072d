"""Interruption, resumption and several worker processes on one study: real processes, real SQLite storage."""

from __future__ import annotations

import json
import os
import signal
import sqlite3

import optuna

from aura_optimizer.studies import DONE_STATES, fold_study_name, make_storage
from optimizer_helpers import reaped, signal_and_wait

from harness.processes import wait_until


def _done(run_dir) -> int:
    db = run_dir / "study.sqlite3"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _fold_trials(run_dir, run_id: str, fold: int):
    storage = make_storage(f"sqlite:///{run_dir / 'study.sqlite3'}")
    study = optuna.load_study(study_name=fold_study_name(run_id, fold), storage=storage)
    return study.get_trials(states=DONE_STATES)


def test_killed_run_is_marked_incomplete_and_resumes_to_the_same_result(ws):
    run_dir = ws.optimizer_dir / "k"
    proc = ws.popen("--space", "space.yaml", "--folds", "2", "--trials", "40", "--workers", "2", "--run-id", "k",
                    start_new_session=True)
    try:
        wait_until("10 finished trials", lambda: _done(run_dir) >= 10, timeout=120)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the container dies: parent and workers at once
        proc.communicate(timeout=30)
    assert (run_dir / "INCOMPLETE").exists() and not (run_dir / "results.json").exists()
    assert not (run_dir / "report.html").exists()

    resumed = ws.aura("--resume", "k", "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert not (run_dir / "INCOMPLETE").exists()
    results = json.loads((run_dir / "results.json").read_text())
    assert [f["trials"] for f in results["folds"]] == [40, 40]
    assert [len(_fold_trials(run_dir, "k", k)) for k in (0, 1)] == [40, 40]
    # a complete run is not run again
    again = ws.aura("--resume", "k")
    assert again.returncode == 0 and "already complete" in again.stdout
    # and the interruption changed nothing: the same seed without a crash gives the same result
    assert ws.aura("--space", "space.yaml", "--folds", "2", "--trials", "40", "--run-id", "u").returncode == 0
    uninterrupted = json.loads((ws.optimizer_dir / "u" / "results.json").read_text())
    for key in ("folds", "stitched", "proposed", "stability"):
        assert results[key] == uninterrupted[key], key


def test_interrupt_exits_130_with_a_resume_hint(ws):
    run_dir = ws.optimizer_dir / "i"
    # 2 × 300 trials: the search outlasts the polling under a loaded machine (trials cost a few ms each)
    with reaped(ws.popen("--space", "space.yaml", "--folds", "2", "--trials", "300", "--workers", "2",
                         "--run-id", "i")) as proc:
        wait_until("5 finished trials", lambda: _done(run_dir) >= 5, timeout=120)
        err = signal_and_wait(proc, signal.SIGINT)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume i" in err
    assert "--resume i" in (run_dir / "INCOMPLETE").read_text()
    assert not (run_dir / "results.json").exists()


def test_two_worker_processes_share_one_study(ws):
    run_dir = ws.optimizer_dir / "s"
    prep = ws.aura("--space", "space.yaml", "--folds", "1", "--trials", "120", "--run-id", "s", "--prepare")
    assert prep.returncode == 0, prep.stderr
    assert prep.stdout.strip() == "s"
    workers = [ws.popen("--join", "s", "--workers", str(n)) for n in (1, 2)]  # three processes in all
    outs = [w.communicate(timeout=300) for w in workers]
    for w, (out, err) in zip(workers, outs):
        assert w.returncode == 0, err
        assert "database is locked" not in err
    trials = _fold_trials(run_dir, "s", 0)
    # every worker re-counts before each trial: each extra worker may finish the one trial it had started
    assert 120 <= len(trials) <= 122
    assert len({t.user_attrs["m"]["worker"] for t in trials}) == 3
    added = sorted(int(out.split("added ")[1].split()[0]) for out, _ in outs)
    assert sum(added) == len(trials) and added[0] > 0
    # the run is then finished (judged and reported) without running more trials
    done = ws.aura("--resume", "s")
    assert done.returncode == 0, done.stderr
    assert json.loads((run_dir / "results.json").read_text())["folds"][0]["trials"] == len(trials)


def test_a_pool_worker_killed_from_outside_fails_the_run_instead_of_hanging_and_resume_finishes(ws):
    """multiprocessing.Pool would replace the killed worker and wait for its lost fold forever."""
    run_dir = ws.optimizer_dir / "d"
    with reaped(ws.popen("--space", "space.yaml", "--folds", "2", "--trials", "300", "--workers", "2",
                         "--run-id", "d")) as proc:
        wait_until("10 finished trials", lambda: _done(run_dir) >= 10, timeout=120)
        children = open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split()
        os.kill(int(children[-1]), signal.SIGKILL)  # the pool's workers (after the queue's feeder, if any)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "died" in err and "Traceback" not in err
    assert "died" in (run_dir / "INCOMPLETE").read_text()
    done = ws.aura("--resume", "d", "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert [f["trials"] for f in json.loads((run_dir / "results.json").read_text())["folds"]] == [300, 300]
