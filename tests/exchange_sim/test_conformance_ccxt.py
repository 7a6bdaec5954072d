"""Every endpoint the system uses, driven through REAL ccxt.binance (built by make_binance) over HTTP.

Asserts ccxt-level results and the exception classes of spec §4.3.
"""

from __future__ import annotations

import ccxt
import pytest

from .conftest import DAY, HOUR, client

SYM = "BTC/USDT"


def test_load_markets_has_filters_and_precision(ex, server):
    markets = ex.load_markets()
    assert set(server.sim.market.specs) == {m["id"] for m in markets.values()}
    m = markets[SYM]
    spec = server.sim.market.specs["BTCUSDT"]
    assert m["spot"] and m["active"] and m["quote"] == "USDT" and m["base"] == "BTC"
    assert m["precision"]["price"] == float(spec.tick) and m["precision"]["amount"] == float(spec.step)
    assert m["limits"]["cost"]["min"] == 5.0 and m["limits"]["amount"]["min"] == float(spec.min_qty)


def test_fetch_time_is_the_sim_clock(ex, server, admin):
    t0 = ex.fetch_time()
    assert t0 == server.sim.clock.now_ms()
    admin.step(HOUR)
    assert ex.fetch_time() == t0 + HOUR


def test_fetch_ohlcv_includes_the_forming_candle(ex, server):
    now = server.sim.clock.now_ms()
    rows = ex.fetch_ohlcv(SYM, "1d", limit=5)
    assert len(rows) == 5
    assert rows[-1][0] == now - now % DAY  # still forming: opened today, closes in the future
    assert [r[0] for r in rows] == [rows[0][0] + i * DAY for i in range(5)]
    for _, o, h, lo, c, v in rows:
        assert lo <= min(o, c) <= max(o, c) <= h and v >= 0
    closed = rows[-2]
    panel = server.sim.market.panel
    k = list(panel.times).index(closed[0])
    assert closed[4] == pytest.approx(panel.close[k, panel.symbols.index("BTCUSDT")], rel=1e-6)


def test_fetch_ohlcv_since_and_smaller_interval(ex, server):
    now = server.sim.clock.now_ms()
    since = now - now % DAY - 2 * DAY
    rows = ex.fetch_ohlcv(SYM, "1h", since=since, limit=30)
    assert rows[0][0] == since and len(rows) == 30
    day = ex.fetch_ohlcv(SYM, "1d", since=since, limit=1)[0]
    hours = rows[:24]
    assert hours[0][1] == day[1] and hours[-1][4] == day[4]
    assert max(r[2] for r in hours) == day[2] and min(r[3] for r in hours) == day[3]


def test_fetch_ticker_and_tickers(ex, server):
    t = ex.fetch_ticker(SYM)
    assert t["symbol"] == SYM and t["bid"] < t["ask"] and t["bidVolume"] > 0 and t["last"] > 0
    assert t["low"] <= t["last"] <= t["high"]
    many = ex.fetch_tickers([SYM, "SYN000/USDT"])
    assert set(many) == {SYM, "SYN000/USDT"}
    everything = ex.fetch_tickers()
    assert len(everything) == len(server.sim.market.specs)


def test_fetch_balance(ex, server):
    bal = ex.fetch_balance()
    assert bal["USDT"] == {"free": 10_000.0, "used": 0.0, "total": 10_000.0}
    assert bal["BTC"]["total"] == 1.0
    assert bal["SYN000"]["total"] == 0.0  # like Binance, assets with zero balance are listed too
    assert set(ex.fetch_balance({"omitZeroBalances": "true"})["total"]) == {"USDT", "BTC"}


