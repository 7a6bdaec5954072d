"""Trader fixtures (helpers in the harness package): a synthetic cache, a real simulator process, a trader env."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.caches import DAY, FIRST_TRADE_DAY, START, build_cache
from harness.simulator import start_sim
from harness.trader import TraderEnv, write_trader_config


@pytest.fixture
def cache(tmp_path) -> tuple[Path, tuple[str, ...]]:
    data = tmp_path / "data"
    return data, build_cache(data)


@pytest.fixture
def trader_env(tmp_path, cache):
    data_dir, symbols = cache
    sim = start_sim(tmp_path, data_dir, START + FIRST_TRADE_DAY * DAY + 20 * 60_000)
    cfg = write_trader_config(tmp_path, data_dir, sim.url, symbols)
    env = TraderEnv(tmp_path, cfg, tmp_path / "journal" / "aura.sqlite", tmp_path / "snapshots", sim)
    yield env
    sim.stop()

