"""The provider chain end to end against local fakes: real HTTP, real ccxt, real Parquet files in tmp_path."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from marketdata_fakes import DAY, H4, ArchiveFake, checksum_line, make_zip, synth_rows
from prometheus_client import CollectorRegistry

from aura_common.adapters.clock import SteppedClock
from aura_common.adapters.manifest import Manifest, load_manifest, save_manifest
from aura_common.adapters.parquet_store import candle_path, load_candles, load_panel
from aura_common.adapters.providers.archive import ArchiveProvider
from aura_common.adapters.providers.ccxt_tail import CcxtTailProvider, make_exchange
from aura_common.domain import Interval
from aura_ingestor.chain import ChainContext, update_symbol
from aura_ingestor.metrics import IngestorMetrics


def ms(y, m, d, h=0):
    return int(datetime(y, m, d, h, tzinfo=timezone.utc).timestamp() * 1000)


NOW = ms(2025, 2, 10, 12)  # mid-February 2025: January is a closed month, February is daily files


def archive(fake, clock, metrics=None):
    return ArchiveProvider(fake.url, clock, timeout_seconds=2.0,
                           observer=metrics.observe_request if metrics else (lambda *a: None))


def tail(fake, clock, timeout=2.0, retries=3):
    return CcxtTailProvider(lambda: make_exchange("binance", fake.url, timeout), "binance", clock,
                            max_retries=retries)


def ctx(tmp_path, providers, start, padding=0, metrics=None, manifest=None):
    return ChainContext(tmp_path, providers, manifest or Manifest(), start, padding,
                        metrics or IngestorMetrics(CollectorRegistry()))


def sample(metrics, name, **labels):
    v = metrics.registry.get_sample_value(name, labels)
    return 0.0 if v is None else v


def test_archive_monthly_daily_and_microsecond_switch(tmp_path, archive_fake, klines_fake):
    clock = SteppedClock(NOW)
    start = ms(2024, 12, 1)
    rows = synth_rows(start, 71, DAY, seed=1)  # 2024-12-01 .. 2025-02-09 (the last closed day)
    archive_fake.add_rows("BTCUSDT", "1d", rows, daily_from_ms=ms(2025, 2, 1))
    c = ctx(tmp_path, [archive(archive_fake, clock), tail(klines_fake, clock)], start)
    out = update_symbol(c, "BTCUSDT", Interval.D1, NOW)
    assert out.status == "updated" and out.rows_written == 71 and out.rejected == 0
    got = load_candles(tmp_path, "1d", "BTCUSDT")
    assert got.open_time.tolist() == rows[:, 0].astype(np.int64).tolist()  # µs rows of 2025 read back as ms
    assert np.allclose(got.close, rows[:, 4])
    assert set(got.source) == {"archive"}
    assert np.allclose(got.quote_volume, rows[:, 5] * rows[:, 2:5].sum(axis=1) / 3, rtol=1e-6)
    assert klines_fake.count() == 0  # the archive had everything: the tail feed was never asked
    jan = ArchiveFake.monthly_path("BTCUSDT", "1d", 2025, 1)
    assert jan in archive_fake.requests and jan + ".CHECKSUM" in archive_fake.requests


def test_fresh_cache_makes_zero_requests(tmp_path, archive_fake, klines_fake):
    clock = SteppedClock(NOW)
    start = ms(2025, 1, 1)
    archive_fake.add_rows("BTCUSDT", "1d", synth_rows(start, 40, DAY), daily_from_ms=ms(2025, 2, 1))
    manifest = Manifest()
    c = ctx(tmp_path, [archive(archive_fake, clock), tail(klines_fake, clock)], start, manifest=manifest)
    assert update_symbol(c, "BTCUSDT", Interval.D1, NOW).status == "updated"
    n_archive, n_klines = archive_fake.count(), klines_fake.count()
    save_manifest(tmp_path, manifest)
    c2 = ctx(tmp_path, [archive(archive_fake, clock), tail(klines_fake, clock)], start,
             manifest=load_manifest(tmp_path))
    out = update_symbol(c2, "BTCUSDT", Interval.D1, NOW + 3_600_000)
    assert out.status == "fresh" and out.requests == 0
    assert (archive_fake.count(), klines_fake.count()) == (n_archive, n_klines)
    # one day later a new candle has closed: exactly the tail is asked for
    out = update_symbol(c2, "BTCUSDT", Interval.D1, NOW + DAY)
    assert out.status in ("updated", "unchanged", "failed") and out.requests > 0  # the fakes may err


def test_tail_feed_fills_what_the_archive_lacks_closed_candles_only(tmp_path, archive_fake, klines_fake):
    clock = SteppedClock(NOW)
    start = ms(2025, 1, 1)
    rows = synth_rows(start, 41, DAY, seed=2)  # through 2025-02-10, the day still forming at NOW
    archive_fake.add_rows("BTCUSDT", "1d", rows[:31])  # January only
    klines_fake.data[("BTCUSDT", "1d")] = rows  # includes the forming candle of 2025-02-10
    c = ctx(tmp_path, [archive(archive_fake, clock), tail(klines_fake, clock)], start)
    out = update_symbol(c, "BTCUSDT", Interval.D1, NOW)
    got = load_candles(tmp_path, "1d", "BTCUSDT")
    assert got.open_time[-1] == ms(2025, 2, 9)  # the forming candle (opened 2025-02-10) never enters the cache
    assert len(got) == 40 and out.gap_candles == 0
    assert list(got.source[:31]) == ["archive"] * 31 and set(got.source[31:]) == {"exchange:binance"}
    # Binance reports the quote volume in its raw klines: kept (the liquidity screen needs it)
    assert np.allclose(got.quote_volume[31:], rows[31:40, 5] * rows[31:40, 2:5].sum(axis=1) / 3, rtol=1e-6)


def test_lookback_padding_fetches_the_warm_up_window(tmp_path, archive_fake, klines_fake):
    clock = SteppedClock(NOW)
    rows = synth_rows(ms(2024, 11, 1), 101, DAY, seed=3)
    archive_fake.add_rows("BTCUSDT", "1d", rows, daily_from_ms=ms(2025, 2, 1))
    c = ctx(tmp_path, [archive(archive_fake, clock)], start=ms(2025, 1, 1), padding=30 * DAY)
    update_symbol(c, "BTCUSDT", Interval.D1, NOW)
    got = load_candles(tmp_path, "1d", "BTCUSDT")
    assert got.open_time[0] == ms(2025, 1, 1) - 30 * DAY


def test_checksum_mismatch_is_refused_and_passed_on(tmp_path, archive_fake, klines_fake):
    clock = SteppedClock(NOW)
    start = ms(2025, 1, 1)
    rows = synth_rows(start, 40, DAY, seed=4)
    archive_fake.add_rows("BTCUSDT", "1d", rows[:31])
    path = ArchiveFake.monthly_path("BTCUSDT", "1d", 2025, 1)
    archive_fake.files[path + ".CHECKSUM"] = checksum_line(b"something else", path.rsplit("/", 1)[-1])
    klines_fake.data[("BTCUSDT", "1d")] = rows
    m = IngestorMetrics(CollectorRegistry())
    c = ctx(tmp_path, [archive(archive_fake, clock, m), tail(klines_fake, clock)], start, metrics=m)
    update_symbol(c, "BTCUSDT", Interval.D1, NOW)
    got = load_candles(tmp_path, "1d", "BTCUSDT")
    assert len(got) == 40 and set(got.source) == {"exchange:binance"}
    assert sample(m, "aura_provider_errors_total", provider="archive", kind="checksum") == 1


@pytest.mark.parametrize("corrupt", ["truncated", "not_a_zip"])
def test_truncated_or_garbage_zip_is_refused(tmp_path, archive_fake, corrupt):
    clock = SteppedClock(NOW)
    start = ms(2025, 1, 1)
    archive_fake.add_rows("BTCUSDT", "1d", synth_rows(start, 31, DAY))
    path = ArchiveFake.monthly_path("BTCUSDT", "1d", 2025, 1)
    data = archive_fake.files[path]
    bad = data[: len(data) // 2] if corrupt == "truncated" else b"<html>oops</html>"
    archive_fake.put_zip(path, bad)  # a CHECKSUM that matches the damaged bytes: damage at the source
    m = IngestorMetrics(CollectorRegistry())
    c = ctx(tmp_path, [archive(archive_fake, clock, m)], start, metrics=m)
    out = update_symbol(c, "BTCUSDT", Interval.D1, NOW)
    assert out.status == "failed" and not candle_path(tmp_path, "1d", "BTCUSDT").exists()  # every provider failed
    assert sample(m, "aura_provider_errors_total", provider="archive", kind="bad_archive") == 1


def test_bad_csv_rows_are_rejected_counted_and_the_rest_kept(tmp_path, archive_fake):
    clock = SteppedClock(NOW)
    start = ms(2025, 1, 1)
    rows = synth_rows(start, 31, DAY, seed=5)
    from marketdata_fakes import kline_csv
    lines = kline_csv(rows, "1d", header=True).splitlines()
    # line 0 is a header (skipped defensively); damage data rows 3..8
    lines[3] = ",".join(lines[3].split(",")[:7])  # wrong column count
    f = lines[4].split(",")
    f[1] = "nan"
    lines[4] = ",".join(f)  # NaN open
    f = lines[5].split(",")
    f[1], f[3] = "-5.0", "-6.0"
    lines[5] = ",".join(f)  # negative prices
    f = lines[6].split(",")
    f[0] = str(int(f[0]) + 3_600_000)
    lines[6] = ",".join(f)  # not aligned to the day
    lines.insert(8, lines[7])  # a duplicate
    lines[10], lines[11] = lines[11], lines[10]  # out of order
    path = ArchiveFake.monthly_path("BTCUSDT", "1d", 2025, 1)
    archive_fake.put_zip(path, make_zip("BTCUSDT-1d-2025-01.csv", "\n".join(lines) + "\n"))
    m = IngestorMetrics(CollectorRegistry())
    c = ctx(tmp_path, [archive(archive_fake, clock, m)], start, metrics=m)
    out = update_symbol(c, "BTCUSDT", Interval.D1, NOW)
    for reason in ("bad_columns", "non_finite", "non_positive_price", "misaligned"):
        assert sample(m, "aura_ingest_rows_rejected_total", provider="archive", reason=reason) == 1, reason
    assert sample(m, "aura_ingest_rows_rejected_total", provider="archive", reason="out_of_order") == 2
    got = load_candles(tmp_path, "1d", "BTCUSDT")
    assert np.all(np.diff(got.open_time) > 0) and np.all(got.open > 0) and np.isfinite(got.open).all()
    assert out.rejected == 6
    # the rejected rows are visible gaps, not forward-filled: 4 missing days (2 were out-of-order, 1 was a dup)
    assert out.gap_candles == 31 + 9 - len(got) and out.gap_candles > 0
    panel = load_panel(tmp_path, "1d", start_ms=start, end_ms=ms(2025, 2, 1))
    assert np.isnan(panel.close[:, 0]).sum() == 31 - len(got)


def test_out_of_order_duplicate_and_misaligned_klines_are_rejected(tmp_path, klines_fake):
    clock = SteppedClock(NOW)
    start = ms(2025, 2, 1)
    rows = synth_rows(start, 9, DAY, seed=6)
    served = np.concatenate([rows[:3], rows[2:3], rows[5:6], rows[3:5], rows[6:]])  # dup of 2, 5 before 3/4
    served[-1, 0] += 1234  # misaligned
    klines_fake.data[("BTCUSDT", "1d")] = served
    m = IngestorMetrics(CollectorRegistry())
    c = ctx(tmp_path, [tail(klines_fake, clock)], start, metrics=m)
    update_symbol(c, "BTCUSDT", Interval.D1, NOW)
    # ccxt sorts a page by time before we see it, so only the duplicate is left to refuse
    assert sample(m, "aura_ingest_rows_rejected_total", provider="exchange:binance", reason="out_of_order") == 1
    assert sample(m, "aura_ingest_rows_rejected_total", provider="exchange:binance", reason="misaligned") == 1
    got = load_candles(tmp_path, "1d", "BTCUSDT")
    assert got.open_time.tolist() == [int(t) for t in rows[:8, 0]]


@pytest.mark.parametrize("fault, kind", [("html", "bad_response"), ("malformed", "bad_response"),
                                         ("500", "connection")])
def test_tail_feed_garbage_is_an_error_and_the_next_feed_fills(tmp_path, klines_fake, klines_fake2, fault, kind):
    clock = SteppedClock(NOW)
    start = ms(2025, 2, 1)
    rows = synth_rows(start, 9, DAY, seed=7)
    klines_fake.data[("BTCUSDT", "1d")] = rows
    klines_fake2.data[("BTCUSDT", "1d")] = rows
    klines_fake.faults["/api/v3/klines"] = fault
    m = IngestorMetrics(CollectorRegistry())
    second = CcxtTailProvider(lambda: make_exchange("binance", klines_fake2.url, 2), "binance", clock)
    second.name = "exchange:second"
    c = ctx(tmp_path, [tail(klines_fake, clock), second], start, metrics=m)
    update_symbol(c, "BTCUSDT", Interval.D1, NOW)
    got = load_candles(tmp_path, "1d", "BTCUSDT")
    assert len(got) == 9 and set(got.source) == {"exchange:second"}  # filled by the second feed
    assert sample(m, "aura_provider_errors_total", provider="exchange:binance", kind=kind) == 1
    assert klines_fake2.count("/api/v3/klines") == 1


def test_a_hanging_provider_times_out_and_is_passed_on(tmp_path, archive_fake, klines_fake):
    clock = SteppedClock(NOW)
    start = ms(2025, 2, 1)
    rows = synth_rows(start, 9, DAY, seed=8)
    archive_fake.add_rows("BTCUSDT", "1d", rows, daily_from_ms=start)
    klines_fake.faults["/api/v3/exchangeInfo"] = "hang"
    m = IngestorMetrics(CollectorRegistry())
    c = ctx(tmp_path, [tail(klines_fake, clock, timeout=0.3), archive(archive_fake, clock, m)], start, metrics=m)
    import time
    t0 = time.perf_counter()
    update_symbol(c, "BTCUSDT", Interval.D1, NOW)
    assert time.perf_counter() - t0 < 4.0
    assert sample(m, "aura_provider_errors_total", provider="exchange:binance", kind="timeout") == 1
    assert len(load_candles(tmp_path, "1d", "BTCUSDT")) == 9


def test_a_429_storm_backs_off_with_retry_after_then_gives_up(tmp_path, klines_fake, archive_fake):
    clock = SteppedClock(NOW)
    start = ms(2025, 2, 1)
    rows = synth_rows(start, 9, DAY, seed=9)
    klines_fake.data[("BTCUSDT", "1d")] = rows
    archive_fake.add_rows("BTCUSDT", "1d", rows, daily_from_ms=start)
    klines_fake.faults["/api/v3/klines"] = "429"
    klines_fake.retry_after = "7"
    m = IngestorMetrics(CollectorRegistry())
    c = ctx(tmp_path, [tail(klines_fake, clock, retries=3), archive(archive_fake, clock, m)], start, metrics=m)
    update_symbol(c, "BTCUSDT", Interval.D1, NOW)
    assert klines_fake.count("/api/v3/klines") == 4  # 1 + 3 retries, bounded
    assert clock.now_ms() - NOW == 3 * 7_000  # waited Retry-After each time (stepped clock: no real sleep)
    assert sample(m, "aura_provider_errors_total", provider="exchange:binance", kind="rate_limited") == 1
    assert len(load_candles(tmp_path, "1d", "BTCUSDT")) == 9  # the archive filled it


def test_archive_429_storm_is_bounded_too(tmp_path, archive_fake):
    clock = SteppedClock(NOW)
    start = ms(2025, 1, 1)
    archive_fake.add_rows("BTCUSDT", "1d", synth_rows(start, 31, DAY))
    archive_fake.faults["/data/"] = "429"
    c = ctx(tmp_path, [archive(archive_fake, clock)], start)
    out = update_symbol(c, "BTCUSDT", Interval.D1, NOW)
    assert out.status == "failed" and out.error  # the only provider failed: not "unchanged" (issue 18)
    assert archive_fake.count() == 4  # 1 + 3 retries, then the breaker stops asking for this pass
    assert clock.now_ms() > NOW


def test_gaps_stay_visible_and_settle(tmp_path, archive_fake):
    """A hole nobody has: recorded in the manifest and the gauge, NaN in the panel, not re-asked once settled."""
    clock = SteppedClock(NOW)
    start = ms(2024, 10, 1)
    rows = synth_rows(start, 132, DAY, seed=10)
    keep = np.ones(len(rows), dtype=bool)
    keep[40:43] = False  # a 3-day outage in November 2024
    archive_fake.add_rows("BTCUSDT", "1d", rows[keep], daily_from_ms=ms(2025, 2, 1))
    m = IngestorMetrics(CollectorRegistry())
    manifest = Manifest()
    c = ctx(tmp_path, [archive(archive_fake, clock, m)], start, metrics=m, manifest=manifest)
    update_symbol(c, "BTCUSDT", Interval.D1, NOW)
    entry = manifest.get("1d", "BTCUSDT")
    hole = [int(rows[40, 0]), int(rows[43, 0])]
    assert entry.gaps == [hole] and entry.gap_candles == 3 and hole in entry.settled
    assert sample(m, "aura_ingest_gaps", symbol="BTCUSDT", interval="1d") == 3
    panel = load_panel(tmp_path, "1d")
    assert np.isnan(panel.close[40:43, 0]).all() and not np.isnan(panel.close[43:, 0]).any()
    before = archive_fake.count()
    update_symbol(c, "BTCUSDT", Interval.D1, NOW + DAY)  # next day: only the new tail day is asked
    asked = archive_fake.requests[before:]
    assert asked and all("2025-02-10" in p for p in asked)


def test_corrupt_cache_file_is_quarantined_and_rebuilt(tmp_path, archive_fake):
    clock = SteppedClock(NOW)
    start = ms(2025, 1, 1)
    archive_fake.add_rows("BTCUSDT", "1d", synth_rows(start, 40, DAY), daily_from_ms=ms(2025, 2, 1))
    manifest = Manifest()
    c = ctx(tmp_path, [archive(archive_fake, clock)], start, manifest=manifest)
    update_symbol(c, "BTCUSDT", Interval.D1, NOW)
    path = candle_path(tmp_path, "1d", "BTCUSDT")
    path.write_bytes(b"PAR1 this is not parquet")
    out = update_symbol(c, "BTCUSDT", Interval.D1, NOW)  # the manifest no longer matches the file: it is read
    assert out.status == "updated" and len(load_candles(tmp_path, "1d", "BTCUSDT")) == 40
    moved = list((tmp_path / "quarantine").rglob("BTCUSDT.parquet.*"))
    assert len(moved) == 1 and moved[0].read_bytes() == b"PAR1 this is not parquet"


def test_a_cache_file_with_a_row_the_candle_rule_refuses_is_quarantined_and_rebuilt(tmp_path, archive_fake):
    """Issue 14: the ingestor reads its own cache with the rule it writes with (a negative close here)."""
    import pyarrow.parquet as pq

    from aura_common.adapters.parquet_store import read_candles, write_table
    clock = SteppedClock(NOW)
    start = ms(2025, 1, 1)
    archive_fake.add_rows("BTCUSDT", "1d", synth_rows(start, 40, DAY), daily_from_ms=ms(2025, 2, 1))
    manifest = Manifest()
    c = ctx(tmp_path, [archive(archive_fake, clock)], start, manifest=manifest)
    update_symbol(c, "BTCUSDT", Interval.D1, NOW)
    path = candle_path(tmp_path, "1d", "BTCUSDT")
    table = read_candles(tmp_path, "1d", "BTCUSDT")
    close = table.column("close").to_pylist()
    close[5] = -close[5]
    write_table(path, table.set_column(table.schema.get_field_index("close"), "close", [close]))
    manifest.drop("1d", "BTCUSDT")  # as if the manifest were lost: the file itself is read
    out = update_symbol(c, "BTCUSDT", Interval.D1, NOW)
    assert out.status == "updated" and len(load_candles(tmp_path, "1d", "BTCUSDT")) == 40
    assert (load_candles(tmp_path, "1d", "BTCUSDT").close > 0).all()
    (moved,) = (tmp_path / "quarantine").rglob("BTCUSDT.parquet.*")
    assert pq.read_table(moved).column("close").to_pylist()[5] < 0


def test_4h_interval_and_listing_gap(tmp_path, archive_fake, klines_fake):
    """A symbol listed after the requested start: the time before listing is not a gap, and it is asked once."""
    clock = SteppedClock(NOW)
    listing = ms(2025, 1, 20, 8)
    rows = synth_rows(listing, int((ms(2025, 2, 10, 12) - listing) // H4), H4, seed=11)
    archive_fake.add_rows("NEWUSDT", "4h", rows, daily_from_ms=ms(2025, 2, 1))
    klines_fake.data[("NEWUSDT", "4h")] = rows
    manifest = Manifest()
    c = ctx(tmp_path, [archive(archive_fake, clock), tail(klines_fake, clock)], ms(2024, 12, 1),
            manifest=manifest)
    out = update_symbol(c, "NEWUSDT", Interval.H4, NOW)
    got = load_candles(tmp_path, "4h", "NEWUSDT")
    assert got.open_time[0] == listing and out.gap_candles == 0
    assert got.open_time[-1] == ms(2025, 2, 10, 8)  # 08:00 closed at 12:00 exactly
    entry = manifest.get("4h", "NEWUSDT")
    assert [ms(2024, 12, 1), listing] in entry.settled


def test_okx_takes_over_when_binance_fails(tmp_path, klines_fake):
    """The second configured exchange (okx, through real ccxt.okx) fills what Binance could not."""
    from marketdata_fakes import OkxFake
    clock = SteppedClock(NOW)
    start = ms(2024, 9, 1)
    rows = synth_rows(start, 163, DAY, seed=12)  # > 100 rows: okx pages of 100
    klines_fake.faults["/api/v3/"] = "500"
    with OkxFake() as okx:
        okx.data[("BTCUSDT", "1d")] = rows
        m = IngestorMetrics(CollectorRegistry())
        okx_feed = CcxtTailProvider(lambda: make_exchange("okx", okx.url, 2), "okx", clock)
        c = ctx(tmp_path, [tail(klines_fake, clock), okx_feed], start, metrics=m)
        update_symbol(c, "BTCUSDT", Interval.D1, NOW)
        got = load_candles(tmp_path, "1d", "BTCUSDT")
        assert got.open_time.tolist() == rows[:162, 0].astype(np.int64).tolist()  # 2025-02-10 still forming
        assert set(got.source) == {"exchange:okx"}
        assert okx.count("/api/v5/market/") >= 2
        assert sample(m, "aura_provider_errors_total", provider="exchange:binance", kind="connection") == 1


def test_previous_month_without_monthly_file_falls_back_to_daily_files(tmp_path, archive_fake):
    clock = SteppedClock(ms(2025, 2, 2, 12))  # January's monthly file is not published yet
    start = ms(2025, 1, 1)
    archive_fake.add_rows("BTCUSDT", "1d", synth_rows(start, 32, DAY, seed=13), daily_from_ms=start)
    c = ctx(tmp_path, [archive(archive_fake, clock)], start)
    out = update_symbol(c, "BTCUSDT", Interval.D1, ms(2025, 2, 2, 12))
    assert out.rows_written == 32 and out.gap_candles == 0
    assert ArchiveFake.monthly_path("BTCUSDT", "1d", 2025, 1) in archive_fake.requests


@pytest.mark.parametrize("fault", ["html", "malformed"])
def test_garbage_exchange_info_is_an_error_asked_once_per_pass(tmp_path, klines_fake, fault):
    """ccxt turns an HTML/truncated exchangeInfo into an empty market table; that must not read as "not listed"."""
    clock = SteppedClock(NOW)
    start = ms(2025, 2, 1)
    for s in ("AAAUSDT", "BBBUSDT", "CCCUSDT"):
        klines_fake.data[(s, "1d")] = synth_rows(start, 9, DAY)
    klines_fake.faults["/api/v3/exchangeInfo"] = fault
    m = IngestorMetrics(CollectorRegistry())
    c = ctx(tmp_path, [tail(klines_fake, clock)], start, metrics=m)
    for s in ("AAAUSDT", "BBBUSDT", "CCCUSDT"):
        assert update_symbol(c, s, Interval.D1, NOW).status == "failed"
    assert sample(m, "aura_provider_errors_total", provider="exchange:binance", kind="bad_response") == 3
    assert klines_fake.count("/api/v3/exchangeInfo") == 1 and klines_fake.count("/api/v3/klines") == 0
