"""Gate 3: the portfolio cost-benefit check of a rebalance.

A rebalance goes ahead only when its expected benefit exceeds its estimated costs by a margin:

    benefit_bps  >  cost_bps + cost_benefit_margin_bps          (strictly: equal is not enough)
    cost_bps     =  sum(notional of weighed trades) * (fee_bps + slippage_bps) / equity

All figures are bps of equity. Costs are estimates, so they are computed in Decimal and reported as floats.

*Expected benefit* (the decision documented in docs/risk.md): the caller estimates it with
``rebalance_benefit_bps`` from the improvement of the portfolio's weight-averaged composite score,

    benefit_bps = cost_benefit_bps_per_score * (sum_i target_w_i * s_i  -  sum_i current_w_i * s_i)

with weights as fractions of equity, cash scoring 0 (the cross-sectional mean of the normalised factors), and a
held symbol that is no longer scored taking the lowest score of the cross-section. ``bps_per_score`` is a
calibration the optimizer can tune; a pure drift correction (same selection) has ~0 benefit and is skipped.

Trades marked ``forced`` (risk-driven: regime exposure cuts, stop-loss / take-profit exits, kill-switch
liquidation) are never weighed and always kept. For the others, when the benefit does not cover the costs:
``cost_benefit_action == "skip"`` keeps none of them (DENY); ``"trim"`` drops the smallest trades (by notional,
ties by symbol then side) until the benefit covers the rest (CLIP), or DENY when not even the largest alone is
covered. Trimming assumes the benefit rides on the larger trades; an executor must tolerate a buy whose funding
sell was trimmed (it sizes buys to the cash available). Kept trades come back in their input order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from aura_common.core.jit import kernel
from aura_common.core.params import RiskParams
from aura_common.core.risk.gate import GateDecision, GateResult, as_decimal, fmt
from aura_common.domain.values import Side

GATE = "cost_benefit"
_BPS = Decimal(10_000)


@dataclass(frozen=True)
class TradeEstimate:
    """One planned trade: quote-asset notional (Decimal; ints and floats are converted), >= 0."""

    symbol: str
    side: Side
    notional: Decimal
    forced: bool = False

    def __post_init__(self) -> None:
        notional = as_decimal(self.notional, f"{self.symbol} {Side(self.side).value} notional")
        if notional < 0:
            raise ValueError(f"{self.symbol} notional is negative: {notional}")
        object.__setattr__(self, "notional", notional)
        object.__setattr__(self, "side", Side(self.side))


def trades_cost_bps(trades: Sequence[TradeEstimate], equity: Decimal, unit_cost_bps: Decimal) -> Decimal:
    return sum((t.notional for t in trades), Decimal(0)) * unit_cost_bps / equity


@kernel
def benefit_bps(current: np.ndarray, target: np.ndarray, scores: np.ndarray, bps_per_score: float) -> float:
    """``rebalance_benefit_bps`` on arrays aligned by symbol in sorted order (0 = no weight). The one
    definition: the trader calls it through ``rebalance_benefit_bps``, the backtester's day loop directly."""
    q_target = 0.0
    q_current = 0.0
    for j in range(len(scores)):  # symbol order; a zero weight adds nothing (as in the mapping form)
        if target[j] != 0.0:
            q_target += target[j] * scores[j]
    for j in range(len(scores)):
        if current[j] != 0.0:
            q_current += current[j] * scores[j]
    return bps_per_score * (q_target - q_current)


def rebalance_benefit_bps(
    current_weights: Mapping[str, float],
    target_weights: Mapping[str, float],
    scores: Mapping[str, float],
    bps_per_score: float,
) -> float:
    """Expected benefit (bps of equity) of moving from ``current_weights`` to ``target_weights``; a symbol
    without a score takes the lowest of ``scores``."""
    floor = min(scores.values()) if scores else 0.0
    keys = sorted(set(current_weights) | set(target_weights))
    return float(benefit_bps(np.array([float(current_weights.get(s, 0.0)) for s in keys], dtype=np.float64),
                             np.array([float(target_weights.get(s, 0.0)) for s in keys], dtype=np.float64),
                             np.array([float(scores.get(s, floor)) for s in keys], dtype=np.float64),
                             float(bps_per_score)))


