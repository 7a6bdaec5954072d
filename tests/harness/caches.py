"""Seeded synthetic candle caches in the ingestor's Parquet layout (what the simulator replays and the trader reads).

Two markets, each what its tests were tuned on:

- ``build_cache``: 16 symbols over ``N_DAYS`` days from ``START`` (seed 3), for the stepped `trade --once` tests
  and the crash and fault campaigns (the simulator starts on ``FIRST_TRADE_DAY`` at 00:20 UTC);
- ``write_market_cache``: 6 symbols over 400 days (seed 11) from 2020-01-01 or dated so that the replay starts
  now, optionally with a gap-down crash, for the running trader.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aura_common.adapters.parquet_store import write_panel
from aura_common.core.panel import Panel
from aura_common.core.synthetic import synthetic_panel

DAY = 86_400_000
START = 1_600_000_000_000 - 1_600_000_000_000 % DAY  # 2020-09-13
N_DAYS = 420
FIRST_TRADE_DAY = 380  # the stepped simulator starts on this day, 00:20 UTC: the 00:15 rebalance is due


def build_cache(data_dir: Path, n_symbols: int = 16, n_days: int = N_DAYS, seed: int = 3) -> tuple[str, ...]:
    panel = synthetic_panel(n_symbols, n_days, seed, start_ms=START, late_listing_fraction=0.0)
    write_panel(data_dir, "1d", panel, "synthetic")
    return panel.symbols


@dataclass
class Market:
    data_dir: Path
    symbols: tuple[str, ...]
    start_ms: int  # the simulator's replay start: 00:20 UTC or later, so the day's rebalance is due at once
    panel: Panel | None = None  # the candles


def write_market_cache(data_dir: Path, n_symbols: int = 6, n_days: int = 400, seed: int = 11,
                       wall_clock: bool = False, crash_day: int | None = None, crash: float = 0.5) -> Market:
    """Synthetic daily candles written as the ingestor's Parquet cache (the simulator replays the same file).

    The replay starts at 00:20 UTC of day ``n_days - 20``; with ``wall_clock`` the candles are dated so that this
    day is today and the replay starts NOW (venue time = wall time, as in production). With ``crash_day`` every
    symbol gaps down to ``crash`` times its level at that day's open and stays there."""
    first = 1_577_836_800_000  # 2020-01-01
    if wall_clock:
        now = int(time.time() * 1000)
        first = now - now % DAY - (n_days - 20) * DAY
    panel = synthetic_panel(n_symbols, n_days, seed, start_ms=first, late_listing_fraction=0.0)
    if crash_day is not None:
        fields = {f: np.array(getattr(panel, f)) for f in ("open", "high", "low", "close")}
        for f in fields.values():
            f[crash_day:] *= crash
        panel = Panel(panel.symbols, panel.times, panel.interval_ms, fields["open"], fields["high"], fields["low"],
                      fields["close"], panel.volume, panel.quote_volume)
    write_panel(data_dir, "1d", panel, "synthetic")
    start = first + (n_days - 20) * DAY + 20 * 60_000
    if wall_clock:
        start = max(start, int(time.time() * 1000))
    return Market(data_dir, tuple(panel.symbols), start, panel)
