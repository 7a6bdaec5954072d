"""Ingest benchmarks (run on demand): ``.venv/bin/python bench/bench_ingest.py [--real-data DIR]``.

1. cold build: the 50 real pairs at 1d and 4h from the local archive fake (zips + CHECKSUM built from the fixture
   rows; quote volume derived as volume × typical price, see tests/marketdata/marketdata_fakes.py);
2. no-op pass over 300 synthetic symbols when everything is fresh (zero requests);
3. incremental pass where each of the 300 symbols gains one candle (one daily zip + CHECKSUM each);
4. loading the full 1d panel of the 50 pairs (2017–2023) through ``load_panel``.
Targets: no-op < 0.5 s with 0 requests, incremental < 10 s, panel load < 0.2 s. Prints figures and ``uptime``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "marketdata"))

from marketdata_fakes import ArchiveFake, KlinesFake  # noqa: E402

from aura_common.adapters.clock import SteppedClock  # noqa: E402
from aura_common.adapters.json_candles import json_symbol_files, read_json_rows  # noqa: E402
from aura_common.adapters.parquet_store import load_panel, write_candles  # noqa: E402
from aura_common.adapters.providers.archive import ArchiveProvider  # noqa: E402
from aura_common.adapters.providers.ccxt_tail import CcxtTailProvider, make_exchange  # noqa: E402
from aura_common.domain import Interval  # noqa: E402
from aura_ingestor.service import IngestService  # noqa: E402

DAY = 86_400_000


def ms(*a) -> int:
    return int(datetime(*a, tzinfo=timezone.utc).timestamp() * 1000)


WORKERS = 1


def service(data_dir, fake, symbols, intervals, start_ms, padding_ms, clock):
    return IngestService(data_dir, lambda: [ArchiveProvider(fake.url, clock)], lambda: symbols,
                         [Interval(i) for i in intervals], start_ms, padding_ms, clock, progress=False,
                         workers=WORKERS)


def cold_build(real: Path, work: Path) -> Path:
    fake = ArchiveFake()
    t0 = time.perf_counter()
    symbols = None
    for iv in ("1d", "4h"):
        files = json_symbol_files(real, iv)
        symbols = sorted(files)
        for s, f in files.items():
            fake.add_rows(s, iv, read_json_rows(f), daily_from_ms=ms(2023, 1, 1))
    print(f"archive fake built: {len(fake.files) // 2} zips in {time.perf_counter() - t0:.1f} s (not timed below)")
    clock = SteppedClock(ms(2023, 1, 10, 4))
    data = work / "cold"
    svc = service(data, fake, symbols, ("1d", "4h"), ms(2017, 8, 1), 30 * DAY, clock)
    t0 = time.perf_counter()
    s = svc.run_pass()
    dt = time.perf_counter() - t0
    print(f"cold build   : {dt:7.2f} s  pairs={s.checked} rows={s.rows} requests={s.requests} "
          f"gap_candles={s.gap_candles} ok={s.ok}")
    fake.close()
    return data


def synthetic(work: Path) -> None:
    fake = ArchiveFake()
    n_sym, n_rows = 300, 365
    symbols = [f"S{i:03d}USDT" for i in range(n_sym)]
    start = ms(2024, 1, 15)  # the new candles fall mid-month (the common case: daily files only)
    data = work / "synthetic"
    rng = np.random.default_rng(0)
    rows_by = {}
    for s in symbols:
        c = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n_rows + 1)))
        t = start + DAY * np.arange(n_rows + 1)
        rows = np.column_stack([t, c, c * 1.01, c * 0.99, c, np.full(n_rows + 1, 10.0)])
        rows_by[s] = rows
        write_candles(data, "1d", s, {"open_time": t[:-1].astype(np.int64), "open": c[:-1], "high": c[:-1] * 1.01,
                                      "low": c[:-1] * 0.99, "close": c[:-1], "volume": np.full(n_rows, 10.0),
                                      "source": "archive"})
    now = start + n_rows * DAY + 3_600_000  # the last cached candle closed an hour ago
    clock = SteppedClock(now)
    svc = service(data, fake, symbols, ("1d",), start, 0, clock)
    svc.run_pass()  # builds the manifest from the files (fresh: no requests)
    times = []
    for _ in range(5):
        before = len(fake.requests)
        t0 = time.perf_counter()
        s = svc.run_pass()
        times.append(time.perf_counter() - t0)
        assert s.fresh == n_sym and len(fake.requests) == before
    print(f"no-op pass   : {min(times):7.3f} s best, {statistics.median(times):.3f} s median  symbols={n_sym} "
          f"requests=0")
    for s in symbols:  # one new closed day each, published as a daily zip
        fake.add_rows(s, "1d", rows_by[s][-1:], daily_from_ms=0)
    clock.set(now + DAY)
    t0 = time.perf_counter()
    s = svc.run_pass()
    dt = time.perf_counter() - t0
    print(f"incremental  : {dt:7.2f} s  symbols={n_sym} updated={s.updated} rows={s.rows} requests={s.requests}"
          "  (archive daily zips)")
    # the same once more, but the new day comes from the exchange tail (archive 404s, then ccxt with its limiter)
    klines = KlinesFake()
    for sym in symbols:
        klines.data[(sym, "1d")] = np.vstack([rows_by[sym][-1:], rows_by[sym][-1:] + [DAY, 0, 0, 0, 0, 0]])
    svc2 = IngestService(data, lambda: [ArchiveProvider(fake.url, clock), CcxtTailProvider(
        lambda: make_exchange("binance", klines.url, 10), "binance", clock)], lambda: symbols, [Interval.D1],
        start, 0, clock, progress=False, workers=WORKERS)
    clock.set(now + 2 * DAY)
    t0 = time.perf_counter()
    s = svc2.run_pass()
    dt = time.perf_counter() - t0
    print(f"incremental  : {dt:7.2f} s  symbols={n_sym} updated={s.updated} rows={s.rows} requests={s.requests}"
          "  (archive 404 + ccxt klines, ccxt rate limiter on)")
    klines.close()
    fake.close()


def panel_load(data: Path) -> None:
    times, cpu = [], []
    p = None
    for _ in range(7):
        t0, c0 = time.perf_counter(), time.process_time()
        p = load_panel(data, "1d", start_ms=ms(2017, 1, 1), end_ms=ms(2024, 1, 1))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(f"panel load   : {min(times):7.3f} s best, {statistics.median(times):.3f} s median  shape={p.shape} "
          f"(first read {times[0]:.3f} s; CPU {min(cpu):.3f} s best — wall minus CPU is waiting for a core)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--real-data", default=os.environ.get("AURA_REAL_DATA",
                                                          str(REPO.parent / "shared" / "data" /
                                                              "binance_spot_usdt_2017_2023")))
    ap.add_argument("--skip-cold", action="store_true")
    ap.add_argument("--workers", type=int, default=4, help="IngestService workers (default 4, as the CLI)")
    args = ap.parse_args()
    global WORKERS
    WORKERS = args.workers
    print(f"workers={WORKERS} (the fakes run in this same process and share its GIL)")
    print("load before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        real = Path(args.real_data)
        if not args.skip_cold and (real / "1d").is_dir():
            data = cold_build(real, work)
            panel_load(data)
        elif args.skip_cold:
            print("cold build / panel load skipped (--skip-cold)")
        else:
            print("cold build / panel load skipped: no real data at", real)
        synthetic(work)
    print("load after :", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
