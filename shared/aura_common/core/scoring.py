"""The composite score: a weighted sum of cross-sectionally normalised factors.

Factors at row ``t`` (each z-scored across the symbols that passed the screen at ``t``):

- momentum: the mean of the z-scores of the returns over ``momentum_lookbacks_days``,
- volatility: the standard deviation of daily log returns over ``volatility_days`` (a negative weight prefers calm),
- trend: close / SMA(``trend_days``) - 1,
- liquidity: log of the median quote volume over the screen's liquidity window.

A factor that is undefined for an eligible symbol (e.g. a 90-day return 60 days after listing) counts as the
cross-sectional mean (z = 0). A factor with no spread on a row contributes 0. Symbols that did not pass the
screen get NaN. Row-wise, so one row and all rows share the code.

The row loops are kernels (``core/jit.py``: IEEE arithmetic in program order). They do, element by element, what
the NumPy formulation they replaced did, in the same order, so z-scores and scores are bit-identical to it: the row
mean is NumPy's pairwise sum (``_pairwise_sum``), the sum of squares is ``np.einsum("ij,ij->i", x, x)`` itself,
and the score adds the terms in the order above, one factor at a time. ``score_rank_rows`` also ranks each row
(``voting``) as it masks it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from aura_common.core.features import FeatureStore
from aura_common.core.jit import kernel
from aura_common.core.params import ScoringParams, ScreenParams
from aura_common.core.voting import _COUNT_MAX, _rank_buffers, _rank_row

ZCache = Callable[[str, int], np.ndarray]  # (factor kind, window) -> its z-scores, memoised by the caller

_PW_BLOCK = 128  # NumPy's pairwise-summation block (PW_BLOCKSIZE)


@kernel
def _block_sum(a: np.ndarray, lo: int, n: int) -> float:
    """NumPy's pairwise-sum leaf: eight running sums, combined as a tree, then the remainder in order."""
    if n < 8:
        res: float = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = lo + 8
    stop = lo + n - n % 8
    while i < stop:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < lo + n:
        res += a[i]
        i += 1
    return res


@kernel
def _pairwise_sum(a: np.ndarray) -> float:
    """``np.add.reduce`` of a contiguous float64 vector, bit for bit: blocks of <= 128 summed by ``_block_sum``,
    longer runs split in two (the first half a multiple of 8) and the halves added. Iterative, with an explicit
    stack: the recursive version crashed when Numba (0.68) loaded it back from its cache."""
    n = a.shape[0]
    if n <= _PW_BLOCK:
        return 0.0 + _block_sum(a, 0, n)
    lo_s = np.empty(64, np.int64)
    n_s = np.empty(64, np.int64)
    stage = np.zeros(64, np.int64)  # 0: not started, 1: left half pending, 2: right half pending
    left = np.empty(64)
    lo_s[0], n_s[0] = 0, n
    sp, ret = 1, 0.0
    while sp > 0:
        k = sp - 1
        m = n_s[k]
        if m <= _PW_BLOCK:
            ret = _block_sum(a, lo_s[k], m)
            sp -= 1
            continue
        half = m // 2
        half -= half % 8
        if stage[k] == 0:
            stage[k] = 1
            lo_s[sp], n_s[sp], stage[sp] = lo_s[k], half, 0
            sp += 1
        elif stage[k] == 1:
            left[k], stage[k] = ret, 2
            lo_s[sp], n_s[sp], stage[sp] = lo_s[k] + half, m - half, 0
            sp += 1
        else:
            ret = left[k] + ret
            sp -= 1
    return 0.0 + ret


