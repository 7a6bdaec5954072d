"""The trader's books follow fees in whatever asset the venue charges them, against the simulator over HTTP (real
ccxt, real journal file): buy -> partial sell -> sell of the whole position -> restart -> boot reconciliation, with
Binance's default (a BUY pays its commission in the base asset) and with the BNB discount (every fill pays in BNB).
It ends with journal = venue to the last unit: the journal's position (fills net of base fees) equals the venue's
balance, the BNB the journal says was spent equals what the venue took, and no sell ever asked for more than the
free balance (Binance answers that with -2010)."""

from __future__ import annotations

import dataclasses
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from aura_common.adapters.clock import SteppedClock
from aura_common.adapters.journal import Journal
from aura_common.core.reconcile import open_lots, positions_from_fills
from aura_common.core.synthetic import synthetic_panel
from aura_common.domain import OrderStatus, Side, Symbol
from aura_exchange_sim.app import RunningServer, Simulator
from aura_exchange_sim.clock import SimClock
from aura_exchange_sim.market import MarketData
from aura_exchange_sim.pricing import EngineConfig
from aura_trader.boot import Boot
from aura_trader.positions import journal_fills

sys.path.insert(0, str(Path(__file__).parent))
from test_execution import CYCLE, NOW, START, admin, executor, intent  # noqa: E402

INITIAL_BNB = Decimal(5)


def _panel():
    """Four synthetic symbols, the second renamed BNBUSDT (so BNB has a USDT price for the discount)."""
    p = synthetic_panel(4, 130, 5, start_ms=START, late_listing_fraction=0.0)
    assert p.symbols[:2] == ("BTCUSDT", "SYN000USDT")
    order = [1, 0, 2, 3]
    cols = {f: getattr(p, f)[:, order] for f in ("open", "high", "low", "close", "volume", "quote_volume")}
    return dataclasses.replace(p, symbols=("BNBUSDT", "BTCUSDT", p.symbols[2], p.symbols[3]), **cols)


@pytest.fixture(params=["base", "bnb"])
def venue(request):
    bnb = request.param == "bnb"
    balances = {"USDT": Decimal(10_000), **({"BNB": INITIAL_BNB} if bnb else {})}
    config = EngineConfig(taker_bps=Decimal(10), maker_bps=Decimal(10), bnb_discount=bnb)
    srv = RunningServer(Simulator(MarketData(_panel()), SimClock(NOW, 0.0), balances, config,
                                  weight_limit=0)).start()
    yield request.param, srv
    srv.stop()


def _balances(srv) -> dict[str, Decimal]:
    rows = admin(srv, "/admin/balances")["balances"]
    return {a: Decimal(r["free"]) + Decimal(r["locked"]) for a, r in rows.items()}


def test_buy_partial_sell_full_sell_restart_reconcile_keeps_journal_equal_to_venue(venue, tmp_path):
    mode, srv = venue
    path = tmp_path / "j.sqlite"
    journal = Journal.open(path, SteppedClock(NOW))
    journal.begin_cycle(CYCLE, "plan")
    ex, _, broker = executor(srv, journal)
    specs = broker.markets()
    btc = specs[Symbol("BTCUSDT")]
    base_of = {str(s): spec.base_asset for s, spec in specs.items()}

    # 1. buy: the fee comes out of the received BTC (or out of BNB)
    buy = intent("BTCUSDT", Side.BUY, "0.0375")
    ex.record(CYCLE, [buy])
    assert ex.run(CYCLE).outcomes == {"FILLED": 1}
    fills = journal.fills(client_order_id=buy.client_order_id)
    assert {f.fee_asset for f in fills} == {"BTC" if mode == "base" else "BNB"}
    assert all(f.fee > 0 for f in fills)
    held = positions_from_fills(journal_fills(journal, base_of), base_of)["BTC"]
    assert held == _balances(srv)["BTC"]
    assert (held < Decimal("0.0375")) == (mode == "base")

    # 2. a partial sell, 3. the whole rest: sized from what the journal says we hold, floored to the lot step
    part = intent("BTCUSDT", Side.SELL, "0.01", leg=1)
    ex.record(CYCLE, [part])
    ex.run(CYCLE)
    assert journal.order(part.client_order_id).status is OrderStatus.FILLED
    rest = btc.floor_qty(positions_from_fills(journal_fills(journal, base_of), base_of)["BTC"])
    assert rest <= _balances(srv)["BTC"]  # never more than the venue holds
    whole = intent("BTCUSDT", Side.SELL, str(rest), leg=2)
    ex.record(CYCLE, [whole])
    assert ex.run(CYCLE).outcomes == {"FILLED": 3}
    assert journal.order(whole.client_order_id).status is OrderStatus.FILLED
    sell_fees = {f.fee_asset for c in (part, whole) for f in journal.fills(client_order_id=c.client_order_id)}
    assert sell_fees == {"USDT" if mode == "base" else "BNB"}
    journal.close()

    # 4. restart: a fresh journal handle and boot reconciliation against the venue
    journal = Journal.open(path, SteppedClock(NOW + 60_000))
    ex, _, broker = executor(srv, journal)
    report = Boot(broker, journal, ex, SteppedClock(NOW + 60_000), "USDT", ["BTCUSDT"], lag_ms=400,
                  wait=lambda s: None).reconcile()
    assert report.ok, report.reason

    # 5. journal = venue to the last unit
    venue_now = _balances(srv)
    mine = positions_from_fills(journal_fills(journal, base_of), base_of)
    assert mine.get("BTC", Decimal(0)) == venue_now.get("BTC", Decimal(0))  # the dust a base fee leaves, exactly
    lots = open_lots(journal_fills(journal, base_of), base_of)
    assert lots.get("BTCUSDT") is None or lots["BTCUSDT"].qty == venue_now["BTC"]
    bnb_fees = sum((f.fee for f in journal.fills() if f.fee_asset == "BNB"), Decimal(0))
    if mode == "bnb":
        assert bnb_fees > 0 and venue_now["BNB"] == INITIAL_BNB - bnb_fees
        assert venue_now.get("BTC", Decimal(0)) == 0  # every fee went to BNB: the position sold out exactly
    else:
        assert bnb_fees == 0
    quote_paid = sum((f.qty * f.price for f in journal.fills() if f.side is Side.BUY), Decimal(0))
    quote_got = sum((f.qty * f.price - (f.fee if f.fee_asset == "USDT" else 0) for f in journal.fills()
                     if f.side is Side.SELL), Decimal(0))
    assert venue_now["USDT"] == Decimal(10_000) - quote_paid + quote_got
    assert admin(srv, "/admin/ledger?kind=reject")["entries"] == []  # no -2010 (or any other) rejection
    journal.close()


def test_the_simulator_reports_the_account_commission_through_ccxt(venue):
    mode, srv = venue
    from aura_common.adapters.exchange import make_binance
    from aura_exchange_sim.app import DEFAULT_API_KEY, DEFAULT_API_SECRET
    ex = make_binance(srv.url, DEFAULT_API_KEY, DEFAULT_API_SECRET, timeout_seconds=5, enable_rate_limit=False)
    got = ex.private_get_account_commission({"symbol": "BTCUSDT"})
    assert got["symbol"] == "BTCUSDT"
    assert got["standardCommission"]["taker"] == "0.00100000"
    assert got["discount"]["enabledForAccount"] is (mode == "bnb") and got["discount"]["discountAsset"] == "BNB"
    assert np.isclose(float(got["discount"]["discount"]), 0.75)
