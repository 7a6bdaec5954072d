"""Robust rank voting across historical offsets.

At row ``t`` the eligible symbols are ranked by score (0 = best; ties broken by symbol order, which is the sorted
column order, so the result never depends on input order; a NaN score ranks as 0.0). For each offset ``o`` in
``offsets_days`` the ranking of row ``t - o`` is consulted: a symbol gets a *vote* when it ranked in the top
``top_k`` there (an ineligible symbol has rank N, so it votes only when ``top_k`` > N).
Aggregation ("points", higher is better):

- ``borda``: the sum over offsets of ``n_eligible(t - o) - 1 - rank`` (0 when not eligible there),
- ``median``: minus the median rank over offsets (a row where the symbol was not eligible counts as rank N).

A symbol is *selected* at ``t`` when it is eligible at ``t`` and has at least ``min_votes`` votes; selected
symbols are ordered by points, then score, then symbol. Offsets reaching before the first candle count as
"not ranked". All rows are computed at once; the trader computes a block of ``max(offsets) + 1`` rows.

Each step is a kernel (``core/jit.py``) that goes row by row: ranking orders only a row's eligible symbols,
selection keeps only the best ``max_positions`` candidates, and ``vote_select_rows`` votes and selects in one
pass. Points are sums of integers (Borda) or a median of integers, so they are exact.
"""

from __future__ import annotations

import numpy as np

from aura_common.core.jit import kernel
from aura_common.core.params import VotingParams

_BIG = np.finfo(np.float64).max  # np.nan_to_num's stand-in for +inf


@kernel
def _score_key(s: float) -> float:
    """-np.nan_to_num(s): the ascending sort key of a score (NaN ranks as 0.0, ±inf as ±max float)."""
    if np.isnan(s):
        return -0.0
    if s == np.inf:
        return -_BIG
    if s == -np.inf:
        return _BIG
    return -s


@kernel
def _lt(a: float, b: float) -> bool:
    """NumPy's sort order of floats: NaN after everything, NaNs equal among themselves."""
    return a < b or (b != b and a == a)


@kernel
def _sort_pairs(key: np.ndarray, col: np.ndarray, tkey: np.ndarray, tcol: np.ndarray, m: int) -> None:
    """Sort ``key[:m]`` ascending, carrying ``col`` along; equal keys keep their order (stable): insertion sort
    of runs of 16, then bottom-up merges through the ``t*`` buffers."""
    run = 16
    for lo in range(0, m, run):
        hi = min(lo + run, m)
        for a in range(lo + 1, hi):
            kv, cv = key[a], col[a]
            b = a - 1
            while b >= lo and kv < key[b]:
                key[b + 1], col[b + 1] = key[b], col[b]
                b -= 1
            key[b + 1], col[b + 1] = kv, cv
    width = run
    sk, sc, dk, dc = key, col, tkey, tcol
    swapped = False
    while width < m:
        for lo in range(0, m, 2 * width):
            mid, hi = min(lo + width, m), min(lo + 2 * width, m)
            a, b = lo, mid
            for o in range(lo, hi):
                if b >= hi or (a < mid and not sk[b] < sk[a]):
                    dk[o], dc[o] = sk[a], sc[a]
                    a += 1
                else:
                    dk[o], dc[o] = sk[b], sc[b]
                    b += 1
        sk, sc, dk, dc = dk, dc, sk, sc
        swapped = not swapped
        width *= 2
    if swapped:
        key[:m] = tkey[:m]
        col[:m] = tcol[:m]


# Rows with up to this many eligible symbols rank by a pairwise count, larger ones by sorting. Compiled, counting
# is faster up to ~200 (measured); run by the interpreter it costs m² steps, hence the lower bound.
_COUNT_MAX = 64


