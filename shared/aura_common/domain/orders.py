"""Orders, fills and balances as the domain sees them — no wire format (translators live in adapters)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from aura_common.domain.values import ClientOrderId, OrderStatus, OrderType, Side, Symbol

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    client_order_id: ClientOrderId
    symbol: Symbol
    side: Side
    quantity: Decimal  # base asset, already rounded to the lot step
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    # when the request was made (ms on the venue's request clock) and how long the venue may still accept it: a
    # request reaching the venue after timestamp_ms + recv_window_ms is refused. None = the broker's own choice.
    timestamp_ms: int | None = None
    recv_window_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    trade_id: str  # the venue's trade id: unique per symbol, makes re-recording idempotent
    symbol: Symbol
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    time_ms: int  # venue time
    client_order_id: ClientOrderId | None = None
    exchange_order_id: str | None = None

    @property
    def quote_amount(self) -> Decimal:
        return self.quantity * self.price


@dataclass(frozen=True, slots=True)
class OrderReport:
    """What the venue says about one order."""

    client_order_id: ClientOrderId
    symbol: Symbol
    side: Side
    status: OrderStatus
    quantity: Decimal
    filled_quantity: Decimal = ZERO
    quote_filled: Decimal = ZERO  # cumulative quote amount of the fills
    exchange_order_id: str | None = None
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    update_time_ms: int | None = None
    fills: tuple[Fill, ...] = field(default_factory=tuple)

    @property
    def average_price(self) -> Decimal | None:
        return self.quote_filled / self.filled_quantity if self.filled_quantity > 0 else None


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.free + self.locked
