"""The composite score: a weighted sum of cross-sectionally normalised factors.

Factors at row ``t`` (each z-scored across the symbols that passed the screen at ``t``):

- momentum: the mean of the z-scores of the returns over ``momentum_lookbacks_days``,
- volatility: the standard deviation of daily log returns over ``volatility_days`` (a negative weight prefers calm),
- trend: close / SMA(``trend_days``) - 1,
- liquidity: log of the median quote volume over the screen's liquidity window.

A factor that is undefined for an eligible symbol (e.g. a 90-day return 60 days after listing) counts as the
cross-sectional mean (z = 0). A factor with no spread on a row contributes 0. Symbols that did not pass the
screen get NaN. Row-wise, so one row and all rows share the code.
"""

from __future__ import annotations

import numpy as np

from aura_common.core.features import FeatureStore
from aura_common.core.params import ScoringParams, ScreenParams


def zscore_rows(values: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Z-score each row over its eligible, finite entries; 0 where undefined or without spread; NaN if ineligible."""
    return np.where(eligible, _zscore(values, eligible), np.nan)


def _zscore(values: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Like ``zscore_rows`` but 0.0 (not NaN) where ineligible: the caller masks once at the end."""
    mask = eligible & np.isfinite(values)
    x = np.where(mask, values, 0.0)
    count = np.maximum(mask.sum(axis=1), 1)
    x -= (x.sum(axis=1) / count)[:, None]
    np.multiply(x, mask, out=x)
    var = np.einsum("ij,ij->i", x, x) / count
    with np.errstate(divide="ignore"):
        inv = np.where(var > 1e-24, 1.0 / np.sqrt(var), 0.0)
    x *= inv[:, None]
    return x


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
    return _zscore(raw, eligible)


def score_rows(fs: FeatureStore, rows: slice, eligible: np.ndarray, params: ScoringParams,
               screen: ScreenParams, zcache=None) -> np.ndarray:
    """(R × N) composite score; NaN where the symbol is not eligible. ``zcache(kind, window)`` may memoise
    ``factor_z`` for a fixed eligibility (the sweep does)."""
    z = zcache or (lambda kind, window: factor_z(fs, rows, eligible, kind, window))
    score = np.zeros(eligible.shape)
    if params.w_momentum:
        lookbacks = sorted(set(params.momentum_lookbacks_days))
        mom = np.zeros(eligible.shape)
        for days in lookbacks:
            mom += z("ret", days)
        score += params.w_momentum * (mom / len(lookbacks))
    if params.w_volatility:
        score += params.w_volatility * z("vol", params.volatility_days)
    if params.w_trend:
        score += params.w_trend * z("trend", params.trend_days)
    if params.w_liquidity:
        score += params.w_liquidity * z("liq", screen.liquidity_window_days)
    return np.where(eligible, score, np.nan)
