"""The writer API on a real journal file: cycles, the order protocol, idempotent fills, snapshots of state,
the kill switch, config versions, events and transactions."""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aura_common.adapters.journal import (
    CycleStatus, JournalConflictError, JournalError, KillSwitchState, Position,
)
from aura_common.adapters.logs import register_secret
from aura_common.domain import OrderStatus, OrderType, Side

KEY = "2024-05-01T00:15Z"


def _intent(j, coid="c-1", qty="0.5", **kw):
    return j.record_intent(KEY, coid, kw.pop("symbol", "BTCUSDT"), kw.pop("side", Side.BUY), D(qty), **kw)


def test_cycle_begin_reenter_finish(journal, clock):
    c = journal.begin_cycle(KEY, config_version="v1")
    assert (c.status, c.attempts, c.plan_hash, c.started_ms) == (CycleStatus.RUNNING, 1, None, clock.now_ms())
    clock.advance(5)
    again = journal.begin_cycle(KEY, plan_hash="h1")  # a restart re-enters the same cycle
    assert (again.attempts, again.plan_hash, again.config_version, again.started_ms) == (2, "h1", "v1", c.started_ms)
    done = journal.finish_cycle(KEY, CycleStatus.DONE, detail={"orders": 2, "turnover": D("0.10")})
    assert (done.status, done.finished_ms, done.detail) == (CycleStatus.DONE, clock.now_ms(),
                                                            {"orders": 2, "turnover": "0.1"})
    assert journal.last_cycle() == done
    clock.advance(5)
    assert journal.finish_cycle(KEY, CycleStatus.DONE) == done  # the same outcome again: nothing rewritten
    with pytest.raises(JournalConflictError, match=f"cycle {KEY} already finished DONE"):
        journal.finish_cycle(KEY, CycleStatus.FAILED)
    with pytest.raises(JournalError, match=f"order c-9: cycle {KEY} is DONE, not RUNNING"):
        journal.record_intent(KEY, "c-9", "BTCUSDT", Side.BUY, D(1))
    with pytest.raises(ValueError, match="RUNNING"):
        journal.finish_cycle(KEY, CycleStatus.RUNNING)
    with pytest.raises(JournalError, match="never begun"):
        journal.finish_cycle("2024-05-02T00:15Z", CycleStatus.DONE)


def test_order_protocol_intent_sent_acknowledged_filled(journal, clock):
    journal.begin_cycle(KEY)
    o = _intent(journal, ref_price=D("60000"), reason="rebalance")
    assert (o.status, o.sent_ms, o.filled_qty) == (OrderStatus.PENDING, None, D(0))
    intent = journal.intent("c-1")
    assert (intent.ref_price, intent.reason, intent.order_type, intent.qty) == (D("60000"), "rebalance",
                                                                                OrderType.MARKET, D("0.5"))
    clock.advance(1)
    o = journal.mark_order_sent("c-1")
    assert (o.status, o.sent_ms) == (OrderStatus.UNKNOWN, clock.now_ms())
    with pytest.raises(JournalConflictError, match="c-1 was already sent"):
        journal.mark_order_sent("c-1")  # never resend blindly
    o = journal.update_order("c-1", OrderStatus.NEW, exchange_order_id="77", venue_ms=1234)
    assert (o.status, o.exchange_order_id, o.venue_update_ms) == (OrderStatus.NEW, "77", 1234)
    assert journal.mark_order_unknown("c-1", "cancel timed out").status is OrderStatus.NEW
    o = journal.update_order("c-1", OrderStatus.FILLED, filled_qty=D("0.5"), avg_price=D("60010"))
    assert (o.status, o.filled_qty, o.avg_price, o.exchange_order_id) == (OrderStatus.FILLED, D("0.5"),
                                                                          D("60010"), "77")
    stale = journal.update_order("c-1", OrderStatus.PARTIALLY_FILLED, filled_qty=D("0.2"))
    assert stale == o and journal.order("c-1") == o
    with pytest.raises(JournalConflictError, match="c-1.*CANCELED contradicts"):
        journal.update_order("c-1", OrderStatus.CANCELED)
    assert journal.open_orders() == []


def test_the_request_timestamp_and_recv_window_are_journaled_with_the_send_and_each_resend(journal, clock):
    journal.begin_cycle(KEY)
    _intent(journal)
    o = journal.mark_order_sent("c-1", request_ts_ms=1_700_000_000_123, recv_window_ms=5000)
    assert (o.status, o.request_ts_ms, o.recv_window_ms) == (OrderStatus.UNKNOWN, 1_700_000_000_123, 5000)
    assert journal.mark_order_unknown("c-1", "timeout").request_ts_ms == 1_700_000_000_123
    o = journal.mark_order_resend("c-1", "not found", request_ts_ms=1_700_000_009_000, recv_window_ms=3000)
    assert (o.request_ts_ms, o.recv_window_ms) == (1_700_000_009_000, 3000)  # the latest request decides
    _intent(journal, "c-2")
    assert journal.mark_order_sent("c-2").request_ts_ms is None  # a caller that does not say: unknown


