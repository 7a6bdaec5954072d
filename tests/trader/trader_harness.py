"""Trader test harness (imported by conftest.py, the tests and bench/trader): a seeded synthetic Parquet cache, a REAL `aura exchange-sim` process replaying it on a stepped
clock, and a helper that runs the REAL `aura trade` process (live code path: CcxtBroker via make_binance over HTTP)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from aura_common.adapters.parquet_store import write_panel
from aura_common.config.loader import parse_strategy, strategy_to_dict
from aura_common.core.synthetic import synthetic_panel

DAY = 86_400_000
START = 1_600_000_000_000 - 1_600_000_000_000 % DAY  # 2020-09-13
N_DAYS = 420
FIRST_TRADE_DAY = 380  # the simulator starts on this day, 00:20 UTC: the 00:15 rebalance is due
SIM_KEY, SIM_SECRET = "aura-sim-key", "aura-sim-secret"

STRATEGY = {
    "screen": {"momentum_days": 10, "momentum_min_return": -1.0, "sma_days": 3, "drawdown_window_days": 30,
               "max_drawdown_pct": 100.0, "liquidity_window_days": 10, "min_median_quote_volume": 0.0,
               "min_history_days": 30},
    "scoring": {"momentum_lookbacks_days": [3, 10], "volatility_days": 10, "trend_days": 20},
    "voting": {"offsets_days": [0, 1], "top_k": 4, "min_votes": 1},
    "regime": {"fast_sma_days": 10, "slow_sma_days": 40, "breadth_sma_days": 20, "confirm_cycles": 1,
               "exposure_bull": 0.9, "exposure_sideways": 0.9, "exposure_bear": 0.9},
    "portfolio": {"max_positions": 4, "max_weight": 0.22, "min_trade_weight": 0.01},
    "risk": {"kill_switch_max_drawdown_pct": 95.0, "stop_loss_pct": 95.0, "take_profit_pct": 1000.0,
             "cost_benefit_margin_bps": 0.0, "cost_benefit_bps_per_score": 100000.0,
             "sync_guard_max_equity_drop_pct": 60.0},  # a synthetic day can move a 4-coin book a lot
}


def build_cache(data_dir: Path, n_symbols: int = 16, n_days: int = N_DAYS, seed: int = 3) -> tuple[str, ...]:
    panel = synthetic_panel(n_symbols, n_days, seed, start_ms=START, late_listing_fraction=0.0)
    write_panel(data_dir, "1d", panel, "synthetic")
    return panel.symbols


def python() -> str:
    return sys.executable


def aura(*args: str) -> list[str]:
    return [python(), "-m", "aura_cli.main", *args]


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sim:
    url: str
    proc: subprocess.Popen
    log: Path

    def get(self, path: str, **params):
        r = requests.get(self.url + path, params=params, timeout=10)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body=None):
        r = requests.post(self.url + path, json=body if body is not None else {}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def step(self, ms: int):
        return self.post("/admin/clock", {"step_ms": ms})

    def set_time(self, ms: int):
        return self.post("/admin/clock", {"set_ms": ms})

    def faults(self, *rules):
        return self.post("/admin/faults", {"faults": list(rules)})

    def clear_faults(self):
        return self.post("/admin/faults/clear")

    def orders(self) -> list[dict]:
        return self.get("/admin/orders")["orders"]

    def balances(self) -> dict:
        return self.get("/admin/balances")["balances"]

    def ledger(self) -> list[dict]:
        return self.get("/admin/ledger")["entries"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_sim(tmp: Path, data_dir: Path, start_ms: int, balances: str = "USDT=10000", extra: tuple = ()) -> Sim:
    port = free_port()
    log = tmp / f"sim-{port}.log"
    cmd = aura("exchange-sim", "--port", str(port), "--data-dir", str(data_dir), "--speed", "step",
               "--start", str(start_ms), "--balances", balances, "--weight-limit", "0", "--log-level", "WARNING",
               *extra)
    proc = subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT, cwd=tmp)
    sim = Sim(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exchange-sim exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            sim.get("/health")
            return sim
        except requests.RequestException:
            time.sleep(0.1)
    sim.stop()
    raise RuntimeError("exchange-sim did not come up")


@dataclass
class TraderEnv:
    tmp: Path
    config: Path
    journal: Path
    snapshots: Path
    sim: Sim

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
        env.update(AURA_CONFIG=str(self.config), AURA_API_KEY=SIM_KEY, AURA_API_SECRET=SIM_SECRET,
                   PYTHONUNBUFFERED="1")
        env.update(extra)
        return env

    def trade(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(aura("trade", "--once", *args), env=self.env(**env), cwd=self.tmp,
                              capture_output=True, text=True, timeout=timeout)


def write_trader_config(tmp: Path, data_dir: Path, sim_url: str, symbols, mode: str = "live",
                        strategy: dict | None = None, lag_s: float = 2.0, **execution) -> Path:
    cfg = {
        "universe": {"source": "fixed", "symbols": list(symbols)},
        "data": {"max_stale_hours": 48, "lookback_padding_days": 5},
        "execution": {"mode": mode, "live_confirm": mode == "live", "base_url": sim_url, "status_lag_seconds": lag_s,
                      "lookup_attempts": 6, "request_timeout_seconds": 10, **execution},
        "schedules": {"tick_seconds": 1, "rebalance_hour_utc": 0, "rebalance_delay_minutes": 15,
                      "snapshot_interval_seconds": 60},
        "paths": {"data_dir": str(data_dir), "journal": str(tmp / "journal" / "aura.sqlite"),
                  "snapshots_dir": str(tmp / "snapshots"), "strategy_file": str(tmp / "strategy.yaml")},
        "metrics": {"trader_port": 0, "bind": "127.0.0.1"},
    }
    # a strategy file states every key of every section: the test's changes over the code defaults, written out
    (tmp / "strategy.yaml").write_text(yaml.safe_dump(strategy_to_dict(parse_strategy(strategy or STRATEGY, "test"))))
    path = tmp / "aura.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def journal_rows_ro(path: Path, sql: str, args=()) -> list[tuple]:
    import sqlite3
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()