def test_market_buy_full_response_with_fills_and_fees(ex, server):
    o = ex.create_order(SYM, "market", "buy", 0.01, None, {"newClientOrderId": "mkt-1"})
    assert o["status"] == "closed" and o["clientOrderId"] == "mkt-1" and o["filled"] == 0.01
    # Binance charges the commission on the RECEIVED asset: a BUY pays qty x rate in BTC (spec, "Commission")
    assert o["trades"] and o["fee"]["currency"] == "BTC"
    assert all(f["info"]["commissionAsset"] == "BTC" for f in o["trades"])
    assert o["fee"]["cost"] == pytest.approx(0.01 * 0.001, rel=1e-6)
    mid = server.sim.market.price("BTCUSDT", server.sim.clock.now_ms())
    assert o["average"] == pytest.approx(mid * 1.0005, rel=1e-5)  # 5 bps slippage
    bal = ex.fetch_balance()
    assert bal["BTC"]["total"] == pytest.approx(1 + 0.01 - 0.00001)
    assert bal["USDT"]["total"] == pytest.approx(10_000 - o["cost"])
    trades = ex.fetch_my_trades(SYM)
    assert [(t["fee"]["currency"], t["info"]["commissionAsset"]) for t in trades] == [("BTC", "BTC")]


def test_market_sell_and_quote_order_qty(ex, server):
    o = ex.create_order(SYM, "market", "sell", 0.02, None, {"newClientOrderId": "s-1"})
    assert o["status"] == "closed" and o["side"] == "sell" and o["filled"] == 0.02
    quote_client = client(server.url, createOrder={"quoteOrderQty": True})
    q = quote_client.create_market_buy_order_with_cost(SYM, 50)
    assert q["status"] == "closed" and 49 < q["cost"] <= 50 and q["info"]["origQuoteOrderQty"] == "50.00000000"


def test_trap_cost_orders_need_quote_order_qty_option(ex):
    """With make_binance's safe default (createOrder.quoteOrderQty False), ccxt sends a cost as QUANTITY."""
    with pytest.raises(ccxt.InsufficientFunds):  # 50 BTC, not 50 USDT
        ex.create_market_buy_order_with_cost(SYM, 50)
    assert "quantity=50" in ex.last_request_body and "quoteOrderQty" not in ex.last_request_body


@pytest.mark.parametrize("resp_type,has_status,has_fills", [("ACK", False, False), ("RESULT", True, False),
                                                             ("FULL", True, True)])
def test_new_order_resp_types(ex, resp_type, has_status, has_fills):
    o = ex.create_order(SYM, "market", "buy", 0.001, None, {"newOrderRespType": resp_type})
    assert ("status" in o["info"]) == has_status and ("fills" in o["info"]) == has_fills
    assert o["id"] is not None


def test_limit_order_lifecycle(ex, server, admin):
    last = ex.fetch_ticker(SYM)["last"]
    price = ex.price_to_precision(SYM, last * 0.97)
    o = ex.create_order(SYM, "limit", "buy", 0.01, float(price), {"newClientOrderId": "lim-1"})
    assert o["status"] == "open" and o["filled"] == 0
    bal = ex.fetch_balance()
    assert bal["USDT"]["used"] == pytest.approx(0.01 * float(price))  # Binance locks price x qty (the fee is
    # paid later, in the received base asset)
    assert [x["clientOrderId"] for x in ex.fetch_open_orders(SYM)] == ["lim-1"]
    assert [x["clientOrderId"] for x in ex.fetch_open_orders()] == ["lim-1"]
    got = ex.fetch_order(None, SYM, {"origClientOrderId": "lim-1"})
    assert got["id"] == o["id"] and got["status"] == "open" and got["price"] == float(price)
    c = ex.cancel_order(o["id"], SYM)
    assert c["status"] == "canceled" and c["info"]["origClientOrderId"] == "lim-1"
    assert ex.fetch_open_orders(SYM) == []
    assert ex.fetch_balance()["USDT"] == {"free": 10_000.0, "used": 0.0, "total": 10_000.0}
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order(o["id"], SYM)


def _first_crossing(sim, now, mid):
    """(side, limit price, time) of the first 1% move from now: the order is placed 0.5% away on that side."""
    for t in range(now, now + 100 * DAY, HOUR):
        p = sim.market.price("BTCUSDT", t)
        if p < mid * 0.99:
            return "buy", mid * 0.995, t
        if p > mid * 1.01:
            return "sell", mid * 1.005, t
    raise AssertionError("no 1% move in 100 days")


