"""Backtester benchmark: AURA's engine against vectorbt on the same rotation, then AURA's full strategy.

Run:  .venv/bin/python bench/backtest/bench_backtest.py [--quick] [--workers 2] [--no-vectorbt]

Data: the real 50-pair daily panel ($AURA_REAL_DATA or /work/shared/data/binance_spot_usdt_2017_2023, skipped
when absent) and a seeded synthetic panel of 100 symbols × 2000 days (seed 42).

1. The plain rotation, implemented twice: every day, among the symbols with 51+ candles whose close is above
   their 50-day SMA, hold the 5 with the best 30-day return at 20 % each, rebalanced to target at the close;
   fee 10 bps, slippage 5 bps, 1,000,000 quote. vectorbt gets target weights computed here with pandas
   (``Portfolio.from_orders``, targetpercent, shared cash, sells first); AURA runs its engine with the strategy
   parameters that express the same rule and the risk gates switched off. Checks: the same (day, symbol, side)
   orders and final equity within 0.5 %. Prints time per backtest, backtests/s of a 200-combination sweep
   (lookback × top-n), and the ratio.
2. AURA's full strategy (screen, score, voting, regime, all three gates) on the synthetic panel, in a fresh
   process of its own: one warm backtest, a 200-combination sweep over ``--workers`` forked processes, peak memory
   (VmHWM of that process and of each worker; ``ru_maxrss`` would include the parent's peak, carried across fork
   and exec by Linux).
Timings are wall-clock medians on a shared machine; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import os
import subprocess
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from aura_common.config.loader import parse_strategy
from aura_common.core.backtest import BacktestConfig, CostModel
from aura_common.core.backtest.sweep import Sweep
from aura_common.core.features import compute_features
from aura_common.core.synthetic import synthetic_panel
from aura_common.domain.values import MarketSpec, Symbol
from decimal import Decimal

FEE_BPS, SLIP_BPS, CASH = 10.0, 5.0, 1_000_000.0


def load() -> str:
    return os.getloadavg().__repr__()


CPU: list[float] = []  # CPU seconds of the last timed() call (less disturbed by other load than wall time)


def timed(fn, repeat: int) -> tuple[float, object]:
    out, times, cpu = None, [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    CPU[:] = [statistics.median(cpu)]
    return statistics.median(times), out


def rotation_params(lookback: int = 30, top_n: int = 5):
    """AURA strategy parameters that express the plain rotation."""
    return parse_strategy({
        "screen": {"momentum_days": lookback, "momentum_min_return": -1.0, "sma_days": 50,
                   "drawdown_window_days": 1, "max_drawdown_pct": 100.0, "liquidity_window_days": 1,
                   "min_median_quote_volume": 0.0, "min_history_days": 51},
        "scoring": {"momentum_lookbacks_days": [lookback], "w_momentum": 1.0, "w_volatility": 0.0, "w_trend": 0.0,
                    "w_liquidity": 0.0},
        "voting": {"offsets_days": [0], "top_k": top_n, "min_votes": 1},
        "regime": {"exposure_bull": 1.0, "exposure_sideways": 1.0, "exposure_bear": 1.0},
        "portfolio": {"max_positions": top_n, "weighting": "equal", "max_weight": 1.0 / top_n,
                      "min_trade_weight": 0.0},
    }, "<bench rotation>")


def rotation_weights(panel, lookback: int = 30, top_n: int = 5) -> np.ndarray:
    """The same rule in plain pandas: (T × N) target weights, NaN where a symbol has no price."""
    import pandas as pd
    close = pd.DataFrame(panel.close)
    sma = close.rolling(50).mean()
    mom = close / close.shift(lookback) - 1.0
    hist = close.notna().cumsum()
    ok = (hist >= max(51, lookback + 1)) & (close > sma) & mom.notna()
    key = mom.where(ok)
    rank = key.rank(axis=1, ascending=False, method="first")  # ties: first column (= symbol order)
    w = ((rank <= top_n) & ok).astype(float) / top_n
    return w.where(close.notna()).to_numpy()


def vbt_run(panel, weights: np.ndarray):
    import vectorbt as vbt
    return vbt.Portfolio.from_orders(panel.close, size=weights, size_type="targetpercent", group_by=True,
                                     cash_sharing=True, call_seq="auto", fees=FEE_BPS / 1e4,
                                     slippage=SLIP_BPS / 1e4, init_cash=CASH, freq="1D")


def zero_min_specs(panel):
    """No lot step, no minimums: vectorbt has no lot rules, so neither side rounds a quantity. (With Binance's
    1e-8 step AURA floors every quantity; on a rotation that trades drift every day the two paths then drift apart
    chaotically from a one-step difference, which says nothing about either engine.)"""
    return {s: MarketSpec(Symbol(s), s[:-4], "USDT", Decimal("0.00000001"), Decimal(0), Decimal(0), Decimal(0))
            for s in panel.symbols}


def compare_rotation(name: str, panel, vectorbt: bool, sweep_n: int) -> None:
    print(f"\n== plain top-5 momentum rotation on {name}: {panel.shape[1]} symbols x {panel.shape[0]} days "
          f"(load {load()})")
    fs = compute_features(panel)
    cfg = BacktestConfig(initial_cash=CASH, costs=CostModel(FEE_BPS, SLIP_BPS), specs=zero_min_specs(panel),
                         gates=frozenset())
    sweep = Sweep(fs, cfg)
    params = rotation_params()
    sweep.run(params)  # warm the features
    t_aura, res = timed(lambda: Sweep(fs, cfg).run(params), 5)
    print(f"AURA      per backtest {t_aura * 1e3:8.1f} ms (cpu {CPU[0] * 1e3:.1f} ms)   trades {len(res.trades):6d}   "
          f"final equity {res.metrics['final_equity']:.2f}")
    grid = list(itertools.product([10, 20, 30, 45, 60, 90, 120, 150, 180, 240], [1, 2, 3, 4, 5, 6, 7, 8, 10, 12]))
    grid = (grid * 2)[:sweep_n]
    t0 = time.perf_counter()
    for lb, n in grid:
        sweep.run(rotation_params(lb, n))
    aura_rate = len(grid) / (time.perf_counter() - t0)
    print(f"AURA      sweep {len(grid)} combos: {aura_rate:8.1f} backtests/s (1 process)")
    if not vectorbt:
        return
    try:
        import vectorbt as vbt
    except Exception as exc:  # noqa: BLE001 - report why the baseline is unavailable
        print(f"vectorbt unavailable: {type(exc).__name__}: {exc}")
        return
    w = rotation_weights(panel)
    vbt_run(panel, w)  # compile numba
    t_vbt, pf = timed(lambda: vbt_run(panel, rotation_weights(panel)), 5)
    rec = pf.orders.records
    times = panel.times + panel.interval_ms
    vbt_value = pf.value().to_numpy()
    vbt_orders = {(int(times[i]), panel.symbols[c], "BUY" if s == 0 else "SELL"): sz * px / vbt_value[i]
                  for i, c, s, sz, px in zip(rec["idx"], rec["col"], rec["side"], rec["size"], rec["price"])}
    aura_eq = dict(zip(res.times_ms.tolist(), res.equity.tolist()))
    aura_frac = {(int(t.t_ms), t.symbol, t.side): t.notional / aura_eq[t.t_ms] for t in res.trades}
    final_vbt = float(pf.final_value())
    diff = abs(res.metrics["final_equity"] / final_vbt - 1)
    material = 5e-3  # orders of at least 0.5 % of equity (smaller ones are same-day drift corrections)
    big_a = {k for k, f in aura_frac.items() if f >= material}
    big_v = {k for k, f in vbt_orders.items() if f >= material}
    only_a, only_v = big_a - set(vbt_orders), big_v - set(aura_frac)
    tiny = len(set(aura_frac) ^ set(vbt_orders)) - len(only_a) - len(only_v)
    print(f"vectorbt  per backtest {t_vbt * 1e3:8.1f} ms (cpu {CPU[0] * 1e3:.1f} ms)   trades {len(rec):6d}   final equity {final_vbt:.2f}"
          f"   (vectorbt {vbt.__version__})")
    same = diff <= 0.005 and not only_a and not only_v
    print(f"check     orders >= 0.5 % of equity: {len(big_a)} AURA / {len(big_v)} vectorbt, only in AURA "
          f"{len(only_a)}, only in vectorbt {len(only_v)}; {tiny} smaller drift orders differ (side or presence); "
          f"final equity differs by {diff * 100:.4f} % -> {'OK' if same else 'MISMATCH'}")
    grid_v = grid[: max(1, min(len(grid), sweep_n))]
    t0 = time.perf_counter()
    for lb, n in grid_v:
        vbt_run(panel, rotation_weights(panel, lb, n)).final_value()
    vbt_rate = len(grid_v) / (time.perf_counter() - t0)
    print(f"vectorbt  sweep {len(grid_v)} combos: {vbt_rate:8.1f} backtests/s (1 process)")
    print(f"ratio     single backtest AURA/vectorbt time {t_aura / t_vbt:.3f}; sweep AURA/vectorbt rate "
          f"{aura_rate / vbt_rate:.2f}x")


FULL = {"risk": {"kill_switch_cooldown_hours": 168.0}}


def full_grid(n: int):
    base = FULL
    out = []
    # the risk parameter varies fastest: 50 distinct signal sets (top_k x w_volatility x min_votes), 4 loops each
    for top_k, wv, mv, sl in itertools.product([3, 5, 8, 10, 12], [-1.0, -0.5, 0.0, 0.25, 0.5], [2, 3],
                                               [10.0, 15.0, 20.0, 30.0]):
        out.append(parse_strategy({**base, "voting": {"top_k": top_k, "min_votes": mv},
                                   "scoring": {"w_volatility": wv},
                                   "risk": {**base["risk"], "stop_loss_pct": sl}}, "<grid>"))
    return out[:n]


_SWEEP: Sweep | None = None


def _init(panel_args) -> None:
    global _SWEEP
    panel = synthetic_panel(*panel_args)
    _SWEEP = Sweep(compute_features(panel), BacktestConfig(costs=CostModel(FEE_BPS, SLIP_BPS)))


def _run(params) -> float:
    assert _SWEEP is not None
    return _SWEEP.run(params).metrics["final_equity"]


def vm_hwm_mb() -> float:
    """This process's own peak resident set (VmHWM; unlike ru_maxrss it does not inherit a parent's peak across
    fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _worker_hwm(_: int) -> tuple[int, float]:
    time.sleep(0.05)  # spread the calls over the workers
    return os.getpid(), vm_hwm_mb()