@kernel
def _rank_buffers(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scratch for ``_rank_row`` over rows of ``n`` columns: key, col, count, position (padded to a multiple of
    8), and the merge buffers."""
    pad = (n + 7) // 8 * 8
    return np.empty(pad), np.empty(pad, np.int64), np.empty(pad, np.int64), np.arange(pad), np.empty(n), \
        np.empty(n, np.int64)


@kernel
def _rank_row(score: np.ndarray, eligible: np.ndarray, out: np.ndarray, count_max: int, key: np.ndarray,
              col: np.ndarray, cnt: np.ndarray, pos: np.ndarray, tkey: np.ndarray, tcol: np.ndarray) -> None:
    """One row: the eligible columns (in column order) and their keys, then each one's rank = the number of
    eligible symbols ahead of it in (key, column) order; N for the others. Up to ``count_max`` eligible symbols
    are counted pairwise (branch-free, vectorised over a padded block), more are sorted; both give that one
    total order."""
    n = score.shape[0]
    m = 0
    for j in range(n):
        out[j] = n
        col[m] = j
        m += eligible[j]
    for k in range(m):
        key[k] = _score_key(score[col[k]])
    if m <= count_max:
        pad = (m + 7) // 8 * 8
        key[m:pad] = np.inf  # padding: behind every real key (those are finite)
        cnt[:pad] = 0
        for b in range(m):  # b is ahead of a when its key is smaller, or equal and b is the earlier column
            kb = key[b]
            for a in range(pad):
                cnt[a] += (kb < key[a]) | ((kb == key[a]) & (b < pos[a]))
        for k in range(m):
            out[col[k]] = cnt[k]
    else:
        _sort_pairs(key, col, tkey, tcol, m)
        for k in range(m):
            out[col[k]] = k


@kernel
def _rank(score: np.ndarray, eligible: np.ndarray, count_max: int) -> np.ndarray:
    r, n = score.shape
    rank = np.empty((r, n), np.int64)
    key, col, cnt, pos, tkey, tcol = _rank_buffers(n)
    for i in range(r):
        _rank_row(score[i], eligible[i], rank[i], count_max, key, col, cnt, pos, tkey, tcol)
    return rank


def rank_rows(score: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """(R × N) int: 0 = best score among the row's eligible symbols; N for ineligible ones.

    Equal scores rank in column (= symbol) order; only each row's eligible symbols are ranked."""
    score, eligible = np.ascontiguousarray(score, dtype=np.float64), np.ascontiguousarray(eligible, dtype=np.bool_)
    if score.ndim != 2 or score.shape != eligible.shape:
        raise ValueError(f"score {score.shape} and eligible {eligible.shape} must be the same (R × N) shape")
    return _rank(score, eligible, _COUNT_MAX)


@kernel
def _eligible_counts(eligible: np.ndarray) -> np.ndarray:
    r, n = eligible.shape
    out = np.zeros(r, np.int64)
    for t in range(r):
        for j in range(n):
            out[t] += eligible[t, j]
    return out


@kernel
def _votes_row(t: int, rank: np.ndarray, eligible: np.ndarray, n_elig: np.ndarray, offsets: np.ndarray,
               top_k: int, borda: bool, votes: np.ndarray, points: np.ndarray, ranks: np.ndarray) -> None:
    """Votes and points of row ``t`` (offsets ascending): accumulated offset by offset, as the NumPy sums of
    shifted copies did; for the median, the offsets' ranks are sorted per column (``ranks``: N × offsets)."""
    n = rank.shape[1]
    n_off = offsets.shape[0]
    votes[:] = 0
    points[:] = 0.0
    for q in range(n_off):
        s = t - offsets[q]
        if s < 0:  # before the block: not ranked (rank N for the median)
            if not borda:
                ranks[:, q] = n
            continue
        rs, es, base = rank[s], eligible[s], n_elig[s] - 1
        if borda:
            for j in range(n):
                votes[j] += rs[j] < top_k
                points[j] += float(base - rs[j]) if es[j] else 0.0
        else:
            for j in range(n):
                votes[j] += rs[j] < top_k
                ranks[j, q] = rs[j]
    if not borda:  # minus the median over offsets (np.median: the middle one, or the mean of the middle two)
        h = n_off // 2
        for j in range(n):
            rj = ranks[j]
            for a in range(1, n_off):  # insertion sort of the column's few ranks
                v = rj[a]
                b = a - 1
                while b >= 0 and v < rj[b]:
                    rj[b + 1] = rj[b]
                    b -= 1
                rj[b + 1] = v
            if n_off % 2:
                points[j] = -float(rj[h])
            else:
                points[j] = -((float(rj[h - 1]) + float(rj[h])) / 2.0)


@kernel
def _votes(rank: np.ndarray, eligible: np.ndarray, offsets: np.ndarray, top_k: int,
           borda: bool) -> tuple[np.ndarray, np.ndarray]:
    r, n = rank.shape
    votes, points = np.empty((r, n), np.int64), np.empty((r, n))
    n_elig = _eligible_counts(eligible)
    ranks = np.empty((n, offsets.shape[0]), np.int64)
    for t in range(r):
        _votes_row(t, rank, eligible, n_elig, offsets, top_k, borda, votes[t], points[t], ranks)
    return votes, points


def _offsets(params: VotingParams) -> np.ndarray:
    return np.array(sorted(params.offsets_days), dtype=np.int64)


def _check(name: str, arr: np.ndarray, eligible: np.ndarray) -> None:
    if eligible.ndim != 2 or arr.shape != eligible.shape:
        raise ValueError(f"{name} {arr.shape} and eligible {eligible.shape} must be the same (R × N) shape")


def vote_rows(rank: np.ndarray, eligible: np.ndarray, params: VotingParams) -> tuple[np.ndarray, np.ndarray]:
    """(votes, points), each (R × N), for the rows of a block (offsets before the block count as unranked)."""
    rank, eligible = np.ascontiguousarray(rank, dtype=np.int64), np.ascontiguousarray(eligible, dtype=np.bool_)
    _check("rank", rank, eligible)
    return _votes(rank, eligible, _offsets(params), int(params.top_k), params.method == "borda")


@kernel
def _before(ka: float, sa: float, a: int, kb: float, sb: float, b: int) -> bool:
    """Candidate a ahead of b: higher points (key -points), then higher score (key -nan_to_num), then column."""
    if _lt(ka, kb):
        return True
    if _lt(kb, ka):
        return False
    if _lt(sa, sb):
        return True
    if _lt(sb, sa):
        return False
    return a < b


@kernel
def _select_row(eligible: np.ndarray, votes: np.ndarray, points: np.ndarray, score: np.ndarray, min_votes: int,
                out: np.ndarray, kp: np.ndarray, ks: np.ndarray) -> None:
    """The best ``len(out)`` candidates of one row, best first, -1 pads: each candidate (in column order) is
    inserted into the kept ones, which never exceed ``len(out)``."""
    p = out.shape[0]
    out[:] = -1
    if p == 0:
        return
    c = 0  # candidates kept so far, in out[:c]
    for j in range(eligible.shape[0]):
        if not (eligible[j] and votes[j] >= min_votes):
            continue
        k1 = -points[j]
        k2 = _score_key(score[j])
        if c == p and not _before(k1, k2, j, kp[c - 1], ks[c - 1], out[c - 1]):
            continue
        b = c - 1 if c < p else c - 2
        while b >= 0 and _before(k1, k2, j, kp[b], ks[b], out[b]):
            out[b + 1], kp[b + 1], ks[b + 1] = out[b], kp[b], ks[b]
            b -= 1
        out[b + 1], kp[b + 1], ks[b + 1] = j, k1, k2
        if c < p:
            c += 1


@kernel
def _select(eligible: np.ndarray, votes: np.ndarray, points: np.ndarray, score: np.ndarray, min_votes: int,
            p: int) -> np.ndarray:
    r = eligible.shape[0]
    out = np.empty((r, p), np.int64)
    kp, ks = np.empty(p), np.empty(p)
    for i in range(r):
        _select_row(eligible[i], votes[i], points[i], score[i], min_votes, out[i], kp, ks)
    return out


def _positions(max_positions: int, n: int) -> int:
    return max(min(int(max_positions), n), 0)


def select_rows(eligible: np.ndarray, votes: np.ndarray, points: np.ndarray, score: np.ndarray,
                min_votes: int, max_positions: int) -> np.ndarray:
    """(R × P) column indices of the selected symbols in order of preference; -1 pads."""
    eligible, votes = np.ascontiguousarray(eligible, dtype=np.bool_), np.ascontiguousarray(votes)
    points, score = np.ascontiguousarray(points, dtype=np.float64), np.ascontiguousarray(score, dtype=np.float64)
    for name, arr in (("votes", votes), ("points", points), ("score", score)):
        _check(name, arr, eligible)
    return _select(eligible, votes, points, score, min_votes, _positions(max_positions, eligible.shape[1]))


@kernel
def _vote_select(rank: np.ndarray, eligible: np.ndarray, score: np.ndarray, offsets: np.ndarray, top_k: int,
                 borda: bool, min_votes: int, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r, n = rank.shape
    votes, points, out = np.empty((r, n), np.int64), np.empty((r, n)), np.empty((r, p), np.int64)
    n_elig = _eligible_counts(eligible)
    ranks = np.empty((n, offsets.shape[0]), np.int64)
    kp, ks = np.empty(p), np.empty(p)
    for t in range(r):
        _votes_row(t, rank, eligible, n_elig, offsets, top_k, borda, votes[t], points[t], ranks)
        _select_row(eligible[t], votes[t], points[t], score[t], min_votes, out[t], kp, ks)
    return votes, points, out


def vote_select_rows(rank: np.ndarray, eligible: np.ndarray, score: np.ndarray, params: VotingParams,
                     max_positions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``vote_rows`` then ``select_rows`` in one pass over the rows: (votes, points, selected)."""
    rank, eligible = np.ascontiguousarray(rank, dtype=np.int64), np.ascontiguousarray(eligible, dtype=np.bool_)
    score = np.ascontiguousarray(score, dtype=np.float64)
    _check("rank", rank, eligible)
    _check("score", score, eligible)
    return _vote_select(rank, eligible, score, _offsets(params), int(params.top_k), params.method == "borda",
                        int(params.min_votes), _positions(max_positions, eligible.shape[1]))
