"""The backtester: same plans as the trader's path, gates really applied, cash accounting, lot rules, metrics."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core import jit
from aura_common.core.backtest import BacktestConfig, CostModel, LotRule, compute_metrics, run_backtest
from aura_common.core.backtest.metrics import max_drawdown
from aura_common.core.decide import decide
from aura_common.core.features import compute_features
from aura_common.core.synthetic import synthetic_panel
from aura_common.domain.values import MarketSpec, Symbol

from .conftest import ACTIVE, strategy


@pytest.fixture(scope="module")
def fs(small_panel):
    return compute_features(small_panel)


def test_trades_and_every_gate_fires(fs, active_params):
    r = run_backtest(fs, active_params, BacktestConfig())
    assert len(r.trades) > 20
    gates = {e.gate for e in r.gate_events}
    assert {"stop_loss", "kill_switch", "cost_benefit"} <= gates, gates
    assert {t.reason for t in r.trades} >= {"rebalance", "stop_loss"}


def test_screened_gate_calls_change_nothing(fs, active_params):
    """Skipping gate calls whose outcome is certain gives the very same run as calling every gate every day."""
    variants = (active_params,
                strategy(**{**ACTIVE, "risk": {**ACTIVE["risk"], "kill_switch_liquidate": True, "take_profit_pct": 12.0}}),
                strategy(**{**ACTIVE, "risk": {**ACTIVE["risk"], "cost_benefit_action": "trim",
                                               "cost_benefit_bps_per_score": 20.0}}))
    for params in variants:
        fast = run_backtest(fs, params, BacktestConfig())
        slow = run_backtest(fs, params, BacktestConfig(screen_gates=False))
        assert slow.gate_calls["kill_switch"] == fs.shape[0] > fast.gate_calls["kill_switch"]
        assert fast.trades == slow.trades
        assert [e.key() for e in fast.gate_events] == [e.key() for e in slow.gate_events]
        np.testing.assert_array_equal(fast.equity, slow.equity)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 40), dd=st.sampled_from([3.0, 6.0, 9.5, 12.0, 20.0]),
       cooldown=st.sampled_from([0.0, 24.0, 72.0, 240.0]), window=st.sampled_from([5, 10, 30]),
       stop=st.sampled_from([3.0, 8.0, 15.0]), take=st.sampled_from([5.0, 25.0]), liquidate=st.booleans())
def test_screened_gates_equal_every_call_gates_property(seed, dd, cooldown, window, stop, take, liquidate):
    """The gate screens (kill switch near its threshold and across re-arms, exit bands) never change a run."""
    panel = synthetic_panel(10, 320, seed=seed, late_listing_fraction=0.4)
    params = strategy(**{**ACTIVE, "risk": {"kill_switch_max_drawdown_pct": dd, "kill_switch_cooldown_hours": cooldown,
                                            "kill_switch_window_days": window, "kill_switch_liquidate": liquidate,
                                            "stop_loss_pct": stop, "take_profit_pct": take}})
    feats = compute_features(panel)
    fast = run_backtest(feats, params, BacktestConfig())
    slow = run_backtest(feats, params, BacktestConfig(screen_gates=False))
    assert fast.trades == slow.trades
    assert [e.key() for e in fast.gate_events] == [e.key() for e in slow.gate_events]
    np.testing.assert_array_equal(fast.equity, slow.equity)
    assert fast.gate_calls["kill_switch"] <= slow.gate_calls["kill_switch"]


def test_backtest_plans_are_the_traders_plans(fs, small_panel, active_params):
    """Each day's plan in the (compiled) backtest equals decide() on the closed-by-then panel with the same holdings,
    run the trader's way: kernels interpreted."""
    r = run_backtest(fs, active_params, BacktestConfig(record_plans=True))
    assert len(r.plan_hashes) == small_panel.shape[0]
    held_days = 0
    for t in range(0, small_panel.shape[0], 13):
        live = compute_features(small_panel.closed_by(int(small_panel.times[t]) + small_panel.interval_ms))
        assert live.shape[0] == t + 1
        holdings, state = r.plan_inputs[t]
        held_days += bool(holdings)
        with jit.interpreted():
            assert decide(live, t, holdings, state, active_params).hash == r.plan_hashes[t], t
    assert held_days > 5


