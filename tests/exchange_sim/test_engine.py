"""The matching engine without HTTP: table tests of the validation rules and Hypothesis properties of the books."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aura_exchange_sim.errors import ApiError

from .conftest import HOUR, make_sim

WALL = 1


def params(**kw) -> dict[str, str]:
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"}
    return {k: str(v) for k, v in {**base, **kw}.items() if v is not None}


def price_now(sim) -> Decimal:
    spec = sim.market.specs["BTCUSDT"]
    return spec.round_price(sim.market.price("BTCUSDT", sim.clock.now_ms()))


@pytest.mark.parametrize("kw,code,msg", [
    ({"symbol": "NOPEUSDT", "quantity": "1"}, -1121, "Invalid symbol."),
    ({"symbol": None, "quantity": "1"}, -1102, "'symbol'"),
    ({"side": "HOLD", "quantity": "1"}, -1117, "Invalid side."),
    ({"type": "STOP_LOSS", "quantity": "1"}, -1116, "Invalid orderType."),
    ({}, -1102, "quantity' or 'quoteOrderQty"),
    ({"quantity": "0.01", "quoteOrderQty": "50"}, -1106, "quoteOrderQty"),
    ({"quantity": "1e-3"}, -1100, "'quantity'"),
    ({"quantity": "0.0000001"}, -1013, "Filter failure: LOT_SIZE"),
    ({"quantity": "0.0001"}, -1013, "Filter failure: NOTIONAL"),
    ({"quantity": "0.01", "newClientOrderId": "a.b"}, -1100, "^[a-zA-Z0-9-_]{1,36}$"),
    ({"quantity": "0.01", "newClientOrderId": ""}, -1118, "New client order ID was empty."),
    ({"quantity": "0.01", "price": "100"}, -1106, "'price'"),
    ({"type": "LIMIT", "quantity": "0.01", "price": "100"}, -1102, "'timeInForce'"),
    ({"type": "LIMIT", "quantity": "0.01", "timeInForce": "GTC"}, -1102, "'price'"),
    ({"type": "LIMIT", "quantity": "0.1", "price": "100.0001", "timeInForce": "GTC"}, -1013,
     "Filter failure: PRICE_FILTER"),
    ({"type": "LIMIT", "quantity": "0.01", "price": "0", "timeInForce": "GTC"}, -2010, "Price * QTY is zero"),
    ({"type": "LIMIT", "quantity": "0.01", "price": "100", "timeInForce": "DAY"}, -1115, "Invalid timeInForce."),
    ({"quantity": "5"}, -2010, "Account has insufficient balance for requested action."),
    ({"side": "SELL", "quantity": "1.5"}, -2010, "Account has insufficient balance for requested action."),
])
def test_rejections(kw, code, msg):
    sim = make_sim()
    with pytest.raises(ApiError) as info:
        sim.engine.place(params(**kw), sim.clock.now_ms(), WALL)
    assert info.value.code == code and msg in info.value.msg
    assert sim.engine.orders == {}
    assert sim.engine.book.entries[-1]["kind"] == "reject"


def test_limit_maker_that_would_take_is_rejected():
    sim = make_sim()
    p = price_now(sim) * 2
    with pytest.raises(ApiError) as info:
        sim.engine.place(params(type="LIMIT_MAKER", quantity="0.01", price=p), sim.clock.now_ms(), WALL)
    assert info.value.msg == "Order would immediately match and take."


@pytest.mark.parametrize("tif,status,filled", [("IOC", "EXPIRED", "0.00000000"), ("FOK", "EXPIRED", "0.00000000"),
                                               ("GTC", "NEW", "0.00000000")])
def test_time_in_force_for_non_marketable_limit(tif, status, filled):
    sim = make_sim()
    p = (price_now(sim) * Decimal("0.9")).quantize(Decimal("0.01"))
    o = sim.engine.place(params(type="LIMIT", quantity="0.01", price=p, timeInForce=tif), sim.clock.now_ms(), WALL)
    assert o.status == status and o.result_json()["executedQty"] == filled


def test_depth_model_walks_levels_and_expires_the_rest():
    sim = make_sim(depth_notional=Decimal(100), depth_level_bps=Decimal(10), depth_levels=3)
    mid = price_now(sim)
    qty = (Decimal(1000) / mid).quantize(Decimal("0.001"))
    o = sim.engine.place(params(quantity=qty), sim.clock.now_ms(), WALL)
    prices = [t.price for t in o.trades]
    assert len(o.trades) == 3 and prices == sorted(prices) and prices[0] > mid
    assert o.status == "EXPIRED" and 0 < o.executed_qty < qty


def test_partial_fill_ratio_for_resting_orders():
    sim = make_sim(partial_fill_ratio=Decimal("0.25"))
    now = sim.clock.now_ms()
    p = (price_now(sim) * Decimal("1.5")).quantize(Decimal("0.01"))
    o = sim.engine.place(params(side="SELL", type="LIMIT", quantity="0.4", price=p, timeInForce="GTC"), now, WALL)
    assert o.status == "NEW"
    o.price = Decimal("0.01")  # make it cross on the next advance
    statuses = []
    for i in range(1, 5):
        sim.engine.sync(now + i * HOUR)
        statuses.append((o.status, o.executed_qty))
    assert statuses == [("PARTIALLY_FILLED", Decimal("0.1")), ("PARTIALLY_FILLED", Decimal("0.2")),
                        ("PARTIALLY_FILLED", Decimal("0.3")), ("FILLED", Decimal("0.4"))]


# ---- properties -------------------------------------------------------------------------------------------------
op = st.one_of(
    st.tuples(st.just("market"), st.sampled_from(["BUY", "SELL"]), st.decimals("0.001", "0.3", places=3)),
    st.tuples(st.just("limit"), st.sampled_from(["BUY", "SELL"]), st.decimals("0.001", "0.3", places=3),
              st.decimals("0.9", "1.1", places=3)),
    st.tuples(st.just("cancel"), st.integers(1, 30)),
    st.tuples(st.just("step"), st.integers(1, 48)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, max_size=25), partial=st.sampled_from([Decimal(1), Decimal("0.5")]))
def test_books_stay_consistent(ops, partial):
    sim = make_sim(balances={"USDT": 3000, "BTC": "0.5"}, partial_fill_ratio=partial)
    eng = sim.engine
    now = sim.clock.now_ms()
    for o in ops:
        try:
            if o[0] == "market":
                eng.place(params(side=o[1], quantity=o[2]), now, WALL)
            elif o[0] == "limit":
                p = sim.market.specs["BTCUSDT"].round_price(sim.market.price("BTCUSDT", now) * float(o[3]))
                eng.place(params(side=o[1], type="LIMIT", quantity=o[2], price=p, timeInForce="GTC"), now, WALL)
            elif o[0] == "cancel":
                eng.cancel("BTCUSDT", o[1], None, now)
            else:
                now += o[1] * HOUR
                eng.sync(now)
        except ApiError as exc:
            assert exc.code in (-2010, -2011, -2013, -1013)
    # fills never exceed the order quantity; executed matches the trades
    for order in eng.orders.values():
        assert sum((t.qty for t in order.trades), Decimal(0)) == order.executed_qty <= order.orig_qty
        assert order.is_open or order.locked == 0
    # balances are the sum of the ledger and never negative
    sums: dict[str, list[Decimal]] = {}
    for e in eng.book.entries:
        if e["kind"] == "balance":
            s = sums.setdefault(e["asset"], [Decimal(0), Decimal(0)])
            s[0] += Decimal(e["free"])
            s[1] += Decimal(e["locked"])
            assert s[0] >= 0 and s[1] >= 0
    for asset, free, locked in eng.balances():
        assert [free, locked] == sums[asset]
    # value is conserved minus fees: quote and base move exactly by the trades
    trades = [t for o in eng.orders.values() for t in o.trades]
    buys = [t for t in trades if t.is_buyer]
    sells = [t for t in trades if not t.is_buyer]
    total = {a: f + lk for a, f, lk in eng.balances()}
    # fees in the RECEIVED asset (Binance): BUYs pay in BTC, SELLs in USDT
    assert {t.commission_asset for t in buys} <= {"BTC"} and {t.commission_asset for t in sells} <= {"USDT"}
    fee = lambda rows: sum((t.commission for t in rows), Decimal(0))  # noqa: E731
    assert total["USDT"] == Decimal(3000) - sum((t.quote_qty for t in buys), Decimal(0)) \
        + sum((t.quote_qty for t in sells), Decimal(0)) - fee(sells)
    assert total["BTC"] == Decimal("0.5") + sum((t.qty for t in buys), Decimal(0)) \
        - sum((t.qty for t in sells), Decimal(0)) - fee(buys)
    # no two OPEN orders share a client id
    cids = [o.client_order_id for o in eng.open.values()]
    assert len(cids) == len(set(cids))


def test_quote_order_qty_with_forced_partial_fill_expires():
    sim = make_sim()
    o = sim.engine.place(params(quoteOrderQty="100"), sim.clock.now_ms(), WALL, partial_ratio=Decimal("0.5"))
    assert o.status == "EXPIRED" and 0 < o.executed_qty < o.orig_qty
    assert o.cum_quote <= Decimal(50) and o.orig_quote_qty == Decimal(100)
    full = sim.engine.place(params(quoteOrderQty="100"), sim.clock.now_ms(), WALL)
    assert full.status == "FILLED" and full.orig_qty == full.executed_qty and 99 < full.cum_quote <= 100


def test_max_num_orders_per_symbol():
    from aura_exchange_sim.engine import MAX_OPEN_PER_SYMBOL
    sim = make_sim(balances={"USDT": 10**7})
    now = sim.clock.now_ms()
    p = (price_now(sim) * Decimal("0.5")).quantize(Decimal("0.01"))
    for _ in range(MAX_OPEN_PER_SYMBOL):
        sim.engine.place(params(type="LIMIT", quantity="0.01", price=p, timeInForce="GTC"), now, WALL)
    with pytest.raises(ApiError) as info:
        sim.engine.place(params(type="LIMIT", quantity="0.01", price=p, timeInForce="GTC"), now, WALL)
    assert info.value.msg == "Filter failure: MAX_NUM_ORDERS"
    sim.engine.cancel("BTCUSDT", 1, None, now)
    assert sim.engine.place(params(type="LIMIT", quantity="0.01", price=p, timeInForce="GTC"), now, WALL).is_open


@pytest.mark.parametrize("marketable", [True, False])
def test_forced_partial_fill_applies_once(marketable):
    sim = make_sim()
    now = sim.clock.now_ms()
    mid = price_now(sim)
    p = (mid * (Decimal("0.99") if marketable else Decimal("2"))).quantize(Decimal("0.01"))
    o = sim.engine.place(params(side="SELL", type="LIMIT", quantity="0.2", price=p, timeInForce="GTC"), now, WALL,
                         partial_ratio=Decimal("0.5"))
    if not marketable:
        assert o.executed_qty == 0 and o.status == "NEW"
        o.price = (mid * Decimal("0.5")).quantize(Decimal("0.01"))  # crosses on the next advance
        sim.engine.sync(now + HOUR)
    assert o.executed_qty == Decimal("0.1") and o.status == "PARTIALLY_FILLED"
    o.price = (mid * Decimal("0.5")).quantize(Decimal("0.01"))
    sim.engine.sync(now + 2 * HOUR)
    assert o.status == "FILLED"  # the forced ratio is used up: the rest fills normally
