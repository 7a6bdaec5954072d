"""Pure request validation for new orders: decimal parsing and Binance's symbol filters (spec §3.2, §4.4).

Raises ``ApiError`` with Binance's codes and messages; the order matters for ccxt's exception class:
LOT_SIZE / MARKET_LOT_SIZE / PRICE_FILTER / PERCENT_PRICE_BY_SIDE -> InvalidOrder, NOTIONAL / MAX_NUM_ORDERS ->
BadRequest (spec §4.3, §9 item 5).

exchangeInfo lists Binance's BTCUSDT filter set, in its order, with its values scaled by price (``derive_spec``):
PRICE_FILTER, LOT_SIZE, ICEBERG_PARTS, MARKET_LOT_SIZE, TRAILING_DELTA, PERCENT_PRICE_BY_SIDE, NOTIONAL,
MAX_NUM_ORDERS, MAX_NUM_ALGO_ORDERS. ICEBERG_PARTS, TRAILING_DELTA and MAX_NUM_ALGO_ORDERS have nothing to apply to:
the simulator takes no iceberg, trailing or stop orders (``icebergAllowed``/``allowTrailingStop`` false, no STOP_*
order types), so they are advertised only.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from aura_exchange_sim import errors
from aura_exchange_sim.market import SymbolSpec

DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
CLIENT_ID_RE = re.compile(r"^[a-zA-Z0-9\-_]{1,36}$")
Q8 = Decimal("0.00000001")
# PERCENT_PRICE_BY_SIDE and NOTIONAL as on Binance's BTCUSDT: a price within [0.2, 5] x the 5-minute average price
AVG_PRICE_MINS = 5
BID_MULTIPLIER_UP, BID_MULTIPLIER_DOWN = Decimal(5), Decimal("0.2")
ASK_MULTIPLIER_UP, ASK_MULTIPLIER_DOWN = Decimal(5), Decimal("0.2")


def parse_decimal(params: dict[str, str], name: str, required: bool = False) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise errors.missing(name)
        return None
    if not DECIMAL_RE.match(raw):
        raise errors.bad_param(name, DECIMAL_RE.pattern)
    try:
        return Decimal(raw)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
        raise errors.bad_param(name, DECIMAL_RE.pattern) from exc


def parse_int(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 20:
        raise errors.bad_param(name, "^[0-9]{1,20}$")
    return int(raw)


def check_client_id(value: str | None, name: str = "newClientOrderId") -> None:
    if value is None:
        return
    if value == "":
        raise errors.ApiError(400, -1118 if name == "newClientOrderId" else -1119,
                              "New client order ID was empty." if name == "newClientOrderId"
                              else "Original client order ID was empty.")
    if not CLIENT_ID_RE.match(value):
        raise errors.bad_param(name, errors.CLIENT_ID_PATTERN)


def _on_grid(value: Decimal, step: Decimal) -> bool:
    return step == 0 or (value % step) == 0


def check_price(spec: SymbolSpec, price: Decimal) -> None:
    if price <= 0:
        raise errors.rejected("Price * QTY is zero or less.")
    if price < spec.tick or price > spec.max_price or not _on_grid(price, spec.tick):
        raise errors.filter_failure("PRICE_FILTER")


def check_qty(spec: SymbolSpec, qty: Decimal) -> None:
    if qty < spec.min_qty or qty > spec.max_qty or not _on_grid(qty, spec.step):
        raise errors.filter_failure("LOT_SIZE")


def check_market_qty(spec: SymbolSpec, qty: Decimal) -> None:
    """MARKET_LOT_SIZE (MARKET orders, after LOT_SIZE): minQty 0 and stepSize 0 as on Binance, so only maxQty."""
    if qty > spec.market_max_qty:
        raise errors.filter_failure("MARKET_LOT_SIZE")


def check_percent_price(side: str, price: Decimal, avg: Decimal) -> None:
    """PERCENT_PRICE_BY_SIDE: ``avg`` is the average price over ``AVG_PRICE_MINS`` (``MarketData.avg_price``)."""
    up, down = (BID_MULTIPLIER_UP, BID_MULTIPLIER_DOWN) if side == "BUY" else (ASK_MULTIPLIER_UP, ASK_MULTIPLIER_DOWN)
    if price > avg * up or price < avg * down:
        raise errors.filter_failure("PERCENT_PRICE_BY_SIDE")


def check_notional(spec: SymbolSpec, notional: Decimal, is_market: bool) -> None:
    """NOTIONAL: ``notional`` is price x quantity; for MARKET orders the AVERAGE price (``avgPriceMins``) x
    quantity, or the quoteOrderQty. ``maxNotional`` does not apply to MARKET orders (applyMaxToMarket false)."""
    if notional < spec.min_notional:
        raise errors.filter_failure("NOTIONAL")
    if not is_market and notional > spec.max_notional:
        raise errors.filter_failure("NOTIONAL")


def exchange_filters(spec: SymbolSpec) -> list[dict]:
    s = lambda d: f"{d:.8f}"  # noqa: E731
    return [
        {"filterType": "PRICE_FILTER", "minPrice": s(spec.tick), "maxPrice": s(spec.max_price),
         "tickSize": s(spec.tick)},
        {"filterType": "LOT_SIZE", "minQty": s(spec.min_qty), "maxQty": s(spec.max_qty), "stepSize": s(spec.step)},
        {"filterType": "ICEBERG_PARTS", "limit": 10},
        {"filterType": "MARKET_LOT_SIZE", "minQty": s(Decimal(0)), "maxQty": s(spec.market_max_qty),
         "stepSize": s(Decimal(0))},
        {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
         "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 2000},
        {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": str(BID_MULTIPLIER_UP),
         "bidMultiplierDown": str(BID_MULTIPLIER_DOWN), "askMultiplierUp": str(ASK_MULTIPLIER_UP),
         "askMultiplierDown": str(ASK_MULTIPLIER_DOWN), "avgPriceMins": AVG_PRICE_MINS},
        {"filterType": "NOTIONAL", "minNotional": s(spec.min_notional), "applyMinToMarket": True,
         "maxNotional": s(spec.max_notional), "applyMaxToMarket": False, "avgPriceMins": AVG_PRICE_MINS},
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
    ]
