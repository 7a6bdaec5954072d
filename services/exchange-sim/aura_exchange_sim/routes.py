"""The Binance Spot REST subset ccxt.binance uses (spec §3): one function per endpoint, and the route table.

Each route gets the simulator and the parsed request and returns a JSON-able object (HTTP 200) or raises
``ApiError``. Handler-stage faults (empty balances, status lag, forced partial fills, insufficient balance) are
applied here, where the endpoint's meaning is known.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

from aura_common.adapters.logs import event
from aura_exchange_sim import errors
from aura_exchange_sim.filters import AVG_PRICE_MINS, check_client_id, exchange_filters, parse_int
from aura_exchange_sim.intervals import DAY_MS, KLINE_INTERVALS

if TYPE_CHECKING:  # pragma: no cover
    from aura_exchange_sim.app import Simulator

log = logging.getLogger("aura_exchange_sim.routes")


@dataclass
class Request:
    method: str
    path: str
    query: str
    body: str
    params: dict[str, str]
    api_key: str | None
    ip: str
    wall: int
    now: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers set by the route

    @property
    def symbol(self) -> str | None:
        return self.params.get("symbol")


def _rate_limits(sim: Simulator) -> list[dict]:
    """Binance's production values; the ORDERS entries are the ones enforced (``ordercount``)."""
    return [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            *sim.order_count.rate_limits_json(),
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000}]


