"""Parity benchmark: `aura parity` over the full 2020-01-01 .. 2022-12-31 window on the 50 real pairs, for the
default strategy (config/strategy.yaml) and for bench/parity/strategy-risk.yaml (stop-losses, take-profits, a kill
switch that re-arms after its cooldown).

Run:  .venv/bin/python bench/parity/bench_parity.py [--from 2020-01-01] [--to 2022-12-31] [--only default|risk]
      [--out DIR]

Data: $AURA_REAL_DATA or ../shared/data/binance_spot_usdt_2017_2023 beside the checkout (exits 2 when absent).
Prints per run the parity figures (matched, only_trader, only_backtest, qty/price mismatches, equity_diff_pct,
kill-switch trips, the first divergence of each kind) and the speed in simulated days per second of wall time
(target: >= 5), with the machine's load average; the JSON reports stay in --out (default a temporary directory).
Exit 0 when every run is a full match, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STRATEGIES = {"default": REPO / "config" / "strategy.yaml", "risk": REPO / "bench" / "parity" / "strategy-risk.yaml"}
HEADLINE = ("days", "trader_orders", "backtest_orders", "matched", "only_trader", "only_backtest", "qty_mismatches",
            "price_mismatches", "equity_trader", "equity_backtest", "equity_diff_pct", "extra_ticks",
            "trader_tick_seconds_mean")


def real_data() -> Path | None:
    env = os.environ.get("AURA_REAL_DATA")
    for c in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data" / "binance_spot_usdt_2017_2023"]:
        if (c / "1d").is_dir():
            return c
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="start", default="2020-01-01")
    ap.add_argument("--to", dest="end", default="2022-12-31")
    ap.add_argument("--only", choices=sorted(STRATEGIES))
    ap.add_argument("--out", help="keep the work directories and reports here")
    args = ap.parse_args()
    data = real_data()
    if data is None:
        print("bench_parity: real candles not found (set AURA_REAL_DATA or place ../shared/data beside the checkout)",
              file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench-parity-"))
    aura = str(Path(sys.executable).with_name("aura"))
    ok = True
    for name, strategy in STRATEGIES.items():
        if args.only and name != args.only:
            continue
        work = out / name
        t0 = time.monotonic()
        r = subprocess.run([aura, "parity", "--from", args.start, "--to", args.end, "--fixtures", str(data),
                            "--params", str(strategy), "--json", "--work-dir", str(work), "--day-timeout", "300"],
                           capture_output=True, text=True, cwd=REPO)
        wall = time.monotonic() - t0
        load = os.getloadavg()
        try:
            report = json.loads(r.stdout)
        except json.JSONDecodeError:
            print(f"{name}: aura parity exited {r.returncode} without a report:\n{r.stderr[-3000:]}")
            ok = False
            continue
        ok = ok and report["full_match"]
        print(f"== {name} ({strategy.relative_to(REPO)}) {args.start} .. {args.end}: exit {r.returncode}")
        for k in HEADLINE:
            print(f"  {k:<18} {report[k]}")
        ks = report["kill_switch_trips"]
        print(f"  kill_switch_trips  trader {ks['trader']} {ks['trader_days']} backtest {ks['backtest']} "
              f"{ks['backtest_days']}")
        for kind, d in report["first_of_kind"].items():
            print(f"  first {kind:<13} {d['day']} {d['symbol']}: trader {d['trader']} | backtest {d['backtest']}")
        print(f"  speed              {report['days_per_second']} simulated days/s over the stepped run "
              f"({report['wall_seconds']} s), {report['days'] / wall:.2f} days/s with start-up and backtest "
              f"({wall:.1f} s); load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
        print(f"  report             {work / 'parity.json'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
