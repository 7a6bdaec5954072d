"""--state: the simulator's own SQLite state survives its restart (in-process; the subprocess test kills -9)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aura_exchange_sim.app import Simulator
from aura_exchange_sim.clock import SimClock
from aura_exchange_sim.persistence import StateError

from .conftest import DAY, HOUR, START, make_market

BAL = {"USDT": Decimal(10_000), "BTC": Decimal(1)}


def new_sim(path, start=START + 100 * DAY) -> Simulator:
    return Simulator(make_market(), SimClock(start, 0), BAL, weight_limit=0, state_path=path)


def p(**kw) -> dict[str, str]:
    return {k: str(v) for k, v in {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", **kw}.items()}


def test_restore_rebuilds_books_and_resting_orders_keep_working(tmp_path):
    path = tmp_path / "s.sqlite"
    a = new_sim(path)
    now = a.clock.now_ms()
    a.engine.place(p(quantity="0.01", newClientOrderId="m1"), now, 1)
    mid = a.market.price("BTCUSDT", now)
    limit = a.market.specs["BTCUSDT"].round_price(mid * 0.999)
    rest = a.engine.place(p(type="LIMIT", quantity="0.02", price=limit, timeInForce="GTC", newClientOrderId="r1"),
                          now, 1)
    a.clock.step(HOUR)
    a.persist()
    b = new_sim(path, start=START)  # an earlier --start: the clock resumes at the saved time
    assert b.clock.now_ms() == a.clock.now_ms()
    assert b.engine.book.entries == a.engine.book.entries
    assert b.engine.balances() == a.engine.balances()
    assert set(b.engine.open) == {rest.order_id} and b.engine.open_by_cid == {"r1": rest.order_id}
    assert b.engine.find("BTCUSDT", None, "m1", b.clock.now_ms()).status == "FILLED"
    # the restored order still fills when the path crosses it
    t = next(t for t in range(now, now + 30 * DAY, HOUR) if b.market.price("BTCUSDT", t) < float(limit))
    b.clock.set(max(t, b.clock.now_ms()) + HOUR)
    b.engine.sync(b.clock.now_ms())
    assert b.engine.orders[rest.order_id].status == "FILLED"
    b.persist()
    c = new_sim(path)
    assert c.engine.orders[rest.order_id].status == "FILLED" and c.engine.open == {}
    assert c.engine.next_order_id == 3 and c.engine.balances() == b.engine.balances()


def test_reset_wipes_the_state(tmp_path):
    path = tmp_path / "s.sqlite"
    a = new_sim(path)
    a.engine.place(p(quantity="0.01"), a.clock.now_ms(), 1)
    a.persist()
    a.reset({"USDT": Decimal(5)})
    b = new_sim(path)
    assert b.engine.orders == {} and b.engine.balances() == [("USDT", Decimal(5), Decimal(0))]


def test_damaged_state_is_refused_with_the_file_named(tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError) as info:
        new_sim(path)
    assert str(path) in str(info.value)


def test_a_fill_found_by_a_read_is_saved_before_the_answer(tmp_path):
    from aura_exchange_sim.app import RunningServer

    from .conftest import client
    path = tmp_path / "s.sqlite"
    sim = new_sim(path)
    now = sim.clock.now_ms()
    mid = sim.market.price("BTCUSDT", now)
    limit = sim.market.specs["BTCUSDT"].round_price(mid * 0.999)
    with RunningServer(sim) as srv:
        ex = client(srv.url)
        o = ex.create_order("BTC/USDT", "limit", "buy", 0.02, float(limit))
        t = next(t for t in range(now, now + 30 * DAY, HOUR) if sim.market.price("BTCUSDT", t) < float(limit))
        sim.clock.set(t + HOUR)  # directly, not through the admin API: nothing is matched or saved yet
        assert ex.fetch_order(o["id"], "BTC/USDT")["status"] == "closed"  # the lazy match happens on this read
    again = new_sim(path)  # as if killed right after that answer
    assert again.engine.orders[int(o["id"])].status == "FILLED"
