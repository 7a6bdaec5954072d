"""Trader fixtures (helpers in trader_harness.py): a synthetic cache, a real simulator process, a trader env."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from trader_harness import (  # noqa: E402
    DAY, FIRST_TRADE_DAY, START, TraderEnv, build_cache, start_sim, write_trader_config,
)


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

