"""``aura optimize``: walk-forward parameter search on the Parquet cache and the latest journal snapshot copy.

    aura optimize                      one run (what ``docker compose run optimizer`` does)
    aura optimize --service [--now]    one run on each schedules.optimizer_cron (UTC), until stopped
    aura optimize --resume RUN_ID      continue an interrupted run (same inputs, same studies)
    aura optimize --join RUN_ID        add worker processes to a running run (another container or machine)
    aura optimize --prepare            create the run and its studies, print the id, exit (then --join/--resume)
    aura optimize --apply-run RUN_ID   write a complete run's proposed.yaml over paths.strategy_file
    aura optimize --apply              ... the same, for the run just finished

Windows, trials, seed, workers and storage default to the config's ``optimizer`` section. Exit 0 ok, 1 runtime
failure (empty cache, too little history, corrupt snapshot, a failed search), 2 usage or configuration error
(including an invalid search space), 130 interrupted (resume with ``--resume``).
"""

from __future__ import annotations

import argparse
import os
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from aura_common.adapters.journal import SnapshotError
from aura_common.adapters.logs import configure_logging, event, register_secret
from aura_common.config import AuraConfig, ConfigError, load_config
from aura_common.config.loader import resolve_config_path
from aura_common.config.secrets import read_secret

from aura_optimizer import runs, search, studies
from aura_optimizer.inputs import InputError
from aura_optimizer.progress import Progress
from aura_optimizer.runner import Request, context, cores, execute, new_spec, panel_for, storage_url

