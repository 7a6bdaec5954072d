"""How much of a search's best result is luck: the deflated Sharpe ratio and the probability of backtest
overfitting. Pure: arrays in, numbers out (stdlib ``statistics.NormalDist`` for the normal distribution).

**Deflated Sharpe ratio** (Bailey & López de Prado, "The Deflated Sharpe Ratio", 2014). Sharpe ratios here are
per period (daily, not annualised). For the selected strategy's ``T`` returns with Sharpe ``SR``, skewness ``g3``
and kurtosis ``g4`` (not excess: 3 for a normal distribution), the probabilistic Sharpe ratio against a benchmark
``SR0`` is

    PSR(SR0) = Φ( (SR − SR0) · sqrt(T − 1) / sqrt(1 − g3·SR + (g4 − 1)/4 · SR²) )

and the DSR is the PSR against the Sharpe ratio the best of ``N`` independent trials would show by luck alone,

    SR0 = sqrt(V) · ((1 − γ) · Φ⁻¹(1 − 1/N) + γ · Φ⁻¹(1 − 1/(N·e)))

with ``V`` the variance of the ``N`` trials' Sharpe ratios and γ the Euler–Mascheroni constant. The paper's
example (T = 1250, SR = 2.5/√250, g3 = −3, g4 = 10, N = 100, V = 0.5/250) gives SR0 = 0.1132 and DSR = 0.9004.

**Probability of backtest overfitting** (Bailey, Borwein, López de Prado & Zhu, "The Probability of Backtest
Overfitting", 2015), by combinatorially symmetric cross-validation. The ``T × N`` matrix of the trials' returns
is cut into ``S`` (even) blocks of consecutive rows; for each of the C(S, S/2) ways to choose half the blocks as
the training set (the rest is the test set), the trial with the best in-sample Sharpe ratio is found, its
out-of-sample rank ``r`` among the ``N`` trials (1 = worst) gives ω = r / (N + 1) and the logit
λ = ln(ω / (1 − ω)). PBO = the share of combinations with λ ≤ 0: how often the in-sample best was no better than
the median out of sample. Rows that do not fill a whole block are dropped from the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

EULER_GAMMA = 0.5772156649015329
_N = NormalDist()


def sharpe(returns: npt.ArrayLike) -> float:
    """Per-period Sharpe ratio (mean / population std); 0 without variance."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 2:
        return 0.0
    std = float(r.std())
    return float(r.mean()) / std if std > 0 else 0.0


