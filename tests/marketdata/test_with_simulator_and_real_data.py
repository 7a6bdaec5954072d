"""End to end with the other real parts: the exchange simulator as the ccxt tail feed, and the real candles served
by the archive fake (zips + CHECKSUM built from ../shared/data)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from marketdata_fakes import DAY
from prometheus_client import CollectorRegistry

from aura_common.adapters.clock import SteppedClock
from aura_common.adapters.manifest import Manifest
from aura_common.adapters.parquet_store import load_candles, load_panel
from aura_common.adapters.providers.archive import ArchiveProvider
from aura_common.adapters.providers.ccxt_tail import CcxtTailProvider, make_exchange
from aura_common.core.synthetic import synthetic_panel
from aura_common.domain import Interval
from aura_ingestor.chain import ChainContext, update_symbol
from aura_ingestor.metrics import IngestorMetrics

START = 1_600_000_000_000 - 1_600_000_000_000 % DAY  # 2020-09-13


def test_tail_from_the_exchange_simulator_matches_its_market(tmp_path):
    sim_app = pytest.importorskip("aura_exchange_sim.app")
    from aura_exchange_sim.clock import SimClock
    from aura_exchange_sim.market import MarketData
    panel = synthetic_panel(3, 60, seed=21, start_ms=START, late_listing_fraction=0.0)
    now = START + 50 * DAY + 12 * 3_600_000
    sim = sim_app.Simulator(MarketData(panel), SimClock(now, 0.0), {"USDT": Decimal(1000)})
    with sim_app.RunningServer(sim) as srv:
        clock = SteppedClock(now)
        feed = CcxtTailProvider(lambda: make_exchange("binance", srv.url, 3), "binance", clock)
        ctx = ChainContext(tmp_path, [feed], Manifest(), START, 0, IngestorMetrics(CollectorRegistry()))
        for s in panel.symbols:
            out = update_symbol(ctx, s, Interval.D1, now)
            assert out.status == "updated" and out.rejected == 0, out
    got = load_panel(tmp_path, "1d")
    assert got.symbols == panel.symbols and got.shape == (50, 3)  # day 50 is still forming: not cached
    for f in ("open", "high", "low", "close"):
        rel = np.abs(getattr(got, f) / getattr(panel, f)[:50] - 1)  # the simulator rounds to its tick size
        assert rel.max() < 1e-4, (f, rel.max(), np.unravel_index(rel.argmax(), rel.shape))
    # the venue's quote volume survives the tail feed: without it the liquidity screen rejects every symbol
    assert np.isfinite(got.quote_volume).all() and (got.quote_volume > 0).all()


def test_real_candles_through_the_archive_fake(tmp_path, real_data, archive_fake):
    from aura_common.adapters.json_candles import json_symbol_files, load_json_panel, read_json_rows
    files = json_symbol_files(real_data, "1d")
    chosen = ["BTCUSDT", "SOLUSDT", "AMPUSDT"]  # from 2017, from 2020, from 2022
    for s in chosen:
        archive_fake.add_rows(s, "1d", read_json_rows(files[s]), daily_from_ms=1_672_531_200_000)  # Jan 2023
    now = 1_673_308_800_000 + 3_600_000  # 2023-01-10T01:00Z: the 2023-01-09 candle has closed
    clock = SteppedClock(now)
    manifest = Manifest()
    ctx = ChainContext(tmp_path, [ArchiveProvider(archive_fake.url, clock)], manifest, 1_501_545_600_000, 0,
                       IngestorMetrics(CollectorRegistry()))
    for s in chosen:
        out = update_symbol(ctx, s, Interval.D1, now)
        assert out.rejected == 0 and out.gap_candles == 0, out
    want = load_json_panel(real_data, "1d", symbols=chosen)
    got = load_panel(tmp_path, "1d")
    assert got.symbols == want.symbols and np.array_equal(got.times, want.times)
    for f in ("open", "high", "low", "close", "volume"):
        assert np.allclose(getattr(got, f), getattr(want, f), equal_nan=True, rtol=1e-9), f
    # quote volume is derived in the fixture builder (volume × typical price), printed with 8 decimals
    assert np.allclose(got.quote_volume, want.quote_volume, equal_nan=True, rtol=1e-6)
    sol = load_candles(tmp_path, "1d", "SOLUSDT")
    assert manifest.get("1d", "SOLUSDT").first_open_ms == int(sol.open_time[0])
    # before listing: settled, not a gap
    assert manifest.get("1d", "SOLUSDT").settled[0][0] == 1_501_545_600_000