def test_resting_limit_fills_when_price_crosses(ex, server, admin):
    sim = server.sim
    now = sim.clock.now_ms()
    side, limit, when = _first_crossing(sim, now, sim.market.price("BTCUSDT", now))
    ex.load_markets()
    price = float(ex.price_to_precision(SYM, limit))
    o = ex.create_order(SYM, "limit", side, 0.01, price, {"newClientOrderId": "rest-1"})
    assert o["status"] == "open"
    admin.step(when - now - 2 * HOUR)
    assert ex.fetch_order(o["id"], SYM)["status"] == "open" or when - now < 3 * HOUR
    admin.step(2 * HOUR)
    got = ex.fetch_order(o["id"], SYM)
    assert got["status"] == "closed" and got["average"] == price
    trades = ex.fetch_my_trades(SYM)
    assert [t["order"] for t in trades] == [o["id"]] and trades[0]["takerOrMaker"] == "maker"
    closed = ex.fetch_closed_orders(SYM)
    assert [x["id"] for x in closed] == [o["id"]]
    bal = ex.fetch_balance()
    assert bal["USDT"]["used"] == 0 and bal["BTC"]["used"] == 0


def test_fetch_orders_and_my_trades_since(ex, server, admin):
    a = ex.create_order(SYM, "market", "buy", 0.001)
    admin.step(HOUR)
    since = ex.fetch_time()
    b = ex.create_order(SYM, "market", "buy", 0.001)
    assert [o["id"] for o in ex.fetch_orders(SYM)] == [a["id"], b["id"]]
    assert [o["id"] for o in ex.fetch_orders(SYM, since)] == [b["id"]]
    assert [t["order"] for t in ex.fetch_my_trades(SYM, since)] == [b["id"]]
    assert [t["order"] for t in ex.fetch_my_trades(SYM, None, None, {"orderId": a["id"]})] == [a["id"]]


@pytest.mark.parametrize("args,exc", [
    (("market", "buy", 0.0001, None), ccxt.BadRequest),  # NOTIONAL (below 5 USDT)
    (("market", "buy", 100, None), ccxt.InsufficientFunds),
    (("market", "sell", 5, None), ccxt.InsufficientFunds),
    (("limit", "buy", 0.01, 1e9), ccxt.InvalidOrder),  # PRICE_FILTER (max price)
    (("limit", "buy", 1e8, 1.0), ccxt.InvalidOrder),  # LOT_SIZE (max qty)
])
def test_rejections_map_to_ccxt_classes(ex, args, exc):
    with pytest.raises(exc):
        ex.create_order(SYM, *args)
    assert ex.fetch_open_orders() == []


def test_notional_is_bad_request_not_invalid_order(ex):
    with pytest.raises(ccxt.BadRequest) as info:
        ex.create_order(SYM, "market", "buy", 0.0001)
    assert not isinstance(info.value, ccxt.InvalidOrder) and "NOTIONAL" in str(info.value)


