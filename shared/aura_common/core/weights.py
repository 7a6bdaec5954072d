"""From the selected symbols to target weights against current holdings.

- ``equal``: each pick gets ``exposure / n``; ``score``: weights proportional to ``exp(score - max score)``,
  scaled to ``exposure``. Either way a weight is capped at ``max_weight``; what a cap removes stays in cash
  (it is not redistributed, so a cap is a real limit).
- A held symbol that stays selected keeps its current weight when the change would be smaller than
  ``min_trade_weight`` (no churn for drift); a new pick whose weight is below it is dropped.
- A held symbol that is not in the targets is an exit (target 0): symbols that leave the selection are sold.

The arithmetic is one compiled kernel, ``pick_weights``, on arrays: ``plan_weights`` (the trader's path, through
``decide.plan_at``) calls it from Python and the backtester's day loop calls it from compiled code, so both get
the same bits. The softmax total is an exactly rounded sum (``exact_sum``, the algorithm of ``math.fsum``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from aura_common.core.jit import kernel
from aura_common.core.params import PortfolioParams


@kernel
def exact_sum(values: np.ndarray) -> float:
    """The correctly rounded sum of finite floats (Shewchuk's partials with ``math.fsum``'s final rounding)."""
    partials = np.empty(len(values) + 1)
    n = 0
    for v in values:
        x = v
        i = 0
        for k in range(n):
            y = partials[k]
            if abs(x) < abs(y):
                x, y = y, x
            hi: float = x + y
            lo = y - (hi - x)
            if lo != 0.0:
                partials[i] = lo
                i += 1
            x = hi
        partials[i] = x
        n = i + 1
    hi = 0.0
    if n > 0:
        n -= 1
        hi = partials[n]
        lo = 0.0
        while n > 0:
            x = hi
            n -= 1
            y = partials[n]
            hi = x + y
            yr = hi - x
            lo = y - yr
            if lo != 0.0:
                break
        if n > 0 and ((lo < 0.0 and partials[n - 1] < 0.0) or (lo > 0.0 and partials[n - 1] > 0.0)):
            y = lo * 2.0
            x = hi + y
            yr = x - hi
            if y == yr:
                hi = x
    return hi


@kernel
def raw_weights_kernel(scores: np.ndarray, exposure: float, equal: bool, max_weight: float) -> np.ndarray:
    n = len(scores)
    out = np.zeros(n)
    if n == 0 or exposure <= 0:
        return out
    if equal:
        w = min(exposure / n, max_weight)
        for k in range(n):
            out[k] = w
        return out
    top = scores[0]
    for k in range(1, n):
        if scores[k] > top:
            top = scores[k]
    e = np.empty(n)
    for k in range(n):
        e[k] = np.exp(scores[k] - top)
    total = exact_sum(e)
    for k in range(n):
        out[k] = min(exposure * e[k] / total, max_weight)
    return out


@kernel
def pick_weights(scores: np.ndarray, current: np.ndarray, exposure: float, equal: bool, max_weight: float,
                 min_trade: float) -> np.ndarray:
    """The target weight of each pick (``scores`` in preference order, ``current`` its held weight, 0 if none);
    0.0 where the pick gets no target (a new pick below ``min_trade``)."""
    w = raw_weights_kernel(scores, exposure, equal, max_weight)
    for k in range(len(w)):
        cur = current[k]
        if cur > 0 and abs(w[k] - cur) < min_trade:
            w[k] = cur
        elif cur <= 0 and w[k] < min_trade:
            w[k] = 0.0
        if not w[k] > 0:
            w[k] = 0.0
    return w


def raw_weights(scores: Sequence[float], exposure: float, params: PortfolioParams) -> list[float]:
    weights: list[float] = raw_weights_kernel(np.asarray(scores, dtype=np.float64), float(exposure),
                                              params.weighting == "equal", float(params.max_weight)).tolist()
    return weights


def plan_weights(picks: Sequence[tuple[str, float]], exposure: float, holdings: Mapping[str, float],
                 params: PortfolioParams) -> tuple[tuple[tuple[str, float], ...], tuple[str, ...]]:
    """(targets sorted by symbol with weight > 0, exits sorted) for ``picks`` = [(symbol, score)] in preference order."""
    if not picks:
        return (), (tuple(sorted(s for s, w in holdings.items() if w > 0)) if holdings else ())
    get = holdings.get
    weights = pick_weights(np.array([s for _, s in picks], dtype=np.float64),
                           np.array([float(get(sym, 0.0)) for sym, _ in picks], dtype=np.float64),
                           float(exposure), params.weighting == "equal", float(params.max_weight),
                           float(params.min_trade_weight)).tolist()
    targets = {sym: w for (sym, _), w in zip(picks, weights) if w > 0}
    exits = tuple(sorted(s for s, w in holdings.items() if w > 0 and s not in targets)) if holdings else ()
    return tuple(sorted(targets.items())), exits
