"""Simulator fidelity (issue 15 items 2-5), each pinned through REAL ccxt.binance (make_binance) over HTTP:
the unfilled-order count (-1015), PERCENT_PRICE_BY_SIDE and the average price, real-like filters with
MARKET_LOT_SIZE, the 24 h window of allOrders/myTrades, 1w/1M klines and the MINI ticker."""

from __future__ import annotations

import json
from datetime import datetime, time, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import ccxt
import numpy as np
import pytest

from aura_common.core.panel import Panel
from aura_exchange_sim.market import MarketData, derive_spec

from .conftest import DAY, START, client

SYM = "BTC/USDT"
MAX_ATTEMPTS = 1_000  # an order count limit must bite long before this (fixed 10 s windows: >= 10 windows' worth)


def _ioc_buy_below_market(ex) -> dict:
    """A LIMIT IOC that cannot fill: it counts as a new unfilled order and leaves nothing open."""
    price = float(ex.price_to_precision(SYM, ex.fetch_ticker(SYM)["last"] * 0.9))
    return ex.create_order(SYM, "limit", "buy", 0.01, price, {"timeInForce": "IOC"})


def _body(ex) -> dict:
    """The JSON body of the client's last HTTP response (also of one that raised)."""
    return json.loads(ex.last_http_response)


def _place_until_refused(ex, place) -> tuple[int, ccxt.BaseError | None]:
    """Place orders until one is refused; returns (orders accepted, the exception)."""
    for accepted in range(MAX_ATTEMPTS):
        try:
            place()
        except ccxt.BaseError as exc:
            return accepted, exc
    return MAX_ATTEMPTS, None


# ---- item 2: the unfilled-order count ------------------------------------------------------------------------------
def test_unfilled_order_count_refuses_the_101st_order_in_10_seconds_with_1015(ex):
    ex.load_markets()
    price = float(ex.price_to_precision(SYM, ex.fetch_ticker(SYM)["last"] * 0.9))
    counts: list[int] = []

    def place():
        o = ex.create_order(SYM, "limit", "buy", 0.01, price, {"timeInForce": "IOC"})
        assert o["status"] == "expired" and o["filled"] == 0
        counts.append(int(ex.last_response_headers["X-MBX-ORDER-COUNT-10S"]))

    accepted, exc = _place_until_refused(ex, place)
    assert exc is not None, f"{accepted} unfilled orders accepted, the advertised limit is 100 per 10 s"
    # HTTP 429 -> DDoSProtection (a 400 would be RateLimitExceeded, spec §4.3); Binance's code and message
    assert isinstance(exc, ccxt.DDoSProtection)
    assert _body(ex) == {"code": -1015,
                                     "msg": "Too many new orders; current limit is 100 orders per 10 SECOND."}
    headers = ex.last_response_headers
    # the window that refused holds exactly the 100 accepted orders (a 10 s boundary crossed earlier under load
    # only restarts the count, so the count before the refusal is 100 whatever the timing)
    assert headers["X-MBX-ORDER-COUNT-10S"] == "100" and counts[-1] == 100
    assert int(headers["X-MBX-ORDER-COUNT-1D"]) == accepted and 1 <= int(headers["Retry-After"]) <= 10
    orders = [r for r in ex.public_get_exchangeinfo()["rateLimits"] if r["rateLimitType"] == "ORDERS"]
    assert orders == [{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                      {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000}]


def test_orders_that_fill_do_not_count(ex):
    """Binance: an order's first fill takes it off the unfilled count, so orders that trade never hit -1015."""
    ex.load_markets()
    for side in ["buy", "sell"] * 75:  # 150 market orders, each filled at once
        o = ex.create_order(SYM, "market", side, 0.001)
        assert o["status"] == "closed"
        assert ex.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "0"
        assert ex.last_response_headers["X-MBX-ORDER-COUNT-1D"] == "0"
    _ioc_buy_below_market(ex)  # an order that expires unfilled counts
    assert ex.last_response_headers["X-MBX-ORDER-COUNT-1D"] == "1"


def test_daily_order_limit_and_limits_switched_off(sim_factory):
    srv = sim_factory(order_limit_1d=5)
    ex = client(srv.url)
    ex.load_markets()
    accepted, exc = _place_until_refused(ex, lambda: _ioc_buy_below_market(ex))
    assert isinstance(exc, ccxt.DDoSProtection) and accepted % 5 == 0  # a UTC midnight may pass: 5 or 10
    assert _body(ex)["msg"] == "Too many new orders; current limit is 5 orders per 1 DAY."
    assert ex.last_response_headers["X-MBX-ORDER-COUNT-1D"] == "5"
    rejects = [e for e in srv.sim.engine.book.entries if e["kind"] == "reject"]
    assert rejects[-1]["code"] == -1015  # refusals are ledger facts like any rejection
    unlimited = client(sim_factory(order_limit_10s=0, order_limit_1d=0).url)
    unlimited.load_markets()
    for _ in range(120):
        _ioc_buy_below_market(unlimited)
    assert unlimited.last_response_headers["X-MBX-ORDER-COUNT-1D"] == "120"
    assert [r for r in unlimited.public_get_exchangeinfo()["rateLimits"] if r["rateLimitType"] == "ORDERS"] == []


def test_cli_order_limit_options_reach_the_simulator():
    import argparse

    from aura_exchange_sim import cli
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    small = ["--synthetic-symbols", "1", "--synthetic-days", "10", "--start", "1700000000000"]
    sim = cli.build(parser.parse_args([*small, "--order-limit-10s", "0", "--order-limit-1d", "7"]), 1_700_000_000_000)
    assert sim.order_count.rate_limits_json() == [
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 7}]
    default = cli.build(parser.parse_args(small), 1_700_000_000_000)
    assert [r["limit"] for r in default.order_count.rate_limits_json()] == [100, 200_000]