def moments(returns: npt.ArrayLike) -> tuple[float, float]:
    """(skewness, kurtosis) of the returns, population estimates; kurtosis is not excess (normal = 3).
    A series without variance is treated as normal (0, 3)."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 2:
        return 0.0, 3.0
    d = r - r.mean()
    m2 = float(np.mean(d ** 2))
    if m2 <= 0:
        return 0.0, 3.0
    return float(np.mean(d ** 3)) / m2 ** 1.5, float(np.mean(d ** 4)) / m2 ** 2


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """The expected maximum per-period Sharpe ratio of ``n_trials`` trials whose true Sharpe is 0 and whose
    estimated Sharpe ratios have variance ``sharpe_variance``. 0 for a single trial."""
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if sharpe_variance < 0:
        raise ValueError(f"sharpe_variance must be >= 0, got {sharpe_variance}")
    if n_trials == 1:
        return 0.0
    z1 = _N.inv_cdf(1.0 - 1.0 / n_trials)
    z2 = _N.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(sharpe_variance) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def probabilistic_sharpe(sr: float, sr_benchmark: float, n_obs: int, skew: float, kurt: float) -> float:
    """PSR: the probability that the true per-period Sharpe ratio exceeds ``sr_benchmark``."""
    if n_obs < 2:
        raise ValueError(f"the probabilistic Sharpe ratio needs at least 2 returns, got {n_obs}")
    var = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if var <= 0:  # extreme moments make the estimator's variance meaningless: no evidence either way
        return 0.5 if sr == sr_benchmark else (1.0 if sr > sr_benchmark else 0.0)
    return _N.cdf((sr - sr_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(var))


@dataclass(frozen=True)
class Deflated:
    dsr: float  # probability that the selected strategy's true Sharpe ratio exceeds the best of N by luck
    sharpe: float  # per period, of the selected returns
    expected_max_sharpe: float  # per period, SR0
    trials: int
    observations: int
    skew: float
    kurtosis: float
    sharpe_variance: float  # of the trials' per-period Sharpe ratios


def deflated_sharpe(selected: npt.ArrayLike, trial_sharpes: npt.ArrayLike) -> Deflated:
    """The DSR of the ``selected`` returns given the per-period Sharpe ratios of all trials of the search
    (the selected one included)."""
    r = np.asarray(selected, dtype=np.float64)
    srs = np.asarray(trial_sharpes, dtype=np.float64)
    if len(srs) < 1:
        raise ValueError("deflated_sharpe needs at least one trial's Sharpe ratio")
    if not np.all(np.isfinite(r)) or not np.all(np.isfinite(srs)):
        raise ValueError("returns and Sharpe ratios must be finite")
    var = float(srs.var(ddof=1)) if len(srs) > 1 else 0.0
    sr0 = expected_max_sharpe(len(srs), var)
    sr = sharpe(r)
    g3, g4 = moments(r)
    return Deflated(probabilistic_sharpe(sr, sr0, len(r), g3, g4), sr, sr0, len(srs), len(r), g3, g4, var)


@dataclass(frozen=True)
class Overfitting:
    pbo: float  # share of the combinations whose in-sample best ranked at or below the median out of sample
    logits: tuple[float, ...]  # λ of each combination, in combination order
    blocks: int
    combinations: int
    trials: int
    rows_used: int


def pbo_cscv(returns: npt.ArrayLike, blocks: int = 16) -> Overfitting:
    """PBO of a ``T × N`` matrix (rows: periods, columns: trials) by CSCV with ``blocks`` even blocks; the
    performance measure is the per-period Sharpe ratio. Ties in-sample go to the first trial; out of sample a
    tied trial ranks below the in-sample best (ranks count the trials strictly worse, plus one)."""
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"pbo_cscv needs a 2-D matrix (periods × trials), got {m.ndim} dimensions")
    if blocks < 2 or blocks % 2:
        raise ValueError(f"blocks must be an even number >= 2, got {blocks}")
    t, n = m.shape
    if n < 2:
        raise ValueError(f"pbo_cscv needs at least 2 trials, got {n}")
    size = t // blocks
    if size < 2:
        raise ValueError(f"{t} periods are too few for {blocks} blocks of at least 2 periods")
    if not np.all(np.isfinite(m)):
        raise ValueError("the returns matrix must be finite")
    used = m[:size * blocks].reshape(blocks, size, n)
    s1, s2 = used.sum(axis=1), (used ** 2).sum(axis=1)  # per block and trial: Σr, Σr²
    half = blocks // 2
    logits = []
    for chosen in combinations(range(blocks), half):
        mask = np.zeros(blocks, dtype=bool)
        mask[list(chosen)] = True
        is_sr = _block_sharpe(s1[mask].sum(axis=0), s2[mask].sum(axis=0), size * half)
        oos_sr = _block_sharpe(s1[~mask].sum(axis=0), s2[~mask].sum(axis=0), size * half)
        best = int(np.argmax(is_sr))
        rank = int(np.sum(oos_sr < oos_sr[best])) + 1
        omega = rank / (n + 1)
        logits.append(math.log(omega / (1.0 - omega)))
    lam = np.array(logits)
    return Overfitting(float(np.mean(lam <= 0)), tuple(logits), blocks, len(logits), n, size * blocks)


def _block_sharpe(total: np.ndarray, squares: np.ndarray, count: int) -> np.ndarray:
    mean = total / count
    var = np.maximum(squares / count - mean ** 2, 0.0)
    out = np.zeros_like(mean)
    ok = var > 1e-12 * (squares / count)  # below: rounding noise of a constant series (no variance)
    out[ok] = mean[ok] / np.sqrt(var[ok])
    return out