def _symbol_json(sim: Simulator, symbol: str, now: int) -> dict:
    spec = sim.market.specs[symbol]
    trading = sim.market.price(symbol, now) is not None
    return {"symbol": symbol, "status": "TRADING" if trading else "BREAK", "baseAsset": spec.base,
            "baseAssetPrecision": 8, "quoteAsset": spec.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"], "icebergAllowed": False, "ocoAllowed": False,
            "otoAllowed": False, "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": False,
            "cancelReplaceAllowed": False, "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "filters": exchange_filters(spec), "permissions": [], "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER", "allowedSelfTradePreventionModes": ["EXPIRE_MAKER"]}


def _symbols_param(sim: Simulator, req: Request) -> list[str] | None:
    """``symbol=X`` or ``symbols=["X","Y"]`` -> validated list; None = all listed symbols."""
    if req.params.get("symbol"):
        names = [req.params["symbol"]]
    elif req.params.get("symbols"):
        try:
            names = json.loads(req.params["symbols"])
        except ValueError:
            raise errors.bad_param("symbols", '^\\["[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}\\]$') from None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise errors.bad_param("symbols", '^\\["[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}\\]$')
    else:
        return None
    for n in names:
        if not sim.market.listed(n, req.now):
            raise errors.invalid_symbol()
    return names


def _listed(sim: Simulator, now: int) -> list[str]:
    return [s for s in sim.market.specs if sim.market.listed(s, now)]


# ---- public -----------------------------------------------------------------------------------------------------
def ping(sim: Simulator, req: Request) -> Any:
    return {}


def server_time(sim: Simulator, req: Request) -> Any:
    return {"serverTime": req.now}


def exchange_info(sim: Simulator, req: Request) -> Any:
    names = _symbols_param(sim, req)
    names = names if names is not None else _listed(sim, req.now)
    return {"timezone": "UTC", "serverTime": req.now, "rateLimits": _rate_limits(sim), "exchangeFilters": [],
            "symbols": [_symbol_json(sim, s, req.now) for s in names]}


def klines(sim: Simulator, req: Request) -> Any:
    p = req.params
    spec = sim.engine.spec(p.get("symbol"), req.now)
    interval = p.get("interval")
    if not interval:
        raise errors.missing("interval")
    if interval not in KLINE_INTERVALS:
        raise errors.invalid_interval()
    limit = parse_int(p, "limit") or 500
    limit = max(1, min(limit, 1000))
    start, end = parse_int(p, "startTime"), parse_int(p, "endTime")
    start = start // 1000 if start and start > 10**14 else start
    end = end // 1000 if end and end > 10**14 else end
    return sim.market.klines(spec.symbol, interval, req.now, start, end, limit)


MINI_TICKER_FIELDS = ("symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume",
                      "openTime", "closeTime", "firstId", "lastId", "count")


def _bad_price(sim: Simulator, req: Request) -> float | None:
    """The factor of a ``bad_price`` fault firing on this request (the answer lies, the books do not)."""
    fired = sim.faults.take("handler", req.method, req.path, req.symbol, req.wall, ("bad_price",))
    return fired[0].factor if fired else None


def _scaled(value: str, factor: float | None) -> str:
    return value if factor is None else f"{Decimal(value) * Decimal(repr(factor)):.8f}"


def ticker_24hr(sim: Simulator, req: Request) -> Any:
    """``type=FULL`` (default) or ``MINI`` (no bid/ask, change or weighted average: ccxt cannot tell a MINI
    ticker from a contract one, spec §3.4)."""
    kind = req.params.get("type") or "FULL"
    if kind not in ("FULL", "MINI"):
        raise errors.ApiError(400, -1139, "Invalid ticker type.")
    names = _symbols_param(sim, req)
    one = req.params.get("symbol") is not None
    rows = [sim.market.ticker_24h(s, req.now, float(sim.config.slippage_bps), sim.depth_qty(s, req.now))
            for s in (names if names is not None else _listed(sim, req.now))]
    if kind == "MINI":
        rows = [{k: r[k] for k in MINI_TICKER_FIELDS} for r in rows]
    factor = _bad_price(sim, req)
    if factor is not None:
        rows = [{**r, "lastPrice": _scaled(r["lastPrice"], factor)} for r in rows]
    return rows[0] if one else rows


def avg_price(sim: Simulator, req: Request) -> Any:
    """The average price the filters use (PERCENT_PRICE_BY_SIDE, NOTIONAL for MARKET orders)."""
    spec = sim.engine.spec(req.symbol, req.now)
    avg = sim.market.avg_price(spec.symbol, req.now, AVG_PRICE_MINS)
    return {"mins": AVG_PRICE_MINS, "price": f"{avg or 0:.8f}", "closeTime": req.now}


def ticker_price(sim: Simulator, req: Request) -> Any:
    names = _symbols_param(sim, req)
    one = req.params.get("symbol") is not None
    rows = []
    for s in names if names is not None else _listed(sim, req.now):
        p = sim.market.price(s, req.now)
        spec = sim.market.specs[s]
        rows.append({"symbol": s, "price": f"{spec.round_price(p or 0.0):.8f}"})
    factor = _bad_price(sim, req)
    if factor is not None:
        rows = [{**r, "price": _scaled(r["price"], factor)} for r in rows]
    return rows[0] if one else rows


def book_ticker(sim: Simulator, req: Request) -> Any:
    names = _symbols_param(sim, req)
    one = req.params.get("symbol") is not None
    rows = []
    for s in names if names is not None else _listed(sim, req.now):
        bid, ask = sim.market.quotes(s, req.now, float(sim.config.slippage_bps)) or (Decimal(0), Decimal(0))
        qty = f"{sim.depth_qty(s, req.now):.8f}"
        rows.append({"symbol": s, "bidPrice": f"{bid:.8f}", "bidQty": qty, "askPrice": f"{ask:.8f}", "askQty": qty})
    return rows[0] if one else rows


# ---- private ----------------------------------------------------------------------------------------------------
def account(sim: Simulator, req: Request) -> Any:
    held = {a: (f, lk) for a, f, lk in sim.engine.balances()}
    zero = (Decimal(0), Decimal(0))
    if req.params.get("omitZeroBalances") != "true":  # like Binance: every asset, zero balances included
        for s in _listed(sim, req.now):
            spec = sim.market.specs[s]
            held.setdefault(spec.base, zero)
            held.setdefault(spec.quote, zero)
    balances = [{"asset": a, "free": f"{f:.8f}", "locked": f"{lk:.8f}"} for a, (f, lk) in sorted(held.items())
                if req.params.get("omitZeroBalances") != "true" or f or lk]
    if sim.faults.take("handler", req.method, req.path, req.symbol, req.wall, ("empty_balances",)):
        balances = []
    rate = lambda bps: f"{bps / Decimal(10_000):.8f}"  # noqa: E731
    return {"makerCommission": int(sim.config.maker_bps), "takerCommission": int(sim.config.taker_bps),
            "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": rate(sim.config.maker_bps), "taker": rate(sim.config.taker_bps),
                                "buyer": "0.00000000", "seller": "0.00000000"},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": req.now, "accountType": "SPOT",
            "balances": balances, "permissions": ["SPOT"], "uid": 100000001}


