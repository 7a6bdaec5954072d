"""Intents: deterministic client order ids, sells before buys, rounding, dust, cash never negative."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core.intents import build_intents, canonical_decimal, client_order_id, is_aura_order
from aura_common.domain import MarketSpec, Side, Symbol
from aura_common.domain.values import CLIENT_ORDER_ID_RE

D = Decimal


def spec(sym: str, step="0.001", min_notional="5") -> MarketSpec:
    return MarketSpec(Symbol(sym), sym[:-4], "USDT", D("0.01"), D(step), D(step), D(min_notional))


SPECS = {s: spec(s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")}
PRICES = {Symbol("BTCUSDT"): D("40000"), Symbol("ETHUSDT"): D("2000"), Symbol("SOLUSDT"): D("20")}


def test_client_order_id_is_pure_valid_and_prefixed():
    a = client_order_id("2024-01-02", "BTCUSDT", Side.BUY, D("0.0100"), "abc", 0)
    assert a == client_order_id("2024-01-02", "BTCUSDT", Side.BUY, D("0.01"), "abc", 0)
    assert CLIENT_ORDER_ID_RE.match(a) and len(a) == 31 and is_aura_order(a)
    variants = {
        client_order_id("2024-01-03", "BTCUSDT", Side.BUY, D("0.01"), "abc", 0),
        client_order_id("2024-01-02", "ETHUSDT", Side.BUY, D("0.01"), "abc", 0),
        client_order_id("2024-01-02", "BTCUSDT", Side.SELL, D("0.01"), "abc", 0),
        client_order_id("2024-01-02", "BTCUSDT", Side.BUY, D("0.011"), "abc", 0),
        client_order_id("2024-01-02", "BTCUSDT", Side.BUY, D("0.01"), "abd", 0),
        client_order_id("2024-01-02", "BTCUSDT", Side.BUY, D("0.01"), "abc", 1),
    }
    assert a not in variants and len(variants) == 6
    assert not is_aura_order("x-TKT5PX2F0123456789abcdef012345")


@pytest.mark.parametrize(("value", "text"), [(D("1.500"), "1.5"), (D("1E+2"), "100"), (D("-0"), "0"), (D("0.00010"), "0.0001")])
def test_canonical_decimal(value, text):
    assert canonical_decimal(value) == text


def test_sells_first_then_buys_and_full_exit():
    batch = build_intents(cycle_key="c1", plan_hash="h", targets={Symbol("ETHUSDT"): 0.5},
                          holdings={Symbol("BTCUSDT"): D("0.1234567")}, prices=PRICES, specs=SPECS,
                          free_quote=D("1000"), fee_bps=10, slippage_bps=5)
    sides = [(i.symbol, i.side) for i in batch.intents]
    assert sides == [("BTCUSDT", Side.SELL), ("ETHUSDT", Side.BUY)]
    assert batch.intents[0].quantity == D("0.123"), "rounded down to the lot step"
    assert [i.leg for i in batch.intents] == [0, 1]


def test_dust_is_reported_not_sent():
    """A leg worth at least the minimum order value whose rounded quantity falls below it is dust: journaled, never
    sent (5.005 USDT of ETH at 2000 → 0.0024987 → 0.002 at step 0.001 → 4 USDT < 5)."""
    batch = build_intents(cycle_key="c", plan_hash="h", targets={Symbol("ETHUSDT"): 0.005005}, holdings={},
                          prices=PRICES, specs=SPECS, free_quote=D("1000"), fee_bps=10, slippage_bps=5)
    assert batch.intents == () and [(d.symbol, d.side) for d in batch.dust] == [("ETHUSDT", Side.BUY)]


def test_a_leftover_below_the_minimum_order_value_is_no_order_at_all():
    """2 USDT of SOL (minimum 5): no leg, so nothing for the cost-benefit gate to weigh and nothing journaled."""
    batch = build_intents(cycle_key="c", plan_hash="h", targets={}, holdings={Symbol("SOLUSDT"): D("0.1")},
                          prices=PRICES, specs=SPECS, free_quote=D("0"), fee_bps=10, slippage_bps=5)
    assert batch.intents == () and batch.dust == ()


def test_missing_price_is_an_error():
    with pytest.raises(ValueError, match="SOLUSDT"):
        build_intents(cycle_key="c", plan_hash="h", targets={Symbol("SOLUSDT"): 0.5}, holdings={},
                      prices={}, specs=SPECS, free_quote=D("100"), fee_bps=10, slippage_bps=5)


weights = st.fixed_dictionaries({}, optional={s: st.floats(0, 0.5) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")})
qty = st.decimals(min_value=0, max_value=3, places=6, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(targets=weights, cash=st.decimals(0, 100_000, places=2, allow_nan=False, allow_infinity=False),
       hb=qty, he=qty, hs=st.decimals(0, 500, places=3, allow_nan=False, allow_infinity=False))
def test_cash_never_negative_and_sells_never_exceed_holdings(targets, cash, hb, he, hs):
    holdings = {Symbol("BTCUSDT"): hb, Symbol("ETHUSDT"): he, Symbol("SOLUSDT"): hs}
    batch = build_intents(cycle_key="c", plan_hash="h", targets=targets, holdings=holdings, prices=PRICES,
                          specs=SPECS, free_quote=cash, fee_bps=10, slippage_bps=5)
    rate = D("0.0015")
    money = cash
    for i in batch.intents:
        if i.side is Side.SELL:
            assert i.quantity <= holdings[i.symbol]
            money += i.quantity * PRICES[i.symbol] * (1 - rate)
        else:
            money -= i.quantity * PRICES[i.symbol] * (1 + rate)
        assert i.quantity == SPECS[i.symbol].floor_qty(i.quantity) and i.quantity > 0
    assert money >= 0
    seen = [i.side for i in batch.intents]
    assert seen == sorted(seen, key=lambda s: s is Side.BUY), "sells come before buys"
    again = build_intents(cycle_key="c", plan_hash="h", targets=dict(reversed(list(targets.items()))),
                          holdings=dict(reversed(list(holdings.items()))), prices=PRICES, specs=SPECS,
                          free_quote=cash, fee_bps=10, slippage_bps=5)
    assert again == batch, "independent of mapping order"
