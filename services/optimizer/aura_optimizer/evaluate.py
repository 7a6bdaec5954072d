"""Backtests over row windows of one panel, and the robust objective the search maximises.

One ``Evaluator`` per process holds the panel's ``FeatureStore`` (every feature memoised by window, shared by
all folds and trials: features are point in time, so a row's value never depends on later candles). A trial
computes signals only for its window (plus the voting look-back) and replays it with the trader's decision
functions and risk gates (``aura_common.core.backtest``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from aura_common.core.backtest import BacktestConfig, BacktestResult, CostModel, run_backtest
from aura_common.core.backtest.engine import run_backtest_segments
from aura_common.core.decide import signal_rows, voting_lookback
from aura_common.core.features import compute_features
from aura_common.core.panel import Panel
from aura_common.core.params import StrategyParams
from aura_common.core.screen import allowed_columns

from aura_optimizer.space import Objective

METRIC_CLIP = 20.0  # |ratio| above this is noise of a near-zero denominator, not skill
NO_TRADES_FLOOR = -100.0


def score(metrics: Mapping[str, float], objective: Objective) -> float:
    """The value a trial maximises: the metric (clipped) minus a turnover penalty.

    Fewer than ``min_trades`` fills scores in ``[-100, -99)``, below any real outcome, still ordered by the
    number of trades so that the sampler can move towards strategies that trade.
    """
    trades = metrics["trades"]
    if trades < objective.min_trades:
        return NO_TRADES_FLOOR + trades / max(objective.min_trades, 1)
    value = float(metrics[objective.metric])
    if not math.isfinite(value):
        value = -METRIC_CLIP
    value = max(-METRIC_CLIP, min(METRIC_CLIP, value))
    return value - objective.turnover_penalty * float(metrics["turnover_annual"])


@dataclass(frozen=True)
class Window:
    lo: int  # first decision row
    hi: int  # exclusive


class Evaluator:
    def __init__(self, panel: Panel, costs: CostModel, initial_cash: float, exclusions: tuple[str, ...]) -> None:
        self.panel = panel
        self.fs = compute_features(panel)
        self.costs, self.initial_cash, self.exclusions = costs, float(initial_cash), tuple(exclusions)
        self.allowed = allowed_columns(panel.symbols, self.exclusions)

    def backtest(self, params: StrategyParams, lo: int, hi: int) -> BacktestResult:
        """Replay decision rows ``[lo, hi)`` starting flat with ``initial_cash``."""
        sig = signal_rows(self.fs, max(0, lo - voting_lookback(params)), hi, params, self.allowed)
        times = self.panel.times
        cfg = BacktestConfig(start_ms=int(times[lo]), end_ms=int(times[hi - 1]), initial_cash=self.initial_cash,
                             costs=self.costs, exclusions=self.exclusions)
        return run_backtest(self.fs, params, cfg, signals=sig)

    def backtest_segments(self, segments: list[tuple[StrategyParams, int, int]]) -> BacktestResult:
        """One continuous run over contiguous row windows ``[lo, hi)``, each with its own parameters: the portfolio,
        the kill switch and the regime state carry over every boundary (``run_backtest_segments``)."""
        times = self.panel.times
        segs = [(p, int(times[lo]), int(times[hi - 1])) for p, lo, hi in segments]
        cfg = BacktestConfig(start_ms=segs[0][1], end_ms=segs[-1][2], initial_cash=self.initial_cash,
                             costs=self.costs, exclusions=self.exclusions)
        return run_backtest_segments(self.fs, segs, cfg)

    def buy_and_hold(self, symbol: str, lo: int, hi: int, anchor: int | None = None) -> np.ndarray:
        """Equity of ``initial_cash`` held in ``symbol`` over rows ``[lo, hi)`` (gaps keep the last price), bought at
        the close of row ``anchor`` (default ``lo``; ``lo - 1`` continues a holding from the row before, so that a
        stitched segment does not skip the move into its first day)."""
        if symbol not in self.panel.symbols:
            return np.full(hi - lo, np.nan)
        a = lo if anchor is None else anchor
        if not 0 <= a <= lo:
            raise ValueError(f"anchor row {a} must be within [0, {lo}]")
        close = _ffill(self.panel.close[a:hi, self.panel.symbols.index(symbol)].copy())
        first = close[~np.isnan(close)]
        if len(first) == 0:
            return np.full(hi - lo, np.nan)
        close[np.isnan(close)] = first[0]
        return (self.initial_cash * close / first[0])[lo - a:]

    def equal_weight_hold(self, lo: int, hi: int) -> np.ndarray:
        """Equity of ``initial_cash`` split equally over every allowed symbol with a close at row ``lo``, bought at
        that close and held (no rebalancing, no costs; gaps keep the last price)."""
        cols = [j for j in range(len(self.panel.symbols))
                if self.allowed[j] and self.panel.close[lo, j] == self.panel.close[lo, j]]
        if not cols:
            return np.full(hi - lo, np.nan)
        block = np.column_stack([_ffill(self.panel.close[lo:hi, j].copy()) for j in cols])
        return self.initial_cash / len(cols) * (block / block[0]).sum(axis=1)


def _ffill(x: np.ndarray) -> np.ndarray:
    for i in range(1, len(x)):
        if x[i] != x[i]:
            x[i] = x[i - 1]
    return x
