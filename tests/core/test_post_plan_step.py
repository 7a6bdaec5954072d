"""The one step after the plan (core/rebalance.py): the trader's wiring and the backtester's day loop give the same
legs and quantities for the same day state; the kill-switch-tripped policy and "no re-entry after a stop".

The property replays a whole backtest through the TRADER's function: for every day it rebuilds the day state the
day loop saw (holdings, cash, marks, regime state, previous exposure, the kill switch, the day's stop exits) from
the backtest's own trades, calls ``aura_trader.rebalance.plan_intents`` with it (Decimal mappings, as the trader
does) and requires the trader's intents to be that day's backtest trades: same symbols, sides and order, and the
same quantity to one lot step (the trader re-floors in Decimal; float's floor may be one step lower).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aura_common.core.backtest import BacktestConfig, CostModel, run_backtest
from aura_common.core.features import compute_features
from aura_common.core.regime import Regime, RegimeState
from aura_common.core.synthetic import synthetic_panel
from aura_common.domain import Side
from aura_common.domain.values import MarketSpec, Symbol
from aura_trader.rebalance import plan_intents

from .conftest import ACTIVE, panel_from_close, strategy

D = Decimal
STEP = 1e-8  # the backtester's default lot rule (DEFAULT_SPEC_FIGURES): step 1e-8, min notional 10


def spec(symbol: str) -> MarketSpec:
    return MarketSpec(Symbol(symbol), symbol[:-4], "USDT", D("0.00000001"), D("0.00000001"), D("0.00000001"),
                      D("10"))


def expo_of(params, regime: str) -> float:
    return float(getattr(params.regime, f"exposure_{regime}"))


def replay_through_the_trader(panel, params, costs: CostModel, cash0: float = 10_000.0) -> int:
    """Every day of a backtest replayed through plan_intents; returns the number of days with orders compared."""
    fs = compute_features(panel)
    r = run_backtest(fs, params, BacktestConfig(initial_cash=cash0, costs=costs, record_plans=True))
    symbols = panel.symbols
    specs = {Symbol(s): spec(s) for s in symbols}
    fee = costs.fee_bps / 1e4
    by_day: dict[int, list] = {}
    for t in r.trades:
        by_day.setdefault(t.t_ms, []).append(t)
    stops: dict[int, dict[Symbol, str]] = {}
    for e in r.gate_events:
        if e.gate in ("stop_loss", "take_profit") and e.decision == "deny":
            stops.setdefault(e.t_ms, {})[Symbol(e.symbol)] = e.gate
    qty = {s: 0.0 for s in symbols}
    last = {s: float("nan") for s in symbols}
    cash = cash0
    tripped = False
    changes = list(r.kill_switch_changes)
    compared = 0
    for d, now in enumerate(r.times_ms.tolist()):
        close = panel.close[d]
        for j, s in enumerate(symbols):
            if qty[s] > 0 and close[j] == close[j]:
                last[s] = float(close[j])
        while changes and changes[0].t_ms <= now:
            tripped = changes.pop(0).action == "trip"
        prices = {Symbol(s): D(repr(float(close[j]) if close[j] == close[j] else last[s]))
                  for j, s in enumerate(symbols) if close[j] == close[j] or (qty[s] > 0 and last[s] == last[s])}
        holdings = {Symbol(s): D(repr(q)) for s, q in qty.items() if q > 0}
        _, state = r.plan_inputs[d]
        prev = expo_of(params, r.regime[d - 1]) if d > 0 else 0.0
        live = panel.closed_by(int(panel.times[d]) + panel.interval_ms)
        prop = plan_intents(panel=live, row=d, params=params, regime=state, prev_exposure=prev, cycle_key=f"d{d}",
                            holdings=holdings, free_quote=D(repr(cash)), prices=prices, specs=specs,
                            fee_bps=costs.fee_bps, slippage_bps=costs.slippage_bps, blocked=tripped,
                            stopped=stops.get(now, {}))
        want = by_day.get(now, [])
        got = list(prop.batch.intents)
        assert [(i.symbol, i.side.value) for i in got] == [(t.symbol, t.side) for t in want], (d, got, want)
        for i, t in zip(got, want):
            assert abs(float(i.quantity) - t.qty) <= STEP * 1.000001 + 1e-12 * t.qty, (d, i, t)
            assert prop.reasons[i.symbol] == t.reason, (d, i.symbol, prop.reasons[i.symbol], t.reason)
        compared += bool(want)
        # the day's fills, by the backtester's fill model (sell: fee in quote; buy: fee in the base asset)
        for t in want:
            if t.side == "SELL":
                cash += t.notional - t.fee
                qty[t.symbol] = 0.0 if qty[t.symbol] - t.qty <= qty[t.symbol] * 1e-12 else qty[t.symbol] - t.qty
            else:
                cash -= t.notional
                qty[t.symbol] += t.qty * (1 - fee)
                last[t.symbol] = t.price / (1 + costs.slippage_bps / 1e4)
    return compared


@pytest.fixture(scope="module")
def panel():
    return synthetic_panel(8, 260, seed=5)


def test_the_traders_step_replays_a_whole_backtest(panel):
    """Stops, take-profits, kill-switch trips and re-arms, regime cuts, cost-benefit denials: the same orders."""
    params = strategy(**ACTIVE)
    r = run_backtest(compute_features(panel), params, BacktestConfig())
    assert {t.reason for t in r.trades} >= {"rebalance", "stop_loss"}
    assert any(c.action == "trip" for c in r.kill_switch_changes)
    assert replay_through_the_trader(panel, params, CostModel()) > 20


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), stop=st.sampled_from([5.0, 8.0, 30.0]), take=st.sampled_from([10.0, 25.0, 200.0]),
       ks=st.sampled_from([8.0, 12.0, 40.0]), liquidate=st.booleans(), action=st.sampled_from(["skip", "trim"]),
       fee=st.sampled_from([0.0, 7.5, 10.0]), slip=st.sampled_from([0.0, 5.0]))
def test_property_trader_step_equals_the_day_loop(seed, stop, take, ks, liquidate, action, fee, slip):
    panel = synthetic_panel(6, 150, seed=seed)
    params = strategy(**{**ACTIVE, "risk": {**ACTIVE["risk"], "stop_loss_pct": stop, "take_profit_pct": take,
                                            "kill_switch_max_drawdown_pct": ks, "kill_switch_liquidate": liquidate,
                                            "cost_benefit_action": action}})
    replay_through_the_trader(panel, params, CostModel(fee_bps=fee, slippage_bps=slip))


# --- the two semantics that used to differ, pinned ------------------------------------------------------------------

def _rising_panel():
    """Four symbols rising at different speeds: a bull regime picks the fastest ones."""
    t = np.arange(120, dtype=np.float64)[:, None]
    close = 100.0 * np.exp(t * np.array([[0.004, 0.006, 0.008, 0.010]]))
    return panel_from_close(close, ("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT"))


def _propose(blocked=False, stopped=None, holdings=None, cash="10000"):
    panel = _rising_panel()
    params = strategy(screen={"min_history_days": 30, "sma_days": 20, "momentum_days": 10,
                              "min_median_quote_volume": 1e5},
                      scoring={"momentum_lookbacks_days": [7, 20], "trend_days": 20},
                      regime={"fast_sma_days": 10, "slow_sma_days": 30, "breadth_sma_days": 10},
                      portfolio={"max_positions": 2, "weighting": "equal", "max_weight": 0.5},
                      risk={"cost_benefit_margin_bps": 0.0, "cost_benefit_bps_per_score": 1e6})
    row = panel.shape[0] - 1
    prices = {Symbol(s): D(repr(float(panel.close[row, j]))) for j, s in enumerate(panel.symbols)}
    return plan_intents(panel=panel, row=row, params=params, regime=RegimeState(Regime.BULL, Regime.BULL, 5),
                        prev_exposure=1.0, cycle_key="k", holdings=holdings or {}, free_quote=D(cash), prices=prices,
                        specs={Symbol(s): spec(s) for s in panel.symbols}, fee_bps=10, slippage_bps=5,
                        blocked=blocked, stopped=stopped)


def test_kill_switch_tripped_the_rebalance_still_sells_but_never_buys():
    """Decided: a tripped switch blocks new entries and additions, never risk reduction (ARCHITECTURE.md). The
    trader used to skip the whole rebalance while the backtester sold down; now both run sells only."""
    held = {Symbol("AAAUSDT"): D("20")}  # the slowest symbol: the plan exits it and buys the two fastest
    free = _propose(holdings=held)
    assert {(i.symbol, i.side) for i in free.batch.intents} >= {("AAAUSDT", Side.SELL), ("DDDUSDT", Side.BUY)}
    tripped = _propose(holdings=held, blocked=True)
    assert [(i.symbol, i.side) for i in tripped.batch.intents] == [("AAAUSDT", Side.SELL)]
    assert tripped.reasons["AAAUSDT"] == "exit"


def test_a_symbol_stopped_today_is_not_bought_back_today():
    """Decided: after a stop-loss or take-profit exit, no re-entry the same UTC day (the backtester's rule, now the
    trader's: the risk cycle's exits are passed to the rebalance)."""
    fresh = _propose()
    bought = {i.symbol for i in fresh.batch.intents if i.side is Side.BUY}
    assert "DDDUSDT" in bought
    after_stop = _propose(stopped={Symbol("DDDUSDT"): "stop_loss"})
    assert "DDDUSDT" not in {i.symbol for i in after_stop.batch.intents}
    assert {i.symbol for i in after_stop.batch.intents if i.side is Side.BUY} == bought - {"DDDUSDT"}


def test_a_two_symbol_universe_enters_when_the_regime_lifts_exposure():
    """Decided: the cost-benefit gate weighs rotations, never the regime's exposure. Both symbols of a two-symbol
    universe are picked, their cross-sectional scores sum to ~0, so an entry from cash had ~0 estimated benefit and
    was denied for ever (BTC+ETH 2020-2022: 0 trades). A lift of exposure now buys, as a cut sells."""
    t = np.arange(120, dtype=np.float64)[:, None]
    panel = panel_from_close(100.0 * np.exp(t * np.array([[0.006, 0.008]])), ("AAAUSDT", "BBBUSDT"))
    params = strategy(screen={"min_history_days": 30, "sma_days": 20, "momentum_days": 10,
                              "min_median_quote_volume": 1e5},
                      scoring={"momentum_lookbacks_days": [7, 20], "trend_days": 20},
                      regime={"fast_sma_days": 10, "slow_sma_days": 30, "breadth_sma_days": 10})
    row = panel.shape[0] - 1
    prices = {Symbol(s): D(repr(float(panel.close[row, j]))) for j, s in enumerate(panel.symbols)}
    common = dict(panel=panel, row=row, params=params, regime=RegimeState(Regime.BULL, Regime.BULL, 5),
                  cycle_key="k", holdings={}, free_quote=D("10000"), prices=prices,
                  specs={Symbol(s): spec(s) for s in panel.symbols}, fee_bps=10, slippage_bps=5)
    lifted = plan_intents(prev_exposure=0.0, **common)
    assert {(i.symbol, i.side) for i in lifted.batch.intents} == {("AAAUSDT", Side.BUY), ("BBBUSDT", Side.BUY)}
    assert set(lifted.reasons.values()) == {"regime"}
    steady = plan_intents(prev_exposure=1.0, **common)  # the same entry without a lift is weighed, and denied
    assert steady.batch.intents == () and steady.gate is not None and steady.gate.decision.value == "deny"
