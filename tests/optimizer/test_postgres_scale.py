"""Scale-out on a real PostgreSQL server (issue 19): ``--prepare``, several ``--join`` worker processes, one of them
SIGKILLed mid-search, the server restarted under the others, then ``--resume`` finishes and reports. Real
processes (the ``.venv/bin/aura`` console script), a real server (pg_server.py), no mocks.

The password travels two ways, both used here: inside ``--storage`` (prepare and resume) and from the secret file
named by ``AURA_OPTIMIZER_STORAGE_PASSWORD_FILE`` with a password-less URL (the workers, as compose runs them).
It must appear in no output, no file of the run and no row of the database.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from pg_server import PgServer, require_pg_bin

from harness.processes import free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("postgres")]

TRIALS = 400  # per fold; 2 folds. Small panel: a trial costs ~10-40 ms, so the run lasts long enough to be hit.
JOINERS = 3
OUTAGE_S = 10


@pytest.fixture(scope="module")
def pg():
    server = PgServer(require_pg_bin(), free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()


def _sql(pg: PgServer, db: str, query: str, *params):
    import psycopg
    with psycopg.connect(host="127.0.0.1", port=pg.port, user=pg.user, password=pg.password, dbname=db,
                         connect_timeout=5) as conn:
        return conn.execute(query, params).fetchall()


def _stored(pg: PgServer, db: str) -> dict[str, int]:
    """Finished trials per fold study, read straight from Optuna's tables (0 while the server is down)."""
    try:
        rows = _sql(pg, db, "SELECT s.study_name, count(t.trial_id) FROM studies s LEFT JOIN trials t "
                            "ON t.study_id = s.study_id AND t.state IN ('COMPLETE', 'PRUNED') "
                            "WHERE s.study_name LIKE '%%.fold%%' GROUP BY s.study_name")
    except Exception:
        return {}
    return dict(rows)


def _by_worker(pg: PgServer, db: str) -> dict[str, int]:
    rows = _sql(pg, db, "SELECT value_json FROM trial_user_attributes WHERE key = 'm'")
    out: dict[str, int] = {}
    for (value,) in rows:
        w = json.loads(value)["worker"]
        out[w] = out.get(w, 0) + 1
    return out


def _database_text(pg: PgServer, db: str) -> str:
    """Every text column of every table of the database, as one string."""
    cols = _sql(pg, db, "SELECT table_name, column_name FROM information_schema.columns "
                        "WHERE table_schema = 'public' AND data_type IN ('text', 'character varying')")
    parts = []
    for table, column in cols:
        parts += [str(v) for (v,) in _sql(pg, db, f'SELECT "{column}" FROM "{table}"')]
    return "\n".join(parts)


def _files_text(root: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file())