# ---- item 3: PERCENT_PRICE_BY_SIDE, NOTIONAL on the 5-minute average price, /api/v3/avgPrice -----------------------
MINUTE = 60_000


def _jump_market() -> MarketData:
    """BTCUSDT on 1m candles: an hour flat at 100, then an hour flat at 1000 (a gap up)."""
    n = 120
    times = np.arange(n, dtype=np.int64) * MINUTE + START
    px = np.where(np.arange(n) < 60, 100.0, 1000.0)[:, None]
    panel = Panel.from_arrays(["BTCUSDT"], times, MINUTE, open=px, high=px, low=px, close=px,
                              volume=np.full((n, 1), 10.0), quote_volume=px * 10.0)
    return MarketData(panel)


def test_avg_price_is_the_5_minute_average_and_judges_market_notional(sim_factory):
    # one minute after the jump: last price 1000, the 5-minute average (4 x 100 + 1 x 1000) / 5 = 280
    srv = sim_factory(market=_jump_market(), start_ms=START + 61 * MINUTE)
    ex = client(srv.url)
    ex.load_markets()
    assert ex.public_get_avgprice({"symbol": "BTCUSDT"}) == {"mins": 5, "price": "280.00000000",
                                                            "closeTime": START + 61 * MINUTE}
    assert ex.fetch_ticker(SYM)["last"] == 1000.0
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
        ex.create_order(SYM, "market", "buy", 0.006)  # 6 USDT at the last price, 1.68 at the average
    o = ex.create_order(SYM, "market", "buy", 0.018)  # 5.04 at the average
    assert o["status"] == "closed" and o["average"] > 1000
    filters = {f["filterType"]: f for f in ex.market(SYM)["info"]["filters"]}
    assert filters["NOTIONAL"]["avgPriceMins"] == 5
    assert filters["PERCENT_PRICE_BY_SIDE"] == {
        "filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5", "bidMultiplierDown": "0.2",
        "askMultiplierUp": "5", "askMultiplierDown": "0.2", "avgPriceMins": 5}


def test_percent_price_by_side_rejects_a_limit_buy_at_a_tenth_of_the_market(ex, server):
    ex.load_markets()
    last = ex.fetch_ticker(SYM)["last"]
    with pytest.raises(ccxt.InvalidOrder, match="Filter failure: PERCENT_PRICE_BY_SIDE"):
        ex.create_order(SYM, "limit", "buy", 0.01, float(ex.price_to_precision(SYM, last * 0.1)))
    assert _body(ex) == {"code": -1013, "msg": "Filter failure: PERCENT_PRICE_BY_SIDE"}
    # the band is [0.2, 5] x the average /api/v3/avgPrice publishes, on both sides, to the tick
    avg = Decimal(ex.public_get_avgprice({"symbol": "BTCUSDT"})["price"])
    tick = server.sim.market.specs["BTCUSDT"].tick
    lowest_bid = (avg * Decimal("0.2") / tick).to_integral_value(ROUND_CEILING) * tick
    highest_ask = (avg * 5 / tick).to_integral_value(ROUND_FLOOR) * tick
    for side, ok, bad in (("buy", lowest_bid, lowest_bid - tick), ("sell", highest_ask, highest_ask + tick)):
        assert ex.create_order(SYM, "limit", side, 0.01, float(ok))["status"] == "open"
        with pytest.raises(ccxt.InvalidOrder, match="PERCENT_PRICE_BY_SIDE"):
            ex.create_order(SYM, "limit", side, 0.01, float(bad))
    assert len(ex.fetch_open_orders(SYM)) == 2


