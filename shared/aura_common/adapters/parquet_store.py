"""The candle cache: one Parquet file per symbol and interval, and the read API that builds a Panel from it.

Layout: ``<data_dir>/parquet/<interval>/<SYMBOL>.parquet`` (e.g. ``volumes/data/parquet/1d/BTCUSDT.parquet``).
Fixed schema (``SCHEMA``): ``open_time`` timestamp[ms, UTC] (candle **open** time), ``open high low close``
float64, ``volume`` and ``quote_volume`` float64 nullable (null where the source had none, e.g. CoinGecko),
``source`` string (``archive`` | ``exchange:<ccxt id>`` | ``coingecko``). Rows are sorted by open time and unique.

Writes are atomic: a temp file in the same directory, fsync, ``os.replace``, fsync of the directory. A reader
therefore sees either the previous file or the new one, never a partial one.

Read API used by the trader, the backtester, the optimizer and the exchange simulator: ``load_panel``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from aura_common.adapters.candle_rows import refusal
from aura_common.adapters.files import atomic_write_via, fsync_dir
from aura_common.core.candles import Candles
from aura_common.core.panel import FIELDS, Panel
from aura_common.domain import Interval

PRICE_COLUMNS = ("open", "high", "low", "close")
SCHEMA = pa.schema([
    pa.field("open_time", pa.timestamp("ms", tz="UTC"), nullable=False),
    pa.field("open", pa.float64(), nullable=False),
    pa.field("high", pa.float64(), nullable=False),
    pa.field("low", pa.float64(), nullable=False),
    pa.field("close", pa.float64(), nullable=False),
    pa.field("volume", pa.float64(), nullable=True),
    pa.field("quote_volume", pa.float64(), nullable=True),
    pa.field("source", pa.string(), nullable=False),
])


class CacheError(RuntimeError):
    """A cache file could not be read or written; the message names the file."""


class CacheReadError(CacheError):
    """A cache file exists but is unreadable or does not match the schema (corrupt, truncated, foreign)."""


class CacheInvalidError(CacheReadError):
    """A cache file is readable but holds a row that ``core.candles.row_reasons`` refuses (the one candle rule
    of the ingestor's writes); the message names file, row and reason."""


def check_rows(path: Path, interval_ms: int, cols: Mapping[str, np.ndarray]) -> None:
    """Raise ``CacheInvalidError`` naming file, row and reason unless every row of ``cols`` is sane."""
    message = refusal(path, interval_ms, cols)
    if message is not None:
        raise CacheInvalidError(message)


def interval_dir(data_dir: str | os.PathLike[str], interval: Interval | str) -> Path:
    return Path(data_dir) / "parquet" / Interval(interval).value


def candle_path(data_dir: str | Path, interval: Interval | str, symbol: str) -> Path:
    return interval_dir(data_dir, interval) / f"{symbol}.parquet"


def cached_symbols(data_dir: str | os.PathLike[str], interval: Interval | str) -> tuple[str, ...]:
    """Symbols that have a cache file at ``interval`` (sorted)."""
    d = interval_dir(data_dir, interval)
    if not d.is_dir():
        return ()
    return tuple(sorted(p.name[: -len(".parquet")] for p in d.iterdir()
                        if p.name.endswith(".parquet") and not p.name.startswith(".")))


# ---------------------------------------------------------------------------------------------------- writing

def to_table(data: Any) -> pa.Table:
    """Normalise candles to ``SCHEMA``.

    Accepts a ``pa.Table``, a pandas DataFrame, or a mapping of column -> sequence. ``open_time`` may be int epoch
    ms or timestamps. ``volume``/``quote_volume`` may be missing (all null); NaN becomes null. ``source`` may be a
    single string for every row. Rows are sorted by open time; duplicate open times are an error.
    """
    if isinstance(data, Candles):
        cols = data.columns()
    elif isinstance(data, pa.Table):
        cols = {name: data.column(name) for name in data.column_names}
    elif hasattr(data, "to_dict") and hasattr(data, "columns"):  # pandas DataFrame
        cols = {str(c): data[c].to_numpy() for c in data.columns}
    elif isinstance(data, Mapping):
        cols = dict(data)
    else:
        raise TypeError(f"cannot write candles from {type(data).__name__}")
    missing = [c for c in ("open_time", *PRICE_COLUMNS, "source") if c not in cols]
    if missing:
        raise ValueError(f"candles lack column(s) {', '.join(missing)}")
    n = len(cols["open_time"])
    ot = cols["open_time"]
    if isinstance(ot, (pa.Array, pa.ChunkedArray)):
        if pa.types.is_timestamp(ot.type):
            ot = ot.cast(pa.timestamp("ms", tz="UTC"))
        ot = np.asarray(ot.cast(pa.int64()) if pa.types.is_timestamp(ot.type) else ot, dtype=np.int64)
    else:
        ot = np.asarray(ot)
        ot = ot.astype("datetime64[ms]").astype(np.int64) if np.issubdtype(ot.dtype, np.datetime64) \
            else ot.astype(np.int64)
    order = np.argsort(ot, kind="stable")
    ot = ot[order]
    if n > 1 and not np.all(np.diff(ot) > 0):
        dup = int(ot[1:][np.diff(ot) <= 0][0])
        raise ValueError(f"candles have duplicate open time {dup}")
    arrays = [pa.array(ot, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC"))]
    for name in ("open", "high", "low", "close", "volume", "quote_volume"):
        raw = cols.get(name)
        if raw is None:
            arrays.append(pa.nulls(n, type=pa.float64()))
            continue
        if isinstance(raw, (pa.Array, pa.ChunkedArray)):
            raw = raw.to_numpy(zero_copy_only=False)
        vals = np.asarray(raw, dtype=np.float64)[order]
        mask = np.isnan(vals) if name in ("volume", "quote_volume") else None
        arrays.append(pa.array(vals, type=pa.float64(), mask=mask))
    src = cols["source"]
    if isinstance(src, str):
        arrays.append(pa.array([src] * n, type=pa.string()))
    else:
        if isinstance(src, (pa.Array, pa.ChunkedArray)):
            src = src.to_pylist()
        arrays.append(pa.array([str(s) for s in np.asarray(src, dtype=object)[order]], type=pa.string()))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def atomic_write_bytes_via(target: Path, writer) -> None:
    """``adapters.files.atomic_write_via`` for the cache: the directory is created, and any OS error becomes a
    ``CacheError`` naming ``target`` (which is left as it was)."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_via(target, writer)
    except OSError as exc:
        raise CacheError(f"cannot write {target}: {exc.strerror or exc}") from exc


# How cache files are encoded (any Parquet reader reads any of these; only the speed differs). Measured on
# 700-row daily files (bench/bench_ingest.py, bench/trader): zstd costs ~25 µs per column chunk to decode, the
# dictionary encoding of float columns another ~10 µs and makes the file larger (prices rarely repeat); snappy
# with plain floats reads 2-2.5x faster and is smaller than zstd + dictionary. Statistics only for open_time.
WRITE_OPTIONS = {"compression": "snappy", "use_dictionary": ["source"], "write_statistics": ["open_time"]}


def write_table(path: Path, table: pa.Table) -> None:
    """Write an already-normalised table atomically to ``path``."""
    if table.schema != SCHEMA:
        table = to_table(table)
    atomic_write_bytes_via(Path(path), lambda tmp: pq.write_table(table, tmp, **WRITE_OPTIONS))


def write_candles(data_dir: str | Path, interval: Interval | str, symbol: str, data: Any) -> Path:
    """Replace the cache file of ``symbol`` at ``interval`` with ``data`` (see ``to_table``), atomically."""
    if not symbol or not symbol.isalnum():
        raise ValueError(f"symbol {symbol!r} must be alphanumeric (exchange-native spelling, e.g. BTCUSDT)")
    path = candle_path(data_dir, interval, symbol)
    write_table(path, to_table(data))
    return path


def write_panel(data_dir: str | Path, interval: Interval | str, panel: Panel, source: str) -> list[Path]:
    """Write every symbol of ``panel`` to the cache (its rows with a close: a listing gap stays a gap), each rows
    marked ``source``. The inverse of ``load_panel`` for the seeded panels of tests, benchmarks and rehearsals."""
    paths = []
    for j, symbol in enumerate(panel.symbols):
        ok = ~np.isnan(panel.close[:, j])
        paths.append(write_candles(data_dir, interval, symbol, {
            "open_time": panel.times[ok], "open": panel.open[ok, j], "high": panel.high[ok, j],
            "low": panel.low[ok, j], "close": panel.close[ok, j], "volume": panel.volume[ok, j],
            "quote_volume": panel.quote_volume[ok, j], "source": source}))
    return paths


# ---------------------------------------------------------------------------------------------------- reading

def read_candles(data_dir: str | Path, interval: Interval | str, symbol: str,
                 columns: Iterable[str] | None = None) -> pa.Table | None:
    """The cached table of ``symbol`` (None when there is no file). Raises CacheReadError naming the file."""
    path = candle_path(data_dir, interval, symbol)
    return read_table(path, columns)


def read_table(path: Path, columns: Iterable[str] | None = None) -> pa.Table | None:
    cols = list(columns) if columns is not None else None
    try:  # ParquetFile.read skips the dataset machinery of read_table: ~1/3 faster on small files
        table = pq.ParquetFile(path).read(columns=cols, use_threads=False)
    except FileNotFoundError:
        return None
    except (OSError, pa.ArrowException, ValueError, KeyError) as exc:
        raise CacheReadError(f"unreadable cache file {path}: {exc}") from exc
    expected = SCHEMA if cols is None else pa.schema([SCHEMA.field(c) for c in cols])
    if not table.schema.equals(expected, check_metadata=False):
        # tolerate nullability differences only
        got = [(f.name, f.type) for f in table.schema]
        want = [(f.name, f.type) for f in expected]
        if got != want:
            raise CacheReadError(f"cache file {path} has schema {got}, expected {want}")
    return table


def table_to_candles(table: pa.Table) -> Candles:
    """A full cache table as core ``Candles`` (null volumes become NaN)."""
    return Candles(_times_ms(table), *(_float_col(table, f) for f in FIELDS),  # type: ignore[call-arg]  # 6 floats
                   np.asarray(table.column("source").to_pylist(), dtype=object))


def load_candles(data_dir: str | Path, interval: Interval | str, symbol: str) -> Candles | None:
    """The cached candles of ``symbol`` (None when there is no file). Raises CacheReadError naming the file."""
    table = read_candles(data_dir, interval, symbol)
    if table is None:
        return None
    candles = table_to_candles(table)
    check_rows(candle_path(data_dir, interval, symbol), Interval(interval).ms, candles.columns())
    return candles


def quarantine(data_dir: str | Path, path: Path, stamp: str) -> Path:
    """Move an unreadable cache file aside to ``<data_dir>/quarantine/`` (keeping its relative path, suffixed
    with ``stamp``) so that it can be inspected and the cache rebuilt. Returns the new path."""
    path = Path(path)
    root = Path(data_dir)
    try:
        rel = path.relative_to(root)
    except ValueError:
        rel = Path(path.name)
    dest = root / "quarantine" / rel.parent / f"{rel.name}.{stamp}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, dest)
    fsync_dir(path.parent)
    return dest


_PANEL_COLUMNS = ("open_time", *FIELDS)
_PANEL_TYPES = {f.name: f.type for f in SCHEMA}


def _read_panel_columns(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The columns ``names`` of one cache file as NumPy arrays (open_time as int64 ms, null volumes NaN), or
    None when there is no file. Column chunks are decoded one by one straight from the Parquet reader: no
    Table, no dataset machinery, no pandas (~0.1 ms per file instead of ~0.45 ms). Raises CacheReadError."""
    try:
        reader = pq.ParquetReader()  # what ParquetFile wraps, minus its filesystem resolution (~40 µs a file)
        reader.open(str(path), pre_buffer=False)
        schema = reader.schema_arrow
        idx = []
        for name in names:
            i = schema.get_field_index(name)
            if i < 0 or schema.field(i).type != _PANEL_TYPES[name]:
                got = [(f.name, f.type) for f in schema]
                raise CacheReadError(f"cache file {path} has schema {got}, expected {name} as {_PANEL_TYPES[name]}")
            idx.append(i)
        out = {}
        for name, i in zip(names, idx):
            col = reader.read_column(i)
            if name == "open_time":  # timestamp[ms] -> its int64 storage, zero-copy per chunk
                out[name] = col.chunk(0).view(pa.int64()).to_numpy() if col.num_chunks == 1 else \
                    np.concatenate([np.empty(0, np.int64), *(c.view(pa.int64()).to_numpy() for c in col.chunks)])
            else:
                if col.null_count:
                    col = col.fill_null(np.nan)
                out[name] = col.to_numpy()
        return out
    except FileNotFoundError:
        return None
    except CacheReadError:
        raise
    except (OSError, pa.ArrowException, ValueError, KeyError) as exc:
        raise CacheReadError(f"unreadable cache file {path}: {exc}") from exc


def _times_ms(table: pa.Table) -> np.ndarray:
    col = table.column("open_time")
    return col.cast(pa.int64()).to_numpy() if col.num_chunks != 1 else \
        col.chunk(0).cast(pa.int64()).to_numpy(zero_copy_only=False)


def _float_col(table: pa.Table, name: str) -> np.ndarray:
    col = table.column(name)
    if col.null_count:
        col = col.fill_null(np.nan)
    return col.to_numpy()


def load_panel(data_dir: str | os.PathLike[str], interval: Interval | str = "1d", symbols: Iterable[str] | None = None,
               start_ms: int | None = None, end_ms: int | None = None,
               fields: Iterable[str] | None = None,
               on_invalid: Callable[[str, CacheReadError], None] | None = None) -> Panel:
    """Load cached candles into an aligned ``Panel`` (symbols × time on the interval grid).

    ``symbols`` None = every symbol in the cache; a requested symbol without a cache file is an all-NaN column.
    ``start_ms`` is inclusive (rounded up onto the grid), ``end_ms`` exclusive; None = from the earliest / to after
    the latest cached candle of the selected symbols. Missing candles (not yet listed, delisted, gaps) are NaN;
    ``volume``/``quote_volume`` are NaN where the source had none. ``fields`` (default: all of ``FIELDS``) reads
    only those columns; the others are all NaN (the decision core reads ``close`` and ``quote_volume`` only).
    Every row of every file read is checked by the one candle rule (``core.candles.row_reasons``; all columns are
    read for it, whatever ``fields`` asks): a file with one bad row (non-positive or NaN price, high < low,
    unsorted or duplicated open times, a year outside 1970..2099) is refused as a whole.
    Raises CacheReadError naming an unreadable file, CacheInvalidError (a CacheReadError) naming file, row and
    reason for a refused one. With ``on_invalid(symbol, error)`` neither raises: the symbol's column stays all NaN
    and the callback says so (the trader leaves such a symbol out of its cycle).
    """
    iv = Interval(interval)
    step = iv.ms
    wanted = cached_symbols(data_dir, iv) if symbols is None else tuple(sorted(set(symbols)))
    asked = None if fields is None else frozenset(fields)
    read = FIELDS if asked is None else tuple(f for f in FIELDS if f in asked)
    unknown = (asked or frozenset()) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown panel field(s) {sorted(unknown)}; expected some of {FIELDS}")
    names = ("open_time", *FIELDS)  # every column: the row rule checks them all
    base = interval_dir(data_dir, iv)
    data: dict[str, dict[str, np.ndarray]] = {}
    for s in wanted:
        path = base / f"{s}.parquet"
        try:
            cols_s = _read_panel_columns(path, names)
            if cols_s is None or len(cols_s["open_time"]) == 0:
                continue
            check_rows(path, step, cols_s)
        except CacheReadError as exc:
            if on_invalid is None:
                raise
            on_invalid(s, exc)
            continue
        data[s] = cols_s
    if start_ms is None:
        lo = min((int(c["open_time"][0]) for c in data.values()), default=0)
    else:
        lo = int(start_ms)
    lo = -(-lo // step) * step  # round up onto the grid
    if end_ms is None:
        hi = max((int(c["open_time"][-1]) + step for c in data.values()), default=lo)
    else:
        hi = int(end_ms)
    n_t = max(0, -(-(hi - lo) // step))
    times = lo + step * np.arange(n_t, dtype=np.int64)
    shape = (n_t, len(wanted))
    cols = {f: np.full(shape, np.nan) for f in FIELDS}
    for j, s in enumerate(wanted):
        cols_s = data.get(s)
        if cols_s is None:
            continue
        t = cols_s["open_time"]
        a, b = np.searchsorted(t, lo, side="left"), np.searchsorted(t, hi, side="left")
        if a >= b:
            continue
        off = t[a:b] - lo
        ok = off % step == 0  # the writer validates alignment; stay safe on foreign files
        idx = off // step
        whole = bool(ok.all())
        for f in read:
            vals = cols_s[f][a:b]
            if whole:
                cols[f][idx, j] = vals
            else:
                cols[f][idx[ok], j] = vals[ok]
    return Panel(wanted, times, step, *(cols[f] for f in FIELDS))
