"""Trader benchmarks (on demand; figures printed, nothing asserted):

    .venv/bin/python bench/trader/bench_trader.py

1. decision cycle time excluding the exchange, 300-symbol universe: load the panel from a Parquet cache (built
   here with seeded synthetic data), decide, cost-benefit gate, build intents          target < 200 ms
2. a full rebalance with 20 orders against the local simulator (a separate `aura exchange-sim` process, ccxt over
   HTTP, real journal): intents journaled, 20 market orders sent, responses and fills journaled   target < 2 s
3. resident memory of the `aura trade --once` process on the 300-symbol universe      target < 300 MB
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the test harness

from harness.caches import DAY, START, build_cache  # noqa: E402
from harness.processes import aura  # noqa: E402
from harness.simulator import start_sim  # noqa: E402
from harness.trader import STRATEGY, TraderEnv, write_trader_config  # noqa: E402

from aura_common.adapters.parquet_store import load_panel  # noqa: E402
from aura_common.core import jit  # noqa: E402
from aura_common.core.params import StrategyParams  # noqa: E402
from aura_common.core.regime import Regime, RegimeState  # noqa: E402
from aura_common.domain import MarketSpec, Side, Symbol  # noqa: E402
from aura_trader.rebalance import DECISION_FIELDS, decision_row, lookback_days, plan_intents  # noqa: E402

N_DAYS = 700
DECISION_DAY = 650


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_decision(data: Path, symbols) -> None:
    jit.interpret()  # as `aura trade` runs the decision kernels
    params = StrategyParams()
    day = START + DECISION_DAY * DAY
    start = day - lookback_days(params, 30) * DAY
    times, loads, n_intents = [], [], 0
    for _ in range(9):
        t0 = time.perf_counter()
        panel = load_panel(data, "1d", symbols, start_ms=start, end_ms=day, fields=DECISION_FIELDS)
        t1 = time.perf_counter()
        row = decision_row(panel)
        prices = {Symbol(s): Decimal(repr(float(panel.close[row, j]))).quantize(Decimal("1e-8"))
                  for j, s in enumerate(panel.symbols) if panel.close[row, j] == panel.close[row, j]}
        specs = {s: MarketSpec(s, s[:-4], "USDT", Decimal("1e-8"), Decimal("1e-8"), Decimal("1e-8"), Decimal(5))
                 for s in prices}
        holdings = {s: Decimal(1) for s in list(prices)[:5]}
        p = plan_intents(panel=panel, row=row, params=params, regime=RegimeState(Regime.BULL), prev_exposure=1.0,
                         cycle_key="bench", holdings=holdings, free_quote=Decimal(100_000), prices=prices,
                         specs=specs, fee_bps=10, slippage_bps=5)
        times.append(time.perf_counter() - t0)
        loads.append(t1 - t0)
        n_intents = len(p.batch.intents)
    ms = lambda xs, f: f"{f(xs) * 1000:.0f}"  # noqa: E731
    print(f"[1] decision cycle, {len(symbols)} symbols x {panel.shape[0]} days ({n_intents} intents): "
          f"min {ms(times, min)} ms, median {ms(times, statistics.median)} ms, max {ms(times, max)} ms "
          f"(of which load_panel min {ms(loads, min)} / median {ms(loads, statistics.median)} ms; decide + gate + "
          f"intents min {ms([a - b for a, b in zip(times, loads)], min)} ms)   (target < 200 ms)")


def bench_orders(tmp: Path) -> None:
    from aura_common.adapters.broker.ccxt_broker import CcxtBroker
    from aura_common.adapters.clock import SystemClock
    from aura_common.adapters.exchange import make_binance
    from aura_common.adapters.journal import Journal
    from aura_common.core.intents import Intent
    from aura_trader.execution import ExecPolicy, Executor

    data = tmp / "data20"
    symbols = build_cache(data, n_symbols=25, n_days=420, seed=3)
    sim = start_sim(tmp, data, START + 400 * DAY + 20 * 60_000, balances="USDT=1000000")
    try:
        broker = CcxtBroker(make_binance(sim.url, "aura-sim-key", "aura-sim-secret", enable_rate_limit=False))
        specs, prices = broker.markets(), broker.prices([Symbol(s) for s in symbols])
        results = []
        for rep in range(3):
            journal = Journal.open(tmp / f"bench-{rep}.sqlite", SystemClock())
            key = f"bench-{rep}"
            journal.begin_cycle(key, "bench")
            intents = []
            for leg, s in enumerate(sorted(prices)[:20]):
                qty = specs[s].floor_qty(Decimal(1000) / prices[s])
                intents.append(Intent(key, "bench", leg, s, Side.BUY, qty, prices[s]))
            ex = Executor(broker, journal, None, policy=ExecPolicy(status_lag_seconds=0.5))
            t0 = time.perf_counter()
            ex.record(key, intents)
            summary = ex.run(key)
            journal.finish_cycle(key, "DONE")
            results.append(time.perf_counter() - t0)
            assert summary.outcomes == {"FILLED": 20}, summary
            journal.close()
        print(f"[2] rebalance with 20 market orders against the simulator (journal first, send, record fills): "
              f"median {statistics.median(results):.3f} s, max {max(results):.3f} s   (target < 2 s)")
    finally:
        sim.stop()


LAUNCHER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)\n"
    "out = p.stdout.read()\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "sys.stdout.write(out.decode(errors='replace'))\n"
    "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n"
)


def bench_memory(tmp: Path, data: Path, symbols) -> None:
    sim = start_sim(tmp, data, START + DECISION_DAY * DAY + 20 * 60_000, balances="USDT=100000")
    try:
        strategy = dict(STRATEGY)
        cfg = write_trader_config(tmp, data, sim.url, symbols, strategy=strategy)
        env = TraderEnv(tmp, cfg, tmp / "journal" / "aura.sqlite", tmp / "snapshots", sim)
        t0 = time.perf_counter()
        # Linux carries a process's peak RSS across fork and exec into the child's ru_maxrss, so a child of this
        # (large) benchmark process would report our size. A small launcher process starts the trader instead and
        # reports the trader's own peak.
        proc = subprocess.run([sys.executable, "-c", LAUNCHER, *aura("trade", "--once")], env=env.env(), cwd=tmp,
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        out = proc.stdout
        status, rss_kb = (int(x) for x in out.strip().splitlines()[-1].split())
        orders = out.count("[ORDER_DONE]")
        if status != 0:
            print(out[-3000:])
        print(f"[3] `aura trade --once` on {len(symbols)} symbols ({orders} orders, exit {status}):"
              f" max RSS {rss_kb / 1024:.0f} MB, wall {wall:.1f} s incl. start-up   (target < 300 MB)")
    finally:
        sim.stop()


def main() -> int:
    print(f"load average before: {load_avg()} (2 cores shared with other engineers)")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        data = tmp / "data300"
        t0 = time.perf_counter()
        symbols = build_cache(data, n_symbols=300, n_days=N_DAYS, seed=3)
        print(f"built a 300-symbol x {N_DAYS}-day Parquet cache in {time.perf_counter() - t0:.1f} s")
        bench_decision(data, symbols)
        bench_orders(tmp)
        bench_memory(tmp, data, symbols)
    print(f"load average after: {load_avg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
