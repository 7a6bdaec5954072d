"""Serves TraderMetrics with plausible, moving values on 127.0.0.1:<port> - a stand-in for the trader's
metrics endpoint until the trader service exists (then test_prometheus_live points at the real trader).

    python standin_trader.py PORT [MAX_SECONDS]

Prints READY once serving; exits when stdin closes (the test ends) or after MAX_SECONDS (default 120).
"""

from __future__ import annotations

import sys
import threading
import time

from prometheus_client import CollectorRegistry, start_http_server

from aura_trader.metrics import TraderMetrics


def main() -> int:
    port = int(sys.argv[1])
    max_seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 120.0
    registry = CollectorRegistry()
    m = TraderMetrics(registry)
    now = time.time()
    m.set_risk(equity=9500.0, peak=10000.0, threshold_ratio=0.2, kill_switch_active=False)
    m.set_regime("bull")
    m.set_positions(4, 0.78)
    m.rebalanced(now - 3600)
    m.config_applied("3f2a9c1b7d4e")
    m.set_data_freshness({"BTCUSDT": 1800.0, "ETHUSDT": 1800.0, "SOLUSDT": 5400.0})
    start_http_server(port, addr="127.0.0.1", registry=registry)
    print("READY", flush=True)

    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    deadline = time.monotonic() + max_seconds
    tick = 0
    while not stop.is_set() and time.monotonic() < deadline:
        tick += 1
        m.cycle_finished(2.0 + (tick % 7), success=True, finished_at_s=time.time())
        m.order("filled")
        if tick % 3 == 0:
            m.order("rejected")
            m.exchange_error("rate_limited")
        if tick % 5 == 0:
            m.sync_guard_trip("fetch_failed")
        if tick % 4 == 0:
            m.config_reload_failed()
            m.config_applied("3f2a9c1b7d4e")
        m.gate_decisions.labels("cost_benefit", "deny").inc()
        m.set_risk(equity=9500.0 + tick % 10, peak=10000.0, threshold_ratio=0.2, kill_switch_active=False)
        stop.wait(0.25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
