"""The simulator's fee model is Binance's, through real ccxt: commission on the RECEIVED asset (BUY -> base,
SELL -> quote), per-symbol maker/taker rates, the BNB discount while the BNB balance lasts, and the rates reported
by ``GET /api/v3/account/commission`` (spec: "Commission is charged on the received asset")."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from aura_common.core.synthetic import synthetic_panel
from aura_exchange_sim.market import MarketData

from .conftest import START, client

SYM = "BTC/USDT"


def _with_bnb() -> MarketData:
    """The synthetic market with its second symbol renamed BNBUSDT (so BNB has a USDT price)."""
    p = synthetic_panel(4, 120, 7, start_ms=START, late_listing_fraction=0.0)
    order = [1, 0, 2, 3]
    cols = {f: getattr(p, f)[:, order] for f in ("open", "high", "low", "close", "volume", "quote_volume")}
    return MarketData(dataclasses.replace(p, symbols=("BNBUSDT", "BTCUSDT", p.symbols[2], p.symbols[3]), **cols))


def _fee(order) -> tuple[str, Decimal]:
    (asset,) = {f["commissionAsset"] for f in order["info"]["fills"]}
    return asset, sum((Decimal(f["commission"]) for f in order["info"]["fills"]), Decimal(0))


def test_buy_pays_in_base_sell_pays_in_quote(server):
    ex = client(server.url)
    buy = ex.create_order(SYM, "market", "buy", 0.02)
    assert _fee(buy) == ("BTC", Decimal("0.00002000"))  # 0.02 x 10 bps
    sell = ex.create_order(SYM, "market", "sell", 0.01)
    asset, fee = _fee(sell)
    assert asset == "USDT" and fee == (Decimal(str(sell["cost"])) * Decimal("0.001")).quantize(Decimal("1e-8"))
    bal = ex.fetch_balance()
    assert Decimal(str(bal["BTC"]["total"])) == Decimal(1) + Decimal("0.02") - Decimal("0.00002") - Decimal("0.01")


def test_per_symbol_rates_and_maker_rate(sim_factory):
    srv = sim_factory(symbol_fees={"BTCUSDT": (Decimal("7.5"), Decimal(2))})
    ex = client(srv.url)
    assert _fee(ex.create_order(SYM, "market", "buy", 0.02)) == ("BTC", Decimal("0.000015"))  # 7.5 bps taker
    other = ex.load_markets() and [s for s in ex.symbols if s != SYM][0]
    o = ex.create_order(other, "market", "buy", float(ex.amount_to_precision(other, 50 / ex.fetch_ticker(other)["last"])))
    asset, fee = _fee(o)
    assert fee == (Decimal(str(o["filled"])) * Decimal("0.001")).quantize(Decimal("1e-8"))  # the account's 10 bps
    rates = ex.private_get_account_commission({"symbol": "BTCUSDT"})["standardCommission"]
    assert (rates["taker"], rates["maker"]) == ("0.00075000", "0.00020000")


def test_bnb_discount_pays_in_bnb_until_it_runs_out(sim_factory):
    market = _with_bnb()
    probe = sim_factory(market=market)
    now = probe.sim.clock.now_ms()
    bnb_px, btc_px = market.price("BNBUSDT", now), market.price("BTCUSDT", now)
    # enough BNB for the small order's discounted fee (twice over), far too little for the big one's
    bnb = Decimal(repr(round(2 * 0.001 * btc_px * 0.001 * 0.75 / bnb_px, 8)))
    srv = sim_factory(market=market, balances={"USDT": 10_000, "BNB": str(bnb)}, bnb_discount=True)
    ex = client(srv.url)
    small = ex.create_order(SYM, "market", "buy", 0.001)
    asset, fee = _fee(small)
    assert asset == "BNB"
    assert float(fee) == pytest.approx(small["cost"] * 0.001 * 0.75 / bnb_px, rel=1e-4)  # 25 % off, in BNB
    assert Decimal(str(ex.fetch_balance()["BTC"]["total"])) == Decimal("0.001")  # the BTC arrives whole
    big = ex.create_order(SYM, "market", "buy", 0.5)  # its BNB fee exceeds what is left: the received asset pays
    assert _fee(big) == ("BTC", Decimal("0.0005"))
    bal = ex.fetch_balance()
    assert Decimal(str(bal["BNB"]["total"])) == bnb - fee
    assert ex.private_get_account_commission({"symbol": "BTCUSDT"})["discount"]["enabledForAccount"] is True


@pytest.mark.parametrize("text, expected", [
    ("", {}),
    ("BTCUSDT=7.5", {"BTCUSDT": (Decimal("7.5"), Decimal("7.5"))}),
    ("BTCUSDT=7.5/2, ETHUSDT=0", {"BTCUSDT": (Decimal("7.5"), Decimal(2)), "ETHUSDT": (Decimal(0), Decimal(0))}),
])
def test_symbol_fees_option(text, expected):
    from aura_exchange_sim.cli import parse_symbol_fees
    assert parse_symbol_fees(text) == expected


@pytest.mark.parametrize("text", ["BTCUSDT", "BTCUSDT=x", "BTCUSDT=nan", "BTCUSDT=-1", "BTCUSDT=1e9", "btc=1",
                                  "BTCUSDT=1/inf"])
def test_symbol_fees_option_refuses_nonsense_naming_the_flag(text):
    from aura_exchange_sim.cli import UsageError, parse_symbol_fees
    with pytest.raises(UsageError, match="--symbol-fees"):
        parse_symbol_fees(text)
