"""The Parquet candle cache and its read API, on real files in tmp_path."""

from __future__ import annotations

import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from aura_common.adapters.parquet_store import (
    SCHEMA, CacheError, CacheReadError, cached_symbols, candle_path, load_panel, read_candles, write_candles,
    write_panel)
from aura_common.core.panel import FIELDS
from aura_common.core.synthetic import synthetic_panel

DAY = 86_400_000
T0 = 1_600_000_000_000 - 1_600_000_000_000 % DAY


def rows(n, start=T0, step=DAY, base=100.0, source="archive", volume=True):
    t = start + step * np.arange(n, dtype=np.int64)
    c = base + np.arange(n, dtype=np.float64)
    out = {"open_time": t, "open": c - 0.5, "high": c + 1, "low": c - 1, "close": c, "source": source}
    if volume:
        out["volume"] = np.full(n, 10.0)
        out["quote_volume"] = 10.0 * c
    return out


def test_round_trip_schema_and_sorting(tmp_path):
    r = rows(5)
    shuffled = {k: (v[::-1] if isinstance(v, np.ndarray) else v) for k, v in r.items()}
    path = write_candles(tmp_path, "1d", "BTCUSDT", shuffled)
    assert path == tmp_path / "parquet" / "1d" / "BTCUSDT.parquet"
    table = read_candles(tmp_path, "1d", "BTCUSDT")
    assert table.schema.equals(SCHEMA, check_metadata=False)
    assert table.column("open_time").cast("int64").to_pylist() == list(r["open_time"])
    assert table.column("source").to_pylist() == ["archive"] * 5
    assert [p.name for p in (tmp_path / "parquet" / "1d").iterdir()] == ["BTCUSDT.parquet"]  # no temp left


def test_duplicate_open_times_are_refused(tmp_path):
    r = rows(3)
    r["open_time"] = np.array([T0, T0, T0 + DAY])
    with pytest.raises(ValueError, match="duplicate"):
        write_candles(tmp_path, "1d", "BTCUSDT", r)


def test_load_panel_aligns_symbols_and_marks_gaps(tmp_path):
    write_candles(tmp_path, "1d", "BTCUSDT", rows(10))
    late = rows(5, start=T0 + 3 * DAY, base=5.0, source="coingecko", volume=False)
    write_candles(tmp_path, "1d", "AAAUSDT", late)
    p = load_panel(tmp_path, "1d")
    assert p.symbols == ("AAAUSDT", "BTCUSDT")
    assert p.shape == (10, 2)
    assert list(p.times) == [T0 + i * DAY for i in range(10)]
    assert np.isnan(p.close[:3, 0]).all() and np.isnan(p.close[8:, 0]).all()
    assert list(p.close[3:8, 0]) == [5.0, 6.0, 7.0, 8.0, 9.0]
    assert np.isnan(p.volume[:, 0]).all() and np.isnan(p.quote_volume[:, 0]).all()  # coingecko: no volume
    assert (p.volume[:, 1] == 10.0).all()


def test_load_panel_range_is_end_exclusive_and_rounds_start_up(tmp_path):
    write_candles(tmp_path, "1d", "BTCUSDT", rows(10))
    p = load_panel(tmp_path, "1d", start_ms=T0 + 2 * DAY - 1, end_ms=T0 + 5 * DAY)
    assert list(p.times) == [T0 + 2 * DAY, T0 + 3 * DAY, T0 + 4 * DAY]
    assert list(p.close[:, 0]) == [102.0, 103.0, 104.0]


def test_load_panel_unknown_symbol_is_nan_column_and_empty_cache_is_empty(tmp_path):
    write_candles(tmp_path, "1d", "BTCUSDT", rows(3))
    p = load_panel(tmp_path, "1d", symbols=["ZZZUSDT", "BTCUSDT"])
    assert p.symbols == ("BTCUSDT", "ZZZUSDT")
    assert np.isnan(p.close[:, 1]).all() and not np.isnan(p.close[:, 0]).any()
    empty = load_panel(tmp_path / "nothing", "4h")
    assert empty.shape == (0, 0)
    assert all(getattr(empty, f).shape == (0, 0) for f in FIELDS)


