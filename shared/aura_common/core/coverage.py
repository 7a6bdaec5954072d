"""Coverage planning for the candle cache: which ranges of open times are still missing. Pure.

Ranges are half-open ``[start_ms, end_ms)`` on the interval grid (every bound a multiple of ``interval_ms``, candles
stamped by **open** time). A candle is *closed* at ``now_ms`` when ``open_time + interval_ms <= now_ms``; only closed
candles are ever requested. Time is always a parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

Range = tuple[int, int]


def floor_to(t_ms: int, step_ms: int) -> int:
    return int(t_ms) - int(t_ms) % step_ms


def ceil_to(t_ms: int, step_ms: int) -> int:
    return -(-int(t_ms) // step_ms) * step_ms


def closed_end(now_ms: int, interval_ms: int) -> int:
    """Exclusive end of the closed candles at ``now_ms``: the open time of the candle still forming."""
    return floor_to(now_ms, interval_ms)


def last_closed_open(now_ms: int, interval_ms: int) -> int:
    """Open time of the newest candle that has closed by ``now_ms``."""
    return closed_end(now_ms, interval_ms) - interval_ms


def normalize(ranges: Iterable[Range]) -> tuple[Range, ...]:
    """Sort, drop empty ranges and merge overlapping or touching ones."""
    out: list[list[int]] = []
    for s, e in sorted((int(s), int(e)) for s, e in ranges if e > s):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return tuple((s, e) for s, e in out)


def subtract(base: Iterable[Range], holes: Iterable[Range]) -> tuple[Range, ...]:
    """``base`` minus ``holes``, normalised."""
    holes_n = normalize(holes)
    out: list[Range] = []
    for s, e in normalize(base):
        cur = s
        for hs, he in holes_n:
            if he <= cur or hs >= e:
                continue
            if hs > cur:
                out.append((cur, hs))
            cur = max(cur, he)
            if cur >= e:
                break
        if cur < e:
            out.append((cur, e))
    return tuple(out)


def intersect(a: Iterable[Range], b: Iterable[Range]) -> tuple[Range, ...]:
    a_n = normalize(a)
    return subtract(a_n, subtract(a_n, b))


def runs(open_times: Sequence[int] | np.ndarray, interval_ms: int) -> tuple[Range, ...]:
    """The covered ranges of a sorted array of open times: consecutive grid candles form one range."""
    t = np.asarray(open_times, dtype=np.int64)
    if t.size == 0:
        return ()
    breaks = np.flatnonzero(np.diff(t) != interval_ms)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [t.size - 1]))
    return normalize((int(t[s]), int(t[e]) + interval_ms) for s, e in zip(starts, ends))


def candle_count(ranges: Iterable[Range], interval_ms: int) -> int:
    return sum((e - s) // interval_ms for s, e in normalize(ranges))


def requested_range(start_ms: int, now_ms: int, interval_ms: int, padding_ms: int = 0) -> Range:
    """The grid range a symbol should cover: from ``start_ms`` minus the warm-up padding to the last closed candle."""
    lo = floor_to(int(start_ms) - int(padding_ms), interval_ms)
    hi = closed_end(now_ms, interval_ms)
    return (lo, max(lo, hi))


def plan_missing(covered: Iterable[Range], start_ms: int, end_ms: int, interval_ms: int, now_ms: int,
                 padding_ms: int = 0, settled: Iterable[Range] = ()) -> tuple[Range, ...]:
    """The ranges to ask providers for.

    ``covered``: ranges already in the cache; ``settled``: ranges every provider was already asked for and none had
    (listing gaps, exchange outages), so they are not asked again. The request ``[start_ms - padding_ms, end_ms)``
    is snapped outward onto the grid and clipped to the closed candles at ``now_ms``. The result plus
    ``covered ∪ settled`` covers the clipped request exactly, and never overlaps either.
    """
    lo = floor_to(int(start_ms) - int(padding_ms), interval_ms)
    hi = min(ceil_to(end_ms, interval_ms), closed_end(now_ms, interval_ms))
    if hi <= lo:
        return ()
    return subtract([(lo, hi)], [*normalize(covered), *normalize(settled)])


def is_fresh(last_open_ms: int | None, now_ms: int, interval_ms: int) -> bool:
    """True when the cache already holds the newest closed candle: no provider needs to be asked."""
    return last_open_ms is not None and int(last_open_ms) >= last_closed_open(now_ms, interval_ms)


def split(ranges: Iterable[Range], max_candles: int, interval_ms: int) -> tuple[Range, ...]:
    """Cut ranges into pieces of at most ``max_candles`` candles (for paginated providers)."""
    out: list[Range] = []
    span = max_candles * interval_ms
    for s, e in normalize(ranges):
        cur = s
        while cur < e:
            out.append((cur, min(e, cur + span)))
            cur += span
    return tuple(out)


def inner_gaps(covered: Iterable[Range], now_ms: int, interval_ms: int) -> tuple[Range, ...]:
    """Missing ranges between the first cached candle and the last closed one (holes nobody filled, or a stale tail).

    Time before the first cached candle is not a gap: the symbol was not listed yet (or was never requested).
    """
    cov = normalize(covered)
    if not cov:
        return ()
    return subtract([(cov[0][0], max(cov[0][0], closed_end(now_ms, interval_ms)))], cov)


def long_gaps(open_times: Sequence[int] | np.ndarray, interval_ms: int, min_ms: int) -> tuple[Range, ...]:
    """Holes of at least ``min_ms`` between the first and the last of the sorted ``open_times`` (a symbol's
    candles): what a reader of the data should be told about (the backtest reports them)."""
    cov = runs(open_times, interval_ms)
    if not cov:
        return ()
    return tuple(g for g in subtract([(cov[0][0], cov[-1][1])], cov) if g[1] - g[0] >= min_ms)
