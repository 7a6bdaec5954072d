"""load_panel's fast column reader on real Parquet files in tmp_path: any encoding reads the same panel,
``fields`` reads fewer columns, and bad files are named (the cache contract lives in tests/marketdata)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aura_common.adapters.parquet_store import (
    SCHEMA, CacheReadError, candle_path, load_panel, to_table, write_candles)
from aura_common.core.panel import FIELDS
from aura_common.core.synthetic import synthetic_panel

DAY = 86_400_000


def write_panel(root, panel, **parquet_options):
    """One cache file per symbol; ``parquet_options`` override the writer's encoding (older caches: zstd)."""
    for j, s in enumerate(panel.symbols):
        ok = ~np.isnan(panel.close[:, j])
        data = {"open_time": panel.times[ok], "source": "archive",
                **{f: getattr(panel, f)[ok, j] for f in FIELDS}}
        if j % 3 == 1:  # some volumes unknown (CoinGecko rows): null in the file, NaN in the panel
            data["quote_volume"] = np.where(np.arange(ok.sum()) % 4 == 0, np.nan, data["quote_volume"])
        if parquet_options:
            path = candle_path(root, "1d", s)
            path.parent.mkdir(parents=True, exist_ok=True)
            table = to_table(data)
            if parquet_options.pop("chunked", False):  # several row groups / chunks per column
                pq.write_table(table, path, row_group_size=7, **parquet_options)
                parquet_options["chunked"] = True
            else:
                pq.write_table(table, path, **parquet_options)
        else:
            write_candles(root, "1d", s, data)


def same_panel(a, b, fields=FIELDS) -> None:
    assert a.symbols == b.symbols
    np.testing.assert_array_equal(a.times, b.times)
    for f in fields:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


@pytest.mark.parametrize("options", [{}, {"compression": "zstd"}, {"compression": "none", "use_dictionary": False},
                                     {"compression": "snappy", "chunked": True}])
def test_every_encoding_reads_the_same_panel(tmp_path, options):
    src = synthetic_panel(7, 60, seed=4, late_listing_fraction=0.5)
    write_panel(tmp_path / "ref", src)
    write_panel(tmp_path / "other", src, **dict(options))
    ref = load_panel(tmp_path / "ref", "1d")
    same_panel(load_panel(tmp_path / "other", "1d"), ref)
    np.testing.assert_array_equal(ref.close, src.close)
    start, end = int(src.times[10]) + 5, int(src.times[50])
    same_panel(load_panel(tmp_path / "other", "1d", start_ms=start, end_ms=end),
               load_panel(tmp_path / "ref", "1d", start_ms=start, end_ms=end))
    assert np.isnan(ref.quote_volume[:, 1]).any()


def test_fields_reads_only_those_columns(tmp_path):
    src = synthetic_panel(5, 40, seed=2)
    write_panel(tmp_path, src)
    full = load_panel(tmp_path, "1d")
    part = load_panel(tmp_path, "1d", fields=iter(["quote_volume", "close"]))
    same_panel(part, full, ("close", "quote_volume"))
    assert all(np.isnan(getattr(part, f)).all() for f in ("open", "high", "low", "volume"))
    with pytest.raises(ValueError, match="unknown panel field"):
        load_panel(tmp_path, "1d", fields=(f for f in ["close", "vwap"]))


def test_an_empty_file_is_no_candles_and_a_foreign_one_is_named(tmp_path):
    path = candle_path(tmp_path, "1d", "AAAUSDT")
    path.parent.mkdir(parents=True)
    pq.write_table(SCHEMA.empty_table(), path)
    p = load_panel(tmp_path, "1d", symbols=["AAAUSDT"], start_ms=0, end_ms=2 * DAY)
    assert p.shape == (2, 1) and np.isnan(p.close).all()
    pq.write_table(pa.table({"open_time": pa.array([0, DAY], pa.timestamp("ms", tz="UTC")),
                             "close": pa.array([1, 2], pa.int64())}), path)
    with pytest.raises(CacheReadError, match="AAAUSDT.parquet"):
        load_panel(tmp_path, "1d")
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(CacheReadError, match="AAAUSDT.parquet"):
        load_panel(tmp_path, "1d")


def test_the_writer_encodes_floats_plainly_and_compresses_with_snappy(tmp_path):
    write_panel(tmp_path, synthetic_panel(2, 30, seed=1))
    meta = pq.ParquetFile(candle_path(tmp_path, "1d", "BTCUSDT")).metadata.row_group(0)
    close = meta.column(SCHEMA.get_field_index("close"))
    assert close.compression == "SNAPPY" and not close.has_dictionary_page
    assert meta.column(0).is_stats_set  # open_time keeps its min/max
