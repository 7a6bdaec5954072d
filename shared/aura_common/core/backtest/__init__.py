"""The backtester: the trader's decision functions and risk gates replayed over history (pure)."""

from aura_common.core.backtest.costs import DEFAULT_SPEC_FIGURES, CostModel, LotRule
from aura_common.core.backtest.engine import BacktestConfig, BacktestResult, Trade, run_backtest
from aura_common.core.backtest.metrics import compute_metrics

__all__ = ["DEFAULT_SPEC_FIGURES", "BacktestConfig", "BacktestResult", "CostModel", "LotRule", "Trade",
           "compute_metrics", "run_backtest"]
