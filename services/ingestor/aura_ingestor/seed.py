"""``aura ingest --seed-rehearsal``: the offline rehearsal's market, written into an EMPTY candle cache.

The rehearsal (``compose.sim.yaml``) needs history nobody can download offline: this writes the seeded synthetic
market of ``core.synthetic`` (deterministic: the same candles on every machine, only their dates follow today) as the
``1d`` cache, ending with the candle that closed at today's 00:00 UTC, so the ingestor's real passes find it fresh.
The exchange simulator replays that cache from ``REPLAY_START_DAYS`` days after its first candle (its default start
for a cache: one year in), where the seed's market is in a confirmed bull regime, so the SHIPPED strategy
(``config/strategy.yaml``, unchanged) invests within the first simulated days. The seed and its length were chosen
for that (``tests/marketdata/test_rehearsal_seed.py`` holds it: the shipped strategy's backtest of the first replayed
days buys). A cache that already holds ``1d`` candles is never touched: real data or an earlier seed wins.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from aura_common.adapters import parquet_store
from aura_common.adapters.logs import event
from aura_common.core.synthetic import synthetic_panel

log = logging.getLogger("aura.ingestor")
DAY_MS = 86_400_000
SEED, SYMBOLS, DAYS = 0, 20, 545      # 365 days of history before the replay start, 180 days of replay
REPLAY_START_DAYS = 365               # the simulator's default start for a cache (one year into the data)


def rehearsal_panel(today_ms: int):
    """The rehearsal market, its last candle opening the day before ``today_ms`` (00:00 UTC)."""
    end = today_ms // DAY_MS * DAY_MS
    return synthetic_panel(SYMBOLS, DAYS, SEED, start_ms=end - DAYS * DAY_MS, late_listing_fraction=0.0)


def seed_rehearsal(data_dir: str | Path, now_ms: int | None = None) -> bool:
    """Write the rehearsal market into ``data_dir`` unless it already holds 1d candles; True when written."""
    root = Path(data_dir) / "parquet" / "1d"
    if root.is_dir() and any(root.glob("*.parquet")):
        event(log, "REHEARSAL_SEED", action="kept", data_dir=data_dir, reason="the cache already holds 1d candles")
        return False
    panel = rehearsal_panel(int(time.time() * 1000) if now_ms is None else now_ms)
    parquet_store.write_panel(Path(data_dir), "1d", panel, "synthetic")
    event(log, "REHEARSAL_SEED", action="written", data_dir=data_dir, symbols=len(panel.symbols),
          days=len(panel.times), replay_start_ms=int(panel.times[0]) + REPLAY_START_DAYS * DAY_MS)
    return True


__all__ = ["DAYS", "REPLAY_START_DAYS", "SEED", "SYMBOLS", "rehearsal_panel", "seed_rehearsal"]