def account_commission(sim: Simulator, req: Request) -> Any:
    """``GET /api/v3/account/commission``: the symbol's rates (standard, no tax) and the BNB discount."""
    spec = sim.engine.spec(req.symbol, req.now)
    taker, maker = sim.config.rates_bps(spec.symbol)
    rate = lambda bps: f"{bps / Decimal(10_000):.8f}"  # noqa: E731
    zero = {"maker": "0.00000000", "taker": "0.00000000", "buyer": "0.00000000", "seller": "0.00000000"}
    return {"symbol": spec.symbol,
            "standardCommission": {"maker": rate(maker), "taker": rate(taker), "buyer": "0.00000000",
                                   "seller": "0.00000000"},
            "specialCommission": dict(zero), "taxCommission": dict(zero),
            "discount": {"enabledForAccount": sim.config.bnb_discount, "enabledForSymbol": True,
                         "discountAsset": "BNB",
                         "discount": f"{(100 - sim.config.bnb_discount_pct) / Decimal(100):.8f}"}}


def new_order(sim: Simulator, req: Request) -> Any:
    fired = sim.faults.take("handler", req.method, req.path, req.symbol, req.wall,
                            ("insufficient_balance", "partial_fill", "bad_price"))
    if any(r.kind == "insufficient_balance" for r in fired):
        exc = errors.insufficient_balance()
        with sim.engine.lock:
            sim.engine.book.append("reject", req.now, symbol=req.symbol, client_order_id=req.params.get(
                "newClientOrderId"), side=req.params.get("side"), type=req.params.get("type"), code=exc.code,
                msg=exc.msg, fault=True)
        raise exc
    ratio = next((Decimal(repr(r.ratio)) for r in fired if r.kind == "partial_fill"), None)
    resp_type = req.params.get("newOrderRespType") or "FULL"
    if resp_type not in ("ACK", "RESULT", "FULL"):
        raise errors.ApiError(400, -1177, "Invalid newOrderRespType.")
    order, counts = sim.place_order(req.params, req.now, req.wall, ratio)
    req.headers.update(counts)
    event(log, "SIM_ORDER", logging.DEBUG, order_id=order.order_id, client_order_id=order.client_order_id,
          symbol=order.symbol, side=order.side, type=order.type, status=order.status,
          executed=order.executed_qty, partial=ratio)
    if resp_type == "ACK":
        return order.ack_json()
    body = order.result_json() if resp_type == "RESULT" else order.full_json()
    factor = next((r.factor for r in fired if r.kind == "bad_price"), None)
    if factor is not None:  # the answer lies about the prices; the ledger keeps the truth
        body["cummulativeQuoteQty"] = _scaled(body["cummulativeQuoteQty"], factor)
        for f in body.get("fills", []):
            f["price"] = _scaled(f["price"], factor)
    return body


def _ids(req: Request) -> tuple[int | None, str | None]:
    cid = req.params.get("origClientOrderId")
    check_client_id(cid, "origClientOrderId")
    return parse_int(req.params, "orderId"), cid


def get_order(sim: Simulator, req: Request) -> Any:
    oid, cid = _ids(req)
    with sim.engine.lock:
        sim.engine.sync(req.now)
        order = sim.engine.find(req.symbol, oid, cid, req.now)
        for rule in sim.faults.take("handler", req.method, req.path, req.symbol, req.wall, ("status_lag",),
                                    consume=False):
            if req.wall - order.accepted_wall_ms < rule.lag_ms:
                sim.faults.consume(rule)
                raise errors.order_not_found()
        return order.query_json()