def test_open_orders_are_every_non_terminal_order(journal):
    journal.begin_cycle(KEY)
    for coid in ("a-pending", "b-unknown", "c-new", "d-filled", "e-skipped"):
        _intent(journal, coid)
    journal.mark_order_sent("b-unknown")
    journal.mark_order_unknown("b-unknown", "timeout")
    journal.mark_order_sent("c-new")
    journal.update_order("c-new", OrderStatus.NEW, exchange_order_id="1")
    journal.mark_order_sent("d-filled")
    journal.update_order("d-filled", OrderStatus.FILLED, filled_qty=D("0.5"))
    journal.update_order("e-skipped", OrderStatus.SKIPPED, reason="dust")
    assert [(o.client_order_id, o.status) for o in journal.open_orders()] == [
        ("a-pending", OrderStatus.PENDING), ("b-unknown", OrderStatus.UNKNOWN), ("c-new", OrderStatus.NEW)]
    assert journal.order("b-unknown").reason == "timeout"
    assert len(journal.orders_of_cycle(KEY)) == 5


def test_intent_is_idempotent_and_conflicts_are_refused(journal):
    journal.begin_cycle(KEY)
    first = _intent(journal, order_type=OrderType.LIMIT, limit_price=D("59000.0"))
    assert _intent(journal, order_type=OrderType.LIMIT, limit_price=D("59000")) == first  # same intent again
    with pytest.raises(JournalConflictError, match="order c-1 is already journaled"):
        _intent(journal, qty="0.6", order_type=OrderType.LIMIT, limit_price=D("59000"))
    with pytest.raises(ValueError, match="order c-2: quantity must be positive"):
        _intent(journal, "c-2", qty="0")
    with pytest.raises(ValueError, match="LIMIT order needs a limit price"):
        _intent(journal, "c-2", order_type=OrderType.LIMIT)
    with pytest.raises(ValueError, match="client order id"):
        _intent(journal, "bad id with spaces")
    with pytest.raises(JournalError, match="cycle nope was never begun"):
        journal.record_intent("nope", "c-3", "BTCUSDT", Side.BUY, D(1))
    with pytest.raises(TypeError, match="qty must be a Decimal"):
        journal.record_intent(KEY, "c-4", "BTCUSDT", Side.BUY, 0.5)
    assert journal.order("c-2") is None and journal.order("c-3") is None


def test_fills_are_idempotent_by_symbol_and_trade_id(journal):
    journal.begin_cycle(KEY)
    _intent(journal)
    args = ("BTCUSDT", "9001", Side.BUY, D("0.2"), D("60010.50"), D("0.0002"), "BTC", 1000)
    assert journal.record_fill(*args, client_order_id="c-1", exchange_order_id="77") is True
    assert journal.record_fill(*args, client_order_id="c-1", exchange_order_id="77") is False
    assert journal.record_fill("ETHUSDT", "9001", Side.SELL, D(1), D(3000), D("3"), "USDT", 999) is True
    with pytest.raises(JournalConflictError, match="fill BTCUSDT/9001"):
        journal.record_fill("BTCUSDT", "9001", Side.BUY, D("0.3"), D("60010.5"), D("0.0002"), "BTC", 1000,
                            client_order_id="c-1", exchange_order_id="77")
    with pytest.raises(JournalError, match="order nope is not in the journal"):
        journal.record_fill("BTCUSDT", "9002", Side.BUY, D(1), D(1), D(0), "BTC", 1, client_order_id="nope")
    btc = journal.fills("BTCUSDT")
    assert [(f.trade_id, f.qty, f.price, f.client_order_id) for f in btc] == [("9001", D("0.2"), D("60010.5"), "c-1")]
    assert [f.symbol for f in journal.fills()] == ["ETHUSDT", "BTCUSDT"]  # venue-time order
    assert journal.fills(client_order_id="c-1") == btc


def test_positions_equity_and_drawdown(journal, clock):
    journal.begin_cycle(KEY)
    s = journal.record_positions([Position("BTCUSDT", D("0.5"), D("60000")), Position("ETHUSDT", D(2))], "sync", KEY)
    assert [p.symbol for p in s.positions] == ["BTCUSDT", "ETHUSDT"] and s.cycle_key == KEY
    clock.advance(60)
    flat = journal.record_positions([], "sync")
    assert journal.latest_positions() == flat and flat.positions == ()
    with pytest.raises(ValueError, match="twice"):
        journal.record_positions([Position("X", D(1)), Position("X", D(2))], "sync")
    assert journal.record_equity(D("10000"), D("10000")).peak == D("10000")
    assert journal.record_equity(D("12000"), D("1000")).peak == D("12000")
    e = journal.record_equity(D("9000"), D("1000"))
    assert (e.peak, e.drawdown_pct) == (D("12000"), D("25"))
    assert journal.latest_equity() == e


