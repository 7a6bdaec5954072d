"""The synthetic order book a taker order walks (pure: config, spec and the replay price in, fills out).

Level ``i`` sits ``slippage_bps + i * depth_level_bps`` away from the replay price (rounded away from it onto the
tick grid) and holds ``depth_notional`` quote worth of base; ``depth_notional == 0`` is a single level of unlimited
size, i.e. a flat slippage. A LIMIT price caps the walk; a forced ``ratio`` (< 1) shrinks what is wanted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from aura_exchange_sim.ledger import q8
from aura_exchange_sim.market import SymbolSpec


@dataclass(frozen=True)
class EngineConfig:
    """Fees, slippage, the synthetic depth and the resting-order partial fill share.

    Fees follow Binance: ``taker_bps`` / ``maker_bps`` are the account's standard rates, ``symbol_fees`` overrides
    them per symbol (symbol -> (taker bps, maker bps)); with ``bnb_discount`` on, a fill pays its commission in BNB
    at ``(1 - bnb_discount_pct/100)`` of the rate while the free BNB balance covers it (valued at the BNB/quote
    replay price), else in the received asset at the full rate."""

    taker_bps: Decimal = Decimal(10)
    maker_bps: Decimal = Decimal(10)
    symbol_fees: Mapping[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    bnb_discount: bool = False
    bnb_discount_pct: Decimal = Decimal(25)
    slippage_bps: Decimal = Decimal(5)
    depth_notional: Decimal = Decimal(0)
    depth_level_bps: Decimal = Decimal(5)
    depth_levels: int = 20
    partial_fill_ratio: Decimal = Decimal(1)

    def rates_bps(self, symbol: str) -> tuple[Decimal, Decimal]:
        """(taker, maker) commission of ``symbol`` in bps."""
        return self.symbol_fees.get(symbol, (self.taker_bps, self.maker_bps))


def walk_book(cfg: EngineConfig, spec: SymbolSpec, side: str, mid: float, qty: Decimal | None, qoq: Decimal | None,
              limit: Decimal | None, ratio: Decimal | None) -> list[tuple[Decimal, Decimal]]:
    """Fills of a taker order against the synthetic book: [(price, qty)], price-capped by ``limit``."""
    want_qty = qty
    want_quote = qoq
    if ratio is not None and ratio < 1:
        if want_qty is not None:
            want_qty = spec.floor_qty(want_qty * ratio)
        else:
            want_quote = q8(want_quote * ratio)
    level_qty = spec.floor_qty(cfg.depth_notional / Decimal(repr(mid))) if cfg.depth_notional > 0 else None
    fills: list[tuple[Decimal, Decimal]] = []
    for i in range(cfg.depth_levels if level_qty is not None else 1):
        bps = float(cfg.slippage_bps + i * cfg.depth_level_bps)
        if side == "BUY":
            px = spec.round_price(mid * (1 + bps / 1e4), up=True)
            if limit is not None and px > limit:
                break
        else:
            px = spec.round_price(mid * (1 - bps / 1e4), up=False)
            if px <= 0 or (limit is not None and px < limit):
                break
        if want_qty is not None:
            take = want_qty if level_qty is None else min(level_qty, want_qty)
        else:
            take = spec.floor_qty(want_quote / px)
            take = take if level_qty is None else min(level_qty, take)
        if take <= 0:
            break
        fills.append((px, take))
        if want_qty is not None:
            want_qty -= take
            if want_qty <= 0:
                break
        else:
            want_quote -= px * take
    return fills