def test_corrupt_file_is_a_clear_error_naming_it(tmp_path):
    write_candles(tmp_path, "1d", "BTCUSDT", rows(3))
    path = candle_path(tmp_path, "1d", "BTCUSDT")
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(CacheReadError, match="BTCUSDT.parquet"):
        load_panel(tmp_path, "1d")


def test_foreign_schema_is_refused(tmp_path):
    import pyarrow as pa
    path = candle_path(tmp_path, "1d", "BTCUSDT")
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"open_time": [1, 2], "close": [1.0, 2.0]}), path)
    with pytest.raises(CacheReadError, match="BTCUSDT.parquet"):
        read_candles(tmp_path, "1d", "BTCUSDT")
    assert cached_symbols(tmp_path, "1d") == ("BTCUSDT",)


_FULL_DISK_WRITER = """
import resource, signal, sys
import numpy as np
from aura_common.adapters.parquet_store import CacheError, write_candles
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))
rng = np.random.default_rng(1)
n = 20000
c = 100 + rng.random(n)
try:
    write_candles(sys.argv[1], "1d", "BTCUSDT", {"open_time": 86400000 * np.arange(n), "open": c,
                  "high": c + 1, "low": c - 1, "close": c, "volume": rng.random(n), "source": "archive"})
except CacheError as exc:
    print("CacheError:", exc)
    sys.exit(3)
"""


def test_disk_full_write_fails_cleanly_and_keeps_previous_file(tmp_path):
    """"Disk full", honestly: a real subprocess whose file-size limit (RLIMIT_FSIZE) makes the kernel refuse the
    write with EFBIG mid-file, exactly where ENOSPC would strike. The previous file must survive untouched."""
    import subprocess
    import sys
    write_candles(tmp_path, "1d", "BTCUSDT", rows(3))
    before = candle_path(tmp_path, "1d", "BTCUSDT").read_bytes()
    proc = subprocess.run([sys.executable, "-c", _FULL_DISK_WRITER, str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert "BTCUSDT.parquet" in proc.stdout and "too large" in proc.stdout.lower()
    assert candle_path(tmp_path, "1d", "BTCUSDT").read_bytes() == before
    assert [p.name for p in (tmp_path / "parquet" / "1d").iterdir()] == ["BTCUSDT.parquet"]  # temp removed


def test_unwritable_cache_directory_is_a_clear_error(tmp_path):
    """A path component that is a file, not a directory: the write cannot even start (works as root too)."""
    (tmp_path / "parquet").write_text("not a directory")
    with pytest.raises(CacheError, match="parquet"):
        write_candles(tmp_path, "1d", "BTCUSDT", rows(3))
    assert (tmp_path / "parquet").read_text() == "not a directory"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_cache_directory_keeps_previous_file(tmp_path):
    write_candles(tmp_path, "1d", "BTCUSDT", rows(3))
    d = tmp_path / "parquet" / "1d"
    before = (d / "BTCUSDT.parquet").read_bytes()
    d.chmod(0o555)
    try:
        with pytest.raises(CacheError, match="1d"):
            write_candles(tmp_path, "1d", "BTCUSDT", rows(4))
    finally:
        d.chmod(0o755)
    assert (d / "BTCUSDT.parquet").read_bytes() == before


def test_real_data_round_trip_matches_the_fixture_reader(tmp_path, real_data):
    from aura_common.adapters.json_candles import json_symbol_files, load_json_panel, read_json_rows
    files = dict(list(json_symbol_files(real_data, "1d").items())[:5])
    for s, f in files.items():
        a = read_json_rows(f)
        write_candles(tmp_path, "1d", s, {"open_time": a[:, 0].astype(np.int64), "open": a[:, 1],
                                          "high": a[:, 2], "low": a[:, 3], "close": a[:, 4],
                                          "volume": a[:, 5], "source": "archive"})
    got = load_panel(tmp_path, "1d")
    want = load_json_panel(real_data, "1d", symbols=files)
    assert got.symbols == want.symbols
    assert np.array_equal(got.times, want.times)
    for f in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(got, f), getattr(want, f), equal_nan=True)


def test_write_panel_then_load_panel_gives_the_panel_back(tmp_path):
    """A panel written symbol by symbol (listing gaps left out of the files) loads back equal, gaps included."""
    panel = synthetic_panel(5, 120, seed=4, late_listing_fraction=0.6)
    assert np.isnan(panel.close).any()
    paths = write_panel(tmp_path, "1d", panel, "synthetic")
    assert [p.name for p in paths] == [candle_path(tmp_path, "1d", s).name for s in panel.symbols]
    first = read_candles(tmp_path, "1d", panel.symbols[0])
    assert set(first.column("source").to_pylist()) == {"synthetic"}
    assert first.num_rows == int((~np.isnan(panel.close[:, 0])).sum())
    got = load_panel(tmp_path, "1d")
    assert got.symbols == panel.symbols
    np.testing.assert_array_equal(got.times, panel.times)
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(got, field), getattr(panel, field))


