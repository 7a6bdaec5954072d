"""Many backtests over one data window: features once, signals once per distinct signal parameters.

``Sweep(fs, cfg)`` keeps the feature store of the window (memoised by window length, so every feature that
does not depend on a swept parameter is computed once), a small LRU of ``Signals`` keyed by the parameters
that ``signal_rows`` reads (screen, scoring, voting, max_positions, regime), and a bounded memo of the parts of
the signals that depend on fewer parameters (eligibility per screen, each factor's z-scores per screen and
window, the score and its ranks per screen and scoring, the observed regime). Sweeping risk or portfolio
weights re-runs only the day loop; sweeping a voting parameter re-runs the votes and the selection; sweeping a
scoring weight re-runs the weighted sum, the ranking and voting, nothing else.
Pure and single-process; a caller may fan combinations out over processes (see bench/backtest).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any

from aura_common.core.backtest.engine import BacktestConfig, BacktestResult, _simulate
from aura_common.core.decide import Signals, signal_rows
from aura_common.core.features import FeatureStore
from aura_common.core.params import StrategyParams
from aura_common.core.screen import allowed_columns


def signal_key(params: StrategyParams) -> Hashable:
    return (params.screen, params.scoring, params.voting, params.portfolio.max_positions, params.regime)


class Sweep:
    def __init__(self, fs: FeatureStore, cfg: BacktestConfig, max_signals: int = 4) -> None:
        self.fs, self.cfg = fs, cfg
        self.allowed = allowed_columns(fs.panel.symbols, cfg.exclusions)
        self.max_signals = max_signals
        self._signals: OrderedDict[Hashable, Signals] = OrderedDict()
        self._memo: dict[Hashable, Any] = {}  # eligibility, factor z-scores, score + ranks, observed regime (signal_rows)
        self.max_memo = 48
        self.signal_builds = 0

    def signals(self, params: StrategyParams) -> Signals:
        key = signal_key(params)
        sig = self._signals.get(key)
        if sig is None:
            if len(self._memo) > self.max_memo:
                self._memo.clear()
            sig = signal_rows(self.fs, 0, self.fs.shape[0], params, self.allowed, self._memo)
            self.signal_builds += 1
            self._signals[key] = sig
            while len(self._signals) > self.max_signals:
                self._signals.popitem(last=False)
        else:
            self._signals.move_to_end(key)
        return sig

    def run(self, params: StrategyParams) -> BacktestResult:
        return _simulate(self.fs, self.signals(params), params, self.cfg)

    def run_all(self, combos: Iterable[StrategyParams]) -> list[BacktestResult]:
        return [self.run(p) for p in combos]
