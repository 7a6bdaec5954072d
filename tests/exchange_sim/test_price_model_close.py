"""The close price model (``--price-model close``, the parity model of docs/parity.md): the price at time t is the
close of the last candle closed at or before t, and a MARKET order fills there ∓ ``--slippage-bps`` (on the tick
grid), fee on the received asset - the backtester's fill model, through real ccxt."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from aura_common.core.panel import Panel
from aura_exchange_sim.cli import build, configure
from aura_exchange_sim.market import MarketData

from .conftest import DAY, HOUR, START, client, make_sim

CLOSES = (100.0, 110.0, float("nan"), 90.0)  # day 2 is a gap


def close_market(model: str = "close") -> MarketData:
    n = len(CLOSES)
    times = START + np.arange(n, dtype=np.int64) * DAY
    c = np.array(CLOSES).reshape(n, 1)
    o = np.array([95.0, 100.0, float("nan"), 92.0]).reshape(n, 1)
    h, low = np.fmax(o, c) * 1.1, np.fmin(o, c) * 0.9
    return MarketData(Panel.from_arrays(("BTCUSDT",), times, DAY, open=o, high=h, low=low, close=c,
                                        volume=np.full((n, 1), 24.0), quote_volume=np.full((n, 1), 2400.0)),
                      price_model=model)


@pytest.mark.parametrize("t,want", [
    (START - 1, None),
    (START, None),  # the first candle is still forming: no close yet
    (START + 12 * HOUR, None),
    (START + DAY, 100.0),  # 00:00 of day 1: day 0 just closed
    (START + DAY + 23 * HOUR, 100.0),  # a step function: nothing moves inside the day
    (START + 2 * DAY, 110.0),
    (START + 3 * DAY, None),  # the gap day closed without a price: market closed
    (START + 4 * DAY, 90.0),
    (START + 40 * DAY, 90.0),  # past the last candle: frozen at the last close
])
def test_price_is_the_last_close(t, want):
    assert close_market().price("BTCUSDT", t) == want


def test_listed_once_the_first_candle_closed_and_the_path_model_is_unchanged():
    m, path = close_market(), close_market("path")
    assert not m.listed("BTCUSDT", START + DAY - 1) and m.listed("BTCUSDT", START + DAY)
    assert path.listed("BTCUSDT", START) and path.price("BTCUSDT", START) == 95.0


def test_extremes_average_and_ticker_follow_the_steps():
    m = close_market()
    assert m.extremes("BTCUSDT", START + DAY, START + DAY + 5 * HOUR) == (100.0, 100.0)
    assert m.extremes("BTCUSDT", START + DAY + HOUR, START + 2 * DAY) == (100.0, 110.0)
    assert m.avg_price("BTCUSDT", START + 2 * DAY, 5) == Decimal("110.00000000")  # not the minutes before
    assert Decimal(m.ticker_24h("BTCUSDT", START + 2 * DAY, 5.0, Decimal(1))["lastPrice"]) == Decimal(110)


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="price model"):
        close_market("mid")


def test_cli_flag_builds_the_model(tmp_path):
    import argparse
    parser = argparse.ArgumentParser()
    configure(parser)
    sim = build(parser.parse_args(["--price-model", "close", "--start", str(START)]), START)
    assert sim.market.price_model == "close"
    with pytest.raises(SystemExit):
        parser.parse_args(["--price-model", "mid"])


@pytest.mark.parametrize("slippage", [Decimal(0), Decimal(5), Decimal("12.5")])
def test_market_orders_fill_at_the_close_against_the_taker(sim_factory, slippage):
    """At 00:00 UTC of a day a BUY fills at close × (1 + slippage) rounded up to the tick, a SELL at close ×
    (1 - slippage) rounded down; the BUY pays its fee in the base asset, the SELL in the quote (Binance)."""
    market = MarketData(__import__("aura_common.core.synthetic", fromlist=["synthetic_panel"]).synthetic_panel(
        4, 120, 7, start_ms=START, late_listing_fraction=0.0), price_model="close")
    now = START + 100 * DAY
    srv = sim_factory(market=market, start_ms=now, slippage_bps=slippage)
    ex = client(srv.url)
    close = float(market.panel.close[99, market.panel.symbols.index("BTCUSDT")])  # the candle that closed at now
    spec = market.specs["BTCUSDT"]
    assert Decimal(ex.fetch_ticker("BTC/USDT")["info"]["lastPrice"]) == spec.round_price(close)
    buy = ex.create_order("BTC/USDT", "market", "buy", 0.02)
    sell = ex.create_order("BTC/USDT", "market", "sell", 0.01)
    bps = float(slippage) / 1e4
    assert Decimal(buy["info"]["fills"][0]["price"]) == spec.round_price(close * (1 + bps), up=True)
    assert Decimal(sell["info"]["fills"][0]["price"]) == spec.round_price(close * (1 - bps), up=False)
    for order, want_bps in ((buy, bps), (sell, -bps)):
        px = float(order["info"]["fills"][0]["price"])
        assert math.isclose(px, close * (1 + want_bps), rel_tol=2e-5)  # the tick grid: ~6 significant digits
    assert buy["info"]["fills"][0]["commissionAsset"] == "BTC"
    assert sell["info"]["fills"][0]["commissionAsset"] == "USDT"


def test_make_sim_default_is_the_path_model():
    assert make_sim().market.price_model == "path"
