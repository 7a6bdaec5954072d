"""Gate 1, the kill switch on rolling drawdown: table tests and properties (pure, no clock)."""

from __future__ import annotations

import pickle
from dataclasses import replace
from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core.params import RiskParams
from aura_common.core.risk import GateDecision, KillSwitchState, kill_switch, reset_kill_switch
from aura_common.core.risk.kill_switch import DAY_MS, HOUR_MS

P = RiskParams(kill_switch_window_days=30, kill_switch_max_drawdown_pct=20.0, kill_switch_cooldown_hours=0.0)  # latched
T0 = 1_700_000_000_000


def curve(*equities, step_ms=HOUR_MS, start=T0):
    return [(start + i * step_ms, e) for i, e in enumerate(equities)]


@pytest.mark.parametrize(
    "equities, decision, drawdown_pct",
    [
        ((100, 100, 100), GateDecision.PASS, 0.0),
        ((100, 90, 81), GateDecision.PASS, 19.0),
        ((100, 90, 80), GateDecision.DENY, 20.0),  # exactly at the threshold trips
        ((Decimal("100"), Decimal("80.0000001")), GateDecision.PASS, 19.9999999),
        ((100.0, 79.99), GateDecision.DENY, 20.01),
        ((50, 100, 85, 79), GateDecision.DENY, 21.0),  # peak is the max, not the first point
        ((0, 0), GateDecision.PASS, 0.0),  # no positive equity: nothing to measure
    ],
)
def test_drawdown_table(equities, decision, drawdown_pct):
    pts = curve(*equities)
    result, state = kill_switch(pts, KillSwitchState(), P, pts[-1][0])
    assert result.gate == "kill_switch"
    assert result.decision is decision
    assert state.tripped is (decision is GateDecision.DENY)
    assert result.figures["drawdown_pct"] == pytest.approx(drawdown_pct)
    assert f"{drawdown_pct:.2f}%" in result.reason
    if state.tripped:
        assert state.tripped_at_ms == pts[-1][0]
        assert "aura risk reset" in result.reason


def test_peak_is_rolling_over_the_window():
    old_peak = [(T0, 200.0)]
    recent = [(T0 + 31 * DAY_MS, 100.0), (T0 + 40 * DAY_MS, 90.0)]
    now = T0 + 40 * DAY_MS
    result, state = kill_switch(old_peak + recent, KillSwitchState(), P, now)
    assert result.decision is GateDecision.PASS  # 200 left the 30-day window: drawdown is 10 %, not 55 %
    assert state.peak_equity == 100.0
    # the window's start is inclusive: 30 days exactly still counts
    result, _ = kill_switch([(now - 30 * DAY_MS, 200.0), (now, 90.0)], KillSwitchState(), P, now)
    assert result.decision is GateDecision.DENY


def test_points_after_now_are_ignored():
    pts = curve(100, 100, 10)
    result, _ = kill_switch(pts, KillSwitchState(), P, pts[1][0])
    assert result.decision is GateDecision.PASS
    assert result.figures["equity"] == 100.0


def test_no_equity_in_window_passes_when_armed_and_denies_when_tripped():
    result, state = kill_switch([], KillSwitchState(), P, T0)
    assert result.decision is GateDecision.PASS and "no equity observed" in result.reason
    tripped = KillSwitchState(tripped=True, tripped_at_ms=T0 - 1, reason="earlier")
    result, state = kill_switch([], tripped, P, T0)
    assert result.decision is GateDecision.DENY and state.tripped


def test_stays_tripped_without_cooldown_even_when_equity_recovers():
    pts = curve(100, 70)
    _, state = kill_switch(pts, KillSwitchState(), P, pts[-1][0])
    later = pts + [(T0 + 1000 * DAY_MS, 500.0)]
    result, state2 = kill_switch(later, state, P, T0 + 1000 * DAY_MS)
    assert result.decision is GateDecision.DENY
    assert state2.tripped and state2.tripped_at_ms == state.tripped_at_ms


def test_reset_rebases_the_peak():
    pts = curve(100, 70)
    _, state = kill_switch(pts, KillSwitchState(), P, pts[-1][0])
    reset_at = pts[-1][0] + 1
    armed = reset_kill_switch(state, reset_at, "operator checked the account")
    assert not armed.tripped and armed.armed_since_ms == reset_at and "operator checked" in armed.reason
    pts2 = pts + [(reset_at + HOUR_MS, 69.0)]
    result, state2 = kill_switch(pts2, armed, P, reset_at + HOUR_MS)
    assert result.decision is GateDecision.PASS  # the pre-reset peak of 100 no longer counts
    assert state2.peak_equity == 69.0
    pts3 = pts2 + [(reset_at + 2 * HOUR_MS, 55.0)]  # a fresh 20.3 % fall from the new peak trips again
    result, _ = kill_switch(pts3, state2, P, reset_at + 2 * HOUR_MS)
    assert result.decision is GateDecision.DENY


