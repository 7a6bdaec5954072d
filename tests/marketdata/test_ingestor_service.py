"""The ingestor pass, its CLI and its metrics: real fakes, real files, real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml
from marketdata_fakes import DAY, CoinGeckoFake, synth_rows
from prometheus_client import CollectorRegistry

from aura_common.adapters.clock import SteppedClock
from aura_common.adapters.manifest import load_manifest, manifest_path
from aura_common.adapters.parquet_store import candle_path, load_candles, load_panel
from aura_common.adapters.providers.archive import ArchiveProvider
from aura_common.adapters.providers.coingecko import CoinGeckoProvider
from aura_common.domain import Interval
from aura_ingestor.metrics import IngestorMetrics
from aura_ingestor.service import IngestService

from harness.processes import stop_process

REPO = Path(__file__).resolve().parents[2]
NOW = 1_739_188_800_000  # 2025-02-10T12:00Z
START = 1_735_689_600_000  # 2025-01-01


def service(tmp_path, providers, symbols, clock, intervals=("1d",), metrics=None):
    m = metrics or IngestorMetrics(CollectorRegistry())
    return IngestService(tmp_path, lambda: providers, lambda: symbols, [Interval(i) for i in intervals], START, 0,
                         clock, m, on_pass_success=m.pass_succeeded, progress=False), m


def test_pass_summary_freshness_and_last_success(tmp_path, archive_fake):
    clock = SteppedClock(NOW)
    for k, s in enumerate(("AAAUSDT", "BBBUSDT")):
        archive_fake.add_rows(s, "1d", synth_rows(START, 40, DAY, seed=k), daily_from_ms=1_738_368_000_000)
    svc, m = service(tmp_path, [ArchiveProvider(archive_fake.url, clock)], ["AAAUSDT", "BBBUSDT"], clock)
    first = svc.run_pass()
    assert (first.updated, first.rows, first.failed, first.ok) == (2, 80, 0, True)
    assert m.registry.get_sample_value("aura_ingest_last_success_timestamp_seconds") == NOW / 1000
    assert m.registry.get_sample_value("aura_ingest_rows_written_total", {"interval": "1d"}) == 80
    n = archive_fake.count()
    stamp = manifest_path(tmp_path).stat().st_mtime_ns
    again = svc.run_pass()
    assert manifest_path(tmp_path).stat().st_mtime_ns == stamp  # a no-op pass writes nothing
    assert (again.fresh, again.requests, again.ok) == (2, 0, True) and archive_fake.count() == n
    age = m.registry.get_sample_value("aura_ingest_symbol_freshness_age_seconds",
                                      {"symbol": "AAAUSDT", "interval": "1d"})
    assert age == (NOW - (1_739_059_200_000 + DAY)) / 1000  # the 2025-02-09 candle closed 12 h before NOW
    entry = load_manifest(tmp_path).get("1d", "AAAUSDT")
    assert (entry.rows, entry.sources, entry.gap_candles) == (40, {"archive": 40}, 0)


def test_nothing_updatable_is_not_ok(tmp_path, archive_fake):
    clock = SteppedClock(NOW)
    archive_fake.faults["/data/"] = "500"
    svc, _ = service(tmp_path, [ArchiveProvider(archive_fake.url, clock)], ["AAAUSDT"], clock)
    s = svc.run_pass()
    assert not s.ok and s.updated == 0 and s.unchanged == 0 and s.failed == 1
    assert s.line()["status"] == "failed" and s.all_sources_failed  # the summary agrees with itself (issue 18)


def test_unwritable_cache_fails_that_pair_keeps_going_and_keeps_the_old_file(tmp_path, archive_fake):
    """Honest "cannot write": the 4h cache directory path is occupied by a file (works as root, unlike chmod).
    The disk-full case (a real EFBIG mid-write) is in test_parquet_store.py."""
    clock = SteppedClock(NOW)
    rows = synth_rows(START, 40, DAY, seed=3)
    archive_fake.add_rows("AAAUSDT", "1d", rows[:35])
    archive_fake.add_rows("AAAUSDT", "4h", synth_rows(START, 200, 14_400_000, seed=4))
    svc, _ = service(tmp_path, [ArchiveProvider(archive_fake.url, clock)], ["AAAUSDT"], clock)
    svc.run_pass()
    before = candle_path(tmp_path, "1d", "AAAUSDT").read_bytes()
    archive_fake.add_rows("AAAUSDT", "1d", rows, daily_from_ms=1_738_368_000_000)  # 5 more days appear
    (tmp_path / "parquet" / "1d").rename(tmp_path / "moved")
    (tmp_path / "parquet" / "1d").write_text("in the way")
    svc2, _ = service(tmp_path, [ArchiveProvider(archive_fake.url, clock)], ["AAAUSDT"], clock,
                      intervals=("1d", "4h"))
    s = svc2.run_pass()
    assert s.failed == 1 and "1d" in s.failures[0] and "parquet/1d" in s.failures[0]
    assert s.updated == 1  # 4h still went through
    assert (tmp_path / "moved" / "AAAUSDT.parquet").read_bytes() == before


def test_corrupt_manifest_is_quarantined_and_rebuilt(tmp_path, archive_fake):
    clock = SteppedClock(NOW)
    archive_fake.add_rows("AAAUSDT", "1d", synth_rows(START, 40, DAY), daily_from_ms=1_738_368_000_000)
    svc, _ = service(tmp_path, [ArchiveProvider(archive_fake.url, clock)], ["AAAUSDT"], clock)
    svc.run_pass()
    manifest_path(tmp_path).write_text('{"version": 1, "intervals": {"1d": ')
    s = svc.run_pass()
    assert s.ok and s.failed == 0
    assert load_manifest(tmp_path).get("1d", "AAAUSDT").rows == 40
    assert list((tmp_path / "quarantine").rglob("manifest.json.*"))


def test_coingecko_fills_daily_closes_without_volume(tmp_path):
    clock = SteppedClock(NOW)
    with CoinGeckoFake(NOW) as cg:
        closes = {START + k * DAY: 100.0 + k for k in range(41)}  # 00:00 prices through 2025-02-10
        cg.prices["aaa-coin"] = closes
        svc, m = service(tmp_path, [CoinGeckoProvider(cg.url, {"AAAUSDT": "aaa-coin"}, clock)], ["AAAUSDT"],
                         clock)
        s = svc.run_pass()
        got = load_candles(tmp_path, "1d", "AAAUSDT")
        assert s.ok and len(got) == 40 and set(got.source) == {"coingecko"}
        assert np.isnan(got.volume).all() and np.isnan(got.quote_volume).all()
        assert got.open[0] == 100.0 and got.close[0] == 101.0  # day D: open at D 00:00, close at D+1 00:00
        assert np.all(got.high == np.maximum(got.open, got.close))
        assert cg.count("/coins/aaa-coin/market_chart") == 1
        panel = load_panel(tmp_path, "1d")
        assert np.isnan(panel.volume).all()  # the read API shows "unknown", not zero


@pytest.mark.parametrize("fault", ["malformed", "html", "429"])
def test_coingecko_bad_answers_are_errors_not_data(tmp_path, fault):
    clock = SteppedClock(NOW)
    with CoinGeckoFake(NOW) as cg:
        cg.prices["aaa-coin"] = {START + k * DAY: 100.0 + k for k in range(41)}
        cg.faults["/coins/"] = fault
        m = IngestorMetrics(CollectorRegistry())
        svc, _ = service(tmp_path, [CoinGeckoProvider(cg.url, {"AAAUSDT": "aaa-coin"}, clock, max_retries=2)],
                         ["AAAUSDT"], clock, metrics=m)
        s = svc.run_pass()
        assert not s.ok and not candle_path(tmp_path, "1d", "AAAUSDT").exists()
        kind = "rate_limited" if fault == "429" else "bad_response"
        assert m.registry.get_sample_value("aura_provider_errors_total",
                                           {"provider": "coingecko", "kind": kind}) == 1
        assert cg.count() == (3 if fault == "429" else 1)


# ------------------------------------------------------------------------------------------------ CLI (subprocess)

def _config(tmp_path, archive_url, klines_url, symbols, start_days_ago=40):
    start = time.strftime("%Y-%m-%d", time.gmtime(time.time() - start_days_ago * 86400))
    cfg = {"universe": {"source": "fixed", "symbols": symbols},
           "data": {"intervals": ["1d"], "start_date": start, "lookback_padding_days": 0,
                    "archive": {"base_url": archive_url, "timeout_seconds": 2},
                    "exchanges": [{"name": "binance", "base_url": klines_url, "timeout_seconds": 2}],
                    "coingecko": {"enabled": False}},
           "paths": {"data_dir": str(tmp_path / "data")}}
    path = tmp_path / "aura.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _aura(*args, timeout=120):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "aura_cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)


def test_cli_once_then_fresh_then_failure(tmp_path, archive_fake, klines_fake):
    today = int(time.time() * 1000) // DAY * DAY
    rows = synth_rows(today - 45 * DAY, 46, DAY, seed=5)  # includes today's still-forming candle
    klines_fake.data[("AAAUSDT", "1d")] = rows
    cfg = _config(tmp_path, archive_fake.url, klines_fake.url, ["AAAUSDT"])
    first = _aura("--config", str(cfg), "ingest", "--once")
    assert first.returncode == 0, first.stdout + first.stderr
    summary = [ln for ln in first.stdout.splitlines() if "[INGEST]" in ln]
    assert len(summary) == 1 and "status=ok" in summary[0] and "updated=1" in summary[0]
    got = load_candles(tmp_path / "data", "1d", "AAAUSDT")
    assert got.open_time[-1] == today - DAY  # closed candles only
    n = archive_fake.count() + klines_fake.count()
    second = _aura("--config", str(cfg), "ingest", "--once")
    assert second.returncode == 0 and "fresh=1" in second.stdout and "requests=0" in second.stdout
    assert archive_fake.count() + klines_fake.count() == n  # zero requests when fresh
    # a symbol nobody has: nothing could be updated -> exit 1, one clear line, no traceback
    third = _aura("--config", str(cfg), "ingest", "--once", "--symbols", "ZZZUSDT")
    assert third.returncode == 1 and "status=failed" in third.stdout and "Traceback" not in third.stderr


def test_cli_bad_config_is_exit_2(tmp_path):
    bad = tmp_path / "aura.yaml"
    bad.write_text("data:\n  intervals: [7m]\n")
    proc = _aura("--config", str(bad), "ingest", "--once")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "intervals" in proc.stderr


def test_scheduled_service_serves_metrics(tmp_path, archive_fake, klines_fake, port):
    today = int(time.time() * 1000) // DAY * DAY
    klines_fake.data[("AAAUSDT", "1d")] = synth_rows(today - 45 * DAY, 46, DAY, seed=6)
    cfg = _config(tmp_path, archive_fake.url, klines_fake.url, ["AAAUSDT"])
    doc = yaml.safe_load(cfg.read_text())
    doc["metrics"] = {"ingestor_port": port, "bind": "127.0.0.1"}
    cfg.write_text(yaml.safe_dump(doc))
    proc = subprocess.Popen([sys.executable, "-m", "aura_cli.main", "--config", str(cfg), "ingest"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        body = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                body = ""
            if "aura_ingest_last_success_timestamp_seconds" in body and \
                    'aura_ingest_rows_written_total{interval="1d"}' in body:
                break
            time.sleep(0.2)
        assert 'aura_ingest_rows_written_total{interval="1d"} 40.0' in body
        assert 'aura_ingest_gaps{interval="1d",symbol="AAAUSDT"} 0.0' in body
        assert "aura_provider_request_duration_seconds_count" in body
    finally:
        stop_process(proc)


def test_a_hanging_provider_is_given_up_after_three_timeouts_in_a_pass(tmp_path, archive_fake, klines_fake):
    clock = SteppedClock(NOW)
    symbols = [f"S{i}USDT" for i in range(6)]
    for k, s in enumerate(symbols):
        klines_fake.data[(s, "1d")] = synth_rows(START, 41, DAY, seed=k)
    archive_fake.faults["/data/"] = "hang"
    from aura_common.adapters.providers.ccxt_tail import CcxtTailProvider, make_exchange
    providers = [ArchiveProvider(archive_fake.url, clock, timeout_seconds=0.3),
                 CcxtTailProvider(lambda: make_exchange("binance", klines_fake.url, 2), "binance", clock)]
    svc, m = service(tmp_path, providers, symbols, clock)
    t0 = time.perf_counter()
    s = svc.run_pass()
    assert time.perf_counter() - t0 < 8
    assert s.ok and s.updated == 6 and archive_fake.count() == 3
    assert m.registry.get_sample_value("aura_provider_errors_total",
                                       {"provider": "archive", "kind": "timeout"}) == 3 + 5
    # 3 real timeouts (the first pair's files), then one "not asked" error for each other pair


def test_unreachable_exchange_universe_fails_the_pass_cleanly(tmp_path, klines_fake):
    from aura_common.adapters.providers.ccxt_tail import make_exchange
    from aura_common.config.models import UniverseConfig
    from aura_ingestor.universe import resolve_universe
    klines_fake.faults["/api/v3/exchangeInfo"] = "500"
    clock = SteppedClock(NOW)
    svc = IngestService(tmp_path, lambda: [], lambda: resolve_universe(
        UniverseConfig(source="exchange"), lambda: make_exchange("binance", klines_fake.url, 2)),
        [Interval.D1], START, 0, clock, progress=False)
    s = svc.run_pass()
    assert not s.ok and s.checked == 0 and s.failures and s.failures[0].startswith("universe:")


def test_concurrent_pass_gives_the_same_cache_as_a_sequential_one(tmp_path, archive_fake, klines_fake):
    from aura_common.adapters.providers.ccxt_tail import CcxtTailProvider, make_exchange
    clock = SteppedClock(NOW)
    symbols = [f"S{i}USDT" for i in range(12)]
    for k, s in enumerate(symbols):
        rows = synth_rows(START, 41, DAY, seed=k)
        archive_fake.add_rows(s, "1d", rows[:31])  # January from the archive, February from the exchange tail
        klines_fake.data[(s, "1d")] = rows

    def providers():
        return [ArchiveProvider(archive_fake.url, clock),
                CcxtTailProvider(lambda: make_exchange("binance", klines_fake.url, 2), "binance", clock)]
    results = {}
    for workers in (1, 4):
        d = tmp_path / f"w{workers}"
        svc = IngestService(d, providers, lambda: symbols, [Interval.D1], START, 0, clock, progress=False,
                            workers=workers)
        before = archive_fake.count() + klines_fake.count()
        s = svc.run_pass()
        assert s.ok and s.updated == 12 and s.rows == 12 * 40
        assert s.requests == archive_fake.count() + klines_fake.count() - before  # per-thread request counting
        results[workers] = load_panel(d, "1d")
        assert {e.sources.get("exchange:binance") for e in load_manifest(d).entries["1d"].values()} == {9}
    for f in ("open", "high", "low", "close"):
        assert np.array_equal(getattr(results[1], f), getattr(results[4], f), equal_nan=True)


def test_coingecko_stopgap_is_upgraded_when_the_exchange_recovers(tmp_path, klines_fake):
    from aura_common.adapters.providers.ccxt_tail import CcxtTailProvider, make_exchange
    clock = SteppedClock(NOW)
    rows = synth_rows(START, 42, DAY, seed=31)
    klines_fake.data[("AAAUSDT", "1d")] = rows
    with CoinGeckoFake(NOW + DAY) as cg:
        cg.prices["aaa-coin"] = {START + k * DAY: float(rows[k, 1]) for k in range(42)}

        def providers():
            return [CcxtTailProvider(lambda: make_exchange("binance", klines_fake.url, 2), "binance", clock),
                    CoinGeckoProvider(cg.url, {"AAAUSDT": "aaa-coin"}, clock)]
        svc, m = service(tmp_path, None, ["AAAUSDT"], clock)
        svc.providers_factory = providers
        klines_fake.faults["/api/v3/klines"] = "500"  # the exchange is down: CoinGecko stands in
        assert svc.run_pass().ok
        got = load_candles(tmp_path, "1d", "AAAUSDT")
        assert len(got) == 40 and set(got.source) == {"coingecko"}
        klines_fake.faults.clear()  # the next day the exchange is back: the recent stand-ins are replaced
        clock.set(NOW + DAY)
        s = svc.run_pass()
        got = load_candles(tmp_path, "1d", "AAAUSDT")
        assert len(got) == 41
        recent = got.open_time >= NOW + DAY - 7 * DAY
        assert set(got.source[recent]) == {"exchange:binance"}
        assert set(got.source[~recent]) == {"coingecko"}  # older stand-ins are final (settled window)
        assert s.rows == 1 + (int(recent.sum()) - 1)  # the new day + the upgraded stand-ins
        assert np.allclose(got.high[recent], rows[:41][recent][:, 2])  # real highs, not line-candle bounds


@pytest.mark.parametrize("args, key", [(["--symbols", "../etc"], "--symbols"), (["--workers", "0"], "--workers"),
                                       (["--intervals", "7m"], "--intervals")])
def test_cli_usage_errors_are_one_line_exit_2(args, key):
    proc = _aura("ingest", "--once", *args)
    assert proc.returncode == 2 and key in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_second_concurrent_pass_is_refused_by_the_cache_lock(tmp_path, archive_fake):
    import fcntl
    clock = SteppedClock(NOW)
    archive_fake.add_rows("AAAUSDT", "1d", synth_rows(START, 40, DAY), daily_from_ms=1_738_368_000_000)
    svc, _ = service(tmp_path, [ArchiveProvider(archive_fake.url, clock)], ["AAAUSDT"], clock)
    lock_path = tmp_path / "parquet" / ".ingest.lock"
    lock_path.parent.mkdir(parents=True)
    with open(lock_path, "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # "the other ingestor"
        s = svc.run_pass()
        assert not s.ok and "another ingest pass" in s.failures[0] and archive_fake.count() == 0
    assert svc.run_pass().ok  # released: the next pass runs


@pytest.mark.parametrize("order, names", [
    (("archive", "exchange", "coingecko"), ["archive", "exchange:binance", "exchange:okx", "coingecko"]),
    (("exchange", "archive"), ["exchange:binance", "exchange:okx", "archive"]),
    (("coingecko",), ["coingecko"]),
])
def test_build_providers_follows_provider_order(order, names):
    from aura_common.config.models import AuraConfig, DataConfig
    from aura_ingestor.service import build_providers
    cfg = AuraConfig(data=DataConfig(provider_order=order))
    assert [p.name for p in build_providers(cfg, SteppedClock(NOW))] == names  # builds lazily: no request


def test_temp_files_of_a_killed_writer_are_cleaned_up(tmp_path, archive_fake):
    clock = SteppedClock(NOW)
    archive_fake.add_rows("AAAUSDT", "1d", synth_rows(START, 40, DAY), daily_from_ms=1_738_368_000_000)
    d = tmp_path / "parquet" / "1d"
    d.mkdir(parents=True)
    old_tmp, new_tmp = d / ".AAAUSDT.parquet.abc123.tmp", d / ".BBBUSDT.parquet.def456.tmp"
    old_tmp.write_bytes(b"half a file")
    new_tmp.write_bytes(b"someone is writing this")
    os.utime(old_tmp, (time.time() - 3600, time.time() - 3600))
    svc, _ = service(tmp_path, [ArchiveProvider(archive_fake.url, clock)], ["AAAUSDT"], clock)
    assert svc.run_pass().ok
    assert not old_tmp.exists() and new_tmp.exists()
    assert load_panel(tmp_path, "1d").symbols == ("AAAUSDT",)


@pytest.mark.slow
def test_killed_mid_pass_leaves_a_readable_cache_and_the_next_pass_completes(tmp_path, archive_fake, klines_fake):
    """Crash-only: SIGKILL the ingestor while it writes, then every cache file is whole and a rerun finishes."""
    today = int(time.time() * 1000) // DAY * DAY
    symbols = [f"K{i:02d}USDT" for i in range(30)]
    for k, s in enumerate(symbols):
        klines_fake.data[(s, "1d")] = synth_rows(today - 45 * DAY, 46, DAY, seed=k)
    klines_fake.faults["/api/v3/klines"] = "slow"
    cfg = _config(tmp_path, archive_fake.url, klines_fake.url, symbols)
    proc = subprocess.Popen([sys.executable, "-m", "aura_cli.main", "--config", str(cfg), "ingest", "--once",
                             "--workers", "2"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache = tmp_path / "data" / "parquet" / "1d"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(cache.glob("*.parquet"))) < 5:
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=10)
    written = list(cache.glob("*.parquet"))
    assert 5 <= len(written) < 30, "the kill should land mid-pass"
    panel = load_panel(tmp_path / "data", "1d")  # every file that exists is whole
    assert len(panel.symbols) == len(written) and not np.isnan(panel.close[-1]).any()
    klines_fake.faults.clear()
    rerun = _aura("--config", str(cfg), "ingest", "--once")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert len(load_panel(tmp_path / "data", "1d").symbols) == 30
