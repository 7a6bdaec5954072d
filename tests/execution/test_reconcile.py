"""Boot reconciliation decisions: table cases and properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core.reconcile import (
    JournalOrder,
    check_positions,
    missing_fills,
    plan_order_recovery,
    positions_from_fills,
)
from aura_common.domain import Fill, OrderReport, OrderStatus, Side

D = Decimal
CID = "aura-" + "a" * 26


def jo(cid=CID, status=OrderStatus.UNKNOWN, sent=1_000):
    return JournalOrder(cid, "BTCUSDT", Side.BUY, D("0.1"), status, sent)


def report(cid=CID, status=OrderStatus.FILLED, symbol="BTCUSDT"):
    return OrderReport(cid, symbol, Side.BUY, status, D("0.1"), D("0.1") if status is OrderStatus.FILLED else D(0))


@pytest.mark.parametrize(
    ("order", "lookup", "now", "expect"),
    [
        (jo(), report(), 1_500, "update"),  # found: adopt the venue's state
        (jo(), None, 1_500, "unknown"),  # not found inside the lag window: ask again later
        (jo(), None, 5_000, "resend"),  # not found after the lag window: never accepted
        (jo(status=OrderStatus.PENDING, sent=None), None, 1_001, "resend"),  # never sent
        (jo(status=OrderStatus.PENDING, sent=None), report(), 1_001, "update"),  # sent after all: adopt
    ],
)
def test_order_recovery_table(order, lookup, now, expect):
    plan = plan_order_recovery([order], {order.client_order_id: lookup}, [], now, lag_ms=3_000)
    got = {"update": plan.updates, "unknown": plan.still_unknown, "resend": plan.resendable}
    assert all(bool(v) == (k == expect) for k, v in got.items()), got


def sent_at(ts, window=5_000, sent=1_000):
    return JournalOrder(CID, "BTCUSDT", Side.BUY, D("0.1"), OrderStatus.UNKNOWN, sent, ts, window)


@pytest.mark.parametrize(
    ("order", "request_now", "expect"),
    [
        # the venue refuses the request after timestamp + recvWindow; an accepted order may hide for the lag (3 s)
        (sent_at(10_000), 17_999, "unknown"),  # could still land (or be hidden by the lag): ask again
        (sent_at(10_000), 18_000, "resend"),  # timestamp + recvWindow + lag passed: never accepted, never will be
        (sent_at(10_000, window=60_000), 60_000, "unknown"),  # the journaled recvWindow counts, not a default
        (sent_at(10_000), None, "unknown"),  # no request clock reading: never conclude
        # the journal's clock (now_ms, a stepped venue far ahead) does not shorten the request's window
        (sent_at(10_000, sent=0), 12_000, "unknown"),
    ],
)
def test_not_found_is_definitive_only_past_timestamp_plus_recv_window_plus_lag(order, request_now, expect):
    plan = plan_order_recovery([order], {CID: None}, [], 10**12, lag_ms=3_000, request_now_ms=request_now)
    assert (plan.resendable, plan.still_unknown) == (((CID,), ()) if expect == "resend" else ((), (CID,)))


def test_unknown_aura_orders_are_cancelled_foreign_ones_untouched():
    foreign = report("manual-order-1", OrderStatus.NEW)
    stray = report("aura-" + "b" * 26, OrderStatus.NEW)
    plan = plan_order_recovery([], {}, [foreign, stray], 0, 0)
    assert plan.cancel == (stray,)


def test_lookup_mismatch_is_an_error():
    with pytest.raises(ValueError, match="ETHUSDT"):
        plan_order_recovery([jo()], {CID: report(symbol="ETHUSDT")}, [], 0, 0)


def fill(tid, side=Side.BUY, qty="1", cid=None, oid="7", fee="0", fee_asset="USDT"):
    return Fill(tid, "BTCUSDT", side, D(qty), D("100"), D(fee), fee_asset, int(tid), cid, oid)


def test_missing_fills_are_ours_and_new_only():
    venue = [fill("1"), fill("2"), fill("3", oid="999")]
    out = missing_fills(venue, known_trade_ids=[("BTCUSDT", "1")], order_ids={"7": CID})
    assert [(f.trade_id, f.client_order_id) for f in out] == [("2", CID)]


def test_positions_and_check():
    fills = [fill("1", qty="2"), fill("2", side=Side.SELL, qty="0.5"), fill("3", qty="1", fee="0.001", fee_asset="BTC")]
    pos = positions_from_fills(fills, {"BTCUSDT": "BTC"})
    assert pos == {"BTC": D("2.499")}
    bad, extra = check_positions(pos, {"BTC": D("2")}, {"BTC": D("0.00001")})
    assert bad and "BTC" in bad[0]
    ok, extra = check_positions(pos, {"BTC": D("3"), "BNB": D("1")}, {})
    assert ok == () and extra == {"BTC": D("0.501"), "BNB": D("1")}


statuses = st.sampled_from([OrderStatus.PENDING, OrderStatus.UNKNOWN, OrderStatus.NEW])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(statuses, st.booleans(), st.integers(0, 10_000)), min_size=1, max_size=8), st.integers(0, 20_000))
def test_every_order_gets_exactly_one_outcome_and_found_orders_are_never_resent(rows, now):
    orders, lookups = [], {}
    for i, (status, found, sent) in enumerate(rows):
        cid = f"aura-{i:026d}"
        orders.append(JournalOrder(cid, "BTCUSDT", Side.BUY, D("1"), status, None if status is OrderStatus.PENDING else sent))
        lookups[cid] = report(cid, OrderStatus.NEW) if found else None
    plan = plan_order_recovery(orders, lookups, [], now, lag_ms=3_000)
    buckets = [r.client_order_id for r in plan.updates] + list(plan.still_unknown) + list(plan.resendable)
    assert sorted(buckets) == sorted(lookups)
    assert not set(plan.resendable) & {c for c, r in lookups.items() if r is not None}
    assert plan_order_recovery(list(reversed(orders)), lookups, [], now, 3_000) == plan, "order independent"
