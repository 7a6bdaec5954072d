"""The walk-forward plan and its out-of-sample verdict.

- ``warmup_rows``: rows kept before the first training window so that every feature window the base strategy
  or the search space can ask for is full there.
- ``plan_folds``: ``core.walkforward.split_folds`` over the panel, or ``InputError`` saying how much history the
  requested windows need.
- ``out_of_sample``: each fold's best parameters (and the default parameters, and buy-and-hold of the regime
  proxy) replayed on the fold's unseen test window, starting flat (each strategy segment's last value pays the
  fee and slippage of selling what it still holds); the segments stitched into one curve each;
  the per-fold table (in-sample against out-of-sample) and the parameters' stability across folds.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime, timezone
from typing import Any

import numpy as np

from aura_common.config import ConfigError
from aura_common.config.loader import strategy_to_dict
from aura_common.core.backtest.metrics import compute_metrics
from aura_common.core.panel import Panel
from aura_common.core.params import StrategyParams
from aura_common.core.walkforward import Fold, split_folds, stitch

from aura_optimizer.inputs import InputError
from aura_optimizer.search import KEPT_METRICS, FoldBest, SearchContext
from aura_optimizer.space import SearchSpace

MAX_WARMUP_ROWS = 400


def day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def warmup_rows(base: StrategyParams, space: SearchSpace) -> int:
    """The longest ``*_days`` window of the base strategy or the space's upper bounds (capped)."""
    longest = 0
    for sec in fields(base):
        section = getattr(base, sec.name)
        for f in fields(section):
            if f.name.endswith("_days") and f.name != "kill_switch_window_days":
                v = getattr(section, f.name)
                longest = max(longest, max(v) if isinstance(v, tuple) else int(v))
    for d in space.dimensions:
        if d.path.endswith("_days") and d.path != "risk.kill_switch_window_days":
            vals = [max(c) if isinstance(c, list) else c for c in d.choices] if d.choices else [d.bounds[1]]
            longest = max(longest, int(max(vals)))
    return min(longest, MAX_WARMUP_ROWS)


def plan_folds(panel: Panel, train: int, test: int, step: int, anchored: bool, warmup: int,
               max_folds: int | None) -> tuple[Fold, ...]:
    try:
        folds = split_folds(panel.shape[0], warmup, train, test, step, anchored, max_folds)
    except ValueError as exc:  # the request itself is wrong (e.g. step_days > test_days): a usage error
        raise ConfigError("optimizer windows", "step_days" if "step" in str(exc) else "", str(exc)) from None
    if not folds:
        need = warmup + train + test
        have = panel.shape[0]
        raise InputError(
            f"too little history: one fold needs {need} days (warm-up {warmup} + train {train} + test {test}), "
            f"the cache has {have} days ({day(int(panel.times[0]))} .. {day(int(panel.times[-1]))})")
    return folds


def _metrics(equity: np.ndarray, exposure: np.ndarray, traded: float, trades: int) -> dict[str, float]:
    return {k: float(v) for k, v in compute_metrics(equity, exposure, traded, trades).items()}


def _kept(metrics: Mapping[str, float]) -> dict[str, float]:
    return {k: float(metrics[k]) for k in KEPT_METRICS}


