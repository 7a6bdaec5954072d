"""From the selected symbols to target weights against current holdings.

- ``equal``: each pick gets ``exposure / n``; ``score``: weights proportional to ``exp(score - max score)``,
  scaled to ``exposure``. Either way a weight is capped at ``max_weight``; what a cap removes stays in cash
  (it is not redistributed, so a cap is a real limit).
- A held symbol that stays selected keeps its current weight when the change would be smaller than
  ``min_trade_weight`` (no churn for drift); a new pick whose weight is below it is dropped.
- A held symbol that is not in the targets is an exit (target 0): symbols that leave the selection are sold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from aura_common.core.params import PortfolioParams


def raw_weights(scores: Sequence[float], exposure: float, params: PortfolioParams) -> list[float]:
    n = len(scores)
    if n == 0 or exposure <= 0:
        return [0.0] * n
    if params.weighting == "equal":
        return [min(exposure / n, params.max_weight)] * n
    else:
        top = max(scores)
        e = [math.exp(s - top) for s in scores]
        total = math.fsum(e)
        w = [exposure * x / total for x in e]
    return [min(x, params.max_weight) for x in w]


def plan_weights(picks: Sequence[tuple[str, float]], exposure: float, holdings: Mapping[str, float],
                 params: PortfolioParams) -> tuple[tuple[tuple[str, float], ...], tuple[str, ...]]:
    """(targets sorted by symbol with weight > 0, exits sorted) for ``picks`` = [(symbol, score)] in preference order."""
    if not picks:
        return (), (tuple(sorted(s for s, w in holdings.items() if w > 0)) if holdings else ())
    weights = raw_weights([s for _, s in picks], exposure, params)
    targets: dict[str, float] = {}
    min_trade = params.min_trade_weight
    get = holdings.get
    for (sym, _), w in zip(picks, weights):
        cur = get(sym, 0.0)
        if cur > 0 and abs(w - cur) < min_trade:
            w = cur
        elif cur <= 0 and w < min_trade:
            continue
        if w > 0:
            targets[sym] = w
    exits = tuple(sorted(s for s, w in holdings.items() if w > 0 and s not in targets)) if holdings else ()
    return tuple(sorted(targets.items())), exits
