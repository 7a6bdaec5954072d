"""``aura exchange-sim`` as a real subprocess: /health, ccxt orders, faults file, SIGTERM, --state restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ccxt
import pytest
import requests

from aura_common.adapters.exchange import make_binance

from harness.processes import free_port

pytestmark = pytest.mark.slow
AURA = str(Path(sys.executable).with_name("aura"))


def start(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")} | (env or {})
    proc = subprocess.Popen([AURA, "exchange-sim", "--port", str(port), *args], env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exchange-sim exited {proc.returncode}: {proc.stderr.read()}")
        try:
            if requests.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("exchange-sim did not become healthy in 30 s")


def stop(proc: subprocess.Popen) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    return proc.returncode, out, err


def test_subprocess_health_orders_faults_and_clean_stop(tmp_path):
    faults = tmp_path / "faults.yaml"
    faults.write_text("seed: 3\nfaults:\n  - kind: empty_balances\n    count: 1\n")
    secret = "very-secret-value-123"
    proc, url = start("--speed", "step", "--seed", "5", "--balances", "USDT=2000,BTC=0.1", "--faults", str(faults),
                      env={"AURA_SIM_API_KEY": "key-0,key-1", "AURA_SIM_API_SECRET": "other-secret-456," + secret})
    try:
        health = requests.get(url + "/health", timeout=5).json()
        assert health["status"] == "ok" and health["mode"] == "stepped" and health["symbols"] == 20
        ex = make_binance(url, "key-1", secret, timeout_seconds=5, enable_rate_limit=False)
        assert ex.fetch_balance()["total"] == {}  # the faults file is active
        assert ex.fetch_balance()["USDT"]["total"] == 2000
        o = ex.create_order("BTC/USDT", "market", "buy", 0.01, None, {"newClientOrderId": "cli-1"})
        assert o["status"] == "closed"
        with pytest.raises(ccxt.AuthenticationError):
            make_binance(url, "key-1", "wrong", enable_rate_limit=False).fetch_balance()
    finally:
        code, out, err = stop(proc)
    assert code == 0, err
    assert "[SIM_START]" in out and "[SIM_STOP]" in out and "api_keys=2" in out
    assert "key-0" not in out + err and "key-1" not in out + err  # the keys are never logged (issue 14)
    assert secret not in out + err and "other-secret-456" not in out + err


def test_state_survives_a_restart(tmp_path):
    state = tmp_path / "sim.sqlite"
    args = ("--speed", "step", "--state", str(state), "--start", "2026-01-01T00:00:00Z")
    proc, url = start(*args)
    try:
        ex = make_binance(url, "aura-sim-key", "aura-sim-secret", enable_rate_limit=False)
        ex.load_markets()
        o = ex.create_order("BTC/USDT", "market", "buy", 0.01, None, {"newClientOrderId": "keep-1"})
        last = ex.fetch_ticker("BTC/USDT")["last"]
        lim = ex.create_order("BTC/USDT", "limit", "buy", 0.01, float(ex.price_to_precision("BTC/USDT", last * 0.8)),
                              {"newClientOrderId": "rest-1"})
        requests.post(url + "/admin/clock", json={"step_ms": 3_600_000}, timeout=5).raise_for_status()
        before = requests.get(url + "/admin/ledger", timeout=5).json()["entries"]
        balance = ex.fetch_balance()["total"]
        t_before = ex.fetch_time()
    finally:
        proc.kill()  # a crash, not a clean stop
        proc.communicate(timeout=20)
    proc, url = start(*args)
    try:
        ex = make_binance(url, "aura-sim-key", "aura-sim-secret", enable_rate_limit=False)
        assert ex.fetch_time() == t_before
        assert requests.get(url + "/admin/ledger", timeout=5).json()["entries"] == before
        assert ex.fetch_balance()["total"] == balance
        assert ex.fetch_order(None, "BTC/USDT", {"origClientOrderId": "keep-1"})["id"] == o["id"]
        assert [x["id"] for x in ex.fetch_open_orders("BTC/USDT")] == [lim["id"]]
        with pytest.raises(ccxt.InvalidOrder):  # still open after the restart: a duplicate
            ex.create_order("BTC/USDT", "limit", "buy", 0.01, lim["price"], {"newClientOrderId": "rest-1"})
        nxt = ex.create_order("BTC/USDT", "market", "buy", 0.01)
        assert int(nxt["id"]) > int(lim["id"])
    finally:
        assert stop(proc)[0] == 0


@pytest.mark.parametrize("args,needle", [
    (("--balances", "USDT=lots"), "--balances"),
    (("--speed", "fast"), "--speed"),
    (("--interval", "7m"), "--interval"),
    (("--start", "yesterday"), "--start"),
    (("--api-key", "a,b", "--api-secret", "x"), "--api-key"),
    (("--fee-bps", "-1"), "--fee-bps"),
    (("--slippage-bps", "NaN"), "--slippage-bps"),
    (("--partial-fill-ratio", "2"), "--partial-fill-ratio"),
    (("--order-limit-10s", "-1"), "--order-limit-10s"),
])
def test_bad_options_exit_2_with_one_line(args, needle):
    proc = subprocess.run([AURA, "exchange-sim", "--port", str(free_port()), *args], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and needle in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_bad_faults_file_names_file_and_rule(tmp_path):
    bad = tmp_path / "f.yaml"
    bad.write_text("faults:\n  - kind: latency\n  - kind: tornado\n")
    proc = subprocess.run([AURA, "exchange-sim", "--faults", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and str(bad) in proc.stderr and "faults[1].kind" in proc.stderr


def test_port_in_use_exits_1(tmp_path):
    proc, url = start("--speed", "step")
    try:
        port = url.rsplit(":", 1)[1]
        other = subprocess.run([AURA, "exchange-sim", "--port", port], capture_output=True, text=True, timeout=60)
        assert other.returncode == 1 and "cannot listen" in other.stderr and "Traceback" not in other.stderr
    finally:
        stop(proc)


def test_synthetic_market_is_the_same_after_a_restart_days_later():
    import argparse

    from aura_exchange_sim import cli
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    args = parser.parse_args(["--speed", "step", "--seed", "4"])
    t = 1_795_000_000_000
    a, b = cli.build(args, t), cli.build(args, t + 3 * 86_400_000)
    assert a.market.panel.symbols == b.market.panel.symbols
    assert (a.market.panel.times == b.market.panel.times).all()
    import numpy as np
    assert np.array_equal(a.market.panel.close, b.market.panel.close, equal_nan=True)


# --- issue 14: the admin API's exposure, the replayed cache's rows, --symbols -------------------------------------

def test_admin_api_off_loopback_needs_a_token_and_is_off_without_one():
    proc, url = start("--host", "0.0.0.0", "--speed", "step")  # bound beyond loopback, no token
    try:
        assert requests.get(url + "/health", timeout=5).status_code == 200  # the healthcheck stays open
        r = requests.post(url + "/admin/balances", json={"USDT": "1000000"}, timeout=5)
        assert r.status_code == 403 and "admin" in r.json()["error"]
        assert requests.get(url + "/admin/ledger", timeout=5).status_code == 403
    finally:
        assert stop(proc)[0] == 0
    token = "admin-token-0123456789"
    proc, url = start("--host", "0.0.0.0", "--speed", "step", env={"AURA_SIM_ADMIN_TOKEN": token})
    try:
        assert requests.post(url + "/admin/balances", json={"USDT": "5"}, timeout=5).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert requests.post(url + "/admin/balances", json={"USDT": "5"}, headers=wrong, timeout=5).status_code == 401
        ok = {"Authorization": f"Bearer {token}"}
        r = requests.post(url + "/admin/balances", json={"USDT": "5"}, headers=ok, timeout=5)
        assert r.status_code == 200
        balances = requests.get(url + "/admin/balances", headers=ok, timeout=5).json()["balances"]
        assert balances["USDT"]["free"] == "5.00000000"
    finally:
        code, out, err = stop(proc)
    assert code == 0 and token not in out + err and "admin=token" in out


def test_admin_api_on_loopback_works_without_a_token():
    proc, url = start("--speed", "step")
    try:
        r = requests.post(url + "/admin/balances", json={"USDT": "7"}, timeout=5)
        assert r.status_code == 200
    finally:
        code, out, _ = stop(proc)
    assert "admin=loopback" in out


@pytest.mark.parametrize("bad_time", [568_971_820_800_000, -472_425_955_200_000])  # years 20000 and -13000
def test_a_replayed_cache_row_out_of_range_is_refused_naming_the_file(tmp_path, bad_time):
    """Used to lay out a grid of millions of rows (gigabytes, MemoryError) before serving anything."""
    import numpy as np
    import pyarrow.parquet as pq

    from aura_common.adapters.parquet_store import candle_path, to_table, write_panel
    from aura_common.core.synthetic import synthetic_panel
    write_panel(tmp_path, "1d", synthetic_panel(3, 60, seed=1), "archive")
    path = candle_path(tmp_path, "1d", "SYN000USDT")
    cols = pq.read_table(path).to_pydict()
    t = np.asarray([int(x.timestamp() * 1000) for x in cols["open_time"]], dtype=np.int64)
    t[0] = bad_time
    pq.write_table(to_table({**cols, "open_time": t}), path)
    proc = subprocess.run([AURA, "exchange-sim", "--port", str(free_port()), "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert str(path) in err and "time_out_of_range" in err and "MemoryError" not in err
    assert len(err.splitlines()) == 1


def test_invalid_symbol_names_are_refused(tmp_path):
    from aura_common.adapters.parquet_store import write_panel
    from aura_common.core.synthetic import synthetic_panel
    write_panel(tmp_path, "1d", synthetic_panel(3, 60, seed=1), "archive")
    proc = subprocess.run([AURA, "exchange-sim", "--port", str(free_port()), "--data-dir", str(tmp_path),
                           "--symbols", "../../../etc/passwd,BTCUSDT"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "../../../etc/passwd" in proc.stderr and "--symbols" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