# ---- item 4: real-like filter values, MARKET_LOT_SIZE --------------------------------------------------------------
BTCUSDT_FILTER_TYPES = ["PRICE_FILTER", "LOT_SIZE", "ICEBERG_PARTS", "MARKET_LOT_SIZE", "TRAILING_DELTA",
                        "PERCENT_PRICE_BY_SIDE", "NOTIONAL", "MAX_NUM_ORDERS", "MAX_NUM_ALGO_ORDERS"]


@pytest.mark.parametrize("price,max_qty,market_max_qty,max_price", [
    (60_000.0, "9000", "128.5", "1000000"),  # the real BTCUSDT
    (3_000.0, "90000", "2570", "100000"),
    (1.5, "900000000", "5140000", "100"),
    (0.00001, "90000000000", "90000000000", "0.001"),  # Binance's largest maxQty is ~9.2e10
])
def test_filters_are_btcusdt_scaled_by_price(price, max_qty, market_max_qty, max_price):
    spec = derive_spec("XUSDT", price, 0, Decimal(5))
    assert (spec.max_qty, spec.market_max_qty, spec.max_price) == (Decimal(max_qty), Decimal(market_max_qty),
                                                                     Decimal(max_price))
    assert spec.max_notional == Decimal(9_000_000)


def test_exchange_info_has_the_btcusdt_filter_set(ex, server):
    m = ex.load_markets()[SYM]
    spec = server.sim.market.specs["BTCUSDT"]
    filters = m["info"]["filters"]
    assert [f["filterType"] for f in filters] == BTCUSDT_FILTER_TYPES
    f = {x["filterType"]: x for x in filters}
    assert f["ICEBERG_PARTS"] == {"filterType": "ICEBERG_PARTS", "limit": 10}
    assert f["TRAILING_DELTA"] == {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10,
                                   "maxTrailingAboveDelta": 2000, "minTrailingBelowDelta": 10,
                                   "maxTrailingBelowDelta": 2000}
    assert f["MAX_NUM_ALGO_ORDERS"] == {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5}
    assert f["MARKET_LOT_SIZE"]["minQty"] == f["MARKET_LOT_SIZE"]["stepSize"] == "0.00000000"
    assert f["NOTIONAL"]["maxNotional"] == "9000000.00000000" and f["NOTIONAL"]["applyMaxToMarket"] is False
    # scaled by price: this market's BTC trades near 9,000, so limits are worth what 60,000-BTCUSDT's are
    median = float(np.median(server.sim.market.panel.close[:, 0]))
    assert m["limits"]["market"]["max"] * median == pytest.approx(128.5 * 60_000, rel=1e-3)
    assert 10 ** 8 < m["limits"]["amount"]["max"] * median < 10 ** 9.5  # 9000 x 60,000 = 5.4e8, to a power of 10
    assert m["limits"]["price"]["max"] == float(spec.max_price) == 1e6  # 10 to 100 x the highest price


def test_market_lot_size_is_enforced_for_market_orders(sim_factory):
    srv = sim_factory(balances={"USDT": 10_000_000, "BTC": 1})
    ex = client(srv.url)
    m = ex.load_markets()[SYM]
    market_max, step = Decimal(str(m["limits"]["market"]["max"])), Decimal(str(m["precision"]["amount"]))
    big = float(market_max + step)
    with pytest.raises(ccxt.InvalidOrder, match="Filter failure: MARKET_LOT_SIZE"):
        ex.create_order(SYM, "market", "buy", big)
    assert _body(ex) == {"code": -1013, "msg": "Filter failure: MARKET_LOT_SIZE"}
    spend = client(srv.url, createOrder={"quoteOrderQty": True})
    with pytest.raises(ccxt.InvalidOrder, match="MARKET_LOT_SIZE"):  # a quote amount that buys more than maxQty
        spend.create_market_buy_order_with_cost(SYM, 9_000_000)
    # a LIMIT order of the same size is judged by LOT_SIZE and NOTIONAL (maxNotional 9,000,000), not by this filter
    last = ex.fetch_ticker(SYM)["last"]
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
        ex.create_order(SYM, "limit", "buy", 2000, float(ex.price_to_precision(SYM, last * 0.9)))
    with pytest.raises(ccxt.InvalidOrder, match="Filter failure: LOT_SIZE"):
        ex.create_order(SYM, "limit", "buy", m["limits"]["amount"]["max"] * 10, last)
    assert srv.sim.engine.orders == {}
    at_max = ex.create_order(SYM, "market", "buy", float(market_max))  # the largest allowed fills
    assert at_max["status"] == "closed" and at_max["filled"] == float(market_max)


