"""Universe screen and composite score: exclusions, each screen rule, cross-sectional normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from aura_common.core.features import compute_features
from aura_common.core.params import ScoringParams, ScreenParams
from aura_common.core.scoring import score_rows, zscore_rows
from aura_common.core.screen import allowed_columns, exclusion_reason, screen_rows

from .conftest import panel_from_close


@pytest.mark.parametrize(("symbol", "configured", "reason"), [
    ("BTCUSDT", (), None),
    ("JUPUSDT", (), None),
    ("SUPERUSDT", (), None),
    ("USDCUSDT", (), "stable_or_pegged"),
    ("FDUSDUSDT", (), "stable_or_pegged"),
    ("EURUSDT", (), "stable_or_pegged"),
    ("PAXGUSDT", (), "stable_or_pegged"),
    ("WBTCUSDT", (), "stable_or_pegged"),
    ("BTCUPUSDT", (), "leveraged_token"),
    ("ETHDOWNUSDT", (), "leveraged_token"),
    ("BNBBULLUSDT", (), "leveraged_token"),
    ("XRPBEARUSDT", (), "leveraged_token"),
    ("DOGEUSDT", ("DOGEUSDT",), "configured"),
    ("DOGEUSDT", ("doge",), "configured"),
])
def test_exclusions(symbol, configured, reason):
    assert exclusion_reason(symbol, configured) == reason


def test_allowed_columns_ignores_order_of_the_configured_list():
    syms = ("AAAUSDT", "BBBUSDT", "USDCUSDT")
    assert allowed_columns(syms, ["BBB", "AAAUSDT"]).tolist() == allowed_columns(syms, ["AAAUSDT", "BBB"]).tolist() \
        == [False, False, False]


def _screen_panel():
    t = 40
    up = np.linspace(100, 200, t)  # steady riser: passes everything
    below = np.r_[np.linspace(100, 200, t - 5), np.linspace(190, 150, 5)]  # fell under its SMA
    crash = np.r_[np.linspace(100, 300, t - 3), [200, 150, 160]]  # -47 % from the high, rising today
    thin = up.copy()  # too little volume
    young = np.r_[np.full(t - 8, np.nan), np.linspace(10, 20, 8)]  # listed 8 days ago
    close = np.column_stack([up, below, crash, thin, young])
    qv = np.full(close.shape, 1e7)
    qv[:, 3] = 1e3
    return panel_from_close(close, ("AUPUSDT", "BELUSDT", "CRAUSDT", "THNUSDT", "YNGUSDT"), qv)


def test_each_screen_rule_rejects_its_case():
    params = ScreenParams(momentum_days=5, sma_days=10, drawdown_window_days=30, max_drawdown_pct=40.0,
                          liquidity_window_days=5, min_median_quote_volume=1e6, min_history_days=20)
    panel = _screen_panel()
    ok = screen_rows(compute_features(panel), slice(39, 40), params, allowed_columns(panel.symbols))[0]
    assert dict(zip(panel.symbols, ok.tolist())) == {
        "AUPUSDT": True, "BELUSDT": False, "CRAUSDT": False, "THNUSDT": False, "YNGUSDT": False}
    # an exclusion wins over a perfect chart
    ok = screen_rows(compute_features(panel), slice(39, 40), params, allowed_columns(panel.symbols, ["AUP"]))[0]
    assert not ok[0]


def test_zscore_rows_only_uses_eligible_finite_values():
    values = np.array([[1.0, 2.0, 3.0, 100.0, np.nan]])
    elig = np.array([[True, True, True, False, True]])
    z = zscore_rows(values, elig)
    np.testing.assert_allclose(z[0, :3], [-np.sqrt(1.5), 0.0, np.sqrt(1.5)])
    assert np.isnan(z[0, 3]) and z[0, 4] == 0.0
    flat = zscore_rows(np.array([[5.0, 5.0]]), np.array([[True, True]]))
    assert flat.tolist() == [[0.0, 0.0]]


def test_score_prefers_momentum_with_positive_weight_and_flips_with_negative():
    panel = _screen_panel()
    fs = compute_features(panel)
    elig = np.array([[True, False, True, True, False]])
    only_mom = ScoringParams(momentum_lookbacks_days=(5,), w_momentum=1.0, w_volatility=0.0, w_trend=0.0,
                             w_liquidity=0.0)
    s = score_rows(fs, slice(39, 40), elig, only_mom, ScreenParams(liquidity_window_days=5))[0]
    assert np.isnan(s[1]) and np.isnan(s[4])
    r5 = fs.ret(5)[39]
    assert np.argsort(-s[[0, 2, 3]]).tolist() == np.argsort(-r5[[0, 2, 3]]).tolist()
    neg = ScoringParams(momentum_lookbacks_days=(5,), w_momentum=-1.0, w_volatility=0.0, w_trend=0.0,
                        w_liquidity=0.0)
    s2 = score_rows(fs, slice(39, 40), elig, neg, ScreenParams(liquidity_window_days=5))[0]
    np.testing.assert_allclose(s2[[0, 2, 3]], -s[[0, 2, 3]])
