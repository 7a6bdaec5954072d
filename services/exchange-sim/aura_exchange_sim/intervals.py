"""Kline intervals (spec §3.3) and their candle open times: fixed lengths ``1s``…``3d`` aligned to the epoch, ``1w``
from Monday 00:00 UTC, ``1M`` from the first day of the month 00:00 UTC (Binance's calendar candles).

``INTERVALS_MS`` holds the fixed-length ones, which are also the panel intervals ``--interval`` accepts.
"""

from __future__ import annotations

from datetime import date, timedelta

INTERVALS_MS = {"1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
                "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
                "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000}
KLINE_INTERVALS = (*INTERVALS_MS, "1w", "1M")
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
MONDAY_MS = 4 * DAY_MS  # 1970-01-05, the first Monday after the epoch (a Thursday)
_EPOCH = date(1970, 1, 1)


def _month_ms(d: date) -> int:
    return (d - _EPOCH).days * DAY_MS


def floor_open(interval: str, t: int) -> int:
    """Open time of the candle containing ``t``."""
    if interval == "1w":
        return t - (t - MONDAY_MS) % WEEK_MS
    if interval == "1M":
        return _month_ms((_EPOCH + timedelta(days=t // DAY_MS)).replace(day=1))
    iv = INTERVALS_MS[interval]
    return t - t % iv


def next_open(interval: str, a: int) -> int:
    """Open time of the candle after the one opening at ``a``."""
    if interval == "1M":
        d = (_EPOCH + timedelta(days=a // DAY_MS)).replace(day=1)
        return _month_ms(date(d.year + d.month // 12, d.month % 12 + 1, 1))
    return a + (WEEK_MS if interval == "1w" else INTERVALS_MS[interval])


def prev_open(interval: str, a: int) -> int:
    """Open time of the candle before the one opening at ``a``."""
    if interval == "1M":
        return floor_open("1M", floor_open("1M", a) - 1)
    return a - (WEEK_MS if interval == "1w" else INTERVALS_MS[interval])
