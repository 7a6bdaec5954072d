"""Reader for the real-candle fixtures beside the checkout (../shared/data/binance_spot_usdt_2017_2023).

Layout: ``<root>/<tf>/<BASE>_USDT-<tf>.json.gz``, each a gzipped JSON array of rows
``[open_time_ms, open, high, low, close, volume]``. Quote volume is not in the files; it is derived honestly as
``volume × typical price`` ((h+l+c)/3) and callers that care must say so. Used by tests, benchmarks and fakes.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from aura_common.adapters.candle_rows import refusal
from aura_common.core.panel import Panel
from aura_common.domain import Interval


def json_symbol_files(root: Path, interval: Interval | str) -> dict[str, Path]:
    tf = Interval(interval).value
    out = {}
    for path in sorted((Path(root) / tf).glob(f"*_USDT-{tf}.json.gz")):
        base = path.name.split("_USDT-")[0]
        out[f"{base}USDT"] = path
    return out


class FixtureError(ValueError):
    """A fixture file is unreadable (not gzip, truncated, not JSON, wrong shape) or holds a row the one candle rule
    (``core.candles.row_reasons``) refuses. The message is one line naming the file (and the row)."""


def read_json_rows(path: Path, interval: Interval | str | None = None) -> np.ndarray:
    """(n, 6) float64 array of [open_time_ms, o, h, l, c, v], as stored; every row checked by the one candle rule
    on the grid of ``interval`` (default: the one the file name ends with, ``…-1d.json.gz``). Raises
    ``FixtureError``."""
    if interval is None:
        try:
            interval = Interval(Path(path).name.rsplit("-", 1)[-1].split(".", 1)[0])
        except ValueError:
            raise FixtureError(f"fixture file {path}: the name does not end with an interval (-1d.json.gz)") from None
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            rows = json.load(fh)
    except FileNotFoundError:
        raise FixtureError(f"fixture file {path} does not exist") from None
    except (EOFError, zlib.error) as exc:
        raise FixtureError(f"unreadable fixture file {path}: truncated or corrupt gzip stream ({exc})") from None
    except gzip.BadGzipFile:
        raise FixtureError(f"unreadable fixture file {path}: not a gzip file") from None
    except UnicodeDecodeError:
        raise FixtureError(f"unreadable fixture file {path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise FixtureError(f"unreadable fixture file {path}: not JSON ({exc.msg} at line {exc.lineno} "
                           f"column {exc.colno})") from None
    except OSError as exc:
        raise FixtureError(f"unreadable fixture file {path}: {exc.strerror or exc}") from None
    try:
        arr = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.empty(0)
    if arr.ndim != 2 or arr.shape[1] != 6:
        raise FixtureError(f"unreadable fixture file {path}: expected a JSON array of rows of 6 numbers")
    t = arr[:, 0]
    if not (np.isfinite(t).all() and (np.abs(t) < 2.0 ** 62).all() and (t == np.floor(t)).all()):
        k = int(np.flatnonzero(~(np.isfinite(t) & (np.abs(t) < 2.0 ** 62) & (t == np.floor(t))))[0])
        raise FixtureError(f"invalid candle file {path}: row {k + 1} of {len(t)}: open time {t[k]!r} "
                           "is not a whole number of ms")
    message = refusal(path, Interval(interval).ms, {
        "open_time": t.astype(np.int64), "open": arr[:, 1], "high": arr[:, 2], "low": arr[:, 3],
        "close": arr[:, 4], "volume": arr[:, 5]})
    if message is not None:
        raise FixtureError(message)
    return arr


def load_json_panel(root: Path, interval: Interval | str = Interval.D1, symbols: Iterable[str] | None = None,
                    start_ms: int | None = None, end_ms: int | None = None) -> Panel:
    """Load the fixture files into an aligned Panel (missing candles NaN). ``end_ms`` is exclusive. A file that
    cannot be read or holds a row the one candle rule refuses raises ``FixtureError`` naming it."""
    iv = Interval(interval)
    files = json_symbol_files(root, iv)
    wanted = sorted(files) if symbols is None else sorted(set(symbols))
    missing = [s for s in wanted if s not in files]
    if missing:
        raise KeyError(f"no fixture file for {', '.join(missing)} under {Path(root) / iv.value}")
    data = {s: read_json_rows(files[s], iv) for s in wanted}
    lo = min(int(a[0, 0]) for a in data.values()) if start_ms is None else start_ms
    hi = max(int(a[-1, 0]) for a in data.values()) + iv.ms if end_ms is None else end_ms
    lo = lo - lo % iv.ms
    times = np.arange(lo, hi, iv.ms, dtype=np.int64)
    shape = (len(times), len(wanted))
    cols = {k: np.full(shape, np.nan) for k in ("open", "high", "low", "close", "volume")}
    for j, s in enumerate(wanted):
        a = data[s]
        idx = (a[:, 0].astype(np.int64) - lo) // iv.ms
        ok = (idx >= 0) & (idx < len(times)) & ((a[:, 0].astype(np.int64) - lo) % iv.ms == 0)
        for k, col in zip(("open", "high", "low", "close", "volume"), range(1, 6)):
            cols[k][idx[ok], j] = a[ok, col]
    cols["quote_volume"] = cols["volume"] * (cols["high"] + cols["low"] + cols["close"]) / 3.0
    return Panel.from_arrays(wanted, times, iv.ms, **cols)