def test_stop_loss_exits_only_below_the_stop(fs, active_params):
    r = run_backtest(fs, active_params, BacktestConfig())
    entries: dict[str, float] = {}
    qty: dict[str, float] = {}
    for t in r.trades:
        if t.side == "BUY":
            held = qty.get(t.symbol, 0.0)
            entries[t.symbol] = (entries.get(t.symbol, 0.0) * held + t.notional) / (held + t.qty)
            qty[t.symbol] = held + t.qty
        else:
            if t.reason == "stop_loss":
                mark = t.price / (1 - 5e-4)
                assert mark <= entries[t.symbol] * (1 - active_params.risk.stop_loss_pct / 100) * (1 + 1e-9)
            qty[t.symbol] -= t.qty
            if qty[t.symbol] <= 1e-12:
                del qty[t.symbol], entries[t.symbol]


def test_kill_switch_liquidation_empties_the_book_but_for_dust(fs):
    """Everything is sold; what remains is below one lot step (a BUY's fee is paid in the base asset, so a holding
    is rarely a whole number of steps, and the venue sells whole steps only)."""
    params = strategy(**{**ACTIVE, "risk": {**ACTIVE["risk"], "kill_switch_liquidate": True,
                                            "kill_switch_cooldown_hours": 0.0}})
    r = run_backtest(fs, params, BacktestConfig())
    trip = [e for e in r.gate_events if e.gate == "kill_switch"]
    assert len(trip) == 1
    after = r.times_ms >= trip[0].t_ms
    assert np.all(r.exposure[after] < 1e-6)
    assert all(q < 1e-8 for q in r.final_positions.values())  # the default spec's lot step
    assert all(t.side == "SELL" for t in r.trades if t.t_ms > trip[0].t_ms)


@settings(max_examples=25, deadline=None)
@given(fee=st.floats(0, 100), slip=st.floats(0, 100), cash=st.floats(5, 1e7),
       step=st.sampled_from(["0.00000001", "0.001", "1", "100"]), min_notional=st.sampled_from(["0", "10", "1000"]))
def test_cash_never_negative_and_lots_respected(fs, active_params, fee, slip, cash, step, min_notional):
    specs = {s: MarketSpec(Symbol(s), s[:-4], "USDT", Decimal("0.01"), Decimal(step), Decimal(step),
                           Decimal(min_notional)) for s in fs.panel.symbols}
    r = run_backtest(fs, active_params, BacktestConfig(initial_cash=cash, costs=CostModel(fee, slip), specs=specs))
    assert r.final_cash >= 0
    assert np.all(r.equity >= 0)
    assert all(q > 0 for q in r.final_positions.values())
    for t in r.trades:
        assert t.notional >= float(min_notional) * (1 - 1e-12)
        if t.side == "BUY":
            assert math.isclose(t.qty / float(step), round(t.qty / float(step)), abs_tol=1e-6)
        assert t.fee == pytest.approx(t.notional * fee / 1e4)


def test_costs_only_lower_the_result(fs, active_params):
    free = run_backtest(fs, active_params, BacktestConfig(costs=CostModel(0.0, 0.0)))
    assert free.trades and all(t.fee == 0 for t in free.trades)
    costly = run_backtest(fs, active_params, BacktestConfig(costs=CostModel(30.0, 20.0)))
    assert sum(t.fee for t in costly.trades) > 0


@settings(max_examples=200, deadline=None)
@given(qty=st.decimals(min_value=0, max_value=10**6, places=10, allow_nan=False),
       step=st.sampled_from(["0.00000001", "0.0001", "0.01", "1", "10"]))
def test_float_lot_rounding_never_exceeds_and_stays_within_a_step_of_the_spec(qty, step):
    spec = MarketSpec(Symbol("XUSDT"), "X", "USDT", Decimal("0.01"), Decimal(step), Decimal(step), Decimal(0))
    got = LotRule.from_spec(spec).floor_qty(float(qty))
    exact = float(spec.floor_qty(qty))
    assert got <= float(qty)
    assert exact - float(Decimal(step)) * 1.000001 <= got <= exact + 1e-9 * max(1.0, exact)


