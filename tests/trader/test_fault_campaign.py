"""Issue 13's campaign: the real `aura trade` process against the real `aura exchange-sim` process, a hostile venue
and SIGKILLs together, day after day. Every account read answers empty with probability 0.3; order answers carry
absurd fill prices; a ticker read comes back x1e6; HTML pages arrive with status 200; the venue rate-limits and
bans; orders reach the engine late while the trader is killed in flight; the snapshots disk cannot be written; one
symbol's cache file is unreadable. Asserted from the simulator's books and the journal after every day: 0 double
fills, 0 lost orders, 0 phantom kill-switch trips, 0 dropped sells, journal = venue to the last unit.
The long version is bench/trader/crash_campaign.py --hostile."""

from __future__ import annotations

import time
from decimal import Decimal

import yaml

from aura_common.adapters.parquet_store import candle_path
from harness.caches import DAY
from harness.campaign import (
    CampaignStats,
    check_invariants,
    double_fills_and_lost_orders,
    hostile_day_faults,
    hostile_invariants,
    run_day,
)

INITIAL = {"USDT": Decimal(10000)}


def test_a_hostile_venue_and_kills_never_double_fill_lose_orders_trip_or_drop_sells(trader_env, cache):
    env, stats = trader_env, CampaignStats()
    data_dir, symbols = cache
    # the snapshots disk cannot be written (its parent is a file), for the whole campaign
    blocker = env.tmp / "no-disk"
    blocker.write_text("not a directory")
    cfg = yaml.safe_load(env.config.read_text())
    cfg["paths"]["snapshots_dir"] = str(blocker / "snapshots")
    env.config.write_text(yaml.safe_dump(cfg))
    # one symbol's cache file is unreadable (the simulator loaded it at start; the trader reads it every cycle)
    unreadable = candle_path(data_dir, "1d", symbols[2])
    unreadable.write_bytes(unreadable.read_bytes()[:100])

    plans = [["order_sent:1", "fill_recording:1"], ["order_in_flight:1"], ["order_acked:1"], ["order_sent:2"]]
    fired_total: dict[str, int] = {}
    for day, plan in enumerate(plans):
        env.sim.clear_faults()
        env.sim.faults(*hostile_day_faults(day, seed=day))
        run_day(env, plan, stats, max_clean_runs=8)
        time.sleep(5.5)  # anything still on its way to the engine has landed or been refused
        for f in env.sim.get("/admin/faults")["faults"]:
            fired_total[f["kind"]] = fired_total.get(f["kind"], 0) + f["fired"]
        doubles, lost = double_fills_and_lost_orders(env)
        assert doubles == {} and lost == [], (doubles, lost)
        check_invariants(env, INITIAL, expected_days=day + 1)
        hostile_invariants(env)
        env.sim.step(DAY)
    figures = check_invariants(env, INITIAL, expected_days=len(plans))
    for kind in ("empty_balances", "bad_price", "http_error", "arrival_delay"):
        assert fired_total.get(kind, 0) >= 1, (kind, fired_total)
    assert stats.kills >= 3 and figures["venue_orders"] >= 4, (stats, figures)
    print(f"hostile campaign: {stats.kills} kills over {stats.days} days, faults fired {fired_total}, "
          f"{figures['venue_orders']} exchange orders: 0 double fills, 0 lost orders, 0 phantom trips, "
          f"0 dropped sells")