def test_lot_size_and_price_filter_messages(server):
    import requests
    from aura_exchange_sim.auth import sign
    from aura_exchange_sim.app import DEFAULT_API_KEY, DEFAULT_API_SECRET
    now = server.sim.clock.wall_ms()
    spec = server.sim.market.specs["BTCUSDT"]
    cases = [(f"quantity={spec.step / 2}&price=100", "Filter failure: LOT_SIZE"),
             (f"quantity=0.01&price={spec.tick / 2 + 100}", "Filter failure: PRICE_FILTER")]
    for extra, msg in cases:
        body = f"timestamp={now}&symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&{extra}&recvWindow=5000"
        body += "&signature=" + sign(DEFAULT_API_SECRET, body)
        r = requests.post(server.url + "/api/v3/order", data=body, timeout=5,
                          headers={"X-MBX-APIKEY": DEFAULT_API_KEY,
                                   "Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 400 and r.json() == {"code": -1013, "msg": msg}


def test_unknown_order_and_symbol(ex):
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order("999999", SYM)
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order(None, SYM, {"origClientOrderId": "never-sent"})
    ex.load_markets()
    with pytest.raises(ccxt.BadSymbol):
        ex.public_get_klines({"symbol": "NOPEUSDT", "interval": "1d"})


def test_bad_credentials(server):
    from .conftest import client
    from aura_common.adapters.exchange import make_binance
    bad_secret = make_binance(server.url, "aura-sim-key", "wrong", enable_rate_limit=False)
    with pytest.raises(ccxt.AuthenticationError):
        bad_secret.fetch_balance()
    bad_key = make_binance(server.url, "nobody", "x", enable_rate_limit=False)
    with pytest.raises(ccxt.AuthenticationError):
        bad_key.fetch_balance()
    skewed = client(server.url, timeDifference=-30_000)  # client clock 30 s ahead
    with pytest.raises(ccxt.InvalidNonce):
        skewed.fetch_balance()
    late = client(server.url, timeDifference=30_000)
    with pytest.raises(ccxt.InvalidNonce):
        late.fetch_balance()


def test_weight_header_present(server):
    import requests
    r = requests.get(server.url + "/api/v3/exchangeInfo", timeout=5)
    assert r.status_code == 200 and int(r.headers["X-MBX-USED-WEIGHT-1M"]) >= 20
    r = requests.get(server.url + "/api/v3/nope", timeout=5)
    assert r.status_code == 404


def test_price_and_book_tickers_and_ping(server):
    import requests
    url = server.url + "/api/v3"
    assert requests.get(url + "/ping", timeout=5).json() == {}
    one = requests.get(url + "/ticker/price", params={"symbol": "BTCUSDT"}, timeout=5).json()
    assert one["symbol"] == "BTCUSDT" and float(one["price"]) > 0
    assert len(requests.get(url + "/ticker/price", timeout=5).json()) == len(server.sim.market.specs)
    book = requests.get(url + "/ticker/bookTicker", params={"symbol": "BTCUSDT"}, timeout=5).json()
    assert float(book["bidPrice"]) < float(one["price"]) < float(book["askPrice"]) and float(book["bidQty"]) > 0
    bad = requests.get(url + "/ticker/price", params={"symbol": "NOPE"}, timeout=5)
    assert bad.status_code == 400 and bad.json()["code"] == -1121


def test_both_ids_must_agree(ex, server):
    import requests
    from aura_exchange_sim.app import DEFAULT_API_KEY, DEFAULT_API_SECRET
    from aura_exchange_sim.auth import sign
    o = ex.create_order(SYM, "market", "buy", 0.01, None, {"newClientOrderId": "both-1"})
    q = f"timestamp={server.sim.clock.wall_ms()}&symbol=BTCUSDT&orderId={o['id']}&origClientOrderId=other"
    r = requests.get(server.url + "/api/v3/order?" + q + "&signature=" + sign(DEFAULT_API_SECRET, q),
                     headers={"X-MBX-APIKEY": DEFAULT_API_KEY}, timeout=5)
    assert r.status_code == 400 and r.json()["code"] == -2039


def test_admin_orders_and_clock_validation(ex, server, admin):
    import requests
    ex.create_order(SYM, "market", "buy", 0.01, None, {"newClientOrderId": "adm-1"})
    (row,) = admin.get("/admin/orders", symbol="BTCUSDT")["orders"]
    assert row["clientOrderId"] == "adm-1" and row["status"] == "FILLED" and row["fills"]
    assert admin.get("/admin/orders", status="open")["orders"] == []
    r = requests.post(server.url + "/admin/clock", json={"step_ms": 1, "warp": 9}, timeout=5)
    assert r.status_code == 400 and "step_ms" in r.json()["error"]
    r = requests.post(server.url + "/admin/clock", json={"set_ms": 0}, timeout=5)
    assert r.status_code == 400 and "backwards" in r.json()["error"]
    assert requests.get(server.url + "/admin/nope", timeout=5).status_code == 404


def test_an_internal_error_is_a_500_and_the_server_keeps_serving(ex, server):
    ex.load_markets()
    server.sim.market._c = None  # break the simulator on purpose (prices unreadable)
    with pytest.raises(ccxt.OperationFailed):
        ex.fetch_ticker(SYM)
    assert ex.fetch_time() > 0


def test_admin_speed_accelerates_the_clock(ex, admin):
    import time
    t0 = ex.fetch_time()
    snap = admin.post("/admin/clock", {"speed": 3600})
    assert snap["mode"] == "accelerated" and snap["speed"] == 3600
    time.sleep(0.2)
    assert ex.fetch_time() - t0 >= 0.2 * 3600 * 1000  # at least 12 simulated minutes
    admin.post("/admin/clock", {"speed": 0})
    frozen = ex.fetch_time()
    time.sleep(0.05)
    assert ex.fetch_time() == frozen