def out_of_sample(ctx: SearchContext, bests: list[FoldBest], proxy: str) -> dict[str, Any]:
    ev = ctx.evaluator
    cash = ev.initial_cash
    panel = ev.panel
    cost_bps = ev.costs.fee_bps + ev.costs.slippage_bps
    segs: dict[str, list[np.ndarray]] = {"optimized": [], "default": [], "buy_and_hold": []}
    expo: dict[str, list[np.ndarray]] = {"optimized": [], "default": []}
    traded = {"optimized": 0.0, "default": 0.0}
    n_trades = {"optimized": 0, "default": 0}
    rows: list[dict[str, Any]] = []
    for fold, best in zip(ctx.folds, bests):
        n = fold.oos_rows
        fold_row = {"index": fold.index,
                    "train": {"from": day(int(panel.times[fold.train_lo])), "to": day(int(panel.times[fold.train_hi - 1])),
                              "days": fold.train_hi - fold.train_lo},
                    "test": {"from": day(int(panel.times[fold.test_lo])), "to": day(int(panel.times[fold.test_hi - 1])),
                             "days": fold.test_hi - fold.test_lo},
                    "stitched_days": n, "trials": best.trials, "invalid_trials": best.invalid,
                    "objective": best.value, "params": best.values, "in_sample": best.metrics}
        for name, params in (("optimized", best.params), ("default", ctx.base)):
            res = ev.backtest(params, fold.test_lo, fold.test_hi)
            fold_row["out_of_sample" if name == "optimized" else "default_out_of_sample"] = _kept(res.metrics)
            segs[name].append(_liquidated(res.equity[:n], res.exposure[n - 1], cost_bps))
            expo[name].append(res.exposure[:n])
            kept = [t for t in res.trades if t.t_ms <= int(res.times_ms[n - 1])]
            traded[name] += sum(t.notional for t in kept)
            n_trades[name] += len(kept)
        segs["buy_and_hold"].append(ev.buy_and_hold(proxy, fold.test_lo, fold.test_lo + n))
        rows.append(fold_row)

    lo, hi = ctx.folds[0].test_lo, ctx.folds[-1].oos_hi
    curves: dict[str, Any] = {"times_ms": [int(t) for t in panel.times[lo:hi]]}
    stitched: dict[str, Any] = {}
    for name, parts in segs.items():
        curve = stitch(parts, [cash] * len(parts), cash) if not np.isnan(parts[0]).all() else np.full(hi - lo, np.nan)
        curves[name] = [None if v != v else float(v) for v in curve]
        if name == "buy_and_hold":
            stitched[name] = _kept(_metrics(curve, np.ones(len(curve)), cash, 1)) if curve[0] == curve[0] else None
        else:
            stitched[name] = _kept(_metrics(curve, np.concatenate(expo[name]), traded[name], n_trades[name]))

    is_sharpe = [b.metrics.get("sharpe", 0.0) for b in bests]
    oos_sharpe = [r["out_of_sample"]["sharpe"] for r in rows]
    mean_is = statistics.fmean(is_sharpe)
    return {
        "folds": rows,
        "stitched": stitched,
        "curves": curves,
        "stability": stability(ctx.space, bests),
        "in_vs_out": {"mean_in_sample_sharpe": mean_is, "mean_out_of_sample_sharpe": statistics.fmean(oos_sharpe),
                      "efficiency": statistics.fmean(oos_sharpe) / mean_is if mean_is > 0 else None},
        "proposed": {"from_fold": bests[-1].fold, "values": bests[-1].values,
                     "strategy": strategy_to_dict(bests[-1].params)},
    }


def _liquidated(equity: np.ndarray, exposure: float, cost_bps: float) -> np.ndarray:
    """A segment whose last value pays for selling what it still holds: the next fold starts flat, so the
    stitched curve must not carry positions across a boundary for free."""
    out = np.array(equity, dtype=np.float64)
    out[-1] *= 1.0 - exposure * cost_bps / 10_000
    return out


def stability(space: SearchSpace, bests: list[FoldBest]) -> dict[str, Any]:
    """Per parameter: the chosen value in each fold, its position in the declared range (0..1), and the
    dispersion (population std of those positions; 0 = the same value in every fold, ~0.29 = uniform noise)."""
    out = {}
    for d in space.dimensions:
        values = [b.values[d.path] for b in bests]
        pos = [d.normalise(v) for v in values]
        out[d.path] = {"values": values, "position": pos,
                       "dispersion": statistics.pstdev(pos) if len(pos) > 1 else 0.0}
    return out