# ---- item 5: the 24 h window of allOrders/myTrades, 1w/1M klines, the MINI ticker -----------------------------------
def test_all_orders_and_my_trades_refuse_a_window_over_24_hours(ex, admin):
    ex.load_markets()
    since = ex.fetch_time()
    o = ex.create_order(SYM, "market", "buy", 0.001)
    admin.step(DAY)
    for fetch in (ex.fetch_orders, ex.fetch_my_trades):
        with pytest.raises(ccxt.BadRequest):
            fetch(SYM, since, None, {"endTime": since + DAY + 1})
        assert _body(ex) == {"code": -1127, "msg": "More than 24 hours between startTime and endTime."}
    assert [x["id"] for x in ex.fetch_orders(SYM, since, None, {"endTime": since + DAY})] == [o["id"]]
    assert [t["order"] for t in ex.fetch_my_trades(SYM, since, None, {"endTime": since + DAY})] == [o["id"]]
    assert [x["id"] for x in ex.fetch_orders(SYM, since)] == [o["id"]]  # startTime alone: no window rule


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


def _aggregate(days: list[list]) -> tuple:
    return (days[0][1], max(d[2] for d in days), min(d[3] for d in days), days[-1][4])


def test_weekly_and_monthly_klines_are_calendar_candles(ex, server):
    ex.load_markets()
    now = server.sim.clock.now_ms()  # 2020-12-22 12:00 UTC; BTCUSDT listed 2020-09-13 (a Sunday)
    listed = server.sim.market.specs["BTCUSDT"].listed_ms
    daily = ex.fetch_ohlcv(SYM, "1d", since=listed, limit=1000)
    weeks = ex.fetch_ohlcv(SYM, "1w", limit=1000)
    assert all(_utc(w[0]).weekday() == 0 and _utc(w[0]).time() == time(0) for w in weeks)  # Mondays 00:00 UTC
    assert [b[0] - a[0] for a, b in zip(weeks, weeks[1:])] == [7 * DAY] * (len(weeks) - 1)
    assert weeks[0][0] <= listed < weeks[0][0] + 7 * DAY and weeks[-1][0] <= now < weeks[-1][0] + 7 * DAY
    months = ex.fetch_ohlcv(SYM, "1M", limit=1000)
    assert [_utc(m[0]).date().isoformat() for m in months] == ["2020-09-01", "2020-10-01", "2020-11-01",
                                                                "2020-12-01"]
    ends = [m[0] for m in months[1:]] + [now + 1]
    for rows, ends_ in ((weeks, [w[0] + 7 * DAY for w in weeks]), (months, ends)):
        for row, end in zip(rows, ends_):  # each candle is its days (from the listing; the last one forming)
            days = [d for d in daily if row[0] <= d[0] < end]
            assert tuple(row[1:5]) == pytest.approx(_aggregate(days), rel=1e-9)
            assert row[5] == pytest.approx(sum(d[5] for d in days), rel=1e-6)
    wednesday = weeks[2][0] + 2 * DAY
    assert ex.fetch_ohlcv(SYM, "1w", since=wednesday, limit=2)[0][0] == weeks[3][0]  # opens at or after since
    assert ex.fetch_ohlcv(SYM, "1M", since=months[1][0], limit=2) == months[1:3]


def test_ticker_24hr_type_mini(ex):
    ex.load_markets()
    full = ex.public_get_ticker_24hr({"symbol": "BTCUSDT"})
    mini = ex.public_get_ticker_24hr({"symbol": "BTCUSDT", "type": "MINI"})
    assert list(mini) == ["symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume",
                          "openTime", "closeTime", "firstId", "lastId", "count"]
    assert mini == {k: full[k] for k in mini}
    assert ex.public_get_ticker_24hr({"symbol": "BTCUSDT", "type": "FULL"}) == full
    many = ex.public_get_ticker_24hr({"symbols": '["BTCUSDT","SYN000USDT"]', "type": "MINI"})
    assert [m["symbol"] for m in many] == ["BTCUSDT", "SYN000USDT"] and all("bidQty" not in m for m in many)
    t = ex.fetch_ticker(SYM, {"type": "MINI"})  # ccxt parses it, without bid/ask (spec §3.4)
    assert t["last"] == float(full["lastPrice"]) and t["bid"] is None
    with pytest.raises(ccxt.ExchangeError):
        ex.public_get_ticker_24hr({"symbol": "BTCUSDT", "type": "BIG"})
    assert _body(ex) == {"code": -1139, "msg": "Invalid ticker type."}
