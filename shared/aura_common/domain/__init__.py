"""Domain values: money, symbols, intervals, market specs, orders. Standard library only."""

from aura_common.domain.orders import Balance, Fill, OrderReport, OrderRequest
from aura_common.domain.values import (
    ClientOrderId,
    Interval,
    MarketSpec,
    OrderStatus,
    OrderType,
    RoundingError,
    Side,
    Symbol,
    parse_symbols,
    to_decimal,
    validate_client_order_id,
)

__all__ = [
    "Balance",
    "ClientOrderId",
    "Fill",
    "Interval",
    "MarketSpec",
    "OrderReport",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "RoundingError",
    "Side",
    "Symbol",
    "parse_symbols",
    "to_decimal",
    "validate_client_order_id",
]