def cost_benefit(
    trades: Sequence[TradeEstimate],
    expected_benefit_bps: float,
    equity: float | Decimal,
    params: RiskParams,
    fee_bps: float,
    slippage_bps: float,
) -> tuple[GateResult, tuple[TradeEstimate, ...]]:
    benefit = as_decimal(expected_benefit_bps, "expected_benefit_bps")
    fee, slippage = as_decimal(fee_bps, "fee_bps"), as_decimal(slippage_bps, "slippage_bps")
    unit = fee + slippage
    if fee < 0 or slippage < 0:
        raise ValueError(f"fee_bps and slippage_bps must be >= 0 (got {fee_bps}, {slippage_bps})")
    margin = as_decimal(params.cost_benefit_margin_bps, "cost_benefit_margin_bps")
    weighed_idx = [i for i, t in enumerate(trades) if not t.forced]
    forced_idx = [i for i, t in enumerate(trades) if t.forced]
    weighed = [trades[i] for i in weighed_idx]
    figures: dict[str, float] = {"benefit_bps": float(benefit), "margin_bps": float(margin),
                                 "unit_cost_bps": float(unit), "trades": len(weighed), "forced": len(forced_idx)}
    if not weighed:
        return GateResult(GATE, GateDecision.PASS, f"No discretionary trades to weigh ({len(forced_idx)} forced "
                          "trades go ahead).", figures), tuple(trades)
    eq = as_decimal(equity, "equity")
    if eq <= 0:
        raise ValueError(f"equity must be > 0 to weigh {len(weighed)} trades (got {eq})")
    cost = trades_cost_bps(weighed, eq, unit)
    figures.update(cost_bps=float(cost), equity=float(eq),
                   notional=float(sum((t.notional for t in weighed), Decimal(0))))
    what = (f"expected benefit {fmt(benefit)} bps vs cost {fmt(cost)} bps of {len(weighed)} trades "
            f"(fees+slippage {fmt(unit)} bps of notional) plus margin {fmt(margin)} bps")
    if benefit > cost + margin:
        figures.update(kept=len(weighed), kept_cost_bps=float(cost))
        return GateResult(GATE, GateDecision.PASS, f"Rebalance goes ahead: {what}.", figures), tuple(trades)

    kept: list[int] = []  # indices into ``weighed``
    if params.cost_benefit_action == "trim":
        by_size = sorted(range(len(weighed)), key=lambda i: (weighed[i].notional, weighed[i].symbol,
                                                               weighed[i].side.value, i))
        for n_dropped in range(1, len(weighed)):
            rest = sorted(by_size[n_dropped:])
            if benefit > trades_cost_bps([weighed[i] for i in rest], eq, unit) + margin:
                kept = rest
                break
    keep = set(forced_idx) | {weighed_idx[i] for i in kept}
    out = tuple(t for i, t in enumerate(trades) if i in keep)
    if kept:
        kept_cost = trades_cost_bps([weighed[i] for i in kept], eq, unit)
        figures.update(kept=len(kept), kept_cost_bps=float(kept_cost))
        return GateResult(GATE, GateDecision.CLIP, f"Rebalance trimmed: {what}; dropping the "
                          f"{len(weighed) - len(kept)} smallest trades leaves {len(kept)} costing "
                          f"{fmt(kept_cost)} bps.", figures), out
    figures.update(kept=0, kept_cost_bps=0.0)
    return GateResult(GATE, GateDecision.DENY, f"Rebalance skipped: {what}; the benefit does not cover it.",
                      figures), out
