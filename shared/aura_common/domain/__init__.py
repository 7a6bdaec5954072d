"""Domain values: money, symbols, intervals, market specs, orders. Standard library only."""

from aura_common.domain.values import (
    ClientOrderId,
    Interval,
    MarketSpec,
    OrderStatus,
    OrderType,
    Side,
    Symbol,
    to_decimal,
)

__all__ = [
    "ClientOrderId",
    "Interval",
    "MarketSpec",
    "OrderStatus",
    "OrderType",
    "Side",
    "Symbol",
    "to_decimal",
]
