"""Orders and trades as the simulator keeps them, and their Binance JSON shapes (spec §3.6–3.11).

Decimal values are strings with 8 decimals; ids and times are integers. ``strategyId`` is never emitted (ccxt
would take it as the order id, spec §9 item 13).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)
OPEN = frozenset({"NEW", "PARTIALLY_FILLED"})


def s8(d: Decimal) -> str:
    return f"{d:.8f}"


@dataclass(slots=True)
class Trade:
    id: int
    order_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool

    def fill_json(self) -> dict:
        return {"price": s8(self.price), "qty": s8(self.qty), "commission": s8(self.commission),
                "commissionAsset": self.commission_asset, "tradeId": self.id}

    def my_trade_json(self) -> dict:
        return {"symbol": self.symbol, "id": self.id, "orderId": self.order_id, "orderListId": -1,
                "price": s8(self.price), "qty": s8(self.qty), "quoteQty": s8(self.quote_qty),
                "commission": s8(self.commission), "commissionAsset": self.commission_asset, "time": self.time,
                "isBuyer": self.is_buyer, "isMaker": self.is_maker, "isBestMatch": True}


@dataclass(slots=True)
class Order:
    order_id: int
    symbol: str
    side: str  # BUY | SELL
    type: str  # MARKET | LIMIT | LIMIT_MAKER
    time_in_force: str
    price: Decimal  # 0 for MARKET
    orig_qty: Decimal  # for quoteOrderQty orders: the executed quantity once filled
    orig_quote_qty: Decimal
    client_order_id: str
    time: int
    accepted_wall_ms: int
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    update_time: int = 0
    locked: Decimal = ZERO  # what this order still holds locked (quote for BUY, base for SELL)
    partial_ratio: float | None = None  # forced partial fill (fault), applies to the next fill
    trades: list[Trade] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    def _common(self) -> dict:
        return {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
                "clientOrderId": self.client_order_id}

    def ack_json(self) -> dict:
        return {**self._common(), "transactTime": self.time}

    def result_json(self) -> dict:
        return {**self.ack_json(), "price": s8(self.price), "origQty": s8(self.orig_qty),
                "executedQty": s8(self.executed_qty), "origQuoteOrderQty": s8(self.orig_quote_qty),
                "cummulativeQuoteQty": s8(self.cum_quote), "status": self.status,
                "timeInForce": self.time_in_force, "type": self.type, "side": self.side,
                "workingTime": self.time, "selfTradePreventionMode": "EXPIRE_MAKER"}

    def full_json(self) -> dict:
        return {**self.result_json(), "fills": [t.fill_json() for t in self.trades]}

    def query_json(self) -> dict:
        return {**self._common(), "price": s8(self.price), "origQty": s8(self.orig_qty),
                "executedQty": s8(self.executed_qty), "cummulativeQuoteQty": s8(self.cum_quote),
                "status": self.status, "timeInForce": self.time_in_force, "type": self.type, "side": self.side,
                "stopPrice": s8(ZERO), "icebergQty": s8(ZERO), "time": self.time,
                "updateTime": self.update_time or self.time, "isWorking": True, "workingTime": self.time,
                "origQuoteOrderQty": s8(self.orig_quote_qty), "selfTradePreventionMode": "EXPIRE_MAKER"}

    def cancel_json(self, cancel_client_id: str, transact_time: int) -> dict:
        return {"symbol": self.symbol, "origClientOrderId": self.client_order_id, "orderId": self.order_id,
                "orderListId": -1, "clientOrderId": cancel_client_id, "transactTime": transact_time,
                "price": s8(self.price), "origQty": s8(self.orig_qty), "executedQty": s8(self.executed_qty),
                "origQuoteOrderQty": s8(self.orig_quote_qty), "cummulativeQuoteQty": s8(self.cum_quote),
                "status": self.status, "timeInForce": self.time_in_force, "type": self.type, "side": self.side,
                "selfTradePreventionMode": "EXPIRE_MAKER"}

    def ledger_fields(self) -> dict:
        return {"order_id": self.order_id, "client_order_id": self.client_order_id, "symbol": self.symbol,
                "side": self.side, "type": self.type, "time_in_force": self.time_in_force,
                "price": format(self.price, "f"), "quantity": format(self.orig_qty, "f"),
                "quote_order_qty": format(self.orig_quote_qty, "f")}