def test_kill_switch_trip_reset_history(journal, clock):
    assert journal.kill_switch().state is KillSwitchState.ARMED
    tripped = journal.trip_kill_switch("drawdown 21% > 20%")
    t0 = clock.now_ms()
    clock.advance(10)
    assert journal.trip_kill_switch("again") == tripped  # keeps the first trip's time and reason
    assert (tripped.state, tripped.tripped_ms, tripped.reason) == (KillSwitchState.TRIPPED, t0, "drawdown 21% > 20%")
    with pytest.raises(ValueError, match="needs a reason"):
        journal.reset_kill_switch("  ", "ops")
    armed = journal.reset_kill_switch("reviewed, market calm", "alice")
    assert (armed.state, armed.tripped_ms, armed.reason) == (KillSwitchState.ARMED, None, None)
    hist = journal.kill_switch_history()
    assert [(h.action, h.reason, h.actor, h.ts_ms) for h in hist] == [
        ("trip", "drawdown 21% > 20%", "trader", t0), ("reset", "reviewed, market calm", "alice", t0 + 10_000)]


def test_config_versions_recorded_on_change_without_secrets(journal):
    register_secret("live-api-secret-xyz")
    assert journal.record_config_version("aaa", {"execution": {"mode": "paper"}, "oops": "live-api-secret-xyz"})
    assert not journal.record_config_version("aaa", {"execution": {"mode": "paper"}})
    assert journal.record_config_version("bbb", {"execution": {"mode": "live"}})
    assert journal.current_config_version().content == {"execution": {"mode": "live"}}
    rows = journal._conn.execute("SELECT version, content FROM config_versions ORDER BY change_id").fetchall()
    assert [r[0] for r in rows] == ["aaa", "bbb"] and "live-api-secret-xyz" not in rows[0][1]


def test_events_append_only_with_json_fields(journal):
    journal.begin_cycle(KEY)
    a = journal.append_event("RISK_GATE", {"gate": "drawdown", "value": D("0.21")}, cycle_key=KEY)
    b = journal.append_event("NOTE")
    assert b > a
    assert [(e.tag, e.fields, e.cycle_key) for e in journal.events("RISK_GATE")] == [
        ("RISK_GATE", {"gate": "drawdown", "value": "0.21"}, KEY)]
    assert [e.tag for e in journal.events()] == ["RISK_GATE", "NOTE"]


def test_transaction_groups_calls_and_rolls_back_whole(journal):
    journal.begin_cycle(KEY)
    with pytest.raises(RuntimeError):
        with journal.transaction():
            _intent(journal, "c-1")
            journal.record_fill("BTCUSDT", "1", Side.BUY, D(1), D(1), D(0), "BTC", 1, client_order_id="c-1")
            raise RuntimeError("crash between calls")
    assert journal.order("c-1") is None and journal.fills() == []
    with journal.transaction():
        _intent(journal, "c-1")
        with pytest.raises(JournalConflictError):
            with journal.transaction():  # a nested block is a savepoint: only it rolls back
                journal.append_event("INNER")
                journal.mark_order_sent("c-1")
                journal.mark_order_sent("c-1")
    assert journal.order("c-1").status is OrderStatus.PENDING and journal.events("INNER") == []
    with pytest.raises(JournalError, match="inside a transaction"):
        with journal.transaction():
            journal.snapshot(journal.path.parent / "snaps")


def test_closed_journal_refuses_writes(journal_path, clock):
    from aura_common.adapters.journal import Journal
    j = Journal.open(journal_path, clock)
    j.close()
    with pytest.raises(JournalError, match="closed"):
        j.append_event("X")
    j.close()  # idempotent


amounts = st.builds(lambda digits, exp: D((0, tuple(int(c) for c in str(digits)), exp)),
                    st.integers(1, 10**24 - 1), st.integers(-24, 8))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(qty=amounts, price=amounts, fee=amounts)
def test_amounts_round_trip_exactly_through_the_file(journal, qty, price, fee):
    journal.begin_cycle(KEY)
    n = len(journal.fills()) + 1  # one journal for all examples: unique ids per example
    journal.record_intent(KEY, f"h-{n}", "BTCUSDT", Side.BUY, qty, ref_price=price)
    journal.record_fill("BTCUSDT", str(n), Side.BUY, qty, price, fee, "BTC", n, client_order_id=f"h-{n}")
    (f,) = journal.fills(client_order_id=f"h-{n}")
    assert (f.qty, f.price, f.fee) == (qty, price, fee)
    e = journal.record_equity(price, fee, peak=price)
    assert (e.equity, e.cash) == (price, fee)
    stored = journal._conn.execute("SELECT typeof(qty), typeof(price) FROM fills WHERE trade_id = ?",
                                   (str(n),)).fetchone()
    assert stored == ("text", "text")


def test_foreign_keys_are_enforced(journal):
    with pytest.raises(sqlite3.IntegrityError):
        journal._conn.execute("INSERT INTO orders (client_order_id, status, updated_ms) VALUES ('x', 'NEW', 1)")
