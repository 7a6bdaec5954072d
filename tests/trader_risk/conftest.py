"""Fixtures for the trader's risk side: real journal files in tmp_path, a stepped clock, TraderMetrics on a fresh
registry, the real strategy file copied into tmp_path, and the exchange simulator served over HTTP with a real
ccxt client (CcxtBroker + make_binance)."""

from __future__ import annotations

import logging
import shutil
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from aura_trader.metrics import TraderMetrics

from harness.simulator import SimAdmin

REPO = Path(__file__).resolve().parents[2]
DAY = 86_400_000
HOUR = 3_600_000


class Metrics(TraderMetrics):
    """TraderMetrics with a reader for assertions."""

    def value(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.fixture
def strategy_file(tmp_path: Path) -> Path:
    path = tmp_path / "strategy.yaml"
    shutil.copyfile(REPO / "config" / "strategy.yaml", path)
    return path


@pytest.fixture
def logger(caplog) -> logging.Logger:
    caplog.set_level(logging.INFO)
    return logging.getLogger("aura_trader.test")


def tag_lines(caplog, tag: str) -> list[dict[str, str]]:
    """The ``[TAG] k=v ...`` lines logged, as field dicts (values unquoted)."""
    import shlex
    out = []
    for rec in caplog.records:
        msg = rec.getMessage()
        if msg.startswith(f"[{tag}] "):
            out.append(dict(part.split("=", 1) for part in shlex.split(msg[len(tag) + 3:])))
    return out


# --- the exchange simulator -------------------------------------------------------------------------------------
SIM_START = 1_600_000_000_000 - 1_600_000_000_000 % DAY  # 2020-09-13, a day boundary


def crash_panel(n_days: int = 60, crash_day: int = 40, crash: float = 0.5, seed: int = 3):
    """Two symbols on a gentle random walk; from ``crash_day`` on both trade at ``crash`` times their level."""
    from aura_common.core.panel import Panel

    rng = np.random.default_rng(seed)
    base = np.array([30_000.0, 2_000.0])
    steps = 1 + rng.normal(0, 0.002, (n_days, 2))
    close = base * np.cumprod(steps, axis=0)
    close[crash_day:] *= crash
    open_ = np.vstack([close[:1], close[:-1]])
    open_[crash_day] = close[crash_day]  # the crash happens at the day boundary (a gap), not inside a candle
    high, low = np.maximum(open_, close) * 1.0005, np.minimum(open_, close) * 0.9995
    times = SIM_START + np.arange(n_days, dtype=np.int64) * DAY
    vol = np.full((n_days, 2), 1_000.0)
    return Panel.from_arrays(("BTCUSDT", "ETHUSDT"), times, DAY, open=open_, high=high, low=low, close=close,
                             volume=vol, quote_volume=vol * close)


@pytest.fixture
def sim():
    """A simulator (stepped clock) replaying ``crash_panel`` on 127.0.0.1, with 1 BTC + 5 ETH + 10,000 USDT."""
    from aura_exchange_sim.app import RunningServer, Simulator
    from aura_exchange_sim.clock import SimClock
    from aura_exchange_sim.engine import EngineConfig
    from aura_exchange_sim.market import MarketData

    balances = {"USDT": Decimal(10_000), "BTC": Decimal(1), "ETH": Decimal(5)}
    simulator = Simulator(MarketData(crash_panel()), SimClock(SIM_START + 30 * DAY, 0.0), balances, EngineConfig(),
                          weight_limit=0)
    server = RunningServer(simulator).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def admin(sim) -> SimAdmin:
    return SimAdmin(sim.url)


@pytest.fixture
def broker(sim):
    from aura_common.adapters.broker.ccxt_broker import CcxtBroker
    from aura_common.adapters.exchange import make_binance
    from aura_exchange_sim.app import DEFAULT_API_KEY, DEFAULT_API_SECRET

    return CcxtBroker(make_binance(sim.url, DEFAULT_API_KEY, DEFAULT_API_SECRET, timeout_seconds=3.0,
                                   enable_rate_limit=False))