log = logging.getLogger("aura.optimize")
PROG = "aura optimize"
STORAGE_PASSWORD = "AURA_OPTIMIZER_STORAGE_PASSWORD"  # $NAME, $NAME_FILE or /run/secrets/aura_optimizer_storage_password


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def configure(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("walk-forward (defaults: the config's optimizer section)")
    g.add_argument("--train-days", type=_positive, help="training window length")
    g.add_argument("--test-days", type=_positive, help="test (out-of-sample) window length")
    g.add_argument("--step-days", type=_positive, help="how far each fold moves (<= test days)")
    w = g.add_mutually_exclusive_group()
    w.add_argument("--anchored", dest="anchored", action="store_true", default=None,
                   help="training windows all start at the first usable day")
    w.add_argument("--rolling", dest="anchored", action="store_false", help="training windows slide")
    g.add_argument("--folds", type=_positive, help="keep only the most recent N folds")
    g.add_argument("--trials", type=_positive, help="Optuna trials per fold")
    g.add_argument("--seed", type=int, help="TPE seed (same seed + same data = same result)")
    g.add_argument("--workers", type=int, help="worker processes (0 = one per core)")
    g.add_argument("--storage", help="Optuna RDB URL shared by workers (default: SQLite in the run directory)")
    g.add_argument("--space", help="search-space YAML (default: the built-in default_space.yaml)")
    g.add_argument("--params", help="base strategy YAML (default: paths.strategy_file)")
    g.add_argument("--run-id", help="name the new run (default: its UTC start time)")
    m = parser.add_argument_group("modes")
    x = m.add_mutually_exclusive_group()
    x.add_argument("--service", action="store_true", help="run on schedules.optimizer_cron until stopped")
    x.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run")
    x.add_argument("--join", metavar="RUN_ID", help="add trials to a run's unfinished fold studies with --workers "
                   "processes, then exit")
    x.add_argument("--prepare", action="store_true", help="create the run and its studies, print its id, exit")
    x.add_argument("--apply-run", metavar="RUN_ID", help="write a complete run's proposed.yaml over the strategy file")
    m.add_argument("--force", action="store_true", help="with --apply/--apply-run: apply a proposal the run's "
                   "verdict refused (it lost to the defaults out of sample or looks overfitted); journaled")
    m.add_argument("--fixtures", metavar="DIR", help="read gzipped-JSON daily candles (../shared/data layout) "
                   "instead of the Parquet cache")
    m.add_argument("--now", action="store_true", help="with --service: also run once at start")
    m.add_argument("--apply", action="store_true", help="after this run completes, write its proposed.yaml over "
                   "paths.strategy_file (atomically; the trader hot-reloads and journals it)")
    p = m.add_mutually_exclusive_group()
    p.add_argument("--progress", dest="tty", action="store_true", default=None, help="always draw a progress bar")
    p.add_argument("--no-progress", dest="tty", action="store_false", help="plain progress lines")


def _usage(msg: str) -> int:
    print(f"{PROG}: {msg}", file=sys.stderr)
    return 2


def _request(config: AuraConfig, args: argparse.Namespace) -> Request:
    o = config.optimizer
    workers = args.workers if args.workers is not None else o.workers
    storage = args.storage or o.storage
    if storage and "@" in storage and ":" in storage.split("://", 1)[-1].split("@", 1)[0]:
        register_secret(storage.split("://", 1)[1].rsplit("@", 1)[0].split(":", 1)[1])
    problem = studies.storage_problem(storage) if storage else None
    if problem:  # before anything is written: no run directory for a storage that cannot work
        raise runs.RunError(problem, usage=True)
    if storage:  # postgresql://aura@db/optuna + the password from $..._FILE or /run/secrets (compose's secret)
        secret = read_secret(STORAGE_PASSWORD)
        if secret:
            register_secret(secret.get())
            storage = studies.with_password(storage, secret.get())
        password = studies.url_password(storage)
        if password:
            register_secret(password)
    return Request(
        train_days=args.train_days or o.train_days, test_days=args.test_days or o.test_days,
        step_days=args.step_days or o.step_days, anchored=o.anchored if args.anchored is None else args.anchored,
        trials=args.trials or o.trials, seed=o.seed if args.seed is None else args.seed,
        workers=workers if workers > 0 else cores(), storage=storage, max_folds=args.folds,
        space_file=args.space, params_file=args.params or config.paths.strategy_file, run_id=args.run_id,
        fixtures=args.fixtures)


def run(args: argparse.Namespace) -> int:
    configure_logging(stream=sys.stderr)
    studies.quiet_optuna()
    config = load_config(getattr(args, "config", None))
    if args.workers is not None and args.workers < 0:
        return _usage("--workers must be >= 0")
    if args.apply and (args.service or args.join or args.prepare or args.apply_run):
        return _usage("--apply goes with a run that finishes here (a plain run or --resume); "
                      "the service never applies anything")
    if args.now and not args.service:
        return _usage("--now goes with --service")
    if args.force and not (args.apply or args.apply_run):
        return _usage("--force goes with --apply or --apply-run")
    try:
        req = _request(config, args)
        if args.apply_run:
            return _apply(config, args.apply_run, args.force)
        if args.service:
            from aura_optimizer.service import serve
            source = str(resolve_config_path(getattr(args, "config", None), os.environ))
            return serve(config.schedules.optimizer_cron, lambda: _once(config, req, args), source, args.now)
        if args.join:
            return _join(config, req, args.join, args.tty)
        if args.resume:
            return _resume(config, req, args)
        return _once(config, req, args)
    except (InputError, SnapshotError, search.SearchError, search.WorkerDied, studies.StorageError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except runs.RunError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2 if exc.usage else 1


def _once(config: AuraConfig, req: Request, args: argparse.Namespace) -> int:
    now = datetime.now(timezone.utc)
    spec, panel = new_spec(config, req, now)  # every input validated; nothing written yet
    if req.storage:  # the server answers and accepts the password, before a run directory exists
        studies.make_storage(req.storage).engine.dispose()
    optimizer_dir = Path(config.paths.optimizer_dir)
    run_id = req.run_id or runs.new_run_id(now, optimizer_dir)
    spec["run_id"] = run_id
    run_dir = runs.create_run(optimizer_dir, run_id, now, spec)
    event(log, "OPTIMIZE_RUN", run=run_id, dir=run_dir, folds=len(spec["folds"]), trials=req.trials,
          data_from=spec["data"]["from"], data_to=spec["data"]["to"], costs=spec["costs"]["source"])
    return _finish(config, req, args, run_dir, spec, panel)


def _resume(config: AuraConfig, req: Request, args: argparse.Namespace) -> int:
    optimizer_dir = Path(config.paths.optimizer_dir)
    run_dir, spec = runs.read_run_spec(optimizer_dir, args.resume)
    if runs.is_complete(run_dir):
        print(f"run {args.resume} is already complete: {run_dir / 'report.html'}")
        return _apply(config, args.resume, args.force) if args.apply else 0
    return _finish(config, req, args, run_dir, spec, panel_for(spec, config.paths.data_dir))


def _finish(config: AuraConfig, req: Request, args: argparse.Namespace, run_dir: Path, spec: dict, panel) -> int:
    run_id = spec["run_id"]
    try:
        ctx = context(spec, panel, run_id, storage_url(spec, req.storage, run_dir, run_id))
        if getattr(args, "prepare", False):
            storage = studies.make_storage(ctx.storage_url)
            studies.publish_spec(storage, run_id, spec)
            search.pending(ctx, storage)
            print(run_id)
            return 0
        results = execute(run_dir, spec, ctx, req.workers, args.tty)
    except KeyboardInterrupt:
        if runs.is_complete(run_dir):  # the stop came after the last file was written: the run is done
            return 130
        runs.mark_incomplete(run_dir, f"interrupted; continue with: aura optimize --resume {run_id}")
        print(f"{PROG}: interrupted; run {run_id} is marked incomplete (continue with --resume {run_id})",
              file=sys.stderr)
        return 130
    except BaseException as exc:
        if not runs.is_complete(run_dir):
            runs.mark_incomplete(run_dir, f"failed: {type(exc).__name__}: {exc}")
        raise
    _summary(run_dir, results)
    return _apply(config, run_id, args.force) if args.apply else 0


def _summary(run_dir: Path, results: dict) -> None:
    st = results["stitched"]
    print(f"optimizer run {results['run_id']} complete: {run_dir / 'report.html'}")
    rows = [("optimized (out of sample)", st["optimized"]),
            ("default parameters", st["default"]),
            (f"buy & hold {results['inputs']['proxy_symbol']}", st["buy_and_hold"]),
            ("equal-weight buy & hold", st.get("equal_weight"))]
    for name, m in rows:
        if m:
            print(f"  {name:<28} sharpe {m['sharpe']:>7.3f}  return {m['total_return'] * 100:>8.1f} %  "
                  f"max drawdown {m['max_drawdown'] * 100:>5.1f} %  trades {int(m['trades'])}")
    print("  (one continuous out-of-sample run each: at fold boundaries only the proposal's parameters change)")
    for name, ks in results["kill_switch"].items():
        trips = [c for c in ks["changes"] if c["action"] == "trip"]
        if trips:
            print(f"  {name}: kill switch tripped {len(trips)} times, {ks['days_tripped']} days tripped, "
                  f"{ks['days_flat']} days flat")
    ivo, of = results["in_vs_out"], results["overfitting"]
    eff = "n/a" if ivo["efficiency"] is None else f"{ivo['efficiency']:.2f}"
    print(f"  efficiency (mean OOS / IS sharpe) {eff}; deflated Sharpe ratio {_num(of['proposal_dsr'])}; "
          f"probability of backtest overfitting {_num(of['proposal_pbo'])} (folds' mean {_num(of['mean_pbo'])})")
    v = results["verdict"]
    if v["ok"]:
        print(f"  proposed: {run_dir / runs.PROPOSED} (not applied; review the report, then "
              f"aura optimize --apply-run {results['run_id']})")
        return
    print("  NOT RECOMMENDED:")
    for p in v["problems"]:
        print(f"    - {p}")
    print("  proposed.yaml is written for review only; --apply-run refuses it unless --force is given")


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _apply(config: AuraConfig, run_id: str, force: bool = False) -> int:
    optimizer_dir = Path(config.paths.optimizer_dir)
    if not runs.valid_run_id(run_id):
        raise runs.RunError(f"invalid run id {run_id!r}", usage=True)
    run_dir = optimizer_dir / run_id
    problems = runs.refusals(run_dir)
    if problems and not force:
        print(f"{PROG}: run {run_id}: refusing to apply its proposal:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        print(f"{PROG}: read {run_dir / 'report.html'}; --force applies it anyway (journaled)", file=sys.stderr)
        return 1
    target = Path(config.paths.strategy_file)
    digest = runs.apply_proposed(run_dir, target)
    runs.record_apply(optimizer_dir, run_id, target, digest, forced=bool(problems), problems=problems,
                      now=datetime.now(timezone.utc))
    event(log, "OPTIMIZE_APPLY", run=run_id, file=target, strategy_hash=digest, forced=bool(problems),
          refused_because="; ".join(problems) if problems else None)
    print(f"applied {run_dir / runs.PROPOSED} -> {target} (strategy {digest}); "
          "the trader picks it up at its next cycle" + (" (FORCED against the run's verdict)" if problems else ""))
    return 0


def _join(config: AuraConfig, req: Request, run_id: str, tty: bool | None) -> int:
    if not runs.valid_run_id(run_id):
        raise runs.RunError(f"invalid run id {run_id!r}", usage=True)
    run_dir = Path(config.paths.optimizer_dir) / run_id
    url = req.storage or studies.default_storage_url(run_dir)
    if not req.storage and not (run_dir / "study.sqlite3").is_file():
        raise runs.RunError(f"no optimizer run {run_dir} to join (no study.sqlite3; pass --storage for a shared "
                            "database)", usage=True)
    storage = studies.make_storage(url)
    spec = studies.read_spec(storage, run_id)
    if spec is None:
        raise runs.RunError(f"storage {url if not req.storage else 'given'} holds no run {run_id}", usage=True)
    ctx = context(spec, panel_for(spec, config.paths.data_dir), run_id, url)
    bar = Progress(ctx.trials * len(ctx.folds), sum(min(n, ctx.trials) for n in search.pending(ctx, storage).values()),
                   time.monotonic, tty=tty)
    try:
        added = search.join_with(ctx, storage, req.workers, bar.advance)
    finally:
        bar.close()
    event(log, "OPTIMIZE_JOIN", run=run_id, trials_added=added, worker=studies.worker_id())
    print(f"joined run {run_id}: added {added} trials")
    return 0


__all__ = ["configure", "run", "ConfigError"]
