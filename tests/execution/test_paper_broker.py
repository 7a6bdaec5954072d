"""The paper broker against a real SQLite state file: fills, fees, Binance's client-id rule, persistence."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aura_common.adapters.broker.errors import DuplicateClientOrderId, InsufficientBalance, Rejected
from aura_common.adapters.broker.paper import PaperBroker
from aura_common.adapters.clock import SteppedClock
from aura_common.domain import MarketSpec, OrderRequest, OrderStatus, OrderType, Side, Symbol

D = Decimal
BTC = Symbol("BTCUSDT")
SPECS = {BTC: MarketSpec(BTC, "BTC", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D("5"))}


class Prices:
    def __init__(self) -> None:
        self.now = {BTC: D("40000")}

    def __call__(self, symbols):
        return {s: self.now[s] for s in symbols}


@pytest.fixture
def prices():
    return Prices()


def make(tmp_path, prices, **kw) -> PaperBroker:
    return PaperBroker(tmp_path / "paper.sqlite", SPECS, prices, SteppedClock(1_700_000_000_000), D("10000"),
                       fee_bps=10, slippage_bps=5, **kw)


def test_market_buy_fills_with_slippage_and_fee(tmp_path, prices):
    b = make(tmp_path, prices)
    r = b.place_order(OrderRequest("aura-1", BTC, Side.BUY, D("0.1")))
    assert r.status is OrderStatus.FILLED and r.filled_quantity == D("0.1")
    assert r.average_price == D("40020")  # 5 bps slippage
    bal = b.balances()
    # the fee is charged like Binance's, in the RECEIVED asset: 10 bps of 0.1 BTC
    assert bal["BTC"].free == D("0.1") - D("0.0001")
    assert bal["USDT"].free == D("10000") - D("4002")
    assert len(r.fills) == 1 and (r.fills[0].fee, r.fills[0].fee_asset) == (D("0.0001"), "BTC")
    s = b.place_order(OrderRequest("aura-2", BTC, Side.SELL, D("0.05")))
    assert (s.fills[0].fee, s.fills[0].fee_asset) == (D("0.05") * D("39980") * D("0.001"), "USDT")


def test_reusing_a_filled_market_orders_id_creates_a_new_order_like_binance(tmp_path, prices):
    b = make(tmp_path, prices)
    b.place_order(OrderRequest("aura-same", BTC, Side.BUY, D("0.01")))
    b.place_order(OrderRequest("aura-same", BTC, Side.BUY, D("0.01")))
    assert b.balances()["BTC"].free == D("0.02") * D("0.999"), "a blind retry double-fills: only the lookup protects"
    assert b.get_order(BTC, "aura-same").status is OrderStatus.FILLED


def test_duplicate_of_an_open_limit_order_is_refused_and_limit_fills_on_cross(tmp_path, prices):
    b = make(tmp_path, prices)
    req = OrderRequest("aura-lim", BTC, Side.BUY, D("0.1"), OrderType.LIMIT, D("39000"))
    assert b.place_order(req).status is OrderStatus.NEW
    with pytest.raises(DuplicateClientOrderId):
        b.place_order(req)
    assert b.balances()["USDT"].locked > 0
    prices.now[BTC] = D("38900")
    assert b.get_order(BTC, "aura-lim").status is OrderStatus.FILLED
    bal = b.balances()
    assert "USDT" in bal and bal["USDT"].locked == 0 and bal["BTC"].free == D("0.1") * D("0.999")
    assert bal["USDT"].free == D(10_000) - D("0.1") * D(39_000)  # the lock was price x qty, all of it spent


def test_cancel_releases_locked_funds(tmp_path, prices):
    b = make(tmp_path, prices)
    b.place_order(OrderRequest("aura-c", BTC, Side.BUY, D("0.1"), OrderType.LIMIT, D("30000")))
    assert b.cancel_order(BTC, "aura-c").status is OrderStatus.CANCELED
    assert b.balances()["USDT"] == b.balances()["USDT"].__class__("USDT", D("10000"), D("0"))
    assert b.cancel_order(BTC, "aura-c") is None
    assert b.open_orders() == []


@pytest.mark.parametrize(("qty", "exc"), [(D("0.000001"), Rejected), (D("0.0001"), Rejected), (D("1"), InsufficientBalance)])
def test_rejections(tmp_path, prices, qty, exc):
    b = make(tmp_path, prices)
    with pytest.raises(exc):
        b.place_order(OrderRequest("aura-r", BTC, Side.BUY, qty))
    assert b.balances()["USDT"].free == D("10000"), "a rejected order changes nothing"


def test_state_survives_reopen(tmp_path, prices):
    b = make(tmp_path, prices)
    b.place_order(OrderRequest("aura-p", BTC, Side.BUY, D("0.05")))
    b.close()
    again = make(tmp_path, prices)
    assert again.balances()["BTC"].free == D("0.05") * D("0.999")
    assert again.get_order(BTC, "aura-p").status is OrderStatus.FILLED
    assert [f.client_order_id for f in again.fills(BTC)] == ["aura-p"]
    assert again.get_order(BTC, "aura-unknown") is None
