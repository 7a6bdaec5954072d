"""Exchange-simulator fixtures: a seeded synthetic market on a STEPPED clock served on a loopback port, and a real
ccxt.binance client built by THE factory (aura_common.adapters.exchange.make_binance)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aura_common.adapters.exchange import make_binance
from aura_common.core.synthetic import synthetic_panel
from aura_exchange_sim.app import DEFAULT_API_KEY, DEFAULT_API_SECRET, RunningServer, Simulator
from aura_exchange_sim.clock import SimClock
from aura_exchange_sim.engine import EngineConfig
from aura_exchange_sim.market import MarketData

from harness.simulator import SimAdmin

DAY = 86_400_000
HOUR = 3_600_000
START = 1_600_000_000_000 - 1_600_000_000_000 % DAY  # 2020-09-13, a day boundary


def make_market(n_symbols: int = 4, n_days: int = 120, seed: int = 7) -> MarketData:
    return MarketData(synthetic_panel(n_symbols, n_days, seed, start_ms=START, late_listing_fraction=0.0))


def make_sim(balances=None, start_ms: int = START + 100 * DAY + 12 * HOUR, speed: float = 0.0,
             market: MarketData | None = None, **config) -> Simulator:
    bal = {k: Decimal(str(v)) for k, v in (balances or {"USDT": 10_000, "BTC": 1}).items()}
    limits = {k: config.pop(k) for k in ("order_limit_10s", "order_limit_1d") if k in config}
    weight_limit = config.pop("weight_limit", 0)
    return Simulator(market or make_market(), SimClock(start_ms, speed), bal, EngineConfig(**config),
                     weight_limit=weight_limit, **limits)


@pytest.fixture
def sim_factory():
    servers = []

    def start(**kw) -> RunningServer:
        srv = RunningServer(make_sim(**kw)).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture
def server(sim_factory) -> RunningServer:
    return sim_factory()


def client(url: str, timeout: float = 3.0, **options):
    return make_binance(url, DEFAULT_API_KEY, DEFAULT_API_SECRET, timeout_seconds=timeout, enable_rate_limit=False,
                        extra_options=options or None)


@pytest.fixture
def ex(server):
    return client(server.url)


@pytest.fixture
def admin(server) -> SimAdmin:
    return SimAdmin(server.url)
