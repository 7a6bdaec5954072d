"""Candle batches: validation, closed-candle filtering and precedence merge. Pure (numpy only).

A ``Candles`` batch is column arrays stamped by candle **open** time (UTC epoch ms). ``volume`` and
``quote_volume`` are NaN where the source had none (CoinGecko): the data says so instead of inventing one.
``source`` names where each row came from: ``archive`` | ``exchange:<ccxt id>`` | ``coingecko``.
Precedence on the same open time: archive > exchange > coingecko.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PRICE_FIELDS = ("open", "high", "low", "close")
VALUE_FIELDS = (*PRICE_FIELDS, "volume", "quote_volume")

# Rejection reasons, in the order they are checked (a row is counted once, under its first failing reason).
REJECT_REASONS = ("misaligned", "time_out_of_range", "non_finite", "non_positive_price", "ohlc_inconsistent",
                  "negative_volume", "out_of_order")
# Open times a candle may carry: 1970-01-01 (inclusive) .. 2100-01-01 (exclusive). A row outside (a corrupt year
# 20000 or -13000) would make a reader lay out a grid of millions of rows.
OPEN_TIME_RANGE_MS = (0, 4_102_444_800_000)


def source_rank(source: str) -> int:
    """Lower is better: archive 0, exchange:* 1, coingecko 2, anything else 3."""
    if source == "archive":
        return 0
    if source.startswith("exchange"):
        return 1
    if source == "coingecko":
        return 2
    return 3


@dataclass(frozen=True, eq=False)
class Candles:
    open_time: np.ndarray  # int64 (n,)
    open: np.ndarray  # float64 (n,)
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # NaN = unknown
    quote_volume: np.ndarray  # NaN = unknown
    source: np.ndarray  # object (n,) of str

    def __post_init__(self) -> None:
        n = len(self.open_time)
        for name in ("open_time", *VALUE_FIELDS, "source"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"candles column {name} has length {len(getattr(self, name))}, expected {n}")

    def __len__(self) -> int:
        return len(self.open_time)

    @classmethod
    def build(cls, open_time: npt.ArrayLike, open: npt.ArrayLike, high: npt.ArrayLike, low: npt.ArrayLike,
              close: npt.ArrayLike, volume: npt.ArrayLike | None = None, quote_volume: npt.ArrayLike | None = None,
              source: str | Sequence[str] = "archive") -> "Candles":
        t = np.asarray(open_time, dtype=np.int64).reshape(-1)
        n = t.size

        def col(v: npt.ArrayLike | None) -> np.ndarray:
            return np.full(n, np.nan) if v is None else np.asarray(v, dtype=np.float64).reshape(-1)

        src = np.full(n, source, dtype=object) if isinstance(source, str) else np.asarray(source, dtype=object)
        return cls(t, col(open), col(high), col(low), col(close), col(volume), col(quote_volume), src)

    @classmethod
    def empty(cls) -> "Candles":
        return cls.build([], [], [], [], [])

    def take(self, idx: np.ndarray) -> "Candles":
        return Candles(*(getattr(self, f)[idx] for f in ("open_time", *VALUE_FIELDS, "source")))

    def columns(self) -> dict[str, np.ndarray]:
        return {f: getattr(self, f) for f in ("open_time", *VALUE_FIELDS, "source")}


@dataclass(frozen=True)
class Validated:
    accepted: Candles
    rejected: dict[str, int]  # reason -> count, only reasons with count > 0
    first_reject_open_time: dict[str, int]  # reason -> open time of the first rejected row (for the log line)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def row_reasons(open_time: npt.ArrayLike, interval_ms: int, open: npt.ArrayLike | None = None,
                high: npt.ArrayLike | None = None, low: npt.ArrayLike | None = None,
                close: npt.ArrayLike | None = None, volume: npt.ArrayLike | None = None,
                quote_volume: npt.ArrayLike | None = None) -> np.ndarray:
    """THE candle row rule, shared by the ingestor's writes and every reader (cache, fixtures, replay): for each
    row the index in ``REJECT_REASONS`` of its first failing check, -1 for a sane row.

    Checks, in order: open time aligned to the interval grid; open time inside ``OPEN_TIME_RANGE_MS``;
    open/high/low/close finite; prices > 0; high ≥ max(open, close), low ≤ min(open, close) and low ≤ high;
    volumes not ±inf and ≥ 0 (NaN = unknown is allowed); open times strictly increasing (a row whose open time is
    not after every earlier sane row is out of order: unsorted and duplicated rows). A column passed as None is
    not checked (a reader that has only some columns checks those).
    """
    t = np.asarray(open_time, dtype=np.int64)
    n = t.size
    prices = [np.asarray(p, dtype=np.float64) for p in (open, high, low, close) if p is not None]
    vols = [np.asarray(v, dtype=np.float64) for v in (volume, quote_volume) if v is not None]
    none = np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore"):
        finite, positive = none.copy(), none.copy()
        for p in prices:
            finite |= ~np.isfinite(p)
            positive |= ~(p > 0)
        ohlc = none.copy()
        if high is not None and low is not None:
            h, lo = np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64)
            ohlc = ~(lo <= h)
            for given in (open, close):
                if given is not None:
                    p = np.asarray(given, dtype=np.float64)
                    ohlc |= ~((h >= p) & (lo <= p))
        negvol = none.copy()
        for v in vols:
            negvol |= np.isinf(v) | (v < 0)
    checks = (t % interval_ms != 0, (t < OPEN_TIME_RANGE_MS[0]) | (t >= OPEN_TIME_RANGE_MS[1]), finite, positive,
              ohlc, negvol)
    bad = np.zeros(n, dtype=bool)
    reason_of = np.full(n, -1, dtype=np.int64)
    for k, check in enumerate(checks):
        new = check & ~bad
        reason_of[new] = k
        bad |= new
    # strictly increasing among the rows that passed the value checks
    ok_idx = np.flatnonzero(~bad)
    if ok_idx.size > 1:
        tt = t[ok_idx]
        prev_max = np.maximum.accumulate(tt)[:-1]
        ooo = np.concatenate(([False], tt[1:] <= prev_max))
        reason_of[ok_idx[ooo]] = len(REJECT_REASONS) - 1
    return reason_of


def first_invalid_row(open_time: npt.ArrayLike, interval_ms: int,
                      **columns: npt.ArrayLike | None) -> tuple[int, str] | None:
    """``(row index, reason)`` of the first row ``row_reasons`` refuses, or None when every row is sane. A reader
    refuses the whole file on it (the ingestor quarantines such a file, the others name it)."""
    reasons = row_reasons(open_time, interval_ms, **columns)
    bad = np.flatnonzero(reasons >= 0)
    return None if bad.size == 0 else (int(bad[0]), REJECT_REASONS[int(reasons[bad[0]])])


def validate(c: Candles, interval_ms: int) -> Validated:
    """Keep only rows that are sane (``row_reasons``); count the others per reason (first failing reason, in
    ``REJECT_REASONS`` order)."""
    t = c.open_time
    reason_of = row_reasons(t, interval_ms, c.open, c.high, c.low, c.close, c.volume, c.quote_volume)
    rejected, first = {}, {}
    for k, name in enumerate(REJECT_REASONS):
        idx = np.flatnonzero(reason_of == k)
        if idx.size:
            rejected[name] = int(idx.size)
            first[name] = int(t[idx[0]])
    return Validated(c.take(np.flatnonzero(reason_of < 0)), rejected, first)


def closed_only(c: Candles, interval_ms: int, now_ms: int) -> Candles:
    """Drop candles still forming at ``now_ms`` (open_time + interval > now)."""
    keep = c.open_time + interval_ms <= now_ms
    return c if keep.all() else c.take(np.flatnonzero(keep))


def within(c: Candles, start_ms: int, end_ms: int) -> Candles:
    """Rows with ``start_ms <= open_time < end_ms``."""
    keep = (c.open_time >= start_ms) & (c.open_time < end_ms)
    return c if keep.all() else c.take(np.flatnonzero(keep))


def concat(batches: Iterable[Candles]) -> Candles:
    bs = [b for b in batches if len(b)]
    if not bs:
        return Candles.empty()
    if len(bs) == 1:
        return bs[0]
    return Candles(*(np.concatenate([getattr(b, f) for b in bs])
                     for f in ("open_time", *VALUE_FIELDS, "source")))


def merge(*batches: Candles) -> Candles:
    """One row per open time, sorted. On the same open time the best source wins (archive > exchange >
    coingecko); between equal ranks the later batch wins (newer data replaces older of the same standing).
    Idempotent: ``merge(merge(a, b), b) == merge(a, b)``."""
    allc = concat(batches)
    n = len(allc)
    if n == 0:
        return allc
    ranks = np.fromiter((source_rank(s) for s in allc.source), dtype=np.int64, count=n)
    seq = np.arange(n, dtype=np.int64)
    # sort by time, then rank ascending, then latest first; keep the first row of every open time
    order = np.lexsort((-seq, ranks, allc.open_time))
    t_sorted = allc.open_time[order]
    first = np.concatenate(([True], t_sorted[1:] != t_sorted[:-1]))
    return allc.take(order[first])


def source_counts(c: Candles) -> dict[str, int]:
    values, counts = np.unique(c.source.astype(str), return_counts=True) if len(c) else ((), ())
    return {str(v): int(k) for v, k in zip(values, counts)}