def full_strategy(panel_args, workers: int, sweep_n: int) -> None:
    panel = synthetic_panel(*panel_args)
    print(f"\n== AURA full strategy (screen, score, voting, regime, 3 gates) on synthetic "
          f"{panel.shape[1]} x {panel.shape[0]} (load {load()})")
    fs = compute_features(panel)
    cfg = BacktestConfig(costs=CostModel(FEE_BPS, SLIP_BPS))
    params = parse_strategy(FULL, "<full>")
    t0 = time.perf_counter()
    Sweep(fs, cfg).run(params)
    print(f"cold (features + signals + loop) {(time.perf_counter() - t0) * 1e3:8.1f} ms")
    t_warm, res = timed(lambda: Sweep(fs, cfg).run(params), 7)
    print(f"warm single backtest (signals + loop) {t_warm * 1e3:8.1f} ms (cpu {CPU[0] * 1e3:.1f} ms)   trades {len(res.trades)}   "
          f"gate calls {dict(res.gate_calls)}   final equity {res.metrics['final_equity']:.2f}")
    sweep = Sweep(fs, cfg)
    t_loop, _ = timed(lambda: sweep.run(params), 7)
    print(f"warm loop only (signals reused)      {t_loop * 1e3:8.1f} ms (cpu {CPU[0] * 1e3:.1f} ms)")
    grid = full_grid(sweep_n)
    t0 = time.perf_counter()
    if workers <= 1:
        for p in grid:
            sweep.run(p)
    else:
        with mp.get_context("fork").Pool(workers, initializer=_init, initargs=(panel_args,)) as pool:
            pool.map(_run, grid[:workers])  # warm each worker's features
            runs = []
            for _ in range(3):  # a run lasts well under a second on a shared machine: report the median of three
                t0 = time.perf_counter()
                pool.map(_run, grid, chunksize=4)
                runs.append(time.perf_counter() - t0)
            dt = statistics.median(runs)
            print(f"sweep runs: {', '.join(f'{len(grid) / r:.0f}/s' for r in runs)}")
            peaks = dict(pool.map(_worker_hwm, range(4 * workers), chunksize=1))
        print(f"peak RSS (VmHWM) of the sweep's workers: {', '.join(f'{v:.0f} MB' for v in peaks.values())}")
    dt = time.perf_counter() - t0 if workers <= 1 else dt
    print(f"sweep {len(grid)} combos on {workers} process(es): {len(grid) / dt:8.1f} backtests/s "
          f"({dt:.2f} s; {len({(p.voting, p.scoring) for p in grid})} distinct signal sets, stop-loss varies fastest)")