# --- issue 14: every read path checks the rows with the one candle rule -------------------------------------

def _write_raw(path, cols):
    """A cache file written around ``write_candles`` (which sorts and refuses duplicates): foreign or old data."""
    import pyarrow as pa
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = [pa.array(np.asarray(cols["open_time"], dtype=np.int64)).cast(SCHEMA.field("open_time").type)]
    arrays += [pa.array(np.asarray(cols[f], dtype=np.float64)) for f in ("open", "high", "low", "close", "volume",
                                                                          "quote_volume")]
    arrays.append(pa.array(["archive"] * len(cols["open_time"])))
    pq.write_table(pa.Table.from_arrays(arrays, schema=SCHEMA), path)


def _bad(kind):
    r = rows(30)
    if kind == "negative_close":
        r["close"][7], r["low"][7] = -2.0, -3.0
    elif kind == "zero_close":
        r["close"][7], r["low"][7] = 0.0, 0.0
    elif kind == "nan_close":
        r["close"][7] = np.nan
    elif kind == "high_below_low":
        r["high"][7], r["low"][7] = r["low"][7], r["high"][7]
    elif kind == "unsorted":
        r["open_time"][[7, 8]] = r["open_time"][[8, 7]]
    elif kind == "duplicate":
        r["open_time"][8] = r["open_time"][7]
    elif kind == "year_20000":
        r["open_time"][29] = 568_971_820_800_000
    elif kind == "year_minus_13000":
        r["open_time"][0] = -472_425_955_200_000
    return r


BAD = {"negative_close": (8, "non_positive_price"), "zero_close": (8, "non_positive_price"),
       "nan_close": (8, "non_finite"), "high_below_low": (8, "ohlc_inconsistent"), "unsorted": (9, "out_of_order"),
       "duplicate": (9, "out_of_order"), "year_20000": (30, "time_out_of_range"),
       "year_minus_13000": (1, "time_out_of_range")}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_load_panel_refuses_a_file_with_a_bad_row_naming_file_row_and_reason(tmp_path, kind):
    from aura_common.adapters.parquet_store import CacheInvalidError, load_candles
    write_candles(tmp_path, "1d", "BTCUSDT", rows(30))
    path = candle_path(tmp_path, "1d", "ETHUSDT")
    _write_raw(path, _bad(kind))
    row, reason = BAD[kind]
    for read in (lambda: load_panel(tmp_path, "1d"),  # no window: year 20000 used to lay out ~6 million rows
                 lambda: load_panel(tmp_path, "1d", ["ETHUSDT"], T0, T0 + 10 * DAY, fields=("close",)),
                 lambda: load_candles(tmp_path, "1d", "ETHUSDT")):
        with pytest.raises(CacheInvalidError) as exc:
            read()
        assert str(path) in str(exc.value) and f"row {row} of 30" in str(exc.value) and reason in str(exc.value)
        assert isinstance(exc.value, CacheReadError)  # the ingestor quarantines what it cannot use


def test_load_panel_leaves_a_refused_file_out_when_asked_to_and_says_which(tmp_path):
    write_candles(tmp_path, "1d", "BTCUSDT", rows(30))
    _write_raw(candle_path(tmp_path, "1d", "ETHUSDT"), _bad("year_20000"))
    refused = {}
    p = load_panel(tmp_path, "1d", on_invalid=lambda s, e: refused.__setitem__(s, str(e)))
    assert p.symbols == ("BTCUSDT", "ETHUSDT") and p.shape == (30, 2)
    assert np.isnan(p.close[:, 1]).all() and list(refused) == ["ETHUSDT"] and "time_out_of_range" in refused["ETHUSDT"]
