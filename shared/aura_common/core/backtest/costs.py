"""Execution costs and lot rules for the backtester (float research maths, converted once from MarketSpec).

- Fills happen at the decision candle's close, moved against us by ``slippage_bps`` (buy higher, sell lower);
  the fee is ``fee_bps`` of the filled notional, paid in the quote asset.
- Quantities are floored to the symbol's ``step_size``; an order below ``min_qty`` or ``min_notional`` is not
  placed (it would be rejected by the exchange).
- History has no per-symbol specs, so symbols without one use ``DEFAULT_SPEC_FIGURES``: step 1e-8 (Binance's
  finest lot precision) and a 10 USDT minimum notional (Binance's usual NOTIONAL filter), min quantity one step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aura_common.core.rebalance import floor_qty, placeable
from aura_common.domain.values import MarketSpec


@dataclass(frozen=True)
class CostModel:
    fee_bps: float = 10.0
    slippage_bps: float = 5.0

    def __post_init__(self) -> None:
        if self.fee_bps < 0 or self.slippage_bps < 0:
            raise ValueError("fee_bps and slippage_bps must be >= 0")


@dataclass(frozen=True)
class LotRule:
    """A MarketSpec's quantity filters as floats."""

    step: float
    min_qty: float
    min_notional: float
    tick: float = 0.0  # the price grid fills land on (0: none; history without specs)

    @classmethod
    def from_spec(cls, spec: MarketSpec) -> "LotRule":
        step = float(spec.step_size)
        return cls(step, max(float(spec.min_qty), step), float(spec.min_notional), float(spec.tick_size))

    def floor_qty(self, qty: float) -> float:
        """Round down to the step; never more than ``qty`` (may be one step below the exact Decimal floor)."""
        return float(floor_qty(float(qty), self.step))

    def placeable(self, qty: float, price: float) -> bool:
        return bool(placeable(float(qty), float(price), self.min_qty, self.min_notional))


DEFAULT_SPEC_FIGURES = LotRule(step=1e-8, min_qty=1e-8, min_notional=10.0)


def lot_rules(symbols: tuple[str, ...], specs: Mapping[str, MarketSpec] | None) -> list[LotRule]:
    """One rule per column: the symbol's real spec when given, else the documented default."""
    specs = specs or {}
    return [LotRule.from_spec(specs[s]) if s in specs else DEFAULT_SPEC_FIGURES for s in symbols]
