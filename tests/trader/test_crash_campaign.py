"""The bounded crash campaign: the real `aura trade` process against the real `aura exchange-sim` process (stepped
clock, synthetic market replayed from a Parquet cache), SIGKILLed at every named point of the cycle, alone and
combined with the simulator's timeout-after-accept and status-lag faults, restarted until the day's cycle is done.
The invariants are checked from the simulator's ledger/orders and the journal after every day (harness/campaign.py).
The long version is bench/trader/crash_campaign.py. Late-arriving orders (the simulator's arrival_delay fault) with
kills while the request is in flight: the last test."""

from __future__ import annotations

from decimal import Decimal

from harness.caches import DAY
from harness.campaign import CampaignStats, check_invariants, double_fills_and_lost_orders, run_day

INITIAL = {"USDT": Decimal(10000)}


def test_kills_at_every_point_keep_journal_and_exchange_consistent(trader_env):
    env, stats = trader_env, CampaignStats()
    days = [
        # several kills inside one cycle: each restart resumes the SAME cycle with its journaled intents
        ["order_sent:2", "order_acked:1", "fill_recording:2"],
        ["intent_written:1", "snapshot_writing:1"],
        ["order_acked:2", "fill_recording:1"],
    ]
    for i, plan in enumerate(days):
        run_day(env, plan, stats)
        figures = check_invariants(env, INITIAL, expected_days=i + 1)
        env.sim.step(DAY)
    # day 4: the simulator accepts an order, then drops the connection (timeout-after-accept) and hides new orders
    # from lookups for a while (status lag); and a kill right after the venue processed the next send
    env.sim.faults({"kind": "timeout_after_accept", "endpoint": "POST /api/v3/order", "nth": 1, "count": 2,
                    "mode": "close"},
                   {"kind": "status_lag", "endpoint": "GET /api/v3/order", "lag_ms": 1000, "count": 4})
    run_day(env, ["order_sent:1"], stats)
    figures = check_invariants(env, INITIAL, expected_days=len(days) + 1)
    fired = {f["kind"]: f["fired"] for f in env.sim.get("/admin/faults")["faults"]}
    assert fired["drop_after_accept"] >= 1 and fired["status_lag"] >= 1, fired
    assert stats.kills >= 7, stats
    assert set(stats.kills_by_point) == {"intent_written", "order_sent", "order_acked", "fill_recording",
                                         "snapshot_writing"}, stats
    assert figures["venue_orders"] >= 8
    assert figures["restarts"] >= 5  # cycles re-entered after kills (journal attempts)
    print(f"crash campaign: {stats.kills} kills survived over {stats.days} days, {stats.runs} trader runs, "
          f"{figures['venue_orders']} exchange orders; by point {dict(stats.kills_by_point)}")


def test_late_arriving_orders_and_kills_in_flight_never_double_fill(trader_env):
    """Issue 13: every order reaches the engine 50 ms inside its 5 s recvWindow and the trader is SIGKILLed 0.1 s
    after sending it; the restarted trader finds "not found" (the order is still on its way) yet must not resend
    until the request clock passes timestamp + recvWindow + status lag."""
    import time

    from harness.journal import journal_rows_ro
    env, stats = trader_env, CampaignStats()
    recv_window = 5000  # the configured default (execution.recv_window_ms), sent with every order request
    env.sim.faults({"kind": "arrival_delay", "endpoint": "POST /api/v3/order", "delay_ms": recv_window - 50,
                    "count": 3},
                   {"kind": "status_lag", "endpoint": "GET /api/v3/order", "lag_ms": 1000, "count": 0})
    run_day(env, ["order_in_flight:1"] * 3, stats)
    assert stats.kills == 3, stats
    time.sleep(recv_window / 1000 + 1)  # anything still in flight has landed or been refused by now
    doubles, lost = double_fills_and_lost_orders(env)
    assert doubles == {} and lost == []
    figures = check_invariants(env, INITIAL, expected_days=1)
    fired = {f["kind"]: f["fired"] for f in env.sim.get("/admin/faults")["faults"]}
    assert fired["arrival_delay"] == 3, fired
    stamped = {c for (c,) in journal_rows_ro(env.journal, "SELECT client_order_id FROM orders WHERE request_ts_ms "
                                                          "IS NOT NULL AND recv_window_ms = ?", (recv_window,))}
    venue = {o["clientOrderId"] for o in env.sim.orders()}
    assert len(venue) == figures["venue_orders"] >= 4 and venue <= stamped  # each journaled its timestamp, window
    print(f"late arrivals: {stats.kills} kills in flight, {figures['venue_orders']} exchange orders, "
          f"{len(doubles)} double fills, {len(lost)} lost orders")
