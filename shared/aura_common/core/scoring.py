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
    mask = eligible & np.isfinite(values)
    x = np.where(mask, values, 0.0)
    count = mask.sum(axis=1, keepdims=True)
    safe = np.maximum(count, 1)
    mean = x.sum(axis=1, keepdims=True) / safe
    dev = np.where(mask, values - mean, 0.0)
    std = np.sqrt((dev * dev).sum(axis=1, keepdims=True) / safe)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(std > 1e-12, dev / std, 0.0)
    z = np.where(mask, z, 0.0)
    return np.where(eligible, z, np.nan)


def score_rows(fs: FeatureStore, rows: slice, eligible: np.ndarray, params: ScoringParams,
               screen: ScreenParams) -> np.ndarray:
    """(R × N) composite score; NaN where the symbol is not eligible."""
    score = np.zeros(eligible.shape)
    if params.w_momentum:
        mom = np.zeros(eligible.shape)
        for days in sorted(set(params.momentum_lookbacks_days)):
            mom += zscore_rows(fs.ret(days)[rows], eligible)
        score += params.w_momentum * (mom / len(set(params.momentum_lookbacks_days)))
    if params.w_volatility:
        score += params.w_volatility * zscore_rows(fs.volatility(params.volatility_days)[rows], eligible)
    if params.w_trend:
        score += params.w_trend * zscore_rows(fs.trend(params.trend_days)[rows], eligible)
    if params.w_liquidity:
        with np.errstate(divide="ignore", invalid="ignore"):
            liq = np.log(fs.median_quote_volume(screen.liquidity_window_days)[rows])
        score += params.w_liquidity * zscore_rows(liq, eligible)
    return np.where(eligible, score, np.nan)