def test_workers_join_survive_a_kill_and_a_server_restart_and_resume_reports(ws, pg, tmp_path):
    db = "scale1"
    pg.create_database(db)
    url, bare = pg.url(db), pg.url(db, password=False)
    secret_dir = tmp_path.parent / (tmp_path.name + "-secret")  # outside the workspace that is scanned below
    secret_dir.mkdir()
    (secret_dir / "pg_password").write_text(pg.password + "\n")
    worker_env = {"AURA_OPTIMIZER_STORAGE_PASSWORD_FILE": str(secret_dir / "pg_password")}
    outputs: list[str] = []

    prep = ws.aura("--space", "space.yaml", "--folds", "2", "--trials", str(TRIALS), "--run-id", "pg",
                   "--storage", url, "--prepare")
    outputs += [prep.stdout, prep.stderr]
    assert prep.returncode == 0, prep.stderr
    assert prep.stdout.strip() == "pg"
    run_dir = ws.optimizer_dir / "pg"
    spec = json.loads((run_dir / "run.json").read_text())
    assert spec["storage"] == f"postgresql://aura:***@127.0.0.1:{pg.port}/{db}"
    outputs.append(_files_text(run_dir))  # INCOMPLETE and run.json of the prepared run

    procs = [ws.popen("--join", "pg", "--workers", "1", "--storage", bare, env=worker_env, start_new_session=True)
             for _ in range(JOINERS)]
    victim, survivors = procs[0], procs[1:]
    victim_id = f"{socket.gethostname()}:{victim.pid}"
    try:
        # the victim is searching (it has stored trials of its own); SIGKILL lands inside a trial's backtest
        ids = [f"{socket.gethostname()}:{p.pid}" for p in procs]
        wait_until("three trials from every worker",
                   lambda: all(_by_worker(pg, db).get(w, 0) >= 3 for w in ids), timeout=120)
        os.kill(victim.pid, signal.SIGKILL)
        outputs += list(victim.communicate(timeout=30))
        assert victim.returncode == -signal.SIGKILL
        killed_at = sum(_stored(pg, db).values())
        assert killed_at < 2 * TRIALS, "the run finished before the fault: raise TRIALS"
        victim_trials = _by_worker(pg, db).get(victim_id, 0)

        # the server goes away under the two survivors (fast shutdown: every session is terminated), stays down
        # longer than Optuna's own retries of a trial write (5 attempts, up to 2 s apart), and comes back
        pg.stop("fast")
        time.sleep(OUTAGE_S)
        pg.start()
        before_restart = sum(_stored(pg, db).values())
        assert before_restart < 2 * TRIALS, "the run finished before the restart: raise TRIALS"
        at_restart = _by_worker(pg, db)
        for p in survivors:
            out, err = p.communicate(timeout=180)
            outputs += [out, err]
            assert p.returncode == 0, err[-3000:]
            assert "[OPTIMIZE_STORAGE] state=unreachable" in err and "state=reconnected" in err, err[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.communicate(timeout=30)

    stored = _stored(pg, db)
    # three joiners re-count before every trial: at most JOINERS - 1 extra trials per fold
    assert all(TRIALS <= n <= TRIALS + JOINERS - 1 for n in stored.values()), stored
    by_worker = _by_worker(pg, db)
    assert by_worker.get(victim_id, 0) == victim_trials  # nothing of the killed worker arrived after its death
    assert all(by_worker[w] > at_restart[w] for w in ids[1:]), (at_restart, by_worker)  # both went on after it
    assert sum(n for w, n in by_worker.items() if w != victim_id) > sum(stored.values()) - killed_at - 1
    assert _sql(pg, db, "SELECT count(*) FROM trials t JOIN studies s ON s.study_id = t.study_id "
                        "WHERE s.study_name LIKE '%%.fold%%' AND t.state NOT IN ('COMPLETE', 'PRUNED')") == [(0,)]

    done = ws.aura("--resume", "pg", "--storage", url, "--workers", "2", timeout=240)
    outputs += [done.stdout, done.stderr]
    assert done.returncode == 0, done.stderr
    assert "complete" in done.stdout
    results = json.loads((run_dir / "results.json").read_text())
    assert [f["trials"] for f in results["folds"]] == [stored[f"pg.fold{k:02d}"] for k in (0, 1)]
    assert results["inputs"]["storage"] == f"postgresql://aura:***@127.0.0.1:{pg.port}/{db}"
    assert not (run_dir / "INCOMPLETE").exists() and (run_dir / "report.html").is_file()

    text = "\n".join(outputs) + _files_text(ws.root) + _database_text(pg, db)
    assert pg.password not in text
    assert "aura:***@" in text  # the URL was shown, redacted


def test_a_refused_password_fails_at_once_without_retrying_and_without_showing_it(ws, pg):
    pg.create_database("scale2")
    wrong = "Wrong-Pass-1234"
    t0 = time.monotonic()
    proc = ws.aura("--space", "space.yaml", "--folds", "1", "--trials", "3", "--run-id", "w", "--prepare",
                   "--storage", f"postgresql://aura:{wrong}@127.0.0.1:{pg.port}/scale2", timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert time.monotonic() - t0 < 60  # not the 300 s reconnect window
    assert "password authentication failed" in proc.stderr and "Traceback" not in proc.stderr
    assert wrong not in proc.stdout + proc.stderr + _files_text(ws.root)
    assert "OPTIMIZE_STORAGE" not in proc.stderr
    assert not (ws.optimizer_dir / "w").exists()  # checked before the run directory is created


def test_an_unreachable_server_is_waited_for_then_reported(ws, pg):
    """Nothing listens on the port: the worker waits (bounded by AURA_OPTIMIZER_RECONNECT_SECONDS), then exits 1
    with one line, the password redacted."""
    port = free_port()
    proc = ws.aura("--join", "nothing", "--storage", f"postgresql://aura:{pg.password}@127.0.0.1:{port}/x",
                   env={"AURA_OPTIMIZER_RECONNECT_SECONDS": "2"}, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "[OPTIMIZE_STORAGE] state=unreachable" in proc.stderr
    assert f"postgresql://aura:***@127.0.0.1:{port}/x" in proc.stderr
    assert pg.password not in proc.stdout + proc.stderr


@pytest.mark.parametrize("case, waits", [
    ("closed port", True), ("wrong password", False), ("missing database", False), ("sqlite file", False)])
def test_what_is_worth_waiting_for(pg, tmp_path, case, waits):
    """Real errors from real engines: an outage is waited for; a refusal or a file problem is not."""
    import sqlalchemy

    from aura_optimizer.studies import unreachable
    url = {"closed port": f"postgresql://aura:x@127.0.0.1:{free_port()}/postgres",
           "wrong password": f"postgresql://aura:wrong@127.0.0.1:{pg.port}/postgres",
           "missing database": pg.url("no_such_db"),
           "sqlite file": f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.sqlite3'}"}[case]
    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 5} if "postgres" in url else {})
    with pytest.raises(sqlalchemy.exc.OperationalError) as err:
        engine.connect()
    assert unreachable(err.value) is waits
