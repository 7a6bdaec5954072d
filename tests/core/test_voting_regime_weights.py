"""Rank voting, regime hysteresis, target weights: tables and properties."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core.params import PortfolioParams, VotingParams
from aura_common.core.weights import plan_weights
from aura_common.core.regime import Regime, RegimeState, advance
from aura_common.core.voting import rank_rows, select_rows, vote_rows

B, S, X = Regime.BULL, Regime.SIDEWAYS, Regime.BEAR


def test_rank_rows_best_first_ties_by_column_ineligible_last():
    score = np.array([[3.0, 1.0, 3.0, np.nan, 2.0]])
    elig = np.array([[True, True, True, False, True]])
    assert rank_rows(score, elig).tolist() == [[0, 3, 1, 5, 2]]


def _ranks(rows):
    ranks = np.array(rows)
    return ranks, ranks < 9


@pytest.mark.parametrize(("method", "votes", "points"), [
    ("borda", [0, 2, 3, 1], [0.0, 2 + 1 + 2, 3 + 3 + 3, 1 + 2 + 1]),
    ("median", [0, 2, 3, 1], [-3.0, -1.0, 0.0, -2.0]),
])
def test_vote_rows_counts_top_k_across_offsets(method, votes, points):
    # rows = days 0..2; 4 symbols; rank 9 = not eligible that day
    ranks, elig = _ranks([[3, 1, 0, 2], [3, 2, 0, 1], [3, 1, 0, 2]])
    v, p = vote_rows(ranks, elig, VotingParams(offsets_days=(0, 1, 2), top_k=2, min_votes=2, method=method))
    assert v[2].tolist() == votes
    assert p[2].tolist() == points


def test_offsets_before_the_first_row_are_not_votes():
    ranks, elig = _ranks([[0, 1], [0, 1]])
    v, _ = vote_rows(ranks, elig, VotingParams(offsets_days=(0, 1, 2), top_k=1, min_votes=1))
    assert v.tolist() == [[1, 0], [2, 0]]


def test_select_rows_needs_min_votes_and_orders_by_points_then_score():
    elig = np.array([[True, True, True, True, False]])
    votes = np.array([[3, 1, 3, 3, 3]])
    points = np.array([[5.0, 9.0, 7.0, 5.0, 9.0]])
    score = np.array([[0.1, 2.0, 0.0, 0.5, 1.0]])
    assert select_rows(elig, votes, points, score, min_votes=2, max_positions=3).tolist() == [[2, 3, 0]]
    assert select_rows(elig, votes, points, score, min_votes=4, max_positions=2).tolist() == [[-1, -1]]


@pytest.mark.parametrize(("confirm", "observed", "effective"), [
    (2, [B, B, B], [X, B, B]),
    (2, [B, X, B, S, S], [X, X, X, X, S]),
    (1, [B, S, X], [B, S, X]),
    (3, [B, B, S, B, B, B], [X, X, X, X, X, B]),
    (2, [S, B, S, S], [X, X, X, S]),
])
def test_hysteresis(confirm, observed, effective):
    state = RegimeState(Regime.BEAR)
    out = []
    for o in observed:
        state = advance(state, o, confirm)
        out.append(state.regime)
    assert out == effective


@settings(max_examples=60, deadline=None)
@given(obs=st.lists(st.sampled_from([B, S, X]), max_size=40), confirm=st.integers(1, 4))
def test_restart_between_any_two_cycles_changes_nothing(obs, confirm):
    straight, restarted = RegimeState(), RegimeState()
    for o in obs:
        straight = advance(straight, o, confirm)
        restarted = RegimeState.from_dict(json.loads(json.dumps(advance(restarted, o, confirm).to_dict())))
        assert restarted == straight


@pytest.mark.parametrize("bad", [{"regime": "moon"}, {"regime": "bull", "candidate": "bear", "streak": 0},
                                 {"regime": "bull", "candidate": None, "streak": 2}, {}])
def test_invalid_state_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="invalid regime state"):
        RegimeState.from_dict(bad)


@pytest.mark.parametrize(("weighting", "picks", "exposure", "holdings", "targets", "exits"), [
    ("equal", [("A", 1.0), ("B", 0.5)], 1.0, {}, [("A", 0.25), ("B", 0.25)], []),  # capped at max_weight
    ("equal", [("A", 1.0), ("B", 0.5), ("C", 0), ("D", 0), ("E", 0)], 1.0, {"Z": 0.3},
     [("A", 0.2), ("B", 0.2), ("C", 0.2), ("D", 0.2), ("E", 0.2)], ["Z"]),
    ("equal", [("A", 1.0), ("B", 0.5), ("C", 0), ("D", 0)], 0.5, {"A": 0.13}, [("A", 0.13), ("B", 0.125),
                                                                                ("C", 0.125), ("D", 0.125)], []),
    ("equal", [("A", 1.0)], 0.0, {"A": 0.2}, [], ["A"]),
    ("equal", [(c, 0.0) for c in "ABCDE"], 0.02, {}, [], []),  # too small to be worth a trade
])
def test_plan_weights(weighting, picks, exposure, holdings, targets, exits):
    params = PortfolioParams(max_positions=5, weighting=weighting, max_weight=0.25, min_trade_weight=0.01)
    got_t, got_e = plan_weights(picks, exposure, holdings, params)
    assert [(s, pytest.approx(w)) for s, w in got_t] == targets
    assert list(got_e) == exits


@settings(max_examples=60, deadline=None)
@given(scores=st.lists(st.floats(-5, 5), min_size=1, max_size=8), exposure=st.floats(0, 1),
       cap=st.floats(0.05, 1))
def test_score_weights_are_positive_capped_and_within_exposure(scores, exposure, cap):
    params = PortfolioParams(max_positions=8, weighting="score", max_weight=cap, min_trade_weight=0.0)
    picks = [(f"S{i}", s) for i, s in enumerate(scores)]
    targets, _ = plan_weights(picks, exposure, {}, params)
    assert all(0 < w <= cap + 1e-12 for _, w in targets)
    assert sum(w for _, w in targets) <= exposure + 1e-9


@settings(max_examples=80, deadline=None)
@given(data=st.data(), n=st.integers(1, 9), rows=st.integers(1, 4), p=st.integers(1, 6), m=st.integers(1, 3))
def test_select_rows_matches_a_plain_sort(data, n, rows, p, m):
    elig = np.array(data.draw(st.lists(st.lists(st.booleans(), min_size=n, max_size=n), min_size=rows, max_size=rows)))
    votes = np.array(data.draw(st.lists(st.lists(st.integers(0, 4), min_size=n, max_size=n), min_size=rows,
                                        max_size=rows)))
    points = np.array(data.draw(st.lists(st.lists(st.integers(0, 3), min_size=n, max_size=n), min_size=rows,
                                         max_size=rows)), dtype=float)
    score = np.array(data.draw(st.lists(st.lists(st.sampled_from([-1.0, 0.0, 0.5, 2.0]), min_size=n, max_size=n),
                                        min_size=rows, max_size=rows)))
    got = select_rows(elig, votes, points, score, m, p)
    for r in range(rows):
        want = sorted((j for j in range(n) if elig[r, j] and votes[r, j] >= m),
                      key=lambda j: (-points[r, j], -score[r, j], j))[:p]
        assert [j for j in got[r].tolist() if j >= 0] == want
        assert got[r].tolist()[len(want):] == [-1] * (min(p, n) - len(want))


@settings(max_examples=80, deadline=None)
@given(data=st.data(), n=st.integers(1, 12), rows=st.integers(1, 4))
def test_rank_rows_matches_a_plain_sort(data, n, rows):
    elig = np.array(data.draw(st.lists(st.lists(st.booleans(), min_size=n, max_size=n), min_size=rows, max_size=rows)))
    score = np.array(data.draw(st.lists(st.lists(st.sampled_from([-1.0, 0.0, 0.25, 3.0, np.nan]), min_size=n,
                                                 max_size=n), min_size=rows, max_size=rows)))
    got = rank_rows(score, elig)
    for r in range(rows):
        order = sorted((j for j in range(n) if elig[r, j]), key=lambda j: (-np.nan_to_num(score[r, j]), j))
        want = [n] * n
        for k, j in enumerate(order):
            want[j] = k
        assert got[r].tolist() == want


def _regime_panel(btc, others_up: int, others_down: int, days: int = 80):
    from .conftest import panel_from_close

    t = np.arange(days, dtype=float)
    cols = [btc(t)] + [100 * 1.01 ** t] * others_up + [100 * 0.99 ** t] * others_down
    syms = ["BTCUSDT"] + [f"U{i:02d}XUSDT" for i in range(others_up)] + [f"D{i:02d}XUSDT" for i in range(others_down)]
    return panel_from_close(np.column_stack(cols), syms)


@pytest.mark.parametrize(("btc", "up", "down", "expected"), [
    (lambda t: 100 * 1.01 ** t, 8, 2, "bull"),  # BTC trending up, 9/11 above their SMA
    (lambda t: 100 * 1.01 ** t, 3, 7, "sideways"),  # trend up but breadth 4/11 is neither
    (lambda t: 100 * 0.99 ** t, 3, 7, "bear"),  # trend down, breadth below the bull minimum
    (lambda t: 100 * 1.01 ** t, 1, 9, "bear"),  # breadth 2/11 <= bear_breadth_max whatever the trend
    (lambda t: 100 * 0.99 ** t, 9, 1, "sideways"),  # trend down but broad strength
])
def test_observed_regime(btc, up, down, expected):
    from aura_common.core.features import compute_features
    from aura_common.core.params import RegimeParams
    from aura_common.core.regime import REGIMES, observe_rows

    panel = _regime_panel(btc, up, down)
    params = RegimeParams(fast_sma_days=10, slow_sma_days=30, breadth_sma_days=10, bull_breadth_min=0.5,
                          bear_breadth_max=0.3)
    codes = observe_rows(compute_features(panel), slice(0, 80), params, np.ones(len(panel.symbols), dtype=bool))
    assert REGIMES[codes[-1]].value == expected
    assert all(REGIMES[c].value == "bear" for c in codes[:29])  # no slow SMA yet: no evidence, no exposure
