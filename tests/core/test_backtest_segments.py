"""One continuous backtest across parameter changes (run_backtest_segments), and the kill switch's trips and
re-arms as a backtest reports them (the re-arm policy is the strategy's: kill_switch_cooldown_hours)."""

from __future__ import annotations

import numpy as np
import pytest

from aura_common.core.backtest import BacktestConfig, run_backtest
from aura_common.core.backtest.engine import run_backtest_segments
from aura_common.core.features import compute_features
from aura_common.core.params import RiskParams
from aura_common.core.synthetic import DAY_MS

from .conftest import ACTIVE, strategy


@pytest.fixture(scope="module")
def fs(small_panel):
    return compute_features(small_panel)


def _ms(fs, row: int) -> int:
    return int(fs.panel.times[row])


def test_one_segment_is_the_plain_backtest(fs, active_params):
    lo, hi = 100, fs.shape[0] - 1
    cfg = BacktestConfig(start_ms=_ms(fs, lo), end_ms=_ms(fs, hi))
    plain = run_backtest(fs, active_params, cfg)
    seg = run_backtest_segments(fs, [(active_params, _ms(fs, lo), _ms(fs, hi))], cfg)
    assert seg.trades == plain.trades
    np.testing.assert_array_equal(seg.equity, plain.equity)
    assert seg.kill_switch_changes == plain.kill_switch_changes


def test_a_boundary_with_the_same_parameters_changes_nothing(fs, active_params):
    """Splitting the window (with the same parameters) must not touch the portfolio, the kill switch or the regime."""
    lo, mid, hi = 100, 230, fs.shape[0] - 1
    whole = run_backtest_segments(fs, [(active_params, _ms(fs, lo), _ms(fs, hi))], BacktestConfig())
    split = run_backtest_segments(fs, [(active_params, _ms(fs, lo), _ms(fs, mid - 1)),
                                       (active_params, _ms(fs, mid), _ms(fs, hi))], BacktestConfig())
    assert split.trades == whole.trades
    np.testing.assert_array_equal(split.equity, whole.equity)
    assert split.kill_switch_changes == whole.kill_switch_changes
    assert split.regime == whole.regime


def test_new_parameters_take_over_the_book_instead_of_starting_flat(fs, active_params):
    lo, mid, hi = 100, 230, fs.shape[0] - 1
    other = strategy(**{**ACTIVE, "portfolio": {"max_positions": 3}})
    cont = run_backtest_segments(fs, [(active_params, _ms(fs, lo), _ms(fs, mid - 1)),
                                      (other, _ms(fs, mid), _ms(fs, hi))], BacktestConfig())
    fresh = run_backtest(fs, other, BacktestConfig(start_ms=_ms(fs, mid), end_ms=_ms(fs, hi)))
    first = run_backtest(fs, active_params, BacktestConfig(start_ms=_ms(fs, lo), end_ms=_ms(fs, mid - 1)))
    n = mid - lo
    np.testing.assert_array_equal(cont.equity[:n], first.equity)  # the first part is the first parameters' run
    assert cont.equity[n - 1] != 10_000.0 and fresh.equity[0] != cont.equity[n]  # the second starts from the book
    assert len(cont.times_ms) == hi - lo + 1


def test_segments_must_be_contiguous(fs, active_params):
    with pytest.raises(ValueError, match="contiguous"):
        run_backtest_segments(fs, [(active_params, _ms(fs, 100), _ms(fs, 150)),
                                   (active_params, _ms(fs, 160), _ms(fs, 200))], BacktestConfig())


def test_trips_and_re_arms_are_reported_with_drawdown_and_reason(fs):
    params = strategy(**{**ACTIVE, "risk": {**ACTIVE["risk"], "kill_switch_cooldown_hours": 240.0}})
    r = run_backtest(fs, params, BacktestConfig())
    changes = r.kill_switch_changes
    assert [c.action for c in changes[:2]] == ["trip", "re-arm"], changes
    trip, rearm = changes[0], changes[1]
    assert trip.drawdown_pct >= params.risk.kill_switch_max_drawdown_pct and "threshold" in trip.reason
    assert rearm.t_ms == trip.t_ms + 240 * 3_600_000 and "cooldown" in rearm.reason
    # actions alternate, in time order; the days tripped are the decision days inside each trip..re-arm span
    assert all(a.action != b.action and a.t_ms <= b.t_ms for a, b in zip(changes, changes[1:]))
    spans = [(a.t_ms, b.t_ms) for a, b in zip(changes[::2], changes[1::2])]
    if len(changes) % 2:
        spans.append((changes[-1].t_ms, int(r.times_ms[-1]) + DAY_MS))
    assert r.days_tripped == sum(int(((r.times_ms >= a) & (r.times_ms < b)).sum()) for a, b in spans) > 0
    assert r.days_flat == int((r.exposure < 1e-4).sum()) >= int((r.exposure <= 0).sum())


def test_a_latched_switch_never_re_arms_in_a_backtest(fs):
    params = strategy(**{**ACTIVE, "risk": {**ACTIVE["risk"], "kill_switch_cooldown_hours": 0.0}})
    r = run_backtest(fs, params, BacktestConfig())
    assert [c.action for c in r.kill_switch_changes] == ["trip"]
    assert r.days_tripped == int((r.times_ms >= r.kill_switch_changes[0].t_ms).sum())


def test_the_shipped_re_arm_policy_is_a_cooldown():
    """A backtest has no person to run `aura risk reset`: the default re-arms by itself after 30 days."""
    assert RiskParams().kill_switch_cooldown_hours == 720.0


@pytest.mark.parametrize(("price", "tick", "up", "want"), [
    (9598.586895, 0.01, True, 9598.59), (9598.586895, 0.01, False, 9598.58), (0.3, 0.1, True, 0.3),
    (0.30000000000000004, 0.1, False, 0.3), (123.45, 0.0, True, 123.45), (1.00000001, 0.0001, True, 1.0001)])
def test_fill_prices_land_on_the_tick_grid_against_the_taker(price, tick, up, want):
    from aura_common.core.rebalance import on_tick
    assert on_tick(price, tick, up) == pytest.approx(want, rel=1e-12)


def test_a_backtest_with_specs_fills_on_their_tick_grid(fs, active_params):
    from decimal import Decimal

    from aura_common.domain.values import MarketSpec, Symbol
    specs = {s: MarketSpec(Symbol(s), s[:-4], "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("0.001"),
                           Decimal("5")) for s in fs.panel.symbols}
    r = run_backtest(fs, active_params, BacktestConfig(specs=specs))
    assert r.trades
    for t in r.trades:
        assert abs(t.price * 100 - round(t.price * 100)) < 1e-6, t
        assert abs(t.qty * 1000 - round(t.qty * 1000)) < 1e-6, t


@pytest.mark.parametrize(("held", "step", "want"), [
    (0.999, 0.001, 0.999), (0.9989, 0.001, 0.998), (31249.9999999999, 1e-4, 31249.9999), (0.3, 0.1, 0.3),
    (12247.9398, 0.1, 12247.9), (5.0, 0.0, 5.0)])
def test_a_whole_holding_floors_to_the_step_as_decimal_does(held, step, want):
    from aura_common.core.rebalance import whole_qty
    got = whole_qty(held, step)
    assert got == pytest.approx(want, rel=1e-12) and got <= held
