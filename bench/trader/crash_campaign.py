"""The LONG crash campaign (on demand; the bounded one runs in the suite: tests/trader/test_crash_campaign.py).

    .venv/bin/python bench/trader/crash_campaign.py --days 12 --kills-per-day 3 --seed 1
    .venv/bin/python bench/trader/crash_campaign.py --days 6 --arrival-delay-ms 4950   # late arrivals (issue 13)

Real `aura exchange-sim` (stepped clock, seeded synthetic market replayed from a Parquet cache) and the real
`aura trade --once` process. Each simulated day: random crash specs (point and n-th occurrence, seeded), sometimes
combined with the simulator's timeout-after-accept / status-lag / connection-reset faults; the trader is SIGKILLed,
restarted, ... then run clean until the day's cycle is DONE; the invariants of tests/harness/campaign.py are
checked from the simulator's ledger and orders and the journal after every day. Finally the whole history is
compared with a crash-free reference run on a fresh simulator: the same cycles, the same intents, the same fills and
the same final balances (the stepped clock makes prices identical). Prints the number of kills survived.

With ``--arrival-delay-ms N`` every day also installs the simulator's ``arrival_delay`` fault on order requests
(each reaches the engine N ms after it was sent; with N just under the 5 s recvWindow it lands while the restarted
trader still gets "not found") and kills may come at ``order_in_flight`` (0.1 s after a send); after each day the
double fills (a client order id with two filled venue orders) and lost orders (venue orders the journal does not
know) are counted as well — both must stay 0.

With ``--hostile`` every day also gets issue 13's hostile venue (``harness.campaign.hostile_day_faults``: empty
account reads with probability 0.3, a late order, by turns absurd fill prices, HTML answers with status 200, a x1e6
ticker, a 429-then-418 back-off), the snapshots disk cannot be written and one symbol's cache file is unreadable;
after every day the hostile invariants (no phantom kill-switch trip, no sell dropped on a balance read) are checked
too. The crash-free comparison is skipped then (the faults themselves change what a day does).

    .venv/bin/python bench/trader/crash_campaign.py --days 40 --kills-per-day 4 --hostile --arrival-delay-ms 4950
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the test harness

from harness.caches import DAY, FIRST_TRADE_DAY, START, build_cache  # noqa: E402
from harness.campaign import (  # noqa: E402
    CampaignStats, check_invariants, double_fills_and_lost_orders, hostile_day_faults, hostile_invariants, run_day,
)
from harness.journal import journal_rows_ro  # noqa: E402
from harness.simulator import start_sim  # noqa: E402
from harness.trader import TraderEnv, write_trader_config  # noqa: E402

# point -> the largest n worth drawing (a process writes one intent batch and one snapshot per --once run)
POINTS = {"intent_written": 1, "order_sent": 2, "order_acked": 2, "fill_recording": 2, "snapshot_writing": 1}
FAULTS = (
    [{"kind": "timeout_after_accept", "endpoint": "POST /api/v3/order", "nth": 1, "count": 2, "mode": "close"}],
    [{"kind": "status_lag", "endpoint": "GET /api/v3/order", "lag_ms": 400, "count": 5},
     {"kind": "timeout_after_accept", "endpoint": "POST /api/v3/order", "nth": 2, "count": 1, "mode": "close"}],
    [{"kind": "reset", "endpoint": "POST /api/v3/order", "when": "before", "nth": 1, "count": 1}],
    [],
)


def env_for(tmp: Path, data: Path, symbols) -> TraderEnv:
    sim = start_sim(tmp, data, START + FIRST_TRADE_DAY * DAY + 20 * 60_000)
    cfg = write_trader_config(tmp, data, sim.url, symbols)
    return TraderEnv(tmp, cfg, tmp / "journal" / "aura.sqlite", tmp / "snapshots", sim)


def history(env: TraderEnv) -> dict:
    rows = journal_rows_ro(env.journal, "SELECT i.cycle_key, i.client_order_id, o.status, o.filled_qty FROM intents i "
                                        "JOIN orders o USING (client_order_id) ORDER BY 1, 2")
    cycles = journal_rows_ro(env.journal, "SELECT cycle_key, status, plan_hash FROM cycles "
                                          "WHERE cycle_key NOT LIKE 'risk-%' ORDER BY 1")
    balances = {a: Decimal(b["free"]) + Decimal(b["locked"]) for a, b in env.sim.balances().items()}
    return {"orders": rows, "cycles": cycles, "balances": {a: v for a, v in balances.items() if v}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=12)
    ap.add_argument("--kills-per-day", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--arrival-delay-ms", type=int, default=0,
                    help="order requests reach the engine this late (0 = off); adds order_in_flight kills")
    ap.add_argument("--hostile", action="store_true", help="issue 13's hostile venue every day (see above)")
    args = ap.parse_args()
    points = dict(POINTS, order_in_flight=2) if args.arrival_delay_ms else POINTS
    late = ({"kind": "arrival_delay", "endpoint": "POST /api/v3/order", "delay_ms": args.arrival_delay_ms,
             "count": args.kills_per_day + 1},) if args.arrival_delay_ms else ()
    doubles = lost = 0
    rng = random.Random(args.seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        data = tmp / "data"
        symbols = build_cache(data)
        (tmp / "crash").mkdir()
        (tmp / "ref").mkdir()
        env = env_for(tmp / "crash", data, symbols)
        stats = CampaignStats()
        fired: dict[str, int] = {}
        if args.hostile:
            import yaml

            from aura_common.adapters.parquet_store import candle_path
            (tmp / "crash" / "no-disk").write_text("not a directory")
            cfg = yaml.safe_load(env.config.read_text())
            cfg["paths"]["snapshots_dir"] = str(tmp / "crash" / "no-disk" / "snapshots")
            env.config.write_text(yaml.safe_dump(cfg))
            bad = candle_path(data, "1d", symbols[2])
            bad.write_bytes(bad.read_bytes()[:100])
        try:
            for day in range(args.days):
                order = [p for p in ("intent_written", "order_in_flight", "order_sent", "order_acked",
                                     "fill_recording", "snapshot_writing") if p in points]  # the order a cycle reaches
                # with late arrivals, half the kills come while an order is in flight (issue 13's scenario)
                draw = (lambda: "order_in_flight" if rng.random() < 0.5 else rng.choice(order)) if late \
                    else (lambda: rng.choice(order))
                chosen = sorted((draw() for _ in range(args.kills_per_day)), key=order.index)
                plan = [f"{p}:{rng.randint(1, points[p])}" for p in chosen]
                faults = [*rng.choice(FAULTS), *late]
                if args.hostile:
                    faults = [*hostile_day_faults(day, seed=args.seed + day), *late]
                env.sim.clear_faults()
                if faults:
                    env.sim.faults(*faults)
                run_day(env, plan, stats, max_clean_runs=8 if args.hostile else 3)
                for f in env.sim.get("/admin/faults")["faults"]:
                    fired[f["kind"]] = fired.get(f["kind"], 0) + f["fired"]
                if late:  # let whatever is still on its way land (or be refused) before counting
                    time.sleep(args.arrival_delay_ms / 1000 + 1)
                    d, lo = double_fills_and_lost_orders(env)
                    doubles, lost = doubles + len(d), lost + len(lo)
                figures = check_invariants(env, {"USDT": Decimal(10000)}, expected_days=day + 1)
                if args.hostile:
                    hostile_invariants(env)  # 0 phantom kill-switch trips, 0 sells dropped on a balance read
                print(f"day {day + 1}: plan={plan} faults={[f['kind'] for f in faults]} kills so far={stats.kills} "
                      f"orders={figures['venue_orders']} double_fills={doubles} lost_orders={lost}", flush=True)
                env.sim.step(DAY)
            crashed = history(env)
        finally:
            env.sim.stop()
        if args.hostile:
            print(f"hostile campaign: {stats.kills} kills survived ({dict(stats.kills_by_point)}), {stats.runs} "
                  f"trader runs, {args.days} days, {len(crashed['orders'])} orders, faults fired {fired}; "
                  f"{doubles} double fills, {lost} lost orders, 0 phantom kill-switch trips, 0 dropped sells, "
                  f"journal = venue after every day; {time.monotonic() - started:.0f} s")
            return 0
        ref = env_for(tmp / "ref", data, symbols)
        try:
            ref_stats = CampaignStats()
            for day in range(args.days):
                run_day(ref, [], ref_stats)
                ref.sim.step(DAY)
            reference = history(ref)
        finally:
            ref.sim.stop()
    assert crashed["cycles"] == reference["cycles"], "cycles differ from the crash-free run"
    assert crashed["orders"] == reference["orders"], "orders differ from the crash-free run"
    assert crashed["balances"] == reference["balances"], (crashed["balances"], reference["balances"])
    print(f"crash campaign: {stats.kills} kills survived ({dict(stats.kills_by_point)}), {stats.runs} trader runs, "
          f"{args.days} days, {len(crashed['orders'])} orders, {doubles} double fills, {lost} lost orders; "
          f"identical to the crash-free run "
          f"(points never reached: {dict(stats.not_reached)}); {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
