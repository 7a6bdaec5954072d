"""What a backtest's numbers do not say by themselves: when the kill switch tripped and re-armed, how long the
book sat flat, and why a run made (almost) no trades. Pure: a ``BacktestResult`` (and the strategy parameters and
selection it ran with) in, values out; ``aura backtest`` prints them (text and ``--json``) and shades ``equity.png``.

The kill switch's trips and re-arms are the engine's own record (``BacktestResult.kill_switch_changes``: time,
the drawdown the gate measured, its sentence); the days flat and tripped are ``days_flat`` / ``days_tripped``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aura_common.core.backtest.engine import BacktestResult
from aura_common.core.backtest.gates import KillSwitchChange
from aura_common.core.params import StrategyParams


def tripped_periods(changes: Sequence[KillSwitchChange], end_ms: int) -> list[tuple[int, int, bool]]:
    """(from_ms, to_ms, re_armed) of each tripped stretch; an open one ends at ``end_ms`` with re_armed False."""
    out, start = [], None
    for c in changes:
        if c.action == "trip" and start is None:
            start = c.t_ms
        elif c.action == "re-arm" and start is not None:
            out.append((start, c.t_ms, True))
            start = None
    if start is not None:
        out.append((start, end_ms, False))
    return out


CASH_EXPOSURE = 0.01  # below 1 % invested a day counts as "in cash": lot-step dust left by sells is not a position


def days_in_cash(result: BacktestResult, below: float = CASH_EXPOSURE) -> int:
    """Days whose end-of-day book was less than ``below`` invested (1 %: nearly all cash). ``days_flat`` counts the
    days with nothing held but dust (under 0.01 %)."""
    return int(np.count_nonzero(np.asarray(result.exposure) < below))


def flat_reasons(result: BacktestResult, params: StrategyParams,
                 selected: np.ndarray | None) -> list[dict[str, Any]]:
    """Why the book was empty or the orders were not placed, most frequent first: each ``{"reason", "count",
    "unit"}``. ``selected`` is the signals' (days × picks) selection of the backtest's rows (-1 pads), or None."""
    rp = params.regime
    exposure = {"bull": rp.exposure_bull, "sideways": rp.exposure_sideways, "bear": rp.exposure_bear}
    zero_regime = sum(1 for r in result.regime if exposure.get(r, 1.0) <= 0.0)
    tripped = result.days_tripped
    denials = sum(1 for e in result.gate_events if e.gate == "cost_benefit" and e.decision == "deny")
    rows = [("regime exposure 0 (the regime allowed no holdings)", zero_regime, "days"),
            ("kill switch tripped (no new entries)", tripped, "days"),
            ("cost-benefit gate denied the rebalance (expected benefit below costs + margin)", denials, "days")]
    if selected is not None:
        empty = int(np.count_nonzero(np.all(np.asarray(selected) < 0, axis=1)))
        rows.append(("no candidate passed the universe screen and the vote", empty, "days"))
    rows.sort(key=lambda row: -row[1])
    return [{"reason": r, "count": int(n), "unit": u} for r, n, u in rows if n > 0]
