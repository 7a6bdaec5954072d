"""A real Prometheus scrapes the REAL trader (`aura trade`, testnet mode, real ccxt to a real `aura exchange-sim`
process replaying the same synthetic candles as the trader's Parquet cache) and evaluates every dashboard panel's and
every alert's expression through its HTTP API.

The helpers, the Prometheus fixture and the checks come from test_prometheus_live.py (the stand-in version); only
the scrape target differs: here ``trader_target`` starts the real system and waits for its first rebalance, so that
the regime, freshness, rebalance and order series exist.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.caches import write_market_cache
from harness.processes import free_port
from harness.processes import wait_until as wait_until_system
from harness.simulator import start_sim
from harness.trader import metric, scrape, start_trader, write_running_config

from .test_prometheus_live import check_every_panel_and_alert, prometheus, series, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.slow


@pytest.fixture
def trader_target(tmp_path) -> Iterator[str]:
    market = write_market_cache(tmp_path / "data", wall_clock=True)  # venue time = wall time, as in production
    sim = start_sim(tmp_path, market.data_dir, market.start_ms, speed="1", log_level=None)
    port = free_port()
    cfg = write_running_config(tmp_path, sim.url, market, port)
    trader = start_trader(cfg, tmp_path / "trader.log")
    try:
        # the first tick rebalances (the replay starts after the day's 00:15 UTC schedule)
        wait_until_system("the trader's first rebalance", lambda: metric(
            scrape(port), "aura_last_rebalance_timestamp_seconds") or (not trader.alive() and trader.text()),
            timeout=120)
        assert trader.alive(), trader.text()[-3000:]
        samples = scrape(port)
        assert sum(v for (n, _), v in samples.items() if n == "aura_regime") == 1
        assert any(n == "aura_data_freshness_age_seconds" for n, _ in samples)
        yield f"127.0.0.1:{port}"
    finally:
        trader.stop()
        sim.stop()


def test_every_panel_and_alert_expression_returns_series_from_the_real_trader(prometheus):
    base = prometheus
    wait_for("5 scrapes of the trader", lambda: any(float(s["value"][1]) >= 5 for s in series(
        base, 'count_over_time(up{job="trader"}[1m])')))
    assert [float(s["value"][1]) for s in series(base, 'up{job="trader"}')] == [1.0]
    assert [float(s["value"][1]) for s in series(base, 'up{job="ingestor"}')] == [0.0]
    # the real trader's own figures came through
    assert [float(s["value"][1]) for s in series(base, "aura_kill_switch_active")] == [0.0]
    assert float(series(base, "aura_equity_quote")[0]["value"][1]) > 0
    assert float(series(base, "aura_last_cycle_success_timestamp_seconds")[0]["value"][1]) > 0

    rules = check_every_panel_and_alert(base)

    # a healthy trader on fresh data: only the ingestor (nothing listening) is in trouble
    active = {r["name"] for r in rules if r["state"] != "inactive"}
    assert active <= {"AuraIngestorDown"}, active