def peak_memory(what: str) -> None:
    print(f"peak RSS (VmHWM) of {what}: {vm_hwm_mb():.0f} MB")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sweeps")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-vectorbt", action="store_true")
    ap.add_argument("--skip-rotation", action="store_true")
    ap.add_argument("--full-only", action="store_true", help="only AURA's full strategy, in this process")
    args = ap.parse_args()
    if args.full_only:
        full_strategy((100, 2000, 42), args.workers, 40 if args.quick else 200)
        peak_memory("the full-strategy process (AURA alone)")
        return 0
    sweep_n = 40 if args.quick else 200
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, cpus {os.cpu_count()}, load {load()}")
    if not args.skip_rotation:
        real = Path(os.environ.get("AURA_REAL_DATA", "/work/shared/data/binance_spot_usdt_2017_2023"))
        if (real / "1d").is_dir():
            from aura_common.adapters.json_candles import load_json_panel
            compare_rotation("the real 50-pair daily panel", load_json_panel(real, "1d"), not args.no_vectorbt,
                             sweep_n)
        else:
            print(f"\n(real data not found at {real}: skipped)")
        compare_rotation("synthetic 100 x 2000 (seed 42)", synthetic_panel(100, 2000, 42), not args.no_vectorbt,
                         sweep_n)
    peak_memory("this process (both engines, every panel)")
    # AURA alone, in a fresh process: its memory figure must not include vectorbt's
    sys.stdout.flush()
    cmd = [sys.executable, __file__, "--full-only", "--workers", str(args.workers)] + (["--quick"] if args.quick else [])
    return subprocess.run(cmd, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