@kernel
def _centre(values: np.ndarray, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: x = (v if used else 0) - mean, times (1 if used else 0), where used = eligible and finite and the
    mean is the pairwise sum over the row / max(count, 1). Returns (x, max(count, 1))."""
    r, n = values.shape
    x = np.empty((r, n))
    count = np.empty(r, np.int64)
    used = np.empty(n, np.bool_)
    for i in range(r):
        row = x[i]
        c = 0
        for j in range(n):
            v = values[i, j]
            u = eligible[i, j] & np.isfinite(v)
            used[j] = u
            row[j] = v if u else 0.0
            c += u
        c = max(c, 1)
        count[i] = c
        mean = _pairwise_sum(row) / c
        for j in range(n):
            row[j] = (row[j] - mean) * (1.0 if used[j] else 0.0)
    return x, count


@kernel
def _scale(x: np.ndarray, var: np.ndarray) -> np.ndarray:
    """x *= 1 / sqrt(var) per row, in place; rows without spread (var <= 1e-24) become 0."""
    r, n = x.shape
    for i in range(r):
        inv = 1.0 / np.sqrt(var[i]) if var[i] > 1e-24 else 0.0
        for j in range(n):
            x[i, j] *= inv
    return x


@kernel
def _add(acc: np.ndarray, z: np.ndarray) -> None:
    """acc = acc + z, in place (the momentum z-scores add up in the score's array)."""
    r, n = acc.shape
    for i in range(r):
        for j in range(n):
            acc[i, j] = acc[i, j] + z[i, j]


@kernel
def _mean_times(acc: np.ndarray, w: float, k: int) -> None:
    """acc = 0 + w * (acc / k), in place (the weighted mean of ``k`` momentum z-scores)."""
    r, n = acc.shape
    for i in range(r):
        for j in range(n):
            acc[i, j] = 0.0 + w * (acc[i, j] / k)


@kernel
def _add_times(acc: np.ndarray, z: np.ndarray, w: float) -> None:
    """acc = acc + w * z, in place."""
    r, n = acc.shape
    for i in range(r):
        for j in range(n):
            acc[i, j] = acc[i, j] + w * z[i, j]


@kernel
def _mask(score: np.ndarray, eligible: np.ndarray) -> None:
    """NaN where not eligible, in place."""
    r, n = score.shape
    for i in range(r):
        for j in range(n):
            score[i, j] = score[i, j] if eligible[i, j] else np.nan


@kernel
def _mask_rank(score: np.ndarray, eligible: np.ndarray, count_max: int) -> np.ndarray:
    """``_mask`` and ``voting._rank`` of the result, row by row (a row is ranked while in cache)."""
    r, n = score.shape
    rank = np.empty((r, n), np.int64)
    key, col, cnt, pos, tkey, tcol = _rank_buffers(n)
    for i in range(r):
        row, e = score[i], eligible[i]
        for j in range(n):
            row[j] = row[j] if e[j] else np.nan
        _rank_row(row, e, rank[i], count_max, key, col, cnt, pos, tkey, tcol)
    return rank


def _check(values: np.ndarray, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.ascontiguousarray(values, dtype=np.float64)
    eligible = np.ascontiguousarray(eligible, dtype=np.bool_)
    if values.ndim != 2 or values.shape != eligible.shape:
        raise ValueError(f"values {values.shape} and eligible {eligible.shape} must be the same (R × N) shape")
    return values, eligible


def zscore_rows(values: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Z-score each row over its eligible, finite entries; 0 where undefined or without spread; NaN if ineligible."""
    values, eligible = _check(values, eligible)
    return np.where(eligible, _zscore(values, eligible), np.nan)


def _zscore(values: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Like ``zscore_rows`` but 0.0 (not NaN) where ineligible: the caller masks once at the end."""
    x, count = _centre(values, eligible)
    return _scale(x, np.einsum("ij,ij->i", x, x) / count)


def factor_z(fs: FeatureStore, rows: slice, eligible: np.ndarray, kind: str, window: int) -> np.ndarray:
    """The z-scored factor ``kind`` (ret / vol / trend / liq) over its ``window``; 0.0 where ineligible."""
    if kind == "ret":
        raw = fs.ret(window)[rows]
    elif kind == "vol":
        raw = fs.volatility(window)[rows]
    elif kind == "trend":
        raw = fs.trend(window)[rows]
    else:
        raw = fs.log_liquidity(window)[rows]
    return _zscore(*_check(raw, eligible))


def _sum_terms(fs: FeatureStore, rows: slice, eligible: np.ndarray, params: ScoringParams, screen: ScreenParams,
               zcache: ZCache | None) -> np.ndarray:
    """0 + w_momentum * ((0 + z_ret_1 + ... + z_ret_k) / k) + w_volatility * z_vol + w_trend * z_trend +
    w_liquidity * z_liq, the terms with a zero weight left out, element by element in that order (the order of
    the NumPy sums before), one z-score at a time: without ``zcache`` each is dropped once added, so the whole
    score needs the memory of three arrays, not of every factor."""
    z = zcache or (lambda kind, window: factor_z(fs, rows, eligible, kind, window))

    def term(kind: str, window: int) -> np.ndarray:
        got = np.ascontiguousarray(z(kind, window), dtype=np.float64)
        if got.shape != eligible.shape:
            raise ValueError(f"z-scores {got.shape} and eligible {eligible.shape} must be the same (R × N) shape")
        return got

    score = np.zeros(eligible.shape)
    if params.w_momentum:
        lookbacks = sorted(set(params.momentum_lookbacks_days))
        for days in lookbacks:
            _add(score, term("ret", days))
        _mean_times(score, float(params.w_momentum), len(lookbacks))
    for w, kind, window in ((params.w_volatility, "vol", params.volatility_days),
                            (params.w_trend, "trend", params.trend_days),
                            (params.w_liquidity, "liq", screen.liquidity_window_days)):
        if w:
            _add_times(score, term(kind, window), float(w))
    return score


def score_rows(fs: FeatureStore, rows: slice, eligible: np.ndarray, params: ScoringParams,
               screen: ScreenParams, zcache: ZCache | None = None) -> np.ndarray:
    """(R × N) composite score; NaN where the symbol is not eligible. ``zcache(kind, window)`` may memoise
    ``factor_z`` for a fixed eligibility (the sweep does)."""
    eligible = np.ascontiguousarray(eligible, dtype=np.bool_)
    score = _sum_terms(fs, rows, eligible, params, screen, zcache)
    _mask(score, eligible)
    return score


def score_rank_rows(fs: FeatureStore, rows: slice, eligible: np.ndarray, params: ScoringParams,
                    screen: ScreenParams, zcache: ZCache | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``score_rows`` and ``voting.rank_rows`` of that score (masked and ranked in one pass): (score, rank)."""
    eligible = np.ascontiguousarray(eligible, dtype=np.bool_)
    score = _sum_terms(fs, rows, eligible, params, screen, zcache)
    return score, _mask_rank(score, eligible, _COUNT_MAX)
