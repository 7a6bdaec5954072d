"""The compiled day loop and the compiled decision steps it shares with the trader.

- compiled and interpreted (``py_func``) runs of the loop are identical, so Numba changes no semantics;
- the output buffers grow when a run outgrows them, changing nothing;
- the shared kernels (hysteresis, target weights, exact sum, rebalance benefit) equal plain-Python references.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core import jit
from aura_common.core.backtest import BacktestConfig, run_backtest
from aura_common.core.backtest import engine
from aura_common.core.backtest import loop as lp
from aura_common.core.decide import decide
from aura_common.core.features import compute_features
from aura_common.core.synthetic import synthetic_panel
from aura_common.core.params import PortfolioParams
from aura_common.core.weights import exact_sum, plan_weights, pick_weights
from aura_common.core.regime import REGIMES, Regime, RegimeState, advance, advance_codes
from aura_common.core.risk import rebalance_benefit_bps
from aura_common.core.risk.cost_benefit import benefit_bps

from .conftest import ACTIVE, strategy


@pytest.fixture(scope="module")
def fs(small_panel):
    return compute_features(small_panel)


def _same(a, b) -> None:
    assert a.trades == b.trades
    np.testing.assert_array_equal(a.equity, b.equity)
    np.testing.assert_array_equal(a.exposure, b.exposure)
    assert a.regime == b.regime
    assert [e.key() for e in a.gate_events] == [e.key() for e in b.gate_events]
    assert a.gate_calls == b.gate_calls and a.final_positions == b.final_positions


@pytest.mark.parametrize("variant", [
    {},
    {"risk": {**ACTIVE["risk"], "kill_switch_liquidate": True, "take_profit_pct": 12.0}},
    {"risk": {**ACTIVE["risk"], "cost_benefit_action": "trim", "cost_benefit_bps_per_score": 20.0},
     "portfolio": {"weighting": "score", "max_weight": 0.4}},
])
def test_compiled_loop_equals_the_interpreted_loop(fs, monkeypatch, variant):
    params = strategy(**{**ACTIVE, **variant})
    for screen in (True, False):
        cfg = BacktestConfig(screen_gates=screen)
        compiled = run_backtest(fs, params, cfg)
        with monkeypatch.context() as m:
            m.setattr(lp, "run_days", lp.run_days.py_func)
            interpreted = run_backtest(fs, params, cfg)
        assert compiled.trades  # the comparison means something
        _same(compiled, interpreted)


def test_buffers_grow_without_changing_the_run(fs, monkeypatch, active_params):
    want = run_backtest(fs, active_params, BacktestConfig())
    monkeypatch.setattr(engine, "_capacity", lambda days, symbols: 1)
    got = run_backtest(fs, active_params, BacktestConfig())
    assert len(got.trades) > 8 and len(got.gate_events) > 8
    _same(got, want)


def test_record_plans_checks_the_loop_against_plan_at(fs, active_params):
    r = run_backtest(fs, active_params, BacktestConfig(record_plans=True))
    assert len(set(r.plan_hashes)) > 50  # every day's plan was re-derived by plan_at and matched the loop's targets


@pytest.mark.parametrize("variant", [{}, {"portfolio": {"weighting": "score"}, "voting": {"method": "median"}}])
def test_decisions_are_identical_compiled_and_interpreted(variant):
    """The trader runs the kernels interpreted, the backtester compiled: every plan must be the same bytes."""
    panel = synthetic_panel(30, 400, seed=3, late_listing_fraction=0.3)
    params = strategy(**{**ACTIVE, **variant})
    feats = compute_features(panel)
    holdings = {s: 0.15 for s in panel.symbols[:3]}
    picked = 0
    for t in range(100, 400, 7):
        state = RegimeState(Regime.BULL)
        compiled = decide(feats, t, holdings, state, params)
        with jit.interpreted():
            assert jit.interpreting()
            interpreted = decide(compute_features(panel), t, holdings, state, params)
        assert not jit.interpreting()
        assert compiled.canonical_json() == interpreted.canonical_json(), t
        picked += bool(compiled.picks)
    assert picked >= 10


def test_kernels_load_from_a_cache_or_compile_in_memory():
    """``@kernel`` on a function whose source has no file (no cache locator) still compiles."""
    namespace: dict = {}
    exec("from aura_common.core.jit import kernel\n@kernel\ndef twice(x):\n    return 2 * x\n", namespace)
    assert namespace["twice"](21) == 42


# --- the shared decision kernels against plain-Python references ---------------------------------------------

def _reference_plan_weights(picks, exposure, holdings, params):
    """The planning rule written out in plain Python (the pre-kernel implementation)."""
    if not picks:
        return (), tuple(sorted(s for s, w in holdings.items() if w > 0))
    n = len(picks)
    if exposure <= 0:
        raw = [0.0] * n
    elif params.weighting == "equal":
        raw = [min(exposure / n, params.max_weight)] * n
    else:
        top = max(s for _, s in picks)
        e = [math.exp(s - top) for _, s in picks]
        total = math.fsum(e)
        raw = [min(exposure * x / total, params.max_weight) for x in e]
    targets = {}
    for (sym, _), w in zip(picks, raw):
        cur = holdings.get(sym, 0.0)
        if cur > 0 and abs(w - cur) < params.min_trade_weight:
            w = cur
        elif cur <= 0 and w < params.min_trade_weight:
            continue
        if w > 0:
            targets[sym] = w
    return tuple(sorted(targets.items())), tuple(sorted(s for s, w in holdings.items() if w > 0 and s not in targets))


SYMS = [f"S{i:02d}USDT" for i in range(12)]


@settings(max_examples=300, deadline=None)
@given(scores=st.lists(st.floats(-6, 6, allow_nan=False), min_size=0, max_size=10),
       held=st.dictionaries(st.sampled_from(SYMS), st.floats(0, 0.6), max_size=6),
       exposure=st.sampled_from([0.0, 0.5, 1.0]), weighting=st.sampled_from(["equal", "score"]),
       max_weight=st.sampled_from([0.1, 0.25, 1.0]), min_trade=st.sampled_from([0.0, 0.01, 0.2]))
def test_plan_weights_equals_the_reference(scores, held, exposure, weighting, max_weight, min_trade):
    params = PortfolioParams(max_positions=10, weighting=weighting, max_weight=max_weight, min_trade_weight=min_trade)
    picks = list(zip(SYMS, scores))
    assert plan_weights(picks, exposure, held, params) == _reference_plan_weights(picks, exposure, held, params)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-1e12, 1e12, allow_nan=False) | st.floats(-1, 1, allow_nan=False), max_size=16))
def test_exact_sum_is_math_fsum(values):
    assert exact_sum(np.array(values, dtype=np.float64)) == math.fsum(values)


def test_pick_weights_compiled_equals_interpreted():
    rng = np.random.default_rng(5)
    for _ in range(200):
        m = int(rng.integers(1, 8))
        args = (rng.normal(size=m), np.where(rng.random(m) < 0.5, rng.random(m) * 0.3, 0.0), float(rng.random()),
                bool(rng.random() < 0.5), 0.3, 0.02)
        np.testing.assert_array_equal(pick_weights(*args), pick_weights.py_func(*args))


@pytest.mark.parametrize(("state", "observed", "confirm", "want"), [
    (RegimeState(), Regime.BEAR, 2, RegimeState()),
    (RegimeState(), Regime.BULL, 2, RegimeState(Regime.BEAR, Regime.BULL, 1)),
    (RegimeState(Regime.BEAR, Regime.BULL, 1), Regime.BULL, 2, RegimeState(Regime.BULL)),
    (RegimeState(Regime.BEAR, Regime.BULL, 1), Regime.SIDEWAYS, 2, RegimeState(Regime.BEAR, Regime.SIDEWAYS, 1)),
    (RegimeState(Regime.BEAR, Regime.BULL, 1), Regime.BEAR, 2, RegimeState()),
    (RegimeState(), Regime.BULL, 1, RegimeState(Regime.BULL)),
    (RegimeState(Regime.BULL, Regime.BEAR, 2), Regime.BEAR, 4, RegimeState(Regime.BULL, Regime.BEAR, 3)),
])
def test_hysteresis_table(state, observed, confirm, want):
    assert advance(state, observed, confirm) == want
    code = {r: i for i, r in enumerate(REGIMES)}
    r, c, s = advance_codes.py_func(code[state.regime], -1 if state.candidate is None else code[state.candidate],
                                    state.streak, code[observed], confirm)
    assert RegimeState(REGIMES[r], None if c < 0 else REGIMES[c], s) == want


@settings(max_examples=200, deadline=None)
@given(cur=st.dictionaries(st.sampled_from(SYMS), st.floats(0.001, 1), max_size=6),
       tgt=st.dictionaries(st.sampled_from(SYMS), st.floats(0.001, 1), max_size=6),
       scores=st.dictionaries(st.sampled_from(SYMS), st.floats(-5, 5), max_size=12),
       bps=st.sampled_from([0.0, 20.0, 100.0]))
def test_benefit_equals_the_formula(cur, tgt, scores, bps):
    floor = min(scores.values()) if scores else 0.0

    def quality(weights):
        return sum(w * scores.get(s, floor) for s, w in sorted(weights.items()))

    assert rebalance_benefit_bps(cur, tgt, scores, bps) == bps * (quality(tgt) - quality(cur))
    keys = sorted(set(cur) | set(tgt))
    args = (np.array([cur.get(s, 0.0) for s in keys]), np.array([tgt.get(s, 0.0) for s in keys]),
            np.array([scores.get(s, floor) for s in keys]), bps)
    assert benefit_bps(*args) == benefit_bps.py_func(*args)


def test_held_scores_are_what_the_day_loop_weighs(small_panel, active_params):
    """The trader's cost-benefit weighs a held symbol at the plan's ``held_scores``: its own score when it is scored
    (picked or not), the cross-section's lowest when it is not, exactly as the backtester's day loop does."""
    from aura_common.core.decide import signal_rows
    from aura_common.core.screen import allowed_columns

    feats = compute_features(small_panel)
    sig = signal_rows(feats, 0, feats.shape[0], active_params, allowed_columns(small_panel.symbols))
    checked = {"picked": 0, "scored": 0, "unscored": 0}
    for t in range(100, feats.shape[0], 5):
        r = t - sig.lo
        holdings = {s: 0.1 for s in small_panel.symbols[::2]} | {"GONEUSDT": 0.05}
        plan = decide(feats, t, holdings, RegimeState(Regime.BULL), active_params)
        held = dict(plan.held_scores)
        assert sorted(held) == sorted(holdings)
        picks = {p.symbol: p.score for p in plan.picks}
        for s, v in held.items():
            j = small_panel.symbols.index(s) if s in small_panel.symbols else None
            raw = sig.score[r, j] if j is not None else float("nan")
            if raw == raw:
                assert v == raw
                checked["picked" if s in picks else "scored"] += 1
                if s in picks:
                    assert picks[s] == v
            else:
                assert v == sig.score_floor[r]
                checked["unscored"] += 1
    assert min(checked.values()) > 0, checked
