"""Translators from Binance's raw JSON (ccxt's ``info``) to domain values. Tested on recorded responses."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aura_common.domain import (
    Balance,
    ClientOrderId,
    Fill,
    MarketSpec,
    OrderReport,
    OrderStatus,
    OrderType,
    Side,
    Symbol,
    to_decimal,
)

_STATUS = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "PENDING_CANCEL": OrderStatus.NEW,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}


def market_spec(market: Mapping[str, Any]) -> MarketSpec:
    info = market.get("info", {})
    filters = {f.get("filterType"): f for f in info.get("filters", [])}
    price_f = filters.get("PRICE_FILTER", {})
    lot_f = filters.get("LOT_SIZE", {})
    notional_f = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
    return MarketSpec(
        symbol=Symbol(info.get("symbol") or market["id"]),
        base_asset=info.get("baseAsset") or market["base"],
        quote_asset=info.get("quoteAsset") or market["quote"],
        tick_size=to_decimal(price_f.get("tickSize", "0")),
        step_size=to_decimal(lot_f.get("stepSize", "0")),
        min_qty=to_decimal(lot_f.get("minQty", "0")),
        min_notional=to_decimal(notional_f.get("minNotional", "0")),
        max_qty=to_decimal(lot_f.get("maxQty", "9000000000")),
    )


def balances(info: Mapping[str, Any]) -> dict[str, Balance]:
    out = {}
    for row in info.get("balances", []):
        b = Balance(row["asset"], to_decimal(row["free"]), to_decimal(row["locked"]))
        if b.total != 0:
            out[b.asset] = b
    return out


def ticker_price(ticker: Mapping[str, Any]) -> Decimal:
    info = ticker.get("info", {})
    for key in ("lastPrice", "price"):
        if info.get(key) not in (None, ""):
            return to_decimal(info[key])
    return to_decimal(ticker["last"])


def fill(info: Mapping[str, Any], symbol: Symbol, client_order_id: str | None = None) -> Fill:
    """A myTrades row, or an entry of the FULL response's ``fills`` (which lacks time and side)."""
    side = info.get("side") or ("BUY" if info.get("isBuyer") else "SELL")
    return Fill(
        trade_id=str(info["tradeId"] if "tradeId" in info else info["id"]),
        symbol=symbol,
        side=Side(side),
        quantity=to_decimal(info["qty"]),
        price=to_decimal(info["price"]),
        fee=to_decimal(info.get("commission", "0")),
        fee_asset=info.get("commissionAsset", ""),
        time_ms=int(info.get("time", 0)),
        client_order_id=ClientOrderId(client_order_id) if client_order_id else None,
        exchange_order_id=str(info["orderId"]) if "orderId" in info else None,
    )


def order_report(info: Mapping[str, Any], symbol: Symbol) -> OrderReport:
    cid = ClientOrderId(info["clientOrderId"])
    side = Side(info["side"])
    time_ms = int(info.get("updateTime") or info.get("transactTime") or info.get("time") or 0)
    fills = tuple(
        fill({**f, "side": side.value, "time": f.get("time", time_ms), "orderId": info.get("orderId")}, symbol,
             cid)
        for f in info.get("fills", [])
    )
    price = to_decimal(info["price"]) if info.get("price") not in (None, "", "0.00000000", "0") else None
    return OrderReport(
        client_order_id=cid,
        symbol=symbol,
        side=side,
        status=_STATUS.get(info.get("status", ""), OrderStatus.UNKNOWN),
        quantity=to_decimal(info.get("origQty", "0")),
        filled_quantity=to_decimal(info.get("executedQty", "0")),
        quote_filled=to_decimal(info.get("cummulativeQuoteQty", "0")),
        exchange_order_id=str(info["orderId"]),
        order_type=OrderType(info.get("type", "MARKET")) if info.get("type") in ("MARKET", "LIMIT") else OrderType.MARKET,
        limit_price=price,
        update_time_ms=time_ms or None,
        fills=fills,
    )
