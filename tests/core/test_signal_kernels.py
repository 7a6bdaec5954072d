"""The signal kernels (scoring, ranking, voting, selection) against plain NumPy / Python references.

The references below are the definitions written the slow, obvious way: z-scores as the NumPy formulation the
kernels replaced (the kernels must match it bit for bit), ranks and selections as Python sorts with the
documented tie-breaks, votes and points as per-symbol loops over the offsets.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core.features import compute_features
from aura_common.core.params import ScoringParams, ScreenParams, VotingParams
from aura_common.core.scoring import _pairwise_sum, factor_z, score_rank_rows, score_rows, zscore_rows
from aura_common.core.screen import allowed_columns, screen_rows
from aura_common.core.synthetic import synthetic_panel
from aura_common.core.voting import _rank, rank_rows, select_rows, vote_rows, vote_select_rows

# ---- references ----


def ref_zscore(values, eligible):
    """The NumPy formulation (0.0 where ineligible)."""
    mask = eligible & np.isfinite(values)
    x = np.where(mask, values, 0.0)
    count = np.maximum(mask.sum(axis=1), 1)
    x -= (x.sum(axis=1) / count)[:, None]
    np.multiply(x, mask, out=x)
    var = np.einsum("ij,ij->i", x, x) / count
    with np.errstate(divide="ignore"):
        inv = np.where(var > 1e-24, 1.0 / np.sqrt(var), 0.0)
    return x * inv[:, None]


def key(s: float) -> float:
    return -float(np.nan_to_num(s))


def ref_rank(score, eligible):
    r, n = score.shape
    out = np.full((r, n), n, dtype=np.int64)
    for i in range(r):
        order = sorted((j for j in range(n) if eligible[i, j]), key=lambda j: (key(score[i, j]), j))
        for k, j in enumerate(order):
            out[i, j] = k
    return out


def ref_vote(rank, eligible, params: VotingParams):
    r, n = rank.shape
    votes, points = np.zeros((r, n), dtype=np.int64), np.zeros((r, n))
    for t in range(r):
        for j in range(n):
            seen = [(t - o, rank[t - o, j]) if t - o >= 0 else (None, n) for o in sorted(params.offsets_days)]
            ranked = [(s, x) for s, x in seen if s is not None]  # offsets reaching before the block: unranked
            votes[t, j] = sum(1 for _, x in ranked if x < params.top_k)
            if params.method == "borda":
                points[t, j] = sum(float(eligible[s].sum() - 1 - x) for s, x in ranked if eligible[s, j])
            else:
                points[t, j] = -float(np.median([x for _, x in seen]))
    return votes, points


def ref_select(eligible, votes, points, score, min_votes, max_positions):
    r, n = eligible.shape
    p = min(max_positions, n)
    out = np.full((r, p), -1, dtype=np.int64)
    for i in range(r):
        cand = [j for j in range(n) if eligible[i, j] and votes[i, j] >= min_votes]
        best = sorted(cand, key=lambda j: (-points[i, j], key(score[i, j]), j))[:p]
        out[i, : len(best)] = best
    return out


def bits(a) -> bytes:
    return np.ascontiguousarray(a).tobytes()


# ---- tables ----


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 100, 127, 128, 129, 130, 255, 256, 257, 300, 1031, 5000])
def test_row_sum_is_numpys_pairwise_sum_bit_for_bit(n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=n) * 10.0 ** rng.integers(-8, 8, size=n)
    assert _pairwise_sum(x) == np.add.reduce(x)
    assert np.float64(_pairwise_sum(x)).tobytes() == np.add.reduce(x).tobytes()


@pytest.mark.parametrize(("values", "eligible"), [
    ([[1.0, 2.0, 3.0, 100.0, np.nan]], [[True, True, True, False, True]]),
    ([[np.inf, -np.inf, 2.0, 4.0]], [[True, True, True, True]]),  # non-finite eligible values count as the mean
    ([[5.0, 5.0, 5.0]], [[True, True, True]]),  # no spread
    ([[3.0, 1.0]], [[True, False]]),  # a single eligible symbol
    ([[1.0, 2.0]], [[False, False]]),  # nobody eligible
    ([[1e300, -1e300, 3e299, 1.0]], [[True, True, True, True]]),  # overflowing squares
    ([[0.1] * 130 + [0.2] * 7], [[True] * 137]),  # longer than a pairwise block
    (np.zeros((0, 3)), np.zeros((0, 3), dtype=bool)),
])
def test_zscore_is_the_numpy_formulation_bit_for_bit(values, eligible):
    values, eligible = np.array(values, dtype=float), np.array(eligible, dtype=bool)
    with np.errstate(all="ignore"):
        want = np.where(eligible, ref_zscore(values, eligible), np.nan)
    got = zscore_rows(values, eligible)
    assert bits(got) == bits(want)


def test_rank_ties_nan_and_infinities():
    inf = np.inf
    score = np.array([[2.0, np.nan, -1.0, 0.0, inf, 2.0, -inf, -0.0]])
    elig = np.ones_like(score, dtype=bool)
    # keys: -2, 0 (NaN), 1, 0, -max, -2, +max, 0 -> order 4, 0, 5, 1, 3, 7, 2, 6
    assert rank_rows(score, elig).tolist() == [[1, 3, 6, 4, 0, 2, 7, 5]]
    elig[0, 0] = False
    assert rank_rows(score, elig).tolist() == [[8, 2, 5, 3, 0, 1, 6, 4]]


@pytest.mark.parametrize("count_max", [0, 10**6])
def test_counting_and_sorting_rank_alike(count_max):
    rng = np.random.default_rng(7)
    score = rng.choice([-1.0, 0.0, 0.5, np.nan, 2.0], size=(30, 90))
    elig = rng.random((30, 90)) < rng.random((30, 1))  # rows from sparse to nearly full
    assert _rank(score, elig, count_max).tolist() == ref_rank(score, elig).tolist()


@pytest.mark.parametrize("offsets", [(0,), (0, 1), (0, 1, 2), (0, 2, 5, 6), (3, 4)])
@pytest.mark.parametrize("method", ["borda", "median"])
def test_votes_and_points_per_symbol(offsets, method):
    rng = np.random.default_rng(len(offsets))
    elig = rng.random((9, 6)) < 0.6
    rank = ref_rank(rng.normal(size=(9, 6)), elig)
    params = VotingParams(offsets_days=offsets, top_k=2, min_votes=1, method=method)
    want_v, want_p = ref_vote(rank, elig, params)
    got_v, got_p = vote_rows(rank, elig, params)
    assert got_v.tolist() == want_v.tolist()
    assert bits(got_p) == bits(want_p)  # -0.0 included: minus a median rank of 0


def test_top_k_beyond_the_universe_counts_ineligible_symbols_as_voters():
    rank = np.array([[0, 2], [0, 2]])
    elig = np.array([[True, False], [True, False]])
    votes, _ = vote_rows(rank, elig, VotingParams(offsets_days=(0, 1), top_k=5, min_votes=1))
    assert votes.tolist() == [[1, 1], [2, 2]]  # rank N = 2 < top_k: as the NumPy code counted it


def test_select_orders_by_points_score_column_and_pads():
    elig = np.array([[True, True, True, True, True, False]])
    votes = np.array([[2, 2, 2, 2, 1, 5]])
    points = np.array([[3.0, 3.0, 3.0, 4.0, 9.0, 9.0]])
    score = np.array([[0.5, np.nan, 0.5, -1.0, 5.0, 5.0]])
    assert select_rows(elig, votes, points, score, 2, 3).tolist() == [[3, 0, 2]]
    assert select_rows(elig, votes, points, score, 2, 10).tolist() == [[3, 0, 2, 1, -1, -1]]
    assert select_rows(elig, votes, points, score, 3, 2).tolist() == [[-1, -1]]
    assert select_rows(elig[:, :0], votes[:, :0], points[:, :0], score[:, :0], 1, 5).shape == (1, 0)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="same"):
        rank_rows(np.zeros((2, 3)), np.zeros((2, 4), dtype=bool))
    with pytest.raises(ValueError, match="same"):
        zscore_rows(np.zeros((2, 3)), np.zeros((3, 2), dtype=bool))


@pytest.mark.parametrize("weights", [
    {}, {"w_momentum": 0.0}, {"w_volatility": 0.0, "w_trend": 0.0, "w_liquidity": 0.0},
    {"w_momentum": 0.0, "w_volatility": 0.0, "w_trend": 0.0, "w_liquidity": 0.0}, {"w_volatility": -1.0},
    {"momentum_lookbacks_days": (30, 7, 30)}, {"w_momentum": 0.7, "w_trend": 0.3, "w_liquidity": -0.1},
])
def test_score_and_rank_on_a_panel_equal_the_references(weights):
    panel = synthetic_panel(14, 260, seed=3, late_listing_fraction=0.5)
    fs = compute_features(panel)
    screen = ScreenParams(min_history_days=40, sma_days=20, momentum_days=10, min_median_quote_volume=1e5)
    scoring = ScoringParams(**{"trend_days": 20, **weights})
    rows = slice(0, panel.shape[0])
    elig = screen_rows(fs, rows, screen, allowed_columns(panel.symbols))
    assert elig.any()
    want = np.zeros(elig.shape)
    if scoring.w_momentum:
        lookbacks = sorted(set(scoring.momentum_lookbacks_days))
        mom = np.zeros(elig.shape)
        for d in lookbacks:
            mom += ref_zscore(fs.ret(d)[rows], elig)
        want += scoring.w_momentum * (mom / len(lookbacks))
    for w, raw in ((scoring.w_volatility, fs.volatility(scoring.volatility_days)),
                   (scoring.w_trend, fs.trend(scoring.trend_days)),
                   (scoring.w_liquidity, fs.log_liquidity(screen.liquidity_window_days))):
        if w:
            want += w * ref_zscore(raw[rows], elig)
    want = np.where(elig, want, np.nan)
    assert bits(factor_z(fs, rows, elig, "vol", 30)) == bits(ref_zscore(fs.volatility(30)[rows], elig))
    score = score_rows(fs, rows, elig, scoring, screen)
    assert bits(score) == bits(want)
    both = score_rank_rows(fs, rows, elig, scoring, screen)
    assert bits(both[0]) == bits(want)
    assert both[1].tolist() == ref_rank(want, elig).tolist()


# ---- properties ----

SCORES = st.sampled_from([-1.0, 0.0, -0.0, 0.25, 3.0, np.nan, np.inf, -np.inf, 1e-300])


@st.composite
def block(draw, max_n: int = 40):
    n = draw(st.integers(0, max_n))
    rows = draw(st.integers(1, 6))
    elig = np.array(draw(st.lists(st.booleans(), min_size=rows * n, max_size=rows * n)), dtype=bool).reshape(rows, n)
    if draw(st.booleans()):  # dense rows reach the sorting path of the ranking
        elig |= draw(st.booleans())
    continuous = draw(st.booleans())
    if continuous:
        score = np.array(draw(st.lists(st.floats(-1e6, 1e6), min_size=rows * n, max_size=rows * n)))
    else:
        score = np.array(draw(st.lists(SCORES, min_size=rows * n, max_size=rows * n)), dtype=float)
    return score.reshape(rows, n), elig


@settings(max_examples=150, deadline=None)
@given(data=block(max_n=90), count_max=st.sampled_from([0, 3, 64, 10**6]))
def test_rank_matches_a_plain_sort_on_both_paths(data, count_max):
    score, elig = data
    want = ref_rank(score, elig).tolist()
    assert _rank(score, elig, count_max).tolist() == want
    assert rank_rows(score, elig).tolist() == want


@settings(max_examples=150, deadline=None)
@given(data=block(), zvalues=st.lists(st.floats(-1e12, 1e12) | st.sampled_from([np.nan, np.inf, -np.inf, 1e300]),
                                      min_size=1))
def test_zscore_matches_the_numpy_formulation(data, zvalues):
    score, elig = data
    values = np.resize(np.array(zvalues, dtype=float), score.shape)
    with np.errstate(all="ignore"):
        want = np.where(elig, ref_zscore(values, elig), np.nan)
    assert bits(zscore_rows(values, elig)) == bits(want)


@settings(max_examples=150, deadline=None)
@given(data=block(), offsets=st.lists(st.integers(0, 6), min_size=1, max_size=5, unique=True),
       top_k=st.integers(1, 8), method=st.sampled_from(["borda", "median"]), min_votes=st.integers(1, 5),
       max_positions=st.integers(1, 12))
def test_votes_and_selection_match_the_references(data, offsets, top_k, method, min_votes, max_positions):
    score, elig = data
    params = VotingParams(offsets_days=tuple(offsets), top_k=top_k, min_votes=min(min_votes, len(offsets)),
                          method=method)
    rank = ref_rank(score, elig)
    want_v, want_p = ref_vote(rank, elig, params)
    got_v, got_p = vote_rows(rank, elig, params)
    assert got_v.tolist() == want_v.tolist()
    assert bits(got_p) == bits(want_p)
    want_s = ref_select(elig, want_v, want_p, score, params.min_votes, max_positions)
    assert select_rows(elig, got_v, got_p, score, params.min_votes, max_positions).tolist() == want_s.tolist()
    fused = vote_select_rows(rank, elig, score, params, max_positions)
    assert fused[0].tolist() == want_v.tolist()
    assert bits(fused[1]) == bits(want_p)
    assert fused[2].tolist() == want_s.tolist()


def test_kernels_give_the_same_bits_run_by_the_interpreter():
    """``kernel.py_func`` is the source run by Python (see core/jit.py): same results as the compiled kernel."""
    from aura_common.core import scoring, voting

    rng = np.random.default_rng(5)
    score = rng.choice([-1.0, 0.0, 0.5, np.nan, 2.0, np.inf], size=(5, 11)) + rng.normal(size=(5, 11)) * (
        rng.random((5, 11)) < 0.5)
    elig = rng.random((5, 11)) < 0.7
    values = rng.normal(size=(5, 11))
    offsets = np.array([0, 1, 3])
    for k, args in ((scoring._centre, (values, elig)), (scoring._mask_rank, (values, elig, 3)),
                    (voting._rank, (score, elig, 0)), (voting._rank, (score, elig, 64)),
                    (voting._vote_select, (ref_rank(score, elig), elig, score, offsets, 2, True, 2, 4)),
                    (voting._vote_select, (ref_rank(score, elig), elig, score, offsets, 2, False, 1, 4))):
        a1, a2 = copies(args), copies(args)  # fresh arrays for each run: _mask_rank masks its score in place
        compiled, interpreted = k(*a1), k.py_func(*a2)
        assert [bits(a) for a in compiled] == [bits(a) for a in interpreted], k
        assert [bits(a) for a in a1 if isinstance(a, np.ndarray)] == [bits(a) for a in a2 if isinstance(a, np.ndarray)]


def copies(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]
