"""Health means working, with real processes (issue 18): a running `aura trade` against a real `aura exchange-sim`.

- a start that fails (no venue at the configured URL) is not a silent restart loop: the process stays up, its
  ``/health`` answers 503 ``cannot start: ...`` and `aura status` shows the reason; when the venue appears, the same
  process starts, boots and turns healthy;
- the simulator's rate limit (429 with a Retry-After): the trader holds back every request, ``/health`` says
  ``venue back-off``; after it, healthy again;
- the simulator gone (SIGKILL): unhealthy with the reason.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from harness.caches import write_market_cache
from harness.processes import AURA, Proc, aura, free_port, http_get, wait_until
from harness.simulator import Sim
from harness.trader import start_trader, write_running_config

pytestmark = pytest.mark.slow


def health(port: int) -> tuple[int, str]:
    return http_get(f"http://127.0.0.1:{port}/health", timeout=3.0)


def start_sim_on(tmp, market, port: int) -> Sim:
    proc = Proc(aura("exchange-sim", "--port", str(port), "--data-dir", str(market.data_dir), "--speed", "1",
                     "--start", str(market.start_ms), "--balances", "USDT=10000"), tmp / f"sim-{port}.log", cwd=tmp)
    sim = Sim(f"http://127.0.0.1:{port}", proc)
    wait_until("the simulator", lambda: http_get(sim.url + "/health")[0] == 200 or not proc.alive(), timeout=60)
    assert proc.alive(), proc.text()[-2000:]
    return sim


def status(cfg) -> tuple[int, dict]:
    r = subprocess.run([AURA, "--config", str(cfg), "status", "--json"], capture_output=True, text=True, timeout=60)
    try:
        return r.returncode, json.loads(r.stdout)
    except ValueError:
        return r.returncode, {}


def test_a_failed_start_is_visible_then_recovers_and_venue_faults_make_it_unhealthy(tmp_path):
    market = write_market_cache(tmp_path / "data")
    sim_port, port = free_port(), free_port()
    cfg = write_running_config(tmp_path, f"http://127.0.0.1:{sim_port}", market, port)
    trader = start_trader(cfg, tmp_path / "trader.log")
    sim = None
    try:
        # no venue yet: the process stays up and says why it cannot start
        wait_until("503 cannot start", lambda: (h := health(port))[0] == 503 and "cannot start" in h[1]
                   or (not trader.alive() and trader.text()), timeout=90)
        assert trader.alive(), trader.text()[-3000:]
        code, report = status(cfg)
        assert report["health"]["healthy"] is False and "cannot start" in report["health"]["reason"], report
        # the venue appears: the same process starts, boots and is healthy
        sim = start_sim_on(tmp_path, market, sim_port)
        wait_until("healthy after the venue appeared", lambda: health(port)[0] == 200
                   or (not trader.alive() and trader.text()), timeout=120)
        assert trader.alive() and trader.lines("BOOT"), trader.text()[-3000:]
        # the simulator's rate limit: held back, unhealthy, then healthy again
        sim.post("/admin/faults", {"faults": [{"endpoint": "*", "kind": "rate_limit", "retry_after_s": 8,
                                               "count": 1}]})
        wait_until("503 venue back-off", lambda: (h := health(port))[0] == 503 and "back-off" in h[1], timeout=60)
        wait_until("healthy after the back-off", lambda: health(port)[0] == 200, timeout=90)
        # the venue gone: unhealthy, with the reason
        sim.proc.popen.kill()
        sim.proc.popen.wait(timeout=30)
        wait_until("503 with the venue gone", lambda: health(port)[0] == 503, timeout=120)
        assert trader.alive()
        code, report = status(cfg)
        assert report["health"]["healthy"] is False, report
    finally:
        trader.stop()
        if sim is not None:
            sim.stop()