def test_results_and_states_pickle_and_compare():
    pts = curve(100, 70)
    result, state = kill_switch(pts, KillSwitchState(), P, pts[-1][0])
    assert pickle.loads(pickle.dumps((result, state))) == (result, state)
    assert all(type(v) is float for v in result.figures.values())


@pytest.mark.parametrize("reason", ["", "   "])
def test_reset_needs_a_reason(reason):
    with pytest.raises(ValueError, match="reason"):
        reset_kill_switch(KillSwitchState(tripped=True, tripped_at_ms=T0), T0, reason)


def test_cooldown_rearms_exactly_when_it_elapses():
    params = replace(P, kill_switch_cooldown_hours=24)
    pts = curve(100, 70)
    trip_at = pts[-1][0]
    _, state = kill_switch(pts, KillSwitchState(), params, trip_at)
    assert state.tripped
    just_before = trip_at + 24 * HOUR_MS - 1
    result, s1 = kill_switch(pts + [(just_before, 70.0)], state, params, just_before)
    assert result.decision is GateDecision.DENY and "cooldown ends" in result.reason
    at = trip_at + 24 * HOUR_MS
    result, s2 = kill_switch(pts + [(at, 70.0)], s1, params, at)
    assert result.decision is GateDecision.PASS
    assert not s2.tripped and s2.armed_since_ms == at


@pytest.mark.parametrize("bad", [[(T0, -1.0)], [(T0, float("nan"))], [(T0 + 1, 1.0), (T0, 1.0)]])
def test_bad_curves_are_errors(bad):
    with pytest.raises(ValueError):
        kill_switch(bad, KillSwitchState(), P, T0 + 1)


equity_values = st.decimals(min_value=1, max_value=10**9, places=4, allow_nan=False, allow_infinity=False)
risk_params = st.builds(
    RiskParams,
    kill_switch_window_days=st.integers(1, 60),
    kill_switch_max_drawdown_pct=st.floats(0.1, 99.9),
    kill_switch_cooldown_hours=st.sampled_from([0.0, 1.0, 24.0]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(equity_values, min_size=1, max_size=50), risk_params, st.integers(1, 5 * DAY_MS))
def test_never_trips_when_equity_is_non_decreasing(values, params, step):
    pts = curve(*sorted(values), step_ms=step)
    state = KillSwitchState()
    for i in range(len(pts)):
        result, state = kill_switch(pts[: i + 1], state, params, pts[i][0])
        assert result.decision is GateDecision.PASS
        assert not state.tripped


@settings(max_examples=200, deadline=None)
@given(equity_values, st.floats(0.1, 99.9), st.sampled_from([-1, 0, 1]))
def test_trips_exactly_at_the_threshold(peak, pct, offset):
    params = RiskParams(kill_switch_max_drawdown_pct=pct)
    with localcontext() as ctx:
        ctx.prec = 80
        boundary = peak * (1 - Decimal(repr(pct)) / 100)
        equity = boundary + offset * Decimal("1e-6")
    if equity < 0:
        return
    result, state = kill_switch([(T0, peak), (T0 + 1, equity)], KillSwitchState(), params, T0 + 1)
    assert state.tripped is (offset <= 0)


@settings(max_examples=200, deadline=None)
@given(st.lists(equity_values, min_size=1, max_size=30), risk_params, st.integers(0, 40 * DAY_MS))
def test_gate_is_idempotent(values, params, extra):
    pts = curve(*values, step_ms=DAY_MS)
    now = pts[-1][0] + extra
    r1, s1 = kill_switch(pts, KillSwitchState(), params, now)
    r2, s2 = kill_switch(pts, s1, params, now)
    assert (r2, s2) == (r1, s1)


@settings(max_examples=100, deadline=None)
@given(st.lists(equity_values, min_size=2, max_size=30), risk_params)
def test_decision_matches_the_definition(values, params):
    pts = curve(*values, step_ms=DAY_MS)
    now = pts[-1][0]
    window = [e for t, e in pts if t >= now - params.kill_switch_window_days * DAY_MS]
    peak, last = max(window), window[-1]
    with localcontext() as ctx:
        ctx.prec = 80
        expected = peak - last >= peak * Decimal(repr(params.kill_switch_max_drawdown_pct)) / 100
    result, state = kill_switch(pts, KillSwitchState(), params, now)
    assert state.tripped is expected
    assert result.decision is (GateDecision.DENY if expected else GateDecision.PASS)
