"""Helpers for the decision-core and backtester tests: small seeded panels and hand-built ones."""

from __future__ import annotations

import numpy as np
import pytest

from aura_common.config.loader import parse_strategy
from aura_common.core.panel import Panel
from aura_common.core.synthetic import DAY_MS, DEFAULT_START_MS, synthetic_panel


def panel_from_close(close, symbols, quote_volume=None) -> Panel:
    """A daily panel from a (T × N) close array; o=h=l=c, quote volume 1e7 unless given."""
    close = np.asarray(close, dtype=np.float64)
    qv = np.full(close.shape, 1e7) if quote_volume is None else np.asarray(quote_volume, dtype=np.float64)
    qv = np.where(np.isnan(close), np.nan, qv)
    times = DEFAULT_START_MS + np.arange(close.shape[0], dtype=np.int64) * DAY_MS
    return Panel.from_arrays(symbols, times, DAY_MS, open=close, high=close, low=close, close=close,
                             volume=qv / close, quote_volume=qv)


def strategy(**sections) -> object:
    return parse_strategy(sections, "<test>")


# A strategy that trades on a few hundred synthetic days and exercises every gate.
ACTIVE = {
    "screen": {"min_history_days": 60, "sma_days": 30, "momentum_days": 20, "min_median_quote_volume": 1e5},
    "scoring": {"momentum_lookbacks_days": [7, 20], "trend_days": 20},
    "regime": {"fast_sma_days": 20, "slow_sma_days": 60, "breadth_sma_days": 20},
    "risk": {"stop_loss_pct": 8.0, "take_profit_pct": 25.0, "kill_switch_max_drawdown_pct": 12.0,
             "kill_switch_cooldown_hours": 240.0},
}


@pytest.fixture(scope="session")
def small_panel() -> Panel:
    return synthetic_panel(12, 420, seed=11)


@pytest.fixture(scope="session")
def active_params():
    return strategy(**ACTIVE)