def cancel_order(sim: Simulator, req: Request) -> Any:
    oid, cid = _ids(req)
    cancel_id = req.params.get("newClientOrderId")
    check_client_id(cancel_id)
    with sim.engine.lock:
        order = sim.engine.cancel(req.symbol, oid, cid, req.now)
        cancel_id = cancel_id or f"cancel-{order.order_id}-{req.now % 10**8}"
        out = order.cancel_json(cancel_id, req.now)
    event(log, "SIM_CANCEL", logging.DEBUG, order_id=order.order_id, client_order_id=order.client_order_id,
          symbol=order.symbol)
    return out


def open_orders(sim: Simulator, req: Request) -> Any:
    return [o.query_json() for o in sim.engine.open_orders(req.symbol, req.now)]


def _limit(req: Request) -> int:
    return max(1, min(parse_int(req.params, "limit") or 500, 1000))


def _window(req: Request) -> tuple[int | None, int | None]:
    """startTime/endTime of allOrders and myTrades: no more than 24 h apart when both are given (-1127)."""
    start, end = parse_int(req.params, "startTime"), parse_int(req.params, "endTime")
    if start is not None and end is not None and end - start > DAY_MS:
        raise errors.ApiError(400, -1127, "More than 24 hours between startTime and endTime.")
    return start, end


def all_orders(sim: Simulator, req: Request) -> Any:
    rows = sim.engine.all_orders(req.symbol, req.now, parse_int(req.params, "orderId"), *_window(req), _limit(req))
    return [o.query_json() for o in rows]


def my_trades(sim: Simulator, req: Request) -> Any:
    p = req.params
    start, end = _window(req)
    rows = sim.engine.my_trades(req.symbol, req.now, parse_int(p, "orderId"), start, end, parse_int(p, "fromId"),
                                _limit(req))
    factor = _bad_price(sim, req)
    out = [t.my_trade_json() for t in rows]
    if factor is not None:
        out = [{**t, "price": _scaled(t["price"], factor), "quoteQty": _scaled(t["quoteQty"], factor)} for t in out]
    return out


def _ticker_weight(req: Request) -> int:
    if req.params.get("symbol"):
        return 2
    raw = req.params.get("symbols")
    if raw:
        n = raw.count(",") + 1
        return 2 if n <= 20 else 40 if n <= 100 else 80
    return 80


Route = tuple[Callable[["Simulator", Request], Any], Callable[[Request], int], bool]


def _w(n: int) -> Callable[[Request], int]:
    return lambda req: n


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/api/v3/ping"): (ping, _w(1), False),
    ("GET", "/api/v3/time"): (server_time, _w(1), False),
    ("GET", "/api/v3/exchangeInfo"): (exchange_info, _w(20), False),
    ("GET", "/api/v3/klines"): (klines, _w(2), False),
    ("GET", "/api/v3/avgPrice"): (avg_price, _w(2), False),
    ("GET", "/api/v3/ticker/24hr"): (ticker_24hr, _ticker_weight, False),
    ("GET", "/api/v3/ticker/price"): (ticker_price, lambda r: 2 if r.params.get("symbol") else 4, False),
    ("GET", "/api/v3/ticker/bookTicker"): (book_ticker, lambda r: 2 if r.params.get("symbol") else 4, False),
    ("GET", "/api/v3/account"): (account, _w(20), True),
    ("GET", "/api/v3/account/commission"): (account_commission, _w(20), True),
    ("POST", "/api/v3/order"): (new_order, _w(1), True),
    ("GET", "/api/v3/order"): (get_order, _w(4), True),
    ("DELETE", "/api/v3/order"): (cancel_order, _w(1), True),
    ("GET", "/api/v3/openOrders"): (open_orders, lambda r: 6 if r.params.get("symbol") else 80, True),
    ("GET", "/api/v3/allOrders"): (all_orders, _w(20), True),
    ("GET", "/api/v3/myTrades"): (my_trades, lambda r: 5 if r.params.get("orderId") else 20, True),
}
