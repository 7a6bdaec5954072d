"""The walk-forward plan and its out-of-sample verdict.

- ``warmup_rows``: rows kept before the first training window so that every feature window the base strategy
  or the search space can ask for is full there.
- ``plan_folds``: ``core.walkforward.split_folds`` over the panel, or ``InputError`` saying how much history the
  requested windows need.
- ``out_of_sample``: like with like over the whole out-of-sample window: the default parameters, the proposal
  (parameters changing at fold boundaries, the portfolio and the kill switch carrying over) and buy-and-hold (the
  regime proxy; equal weight over the allowed symbols) as one continuous run each; the per-fold table (in-sample
  against out-of-sample, each fold's slice of those curves), the per-fold deflated Sharpe ratio and probability of
  backtest overfitting (``core.overfitting``) from the trials' daily in-sample returns, and the parameters'
  stability across folds.
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
from aura_common.core.walkforward import Fold, split_folds

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
    """The out-of-sample verdict over the stitched window ``[first test start, last fold's oos end)``.

    Like is compared with like: the default parameters, the optimized proposal and buy-and-hold are each ONE
    continuous run over that window. For the proposal, fold boundaries change the parameters, never the portfolio,
    the kill switch or the regime state (``Evaluator.backtest_segments``). The per-fold table takes each fold's
    slice of those curves."""
    ev = ctx.evaluator
    cash = ev.initial_cash
    panel = ev.panel
    lo, hi = ctx.folds[0].test_lo, ctx.folds[-1].oos_hi
    default = ev.backtest(ctx.base, lo, hi)
    optimized = ev.backtest_segments([(b.params, f.test_lo, f.oos_hi) for f, b in zip(ctx.folds, bests)])
    curve = {"optimized": optimized.equity, "default": default.equity,
             "buy_and_hold": ev.buy_and_hold(proxy, lo, hi), "equal_weight": ev.equal_weight_hold(lo, hi)}
    expo = {"optimized": optimized.exposure, "default": default.exposure}
    trades = {name: (sum(t.notional for t in r.trades), len(r.trades))
              for name, r in (("optimized", optimized), ("default", default))}
    kill_switch = {name: {"changes": [c._asdict() for c in r.kill_switch_changes], "days_tripped": r.days_tripped,
                          "days_flat": r.days_flat} for name, r in (("optimized", optimized), ("default", default))}

    rows: list[dict[str, Any]] = []
    for fold, best in zip(ctx.folds, bests):
        a, b = fold.test_lo - lo, fold.oos_hi - lo
        fold_row = {"index": fold.index,
                    "train": {"from": day(int(panel.times[fold.train_lo])), "to": day(int(panel.times[fold.train_hi - 1])),
                              "days": fold.train_hi - fold.train_lo},
                    "test": {"from": day(int(panel.times[fold.test_lo])), "to": day(int(panel.times[fold.oos_hi - 1])),
                             "days": fold.oos_hi - fold.test_lo},
                    "stitched_days": fold.oos_rows, "trials": best.trials, "invalid_trials": best.invalid,
                    "objective": best.value, "params": best.values, "in_sample": best.metrics,
                    "overfitting": best.overfitting}
        for name, key in (("optimized", "out_of_sample"), ("default", "default_out_of_sample")):
            # the slice starts at the previous day's mark, so that its first return is this fold's first day
            s0 = max(a - 1, 0)
            fold_row[key] = _kept(_metrics(curve[name][s0:b], expo[name][s0:b], 0.0, 0))
        rows.append(fold_row)

    stitched: dict[str, Any] = {}
    curves: dict[str, Any] = {"times_ms": [int(t) for t in panel.times[lo:hi]]}
    for name, c in curve.items():
        curves[name] = [None if v != v else float(v) for v in c]
        if name in expo:
            stitched[name] = _kept(_metrics(c, expo[name], *trades[name]))
        else:
            stitched[name] = _kept(_metrics(c, np.ones(len(c)), cash, 1)) if c[0] == c[0] else None

    is_sharpe = [b.metrics.get("sharpe", 0.0) for b in bests]
    oos_sharpe = [r["out_of_sample"]["sharpe"] for r in rows]
    mean_is = statistics.fmean(is_sharpe)
    return {
        "folds": rows,
        "stitched": stitched,
        "continuous": {"optimized": True, "default": True, "buy_and_hold": True},
        "kill_switch": kill_switch,
        "curves": curves,
        "stability": stability(ctx.space, bests),
        "in_vs_out": {"mean_in_sample_sharpe": mean_is, "mean_out_of_sample_sharpe": statistics.fmean(oos_sharpe),
                      "efficiency": statistics.fmean(oos_sharpe) / mean_is if mean_is > 0 else None},
        "overfitting": overall_overfitting(rows),
        "proposed": {"from_fold": bests[-1].fold, "values": bests[-1].values,
                     "strategy": strategy_to_dict(bests[-1].params)},
    }


def overall_overfitting(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The proposal's figures (the most recent fold: its parameters are the ones proposed) and the folds' mean."""
    per = [r["overfitting"] for r in rows if r["overfitting"] is not None]
    last = rows[-1]["overfitting"]
    return {"proposal_dsr": None if last is None else last["dsr"],
            "proposal_pbo": None if last is None else last["pbo"],
            "mean_pbo": statistics.fmean(p["pbo"] for p in per) if per else None,
            "mean_dsr": statistics.fmean(p["dsr"] for p in per) if per else None,
            "folds_with_returns": len(per)}


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
