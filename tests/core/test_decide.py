"""The decision: determinism (order, restarts, processes), point in time, live path = backtest path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core.decide import decide, plan_at, signal_rows
from aura_common.core.features import compute_features
from aura_common.core.panel import FIELDS, Panel
from aura_common.core.regime import RegimeState
from aura_common.core.screen import allowed_columns
from aura_common.core.synthetic import synthetic_panel

from .conftest import ACTIVE, strategy

PARAMS = strategy(**ACTIVE)
PANEL = synthetic_panel(12, 300, seed=5)
EXCLUDE = ("SYN003USDT", "SYN007")


def run_plans(panel: Panel, days, holdings=None, exclusions=EXCLUDE, restart=False):
    """Daily plans over ``days`` the trader's way: decide() on the closed-by panel, state carried over."""
    fs = compute_features(panel)
    state, out = RegimeState(), []
    for t in days:
        plan = decide(fs, t, holdings or {}, state, PARAMS, exclusions)
        state = RegimeState.from_dict(json.loads(json.dumps(plan.regime.to_dict()))) if restart else plan.regime
        out.append(plan)
    return out


def permuted(panel: Panel, order) -> Panel:
    syms = [panel.symbols[i] for i in order]
    return Panel.from_arrays(syms, panel.times, panel.interval_ms,
                             **{f: getattr(panel, f)[:, order] for f in FIELDS})


def test_plans_select_trade_and_change_regime():
    plans = run_plans(PANEL, range(150, 300))
    assert any(p.targets for p in plans)
    assert len({p.regime.regime for p in plans}) >= 2
    assert all(s not in {"SYN003USDT", "SYN007USDT"} for p in plans for s, _ in p.targets)


@settings(max_examples=12, deadline=None)
@given(order=st.permutations(range(12)), rev=st.booleans())
def test_symbol_order_holdings_order_and_exclusion_order_change_nothing(order, rev):
    holdings = {"SYN001USDT": 0.2, "SYN004USDT": 0.1, "BTCUSDT": 0.05}
    shuffled = dict(sorted(holdings.items(), reverse=rev))
    base = run_plans(PANEL, range(200, 300, 7), holdings)
    other = run_plans(permuted(PANEL, list(order)), range(200, 300, 7), shuffled,
                      tuple(reversed(EXCLUDE)) if rev else EXCLUDE)
    assert [p.hash for p in other] == [p.hash for p in base]
    assert [p.canonical_json() for p in other] == [p.canonical_json() for p in base]


def test_restart_from_serialised_state_changes_nothing():
    days = range(120, 300)
    assert [p.hash for p in run_plans(PANEL, days, restart=True)] == [p.hash for p in run_plans(PANEL, days)]


def test_point_in_time_truncating_or_appending_future_changes_no_decision():
    full = run_plans(PANEL, range(0, 300))
    for cut in (150, 220, 299):
        truncated = run_plans(PANEL.rows(0, cut + 1), range(0, cut + 1))
        assert [p.hash for p in truncated] == [p.hash for p in full[: cut + 1]]
    # replace everything after day 200 by wild data: no decision up to 200 may move
    rng = np.random.default_rng(0)
    wild = {f: np.array(getattr(PANEL, f)) for f in FIELDS}
    for f in FIELDS:
        wild[f][201:] = rng.uniform(1e-3, 1e6, wild[f][201:].shape)
    future = run_plans(Panel.from_arrays(PANEL.symbols, PANEL.times, PANEL.interval_ms, **wild), range(0, 201))
    assert [p.hash for p in future] == [p.hash for p in full[:201]]


def test_live_block_equals_the_vectorised_table_on_every_day():
    fs = compute_features(PANEL)
    sig = signal_rows(fs, 0, PANEL.shape[0], PARAMS, allowed_columns(PANEL.symbols, EXCLUDE))
    state = RegimeState()
    for t in range(PANEL.shape[0]):
        a = plan_at(sig, t, {}, state, PARAMS)
        b = decide(fs, t, {}, state, PARAMS, EXCLUDE)  # reuses the full store's arrays
        c = decide(compute_features(PANEL), t, {}, state, PARAMS, EXCLUDE)  # computes only its block's rows
        assert a.hash == b.hash == c.hash, t
        assert a.canonical_json() == c.canonical_json()
        state = a.regime


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 30), t=st.integers(0, 259), offsets=st.sampled_from([(0,), (0, 1, 2, 3), (0, 3, 7), (2, 5)]),
       method=st.sampled_from(["borda", "median"]), weighting=st.sampled_from(["equal", "score"]),
       held=st.floats(0.0, 0.5), regime=st.sampled_from(["bull", "sideways", "bear"]))
def test_single_decision_on_its_rows_equals_the_full_computation(seed, t, offsets, method, weighting, held, regime):
    """decide() computes features for its block's rows only; the plan is byte-identical to the all-rows one."""
    panel = synthetic_panel(10, 260, seed=seed, late_listing_fraction=0.5)
    params = strategy(**{**ACTIVE, "voting": {"offsets_days": list(offsets), "min_votes": 1, "method": method},
                         "portfolio": {"weighting": weighting}})
    state = RegimeState.from_dict({"regime": regime, "candidate": None, "streak": 0})
    holdings = {"SYN001USDT": held, "SYN004USDT": held / 2} if held else {}
    full = signal_rows(compute_features(panel), 0, panel.shape[0], params, allowed_columns(panel.symbols, EXCLUDE))
    a = plan_at(full, t, holdings, state, params)
    b = decide(compute_features(panel), t, holdings, state, params, EXCLUDE)
    assert a.canonical_json() == b.canonical_json()
    assert a.hash == b.hash


def test_hash_covers_the_plan():
    p = run_plans(PANEL, [280])[0]
    assert len(p.hash) == 64
    assert json.loads(p.canonical_json())["decision_ms"] == int(PANEL.times[280]) + PANEL.interval_ms
    q = run_plans(PANEL, [281])[0]
    assert p.hash != q.hash


SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests!r})
    from aura_common.core.decide import decide
    from aura_common.core.features import compute_features
    from aura_common.core.regime import RegimeState
    from aura_common.core.synthetic import synthetic_panel
    from aura_common.config.loader import parse_strategy
    params = parse_strategy(json.loads({active!r}), "<p>")
    fs = compute_features(synthetic_panel(12, 300, seed=5))
    state, hashes = RegimeState(), []
    for t in range(200, 300, 9):
        plan = decide(fs, t, {{"SYN001USDT": 0.2}}, state, params, ("SYN007", "SYN003USDT"))
        state = plan.regime
        hashes.append(plan.hash)
    print(json.dumps(hashes))
""")


def test_two_processes_give_the_same_hashes():
    here = run_plans(PANEL, range(200, 300, 9), {"SYN001USDT": 0.2})
    code = SCRIPT.format(tests=os.path.dirname(__file__), active=json.dumps(ACTIVE))
    outs = []
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        outs.append(json.loads(proc.stdout))
    assert outs[0] == outs[1] == [p.hash for p in here]


def test_decide_rejects_a_row_outside_the_panel():
    with pytest.raises(IndexError, match="outside"):
        decide(compute_features(PANEL), 300, {}, RegimeState(), PARAMS)
