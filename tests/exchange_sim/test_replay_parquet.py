"""Replay from a Parquet cache in the ingestor's format (aura_common.adapters.parquet_store), through ccxt."""

from __future__ import annotations

import argparse

import ccxt
import numpy as np
import pytest
import requests

from aura_common.adapters import parquet_store
from aura_exchange_sim import cli
from aura_exchange_sim.app import RunningServer

from .conftest import DAY, START, client


def write_cache(data_dir, symbol: str, first_day: int, closes: list[float], gap_at: int | None = None) -> None:
    days = [d for d in range(len(closes)) if d != gap_at]
    c = np.array([closes[d] for d in days])
    parquet_store.write_candles(data_dir, "1d", symbol, {
        "open_time": np.array([START + (first_day + d) * DAY for d in days], dtype=np.int64),
        "open": c * 0.99, "high": c * 1.02, "low": c * 0.97, "close": c,
        "volume": np.full(len(days), 100.0), "quote_volume": c * 100.0, "source": "archive"})


def build(data_dir, *extra: str):
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    args = parser.parse_args(["--data-dir", str(data_dir), "--speed", "step", "--weight-limit", "0", *extra])
    return cli.build(args, 0)


@pytest.fixture
def replay(tmp_path):
    write_cache(tmp_path, "BTCUSDT", 0, [20_000.0 + 100 * d for d in range(40)])
    write_cache(tmp_path, "ETHUSDT", 10, [1_500.0 + 10 * d for d in range(30)], gap_at=15)  # listed on day 10
    sim = build(tmp_path, "--start", str(START + 5 * DAY + 1))
    with RunningServer(sim) as srv:
        yield srv


def test_klines_replay_the_cached_candles(replay):
    ex = client(replay.url)
    rows = ex.fetch_ohlcv("BTC/USDT", "1d", limit=10)
    assert [r[0] for r in rows] == [START + d * DAY for d in range(6)]  # days 0..5, day 5 still forming
    for d, (_, o, h, lo, c, v) in enumerate(rows[:-1]):
        close = 20_000.0 + 100 * d
        assert (o, h, lo, c, v) == pytest.approx((close * 0.99, close * 1.02, close * 0.97, close, 100.0))
    assert rows[-1][1] == pytest.approx((20_500.0) * 0.99) and rows[-1][5] < 1  # 1 ms into day 5


def test_late_listing_and_gaps(replay):
    ex = client(replay.url)
    assert set(ex.load_markets()) == {"BTC/USDT"}  # ETH is not listed before day 10
    requests.post(replay.url + "/admin/clock", json={"set_ms": START + 12 * DAY}, timeout=5).raise_for_status()
    ex = client(replay.url)
    assert set(ex.load_markets()) == {"BTC/USDT", "ETH/USDT"}
    assert ex.fetch_ticker("ETH/USDT")["last"] > 0
    requests.post(replay.url + "/admin/clock", json={"set_ms": START + 25 * DAY + 3600_000}, timeout=5)
    info = requests.get(replay.url + "/api/v3/exchangeInfo", timeout=5).json()
    status = {s["symbol"]: s["status"] for s in info["symbols"]}
    assert status == {"BTCUSDT": "TRADING", "ETHUSDT": "BREAK"}  # day 25 = ETH's gap
    with pytest.raises(ccxt.MarketClosed):
        ex.create_order("ETH/USDT", "market", "buy", 0.01)


def test_missing_cache_is_a_usage_error(tmp_path):
    with pytest.raises(cli.UsageError) as info:
        build(tmp_path)
    assert str(tmp_path) in str(info.value)
