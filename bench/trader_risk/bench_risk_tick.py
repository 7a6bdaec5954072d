"""Benchmark the trader's risk side (run on demand; prints figures, asserts nothing).

    .venv/bin/python bench/trader_risk/bench_risk_tick.py [--days 30] [--tick-seconds 60] [--fills 5000]

- the first risk tick of a process (loads the rolling window's equity snapshots from the journal);
- a steady risk tick on a full window (kill switch on the compact curve, equity journaled, gauges);
- an account-sync's journal reads (positions, the fills since the trailing mark) with a long fill history;
- resident memory.
"""

from __future__ import annotations

import argparse
import logging
import resource
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from prometheus_client import CollectorRegistry

from aura_common.adapters.clock import SteppedClock
from aura_common.adapters.journal import Journal, Position
from aura_common.core.params import RiskParams
from aura_common.domain import Side, Symbol
from aura_trader.account import AccountView
from aura_trader.metrics import TraderMetrics
from aura_trader.risk import RiskTicker

DAY = 86_400_000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--tick-seconds", type=int, default=60)
    ap.add_argument("--fills", type=int, default=5000)
    ap.add_argument("--ticks", type=int, default=200)
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)
    clock = SteppedClock(1_714_521_600_000)
    journal = Journal.open(Path(tempfile.mkdtemp()) / "aura.sqlite", clock)
    n = args.days * DAY // (args.tick_seconds * 1000)
    t0 = time.perf_counter()
    with journal.transaction():
        for i in range(n):
            journal.record_equity(Decimal(10_000) + Decimal(i % 997), Decimal(1_000), peak=Decimal(11_000))
            clock.advance(args.tick_seconds)
        for i in range(args.fills):
            journal.record_fill("BTCUSDT", str(i), Side.BUY if i % 3 else Side.SELL, Decimal("0.01"),
                                Decimal(30_000 + i), Decimal(0), "USDT", i * DAY // 10)  # ~10 fills a day
        journal.record_positions([Position("BTCUSDT", Decimal("0.5"), Decimal(30_000))], source="bench")
    print(f"seeded {n} equity snapshots and {args.fills} fills in {time.perf_counter() - t0:.1f} s")

    ticker = RiskTicker(journal, TraderMetrics(CollectorRegistry()))
    view = AccountView({}, {Symbol("BTCUSDT"): Decimal(31_000)}, Decimal(10_500), {Symbol("BTCUSDT"): Decimal("0.5")},
                       True, "", Decimal(1_000), 0, {})
    params = RiskParams()
    t0 = time.perf_counter()
    ticker.tick(view, clock.now_ms(), params, "bench")
    print(f"first risk tick (loads the {args.days}-day window): {(time.perf_counter() - t0) * 1000:.0f} ms")
    times = []
    for _ in range(args.ticks):
        clock.advance(args.tick_seconds)
        t0 = time.perf_counter()
        ticker.tick(view, clock.now_ms(), params, "bench")
        times.append(time.perf_counter() - t0)
    times.sort()
    print(f"steady risk tick over {args.ticks} ticks: median {statistics.median(times) * 1000:.1f} ms, "
          f"p95 {times[int(len(times) * 0.95)] * 1000:.1f} ms (1 position, equity journaled each tick)")

    from aura_trader.account import AccountSync
    sync = AccountSync.__new__(AccountSync)  # only its journal reads are timed here (no broker)
    sync._journal, sync._fill_mark = journal, None
    sync._move_fill_mark()
    t0 = time.perf_counter()
    for _ in range(50):
        sync._fill_ids()
    print(f"account sync's fill check with {args.fills} fills: {(time.perf_counter() - t0) * 20:.2f} ms "
          f"(whole history: ", end="")
    t0 = time.perf_counter()
    for _ in range(10):
        len(journal.fills())
    print(f"{(time.perf_counter() - t0) * 100:.1f} ms)")
    print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
