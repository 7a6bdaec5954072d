"""The journal calls the trader added: resend only from UNKNOWN (journaled), orders missing fills, running cycles,
and the snapshot hook that runs before the copy is published (a crash there leaves the previous copy intact)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aura_common.adapters.clock import SteppedClock
from aura_common.adapters.journal import CycleStatus, Journal, JournalConflictError, JournalReader
from aura_common.domain import OrderStatus, Side

T0 = 1_700_000_000_000
CID = "aura-" + "a" * 26


@pytest.fixture
def journal(tmp_path):
    clock = SteppedClock(T0)
    j = Journal.open(tmp_path / "j.sqlite", clock)
    j.begin_cycle("c1", "plan")
    j.record_intent("c1", CID, "BTCUSDT", Side.BUY, Decimal("0.5"))
    yield j, clock
    j.close()


def test_resend_is_allowed_only_for_an_unknown_order_and_is_journaled(journal):
    j, clock = journal
    with pytest.raises(JournalConflictError, match="cannot be resent"):
        j.mark_order_resend(CID, "not found")  # PENDING: it was never sent, send it normally
    j.mark_order_sent(CID)
    clock.advance(5)
    order = j.mark_order_resend(CID, "not found after the lag window")
    assert order.status is OrderStatus.UNKNOWN and order.sent_ms == T0 + 5000
    (ev,) = j.events("ORDER_RESEND")
    assert ev.fields == {"client_order_id": CID, "reason": "not found after the lag window"} and ev.cycle_key == "c1"
    j.update_order(CID, OrderStatus.FILLED, exchange_order_id="7", filled_qty=Decimal("0.5"))
    with pytest.raises(JournalConflictError):
        j.mark_order_resend(CID, "again")  # an order that exists in any state is never resent


@pytest.mark.parametrize("fills, missing", [((), True), (("0.2",), True), (("0.2", "0.3"), False)])
def test_orders_missing_fills(journal, fills, missing):
    j, _ = journal
    j.mark_order_sent(CID)
    j.update_order(CID, OrderStatus.FILLED, exchange_order_id="7", filled_qty=Decimal("0.5"))
    for i, q in enumerate(fills):
        j.record_fill("BTCUSDT", str(i), Side.BUY, Decimal(q), Decimal(100), Decimal(0), "USDT", T0,
                      client_order_id=CID, exchange_order_id="7")
    assert [o.client_order_id for o in j.orders_missing_fills()] == ([CID] if missing else [])


def test_running_cycles_lists_only_unfinished_ones(journal):
    j, _ = journal
    j.begin_cycle("c2")
    j.finish_cycle("c2", CycleStatus.DONE)
    assert [c.cycle_key for c in j.running_cycles()] == ["c1"]


def test_a_crash_before_publishing_keeps_the_previous_snapshot(journal, tmp_path):
    j, clock = journal
    dest = tmp_path / "snaps"
    j.snapshot(dest)
    j.begin_cycle("c2")

    class Boom(Exception):
        pass

    def die():
        raise Boom

    clock.advance(1)
    with pytest.raises(Boom):
        j.snapshot(dest, before_publish=die)
    reader = JournalReader.latest(dest)
    try:
        assert reader.cycle("c2") is None and reader.cycle("c1") is not None  # the old copy, whole
    finally:
        reader.close()


def test_last_cycle_is_the_last_rebalance_unless_risk_cycles_are_asked_for(journal):
    j, clock = journal
    clock.advance(1)
    j.begin_cycle("risk-2023-11-15", "risk")
    assert j.last_cycle().cycle_key == "c1"
    assert j.last_cycle(include_risk=True).cycle_key == "risk-2023-11-15"


def test_equity_curve_is_public_and_starts_at_since_inclusive(journal):
    j, clock = journal
    for equity in ("100", "110", "90"):
        j.record_equity(Decimal(equity), Decimal(0))
        clock.advance(60)
    assert [(e.ts_ms, e.equity) for e in j.equity_curve()] == [
        (T0, Decimal(100)), (T0 + 60_000, Decimal(110)), (T0 + 120_000, Decimal(90))]
    assert [e.equity for e in j.equity_curve(T0 + 60_000)] == [Decimal(110), Decimal(90)]
    assert j.equity_curve(T0 + 120_001) == []