def test_window_and_empty_window(fs, small_panel, active_params):
    t = small_panel.times
    r = run_backtest(fs, active_params, BacktestConfig(start_ms=int(t[100]), end_ms=int(t[199])))
    assert len(r.equity) == 100 and r.times_ms[0] == t[100] + small_panel.interval_ms
    with pytest.raises(ValueError, match="no candles"):
        run_backtest(fs, active_params, BacktestConfig(start_ms=int(t[-1]) + 1))


@pytest.mark.parametrize(("equity", "key", "value"), [
    ([100.0] * 10, "total_return", 0.0),
    ([100.0] * 10, "sharpe", 0.0),
    ([100.0, 200.0], "total_return", 1.0),
    (list(np.linspace(100, 200, 366)), "cagr", 1.0),
    ([100.0, 150.0, 75.0, 120.0], "max_drawdown", 0.5),
    ([100.0, 90.0, 99.0, 108.9], "max_drawdown", 0.1),
])
def test_metrics_table(equity, key, value):
    m = compute_metrics(np.array(equity), np.zeros(len(equity)), 0.0, 0)
    assert m[key] == pytest.approx(value)


def test_metrics_ratios():
    eq = np.array([100.0, 110.0, 99.0, 108.9, 119.79])
    m = compute_metrics(eq, np.full(5, 0.5), 50.0, 3)
    r = eq[1:] / eq[:-1] - 1
    assert m["sharpe"] == pytest.approx(r.mean() / r.std() * math.sqrt(365))
    assert m["sortino"] == pytest.approx(r.mean() / math.sqrt(np.mean(np.minimum(r, 0) ** 2)) * math.sqrt(365))
    assert m["calmar"] == pytest.approx(m["cagr"] / max_drawdown(eq))
    assert m["turnover"] == pytest.approx(50.0 / eq.mean())
    assert m["exposure"] == 0.5 and m["trades"] == 3.0


def test_sweep_reuses_signals_and_gives_the_same_results(fs, active_params):
    from aura_common.core.backtest.sweep import Sweep

    cfg = BacktestConfig()
    sweep = Sweep(fs, cfg, max_signals=3)
    variants = [active_params,
                strategy(**{**ACTIVE, "risk": {**ACTIVE["risk"], "stop_loss_pct": 20.0}}),
                strategy(**{**ACTIVE, "scoring": {**ACTIVE["scoring"], "w_volatility": 0.3}}),
                strategy(**{**ACTIVE, "voting": {"top_k": 3, "min_votes": 2}}),
                active_params]
    for params in variants:
        got, want = sweep.run(params), run_backtest(fs, params, cfg)
        assert got.trades == want.trades
        np.testing.assert_array_equal(got.equity, want.equity)
    assert sweep.signal_builds == 3  # the stop-loss variant and the repeat reuse signals


def test_backtest_up_to_t_ignores_everything_after_t(small_panel, active_params):
    """Point in time, end to end: a backtest on the panel cut after day t equals the full one up to t."""
    full = run_backtest(compute_features(small_panel), active_params, BacktestConfig())
    for cut in (200, 333):
        part = run_backtest(compute_features(small_panel.rows(0, cut + 1)), active_params, BacktestConfig())
        np.testing.assert_array_equal(part.equity, full.equity[: cut + 1])
        assert part.trades == tuple(t for t in full.trades if t.t_ms <= part.times_ms[-1])
        assert part.regime == full.regime[: cut + 1]


@pytest.mark.realdata
def test_real_daily_panel_end_to_end(real_data):
    """The real 50-pair daily candles (2017-2023): a full-strategy run that trades, stays solvent, and repeats."""
    from aura_common.adapters.json_candles import load_json_panel

    panel = load_json_panel(real_data, "1d")
    params = strategy(risk={"kill_switch_cooldown_hours": 168.0})
    cfg = BacktestConfig(start_ms=1_577_836_800_000)  # decisions from 2020-01-01
    first = run_backtest(compute_features(panel), params, cfg)
    again = run_backtest(compute_features(panel), params, cfg)
    assert first.trades == again.trades and first.metrics == again.metrics
    assert first.metrics["trades"] > 10 and first.final_cash >= 0
    assert set(first.regime) == {"bull", "sideways", "bear"}
    held = {t.symbol for t in first.trades}
    assert held <= set(panel.symbols) and len(held) >= 5
