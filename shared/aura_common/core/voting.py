"""Robust rank voting across historical offsets.

At row ``t`` the eligible symbols are ranked by score (0 = best; ties broken by symbol order, which is the sorted
column order, so the result never depends on input order). For each offset ``o`` in ``offsets_days`` the ranking
of row ``t - o`` is consulted: a symbol gets a *vote* when it ranked in the top ``top_k`` there.
Aggregation ("points", higher is better):

- ``borda``: the sum over offsets of ``n_eligible(t - o) - 1 - rank`` (0 when not eligible there),
- ``median``: minus the median rank over offsets (a row where the symbol was not eligible counts as rank N).

A symbol is *selected* at ``t`` when it is eligible at ``t`` and has at least ``min_votes`` votes; selected
symbols are ordered by points, then score, then symbol. Offsets reaching before the first candle count as
"not ranked". All rows are computed at once; the trader computes a block of ``max(offsets) + 1`` rows.
"""

from __future__ import annotations

import numpy as np

from aura_common.core.params import VotingParams


def rank_rows(score: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """(R × N) int: 0 = best score among the row's eligible symbols; N for ineligible ones.

    Equal scores rank in column (= symbol) order: a stable sort (measured faster than an unstable sort plus a
    stable re-sort of the rows with ties)."""
    r, n = score.shape
    key = np.where(eligible, -np.nan_to_num(score, nan=0.0), np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    rank = np.empty((r, n), dtype=np.int64)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(n), (r, n)), axis=1)
    return np.where(eligible, rank, n)


def vote_rows(rank: np.ndarray, eligible: np.ndarray, params: VotingParams) -> tuple[np.ndarray, np.ndarray]:
    """(votes, points), each (R × N), for the rows of a block (offsets before the block count as unranked)."""
    r, n = rank.shape
    top = (rank < params.top_k).astype(np.int64)
    votes = np.zeros((r, n), dtype=np.int64)
    if params.method == "borda":
        per_row = np.where(eligible, eligible.sum(axis=1, keepdims=True) - 1 - rank, 0).astype(np.float64)
        points = np.zeros((r, n))
        for o in sorted(params.offsets_days):
            if o < r:
                votes[o:] += top[: r - o]
                points[o:] += per_row[: r - o]
        return votes, points
    shifted = np.full((len(params.offsets_days), r, n), n, dtype=np.int64)
    for i, o in enumerate(sorted(params.offsets_days)):
        if o < r:
            votes[o:] += top[: r - o]
            shifted[i, o:] = rank[: r - o]
    return votes, -np.median(shifted, axis=0)


def select_rows(eligible: np.ndarray, votes: np.ndarray, points: np.ndarray, score: np.ndarray,
                min_votes: int, max_positions: int) -> np.ndarray:
    """(R × P) column indices of the selected symbols in order of preference; -1 pads."""
    r, n = eligible.shape
    p = min(max_positions, n)
    cand = eligible & (votes >= min_votes)
    width = max(int(cand.sum(axis=1).max(initial=0)), p)
    # candidates first, in column order (a stable sort of a boolean key), then order those few columns
    cols = np.argsort(~cand, axis=1, kind="stable")[:, :width]
    c_cand = np.take_along_axis(cand, cols, axis=1)
    k1 = np.where(c_cand, -np.take_along_axis(points, cols, axis=1), np.inf)
    k2 = np.where(c_cand, -np.nan_to_num(np.take_along_axis(score, cols, axis=1), nan=0.0), np.inf)
    order = np.lexsort((cols, k2, k1), axis=1)[:, :p]  # ties: points, then score, then column (= symbol)
    chosen = np.take_along_axis(c_cand, order, axis=1)
    return np.where(chosen, np.take_along_axis(cols, order, axis=1), -1)
