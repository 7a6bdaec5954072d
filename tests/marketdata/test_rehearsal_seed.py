"""The offline rehearsal's seeded market (``aura ingest --seed-rehearsal``): deterministic, written only into an
empty cache, and a market in which the SHIPPED strategy (config/strategy.yaml) buys within the first replayed days
(the reason for its seed and length; issue 18: a rehearsal that trades by default)."""

from __future__ import annotations

import numpy as np

from aura_common.adapters import parquet_store
from aura_common.config import load_config, load_strategy
from aura_ingestor.seed import DAY_MS, DAYS, REPLAY_START_DAYS, SYMBOLS, rehearsal_panel, seed_rehearsal
from harness.processes import REPO

TODAY = 1_765_065_600_000  # 2025-12-07 00:00 UTC: any day gives the same candles, only the dates move


def test_the_seed_is_deterministic_and_ends_at_todays_close():
    a, b = rehearsal_panel(TODAY + 3_600_000), rehearsal_panel(TODAY)
    assert a.symbols == b.symbols and len(a.symbols) == SYMBOLS and a.shape[0] == DAYS
    assert np.array_equal(a.close, b.close, equal_nan=True)
    assert int(a.times[-1]) == TODAY - DAY_MS  # the candle that closed at today's 00:00 UTC
    assert not np.isnan(a.close[0]).any()  # every symbol listed from the first day


def test_it_writes_an_empty_cache_only(tmp_path):
    assert seed_rehearsal(tmp_path, TODAY) is True
    files = sorted((tmp_path / "parquet" / "1d").glob("*.parquet"))
    assert len(files) == SYMBOLS
    stamp = [f.stat().st_mtime_ns for f in files]
    assert seed_rehearsal(tmp_path, TODAY + 5 * DAY_MS) is False  # a cache with 1d candles is left alone
    assert [f.stat().st_mtime_ns for f in files] == stamp
    panel = parquet_store.load_panel(tmp_path, "1d", None, start_ms=TODAY - DAYS * DAY_MS, end_ms=TODAY)
    assert panel.shape == (DAYS, SYMBOLS) and not np.isnan(panel.close).any()


def test_the_shipped_strategy_buys_in_the_first_replayed_days():
    from aura_common.core.backtest import BacktestConfig, CostModel, run_backtest
    from aura_common.core.features import compute_features

    config = load_config(REPO / "config" / "aura.yaml")
    params = load_strategy(REPO / "config" / "strategy.yaml")
    panel = rehearsal_panel(TODAY)
    start = int(panel.times[0]) + REPLAY_START_DAYS * DAY_MS  # the simulator's default start for a cache
    cfg = BacktestConfig(start_ms=start, end_ms=start + 30 * DAY_MS, initial_cash=10_000.0,
                         costs=CostModel(config.execution.fee_bps, config.execution.slippage_bps))
    result = run_backtest(compute_features(panel), params, cfg)
    assert result.regime[1:4] == ("bull",) * 3, result.regime[:5]
    assert any(t.t_ms < start + 3 * DAY_MS for t in result.trades)  # confirmed bull on day 2: it buys
    assert result.metrics["max_drawdown"] < params.risk.kill_switch_max_drawdown_pct / 100  # no kill switch early
