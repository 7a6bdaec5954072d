"""A fold's overfitting statistics from its trials' daily in-sample returns (``core.overfitting``): the deflated
Sharpe ratio of the selected trial and the probability of backtest overfitting by CSCV. Computed fold by fold as the
trials are read, so that only one fold's ``days x trials`` matrix is ever in memory (14 MB for 5,000 trials of a
year)."""

from __future__ import annotations

from typing import Any

import numpy as np

from aura_common.core.overfitting import deflated_sharpe, pbo_cscv, sharpe

CSCV_BLOCKS = 16


def cscv_blocks(rows: int) -> int:
    """CSCV blocks: 16 (12,870 combinations, as in the paper's examples), fewer for short windows so that a block
    holds at least 4 days."""
    return max(2, min(CSCV_BLOCKS, (rows // 4) // 2 * 2))


def fold_overfitting(m: np.ndarray | None, best_column: int) -> dict[str, Any] | None:
    """DSR of the selected column among all and the PBO of the matrix (rows: days, columns: complete trials); None
    without returns (trials stored by an older version), with fewer than 2 trials or fewer than 8 days."""
    if m is None or m.shape[1] < 2 or m.shape[0] < 8:
        return None
    srs = np.array([sharpe(m[:, j]) for j in range(m.shape[1])])
    d = deflated_sharpe(m[:, best_column], srs)
    p = pbo_cscv(m, cscv_blocks(m.shape[0]))
    return {"dsr": d.dsr, "sharpe_daily": d.sharpe, "expected_max_sharpe_daily": d.expected_max_sharpe,
            "trials": d.trials, "days": d.observations, "skew": d.skew, "kurtosis": d.kurtosis,
            "sharpe_variance": d.sharpe_variance, "pbo": p.pbo, "cscv_blocks": p.blocks,
            "cscv_combinations": p.combinations}
