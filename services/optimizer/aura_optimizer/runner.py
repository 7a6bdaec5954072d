"""One optimizer run, start to finish: validate the inputs, create the run directory, search every fold, judge
the folds out of sample, write the report. Also ``--resume`` (same spec, same studies) and ``--join``.

Every input is validated before anything is written: an empty cache, too little history, a corrupt snapshot or
an invalid search space leave no run directory behind.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from aura_common.adapters.logs import event
from aura_common.config import AuraConfig, load_strategy
from aura_common.config.loader import parse_strategy, strategy_hash, strategy_to_dict
from aura_common.core.backtest import CostModel
from aura_common.core.redaction import redact_url_credentials
from aura_common.core.walkforward import Fold

from aura_optimizer import report, runs, search, stop, studies
from aura_optimizer.evaluate import Evaluator
from aura_optimizer.inputs import InputError, calibrate_costs, fingerprint, load_fixtures, load_market
from aura_optimizer.progress import Progress
from aura_optimizer.space import load_space, parse_space
from aura_optimizer.verdict import verdict
from aura_optimizer.walkforward import day, out_of_sample, plan_folds, warmup_rows

log = logging.getLogger("aura.optimize")
SPEC_VERSION = 1


@dataclass(frozen=True)
class Request:
    """What the operator asked for (flags over the config's ``optimizer`` section)."""

    train_days: int
    test_days: int
    step_days: int
    anchored: bool
    trials: int
    seed: int
    workers: int
    storage: str | None
    max_folds: int | None
    space_file: str | None
    params_file: str
    run_id: str | None = None
    fixtures: str | None = None  # gzipped-JSON candles instead of the Parquet cache


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def new_spec(config: AuraConfig, req: Request, now: datetime) -> tuple[dict[str, Any], Any]:
    """Validate every input and describe the run; returns (spec, panel). Writes nothing."""
    base = load_strategy(req.params_file)
    space = load_space(req.space_file, base)
    proxy = base.regime.proxy_symbol
    if req.fixtures:  # the configured fixed universe (and the proxy), as `aura backtest --fixtures` does
        u = config.universe
        wanted = tuple(sorted(set(u.symbols) | {proxy})) if u.source == "fixed" else None
        panel = load_fixtures(req.fixtures, wanted)
    else:
        panel = load_market(config.paths.data_dir)
    source = req.fixtures or config.paths.data_dir
    if proxy not in panel.symbols:
        raise InputError(f"the regime proxy {proxy} has no daily candles in {source}")
    warmup = warmup_rows(base, space)
    folds = plan_folds(panel, req.train_days, req.test_days, req.step_days, req.anchored, warmup, req.max_folds)
    ex = config.execution
    costs = calibrate_costs(config.paths.snapshots_dir, config.paths.journal, ex.fee_bps, ex.slippage_bps,
                            ex.quote_asset)
    spec = {
        "version": SPEC_VERSION, "created": now.isoformat(), "seed": req.seed, "trials": req.trials,
        "train_days": req.train_days, "test_days": req.test_days, "step_days": req.step_days,
        "anchored": req.anchored, "max_folds": req.max_folds, "warmup_days": warmup,
        "objective": asdict(space.objective), "space": space.raw, "space_source": space.source,
        "base_strategy": strategy_to_dict(base), "base_source": str(req.params_file),
        "base_hash": strategy_hash(base), "proxy_symbol": proxy, "costs": costs.as_dict(),
        "initial_cash": ex.paper_initial_quote, "exclusions": list(config.universe.exclusions),
        "data": {"symbols": list(panel.symbols), "end_ms": int(panel.times[-1]) + panel.interval_ms,
                 "from": day(int(panel.times[0])), "to": day(int(panel.times[-1])), "rows": panel.shape[0],
                 "fingerprint": fingerprint(panel), "fixtures": str(req.fixtures) if req.fixtures else None},
        "storage": safe_url(req.storage) if req.storage else None, "folds": [asdict(f) for f in folds],
    }
    return spec, panel


def panel_for(spec: dict[str, Any], data_dir: str):
    data = spec["data"]
    if data.get("fixtures"):
        data_dir = data["fixtures"]
        panel = load_fixtures(data_dir, tuple(data["symbols"]), data["end_ms"])
    else:
        panel = load_market(data_dir, tuple(data["symbols"]), data["end_ms"])
    if fingerprint(panel) != data["fingerprint"]:
        raise InputError(f"the candle data {data_dir} no longer holds the data this run started on "
                         f"(fingerprint {fingerprint(panel)}, run {data['fingerprint']}); start a new run")
    return panel


def context(spec: dict[str, Any], panel, run_id: str, storage_url: str) -> search.SearchContext:
    base = parse_strategy(spec["base_strategy"], f"run {run_id} base strategy")
    space = parse_space(spec["space"], spec["space_source"], base)
    costs = CostModel(spec["costs"]["fee_bps"], spec["costs"]["slippage_bps"])
    ev = Evaluator(panel, costs, spec["initial_cash"], tuple(spec["exclusions"]))
    folds = tuple(Fold(**f) for f in spec["folds"])
    return search.SearchContext(ev, space, base, folds, run_id, storage_url, spec["seed"], spec["trials"])


def storage_url(spec: dict[str, Any], explicit: str | None, run_dir: Path, run_id: str) -> str:
    """The storage of a run: the explicit URL (flag or config) or SQLite in the run directory. The spec keeps
    only the URL without its password, so a resumed run must be given the same URL again."""
    url = explicit or studies.default_storage_url(run_dir)
    recorded = spec.get("storage")
    if (recorded or None) != (safe_url(explicit) if explicit else None):
        raise runs.RunError(f"run {run_id} used storage {recorded or 'SQLite in its run directory'}; "
                            f"pass the same --storage (or optimizer.storage) to continue it", usage=True)
    return url


def execute(run_dir: Path, spec: dict[str, Any], ctx: search.SearchContext, workers: int, tty: bool | None,
            now_fn=lambda: datetime.now(timezone.utc)) -> dict[str, Any]:
    """Search every fold (resuming whatever the storage already holds), judge, report, finish the directory."""
    storage = studies.make_storage(ctx.storage_url)
    studies.publish_spec(storage, ctx.run_id, spec)
    done = search.pending(ctx, storage)
    total = ctx.trials * len(ctx.folds)
    already = sum(min(n, ctx.trials) for n in done.values())
    event(log, "OPTIMIZE_START", run=ctx.run_id, folds=len(ctx.folds), trials=ctx.trials, workers=workers,
          resumed_trials=already, storage=safe_url(ctx.storage_url), costs=spec["costs"]["source"])
    t0 = time.monotonic()
    bar = Progress(total, already, time.monotonic, tty=tty)
    try:
        search.search_folds(ctx, storage, workers, bar.advance)
    finally:
        bar.close()
    search_s = time.monotonic() - t0
    stop.check()
    bests = search.best_of_folds(ctx, storage)
    results = out_of_sample(ctx, bests, spec["proxy_symbol"])
    results["verdict"] = verdict(results, spec["objective"]["metric"])
    proposed_yaml = _proposed_yaml(results["proposed"]["strategy"])
    # a valid strategy FILE (every key of every section), or nothing is written
    parse_strategy(yaml.safe_load(proposed_yaml), "proposed.yaml", complete=True)
    results.update({
        "run_id": ctx.run_id, "status": "complete", "finished": now_fn().isoformat(),
        "inputs": {k: spec[k] for k in ("seed", "trials", "train_days", "test_days", "step_days", "anchored",
                                        "max_folds", "warmup_days", "objective", "base_source", "base_hash",
                                        "proxy_symbol", "costs", "initial_cash", "exclusions")}
        | {"data": {k: v for k, v in spec["data"].items() if k != "symbols"} | {"symbols": len(spec["data"]["symbols"])},
           "storage": safe_url(ctx.storage_url)},
        "timing": {"search_seconds": round(search_s, 3), "trials_run_now": total - already,
                   "workers": workers},
        "proposed_yaml": proposed_yaml,
    })
    stop.check()  # the last point to stop: from here the run's files are written and it is complete
    pngs = report.charts(results)
    files = dict(pngs)
    files[runs.PROPOSED] = proposed_yaml.encode()
    files["report.html"] = report.render_html(results, pngs)
    files[runs.RESULTS] = json.dumps(_finite(results), indent=1, sort_keys=True, allow_nan=False).encode()
    runs.finish_run(run_dir, files)
    st = results["stitched"]
    of = results["overfitting"]
    event(log, "OPTIMIZE_DONE", run=ctx.run_id, dir=run_dir, oos_sharpe=round(st["optimized"]["sharpe"], 4),
          default_sharpe=round(st["default"]["sharpe"], 4), oos_return=round(st["optimized"]["total_return"], 4),
          pbo=of["proposal_pbo"], dsr=of["proposal_dsr"], verdict="ok" if results["verdict"]["ok"] else "refused",
          search_s=round(search_s, 1))
    return results


def _proposed_yaml(strategy: dict[str, Any]) -> str:
    """Exactly the strategy file's format (what the trader hot-reloads): ``yaml.safe_dump(strategy_to_dict(p))``."""
    return yaml.safe_dump(strategy)


def _finite(obj: Any) -> Any:
    """JSON has no NaN or infinity: such a figure is written as null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def safe_url(url: str) -> str:
    """A storage URL without its password (``postgresql://user:***@host/db``): ``core.redaction``, the one rule."""
    return redact_url_credentials(url)
