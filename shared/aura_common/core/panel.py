"""The market panel: symbols × time, aligned, closed candles only, listing gaps as NaN.

This is the one shape in which candles reach the decision core, the backtester and the optimizer. The
market-data read API (``aura_common.adapters.parquet_store``) builds it; nothing in the core reads files.
Rows are stamped by candle **open** time (UTC epoch ms). Arrays are read-only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FIELDS = ("open", "high", "low", "close", "volume", "quote_volume")


@dataclass(frozen=True, eq=False)
class Panel:
    symbols: tuple[str, ...]  # sorted, unique
    times: np.ndarray  # int64 (T,), open times in ms, strictly increasing, spaced by interval_ms
    interval_ms: int
    open: np.ndarray  # float64 (T, N); NaN where the symbol has no candle (not listed yet, gap)
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # NaN where the source had no volume (e.g. CoinGecko rows)
    quote_volume: np.ndarray

    def __post_init__(self) -> None:
        if list(self.symbols) != sorted(set(self.symbols)):
            raise ValueError("panel symbols must be sorted and unique")
        t, n = len(self.times), len(self.symbols)
        if self.times.dtype != np.int64 or (t > 1 and not np.all(np.diff(self.times) > 0)):
            raise ValueError("panel times must be int64 and strictly increasing")
        for name in FIELDS:
            arr = getattr(self, name)
            if arr.shape != (t, n):
                raise ValueError(f"panel field {name} has shape {arr.shape}, expected {(t, n)}")
        for arr in (self.times, *(getattr(self, f) for f in FIELDS)):
            arr.flags.writeable = False

    @classmethod
    def from_arrays(cls, symbols: Iterable[str], times: npt.ArrayLike, interval_ms: int, **fields: np.ndarray) -> "Panel":
        """Build from unsorted symbols: columns are reordered so that symbols are sorted."""
        symbols = tuple(symbols)
        order = sorted(range(len(symbols)), key=lambda i: symbols[i])
        t = np.asarray(times, dtype=np.int64)
        cols = {}
        for name in FIELDS:
            arr = fields.get(name)
            if arr is None:
                arr = np.full((len(t), len(symbols)), np.nan)
            cols[name] = np.array(np.asarray(arr, dtype=np.float64)[:, order], copy=True)
        return cls(tuple(symbols[i] for i in order), t.copy(), int(interval_ms), **cols)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.times), len(self.symbols)

    def closed_by(self, t_ms: int) -> "Panel":
        """Only the candles that had closed by ``t_ms`` (open_time + interval <= t_ms): point-in-time view."""
        end = int(np.searchsorted(self.times, t_ms - self.interval_ms, side="right"))
        return self.rows(0, end)

    def rows(self, start: int, end: int) -> "Panel":
        sl = slice(start, end)
        return Panel(self.symbols, self.times[sl], self.interval_ms,
                     *(getattr(self, f)[sl] for f in FIELDS))

    def select(self, symbols: Iterable[str]) -> "Panel":
        idx = [self.symbols.index(s) for s in sorted(set(symbols))]
        return Panel(tuple(self.symbols[i] for i in idx), self.times, self.interval_ms,
                     *(getattr(self, f)[:, idx] for f in FIELDS))
