"""Optimizer benchmark: a walk-forward of 8 folds × 100 trials on the real 50-pair daily panel (2017–2023).

Run:  .venv/bin/python bench/optimizer/bench_optimizer.py [--folds 8] [--trials 100] [--workers 2] [--keep DIR]

What it does, end to end, the way an operator runs it:

1. builds a Parquet candle cache in a temp directory from the gzipped-JSON candles ($AURA_REAL_DATA or
   /work/shared/data/binance_spot_usdt_2017_2023) with the cache's own writer (timed separately: not part of
   the optimizer's figure);
2. runs the real console script ``aura optimize --folds 8 --trials 100 --workers 2`` (config defaults
   otherwise: rolling windows, train 365 d, test 90 d, step 90 d, the default search space, SQLite storage in the
   run directory) as a subprocess in its own session, sampling the memory of the whole process tree every 0.1 s
   (the sum of PSS from /proc/<pid>/smaps_rollup: shared copy-on-write pages counted once);
3. prints wall time (whole run, and the search alone from results.json), trials per second, peak memory, the
   machine load before and after, and the run's out-of-sample verdict.

Targets: under 60 s on 2 cores, peak memory under 2 GB. Timings on a shared machine are pessimistic.
Reference: freqtrade's hyperopt ran about 0.27 epochs/s for a comparable 100-pair daily strategy here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
FREQTRADE_EPOCHS_PER_S = 0.27


def real_data() -> Path:
    env = os.environ.get("AURA_REAL_DATA")
    for c in ([Path(env)] if env else []) + [Path("/work/shared/data/binance_spot_usdt_2017_2023"),
                                             REPO.parent / "shared" / "data" / "binance_spot_usdt_2017_2023"]:
        if (c / "1d").is_dir():
            return c
    sys.exit("real candles not found: set AURA_REAL_DATA")


def build_cache(src: Path, data_dir: Path) -> tuple[int, int]:
    from aura_common.adapters.json_candles import load_json_panel
    from aura_common.adapters.parquet_store import write_panel
    panel = load_json_panel(src, "1d")
    write_panel(data_dir, "1d", panel, "archive")
    return panel.shape


def tree_pss_kb(root_pid: int) -> int:
    """PSS of every process in the session of ``root_pid`` (kB)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            if int(fields[3]) != root_pid:  # session id
                continue
            with open(f"/proc/{entry}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except (OSError, IndexError, ValueError):
            continue
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=8)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", help="build the workspace here and keep it (default: a temp dir, removed)")
    args = ap.parse_args()

    src = real_data()
    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="aura-bench-opt-")
    root = Path(args.keep or tmp.name)
    root.mkdir(parents=True, exist_ok=True)
    print(f"load before: {os.getloadavg()}  cores: {os.cpu_count()}")
    t0 = time.perf_counter()
    shape = build_cache(src, root / "data")
    print(f"parquet cache from {src}: {shape[1]} symbols × {shape[0]} days in {time.perf_counter() - t0:.1f} s "
          "(not part of the optimizer figure)")

    cfg = root / "aura.yaml"
    cfg.write_text(yaml.safe_dump({"paths": {
        "data_dir": str(root / "data"), "journal": str(root / "journal" / "aura.sqlite"),
        "snapshots_dir": str(root / "snapshots"), "optimizer_dir": str(root / "optimizer"),
        "strategy_file": str(REPO / "config" / "strategy.yaml")}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
    cmd = [str(REPO / ".venv" / "bin" / "aura"), "--config", str(cfg), "optimize", "--folds", str(args.folds),
           "--trials", str(args.trials), "--workers", str(args.workers), "--run-id", "bench", "--no-progress"]
    peak = [0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_pss_kb(proc.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the run and its worker processes (all waited for)
    cpu_s = usage.ru_utime + usage.ru_stime
    sampler.join()
    if proc.returncode != 0:
        print(err, file=sys.stderr)
        return 1
    results = json.loads((root / "optimizer" / "bench" / "results.json").read_text())
    n = args.folds * args.trials
    search_s = results["timing"]["search_seconds"]
    print(f"load after:  {os.getloadavg()}")
    print(f"walk-forward {len(results['folds'])} folds × {args.trials} trials = {n} backtests "
          f"(train {results['inputs']['train_days']} d, test {results['inputs']['test_days']} d, "
          f"{results['inputs']['data']['symbols']} symbols), {args.workers} worker processes")
    print(f"  whole run (start-up, search, out-of-sample replays, report): {wall:6.1f} s   target < 60 s")
    print(f"  search alone:                                               {search_s:6.1f} s")
    print(f"  CPU time of the whole process tree: {cpu_s:.1f} s → on {args.workers} idle cores the run would take "
          f"about {cpu_s / args.workers:.0f} s (the wall time above is inflated by the other tenants' load)")
    print(f"  trials per second: {n / search_s:.1f} (search), {n / wall:.1f} (whole run); "
          f"freqtrade hyperopt ≈ {FREQTRADE_EPOCHS_PER_S} epochs/s → {n / wall / FREQTRADE_EPOCHS_PER_S:.0f}× ")
    print(f"  peak memory of the process tree (PSS): {peak[0] / 1024:.0f} MB   target < 2048 MB")
    st = results["stitched"]
    for name in ("optimized", "default", "buy_and_hold"):
        m = st[name]
        if m:
            print(f"  {name:<13} OOS sharpe {m['sharpe']:6.3f}  return {m['total_return'] * 100:8.1f} %  "
                  f"max DD {m['max_drawdown'] * 100:5.1f} %")
    print(f"  in-sample vs out-of-sample mean sharpe: {results['in_vs_out']['mean_in_sample_sharpe']:.3f} vs "
          f"{results['in_vs_out']['mean_out_of_sample_sharpe']:.3f}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
