"""Scale-out benchmark (issue 19): a walk-forward of 8 folds × 400 trials on the real 50-pair daily panel, searched
by 1, 2 and 4 ``aura optimize --join`` worker processes against a real PostgreSQL server, and the same on SQLite.

Run:  .venv/bin/python bench/optimizer/bench_postgres.py [--folds 8] [--trials 400] [--workers 1,2,4]
                                                        [--sqlite-workers 1,2] [--storage-ops 400]

What it does, the way an operator scales out:

1. builds the Parquet cache from the gzipped-JSON candles (bench_optimizer.build_cache; not timed);
2. starts a throw-away PostgreSQL cluster (Debian's binaries, tests/optimizer/pg_server.py: fsync on, the
   server's defaults otherwise, loopback TCP, scram password);
3. for each worker count N: a fresh database, ``aura optimize --prepare --storage URL``, then N ``--join RUN
   --workers 1`` processes started together; the search's figure is the wall time from their start until the last
   one exits (trials stored / seconds = trials per second), plus the per-fold overshoot; then ``--resume`` to
   report (timed apart). The same with SQLite in the run directory (``--join`` on one machine);
4. the storage's cost per trial, measured alone: for a study growing to ``--storage-ops`` trials, the calls one
   joining worker makes per trial (the finished trials' ids, the other worker's new trial when it shares the fold,
   writing its own trial), timed on PostgreSQL and on SQLite.
Worker CPU per trial (user + system of the joining processes, start-up included) and the server's CPU per trial
(the postmaster and every backend it reaped) are printed beside the wall-clock figures: on a shared machine they
are the steadier measure of what a trial costs.

Prints the machine load before and after (a shared 2-core machine: the figures are pessimistic).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "optimizer"))
sys.path.insert(0, str(REPO / "tests" / "optimizer"))

from bench_optimizer import build_cache, real_data  # noqa: E402
from pg_server import PgServer, pg_bin  # noqa: E402

AURA = REPO / ".venv" / "bin" / "aura"


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's waited-for children: the worker processes."""
    import resource
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def proc_cpu(pid: int | None) -> float:
    """CPU seconds of ``pid`` and its reaped children (the PostgreSQL postmaster: every backend that ended)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as fh:
        f = fh.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, root: Path, folds: int, trials: int) -> None:
        self.root, self.folds, self.trials = root, folds, trials
        self.cfg = root / "aura.yaml"
        self.cfg.write_text(yaml.safe_dump({"paths": {
            "data_dir": str(root / "data"), "journal": str(root / "journal" / "aura.sqlite"),
            "snapshots_dir": str(root / "snapshots"), "optimizer_dir": str(root / "optimizer"),
            "strategy_file": str(REPO / "config" / "strategy.yaml")}}))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
        self.server_pid: int | None = None

    def server_cpu(self) -> float:
        return proc_cpu(self.server_pid)

    def cmd(self, *args: str) -> list[str]:
        return [str(AURA), "--config", str(self.cfg), "optimize", "--no-progress", *args]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.cmd(*args), cwd=self.root, env=self.env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
        return proc

    def scale(self, run_id: str, workers: int, storage: list[str], trials_of) -> dict:
        self.run("--folds", str(self.folds), "--trials", str(self.trials), "--run-id", run_id, "--prepare", *storage)
        cpu0, server0 = children_cpu(), self.server_cpu()
        t0 = time.perf_counter()
        procs = [subprocess.Popen(self.cmd("--join", run_id, "--workers", "1", *storage), cwd=self.root,
                                  env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(workers)]
        for p in procs:
            _, err = p.communicate()
            if p.returncode != 0:
                sys.exit(f"join failed:\n{err[-3000:]}")
        search_s = time.perf_counter() - t0
        cpu_s, server_s = children_cpu() - cpu0, self.server_cpu() - server0
        t1 = time.perf_counter()
        self.run("--resume", run_id, *storage)
        report_s = time.perf_counter() - t1
        per_fold = trials_of(run_id)
        n = sum(per_fold)
        return {"workers": workers, "search_s": search_s, "trials": n, "per_s": n / search_s,
                "overshoot_max": max(per_fold) - self.trials, "report_s": report_s,
                "worker_cpu_ms_per_trial": 1000 * cpu_s / n, "server_cpu_ms_per_trial": 1000 * server_s / n}


def storage_cost(url: str, n: int) -> tuple[float, float]:
    """Seconds of storage work per trial of a joining worker, as ``studies.run_study`` does it, averaged over a
    study growing from 0 to ``n`` trials: alone on its fold (count/ids + write its trial) and sharing it with one
    other worker (+ fetch that worker's new trial)."""
    import optuna

    from aura_optimizer import studies
    storage = studies.make_storage(url)
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}

    def trial(k: int) -> optuna.trial.FrozenTrial:
        return studies.compact(optuna.trial.create_trial(
            params={"x": k / n}, distributions=dist, value=float(k),
            user_attrs={"m": {"sharpe": 1.0, "turnover_annual": 2.0, "trades": 10.0, "worker": "bench:1"}}))

    out = []
    for fold, shared in ((0, False), (1, True)):
        store = studies.FoldStore(studies.fold_study(storage, "cost", fold, None))
        other = studies.FoldStore(studies.fold_study(storage, "cost", fold, None)) if shared else None
        seen: set[int] = set()
        elapsed = 0.0
        for k in range(n):
            if other is not None:  # the other worker's trial arrives meanwhile (not timed)
                other.add(trial(k))
            t0 = time.perf_counter()
            new = [i for i in store.ids() if i not in seen]
            for i in new:
                store.trial(i)
            seen.update(new)
            seen.add(store.add(trial(k)))
            elapsed += time.perf_counter() - t0
        out.append(elapsed / n)
    return out[0], out[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=8)
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--sqlite-workers", default="1,2")
    ap.add_argument("--storage-ops", type=int, default=400)
    args = ap.parse_args()
    bindir = pg_bin()
    if bindir is None:
        sys.exit("PostgreSQL binaries not found (apt-get install postgresql)")

    tmp = tempfile.TemporaryDirectory(prefix="aura-bench-pg-")
    root = Path(tmp.name)
    print(f"load before: {os.getloadavg()}  cores: {os.cpu_count()}")
    shape = build_cache(real_data(), root / "data")
    print(f"panel: {shape[1]} symbols × {shape[0]} days; walk-forward {args.folds} folds × {args.trials} trials")
    b = Bench(root, args.folds, args.trials)
    pg = PgServer(bindir, free_port())
    pg.init()
    conf = (pg.data / "postgresql.conf").read_text()  # the bench measures a durable server: fsync back on
    (pg.data / "postgresql.conf").write_text(conf.replace("fsync = off", "fsync = on")
                                             .replace("synchronous_commit = off", "synchronous_commit = on")
                                             .replace("full_page_writes = off", "full_page_writes = on"))
    pg.start()
    postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
    rows = []
    try:
        def pg_trials(db):
            def trials_of(run_id):
                import psycopg
                with psycopg.connect(host="127.0.0.1", port=pg.port, user=pg.user, password=pg.password,
                                     dbname=db) as conn:
                    return [c for (c,) in conn.execute(
                        "SELECT count(t.trial_id) FROM studies s JOIN trials t ON t.study_id = s.study_id "
                        "WHERE s.study_name LIKE %s AND t.state IN ('COMPLETE', 'PRUNED') GROUP BY s.study_name",
                        (f"{run_id}.fold%",))]
            return trials_of

        def sqlite_trials(run_id):
            import sqlite3
            with sqlite3.connect(root / "optimizer" / run_id / "study.sqlite3") as conn:
                return [c for (c,) in conn.execute(
                    "SELECT count(t.trial_id) FROM studies s JOIN trials t ON t.study_id = s.study_id "
                    "WHERE s.study_name LIKE ? AND t.state IN ('COMPLETE', 'PRUNED') GROUP BY s.study_name",
                    (f"{run_id}.fold%",))]

        for w in [int(x) for x in args.sqlite_workers.split(",") if x]:
            r = b.scale(f"sqlite{w}", w, [], sqlite_trials) | {"storage": "sqlite"}
            rows.append(r)
            print(f"  sqlite     {w} worker(s): {r['trials']} trials in {r['search_s']:7.1f} s = "
                  f"{r['per_s']:5.1f} trials/s (overshoot max {r['overshoot_max']}/fold; report {r['report_s']:.1f} s)"
                  f"; CPU per trial: workers {r['worker_cpu_ms_per_trial']:.1f} ms, server "
                  f"{r['server_cpu_ms_per_trial']:.1f} ms; load {os.getloadavg()[0]:.2f}", flush=True)
        for w in [int(x) for x in args.workers.split(",") if x]:
            db = f"bench{w}"
            pg.create_database(db)
            b.server_pid = postmaster
            r = b.scale(f"pg{w}", w, ["--storage", pg.url(db)], pg_trials(db)) | {"storage": "postgresql"}
            rows.append(r)
            print(f"  postgresql {w} worker(s): {r['trials']} trials in {r['search_s']:7.1f} s = "
                  f"{r['per_s']:5.1f} trials/s (overshoot max {r['overshoot_max']}/fold; report {r['report_s']:.1f} s)"
                  f"; CPU per trial: workers {r['worker_cpu_ms_per_trial']:.1f} ms, server "
                  f"{r['server_cpu_ms_per_trial']:.1f} ms; load {os.getloadavg()[0]:.2f}", flush=True)
        pg.create_database("cost")
        cost = {"postgresql": storage_cost(pg.url("cost"), args.storage_ops),
                "sqlite": storage_cost(f"sqlite:///{root / 'cost.sqlite3'}", args.storage_ops)}
        for name, (alone, shared) in cost.items():
            print(f"storage work per trial of a joining worker ({name}, study growing 0 → {args.storage_ops} "
                  f"trials): {alone * 1000:.2f} ms alone on its fold, {shared * 1000:.2f} ms sharing it")
        print(f"load after: {os.getloadavg()}")
        print(json.dumps({"rows": rows, "storage_ms_per_trial": {k: [v * 1000 for v in c] for k, c in cost.items()}}))
    finally:
        pg.destroy()
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
