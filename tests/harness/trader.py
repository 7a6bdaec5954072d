"""The trader in whole-system tests: its configuration, `aura trade --once` runs, a running `aura trade`, its metrics.

Two configurations, for the two ways a test drives the trader:

- ``write_trader_config``: `aura trade --once` runs against a STEPPED simulator (``TraderEnv.trade``): live mode
  (the live code path; the simulator's offline keys), ``STRATEGY`` (invested in a few coins every day, permissive
  gates), one-second ticks; the crash and fault campaigns and the trader's process tests;
- ``write_running_config``: a long-running `aura trade` (``start_trader``) in testnet mode against a simulator at
  wall-clock speed: the shipped strategy file (optionally edited), metrics on a given port; the risk side's
  process tests and the real Prometheus test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aura_common.config.loader import parse_strategy, strategy_to_dict
from harness.caches import Market
from harness.processes import REPO, Proc, aura, http_get
from harness.simulator import Sim

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


def _paths(tmp: Path, data_dir: Path, strategy: Path) -> dict[str, str]:
    return {"data_dir": str(data_dir), "journal": str(tmp / "journal" / "aura.sqlite"),
            "snapshots_dir": str(tmp / "snapshots"), "strategy_file": str(strategy)}


def write_trader_config(tmp: Path, data_dir: Path, sim_url: str, symbols, mode: str = "live",
                        strategy: dict | None = None, lag_s: float = 2.0, **execution: Any) -> Path:
    cfg = {
        "universe": {"source": "fixed", "symbols": list(symbols)},
        "data": {"max_stale_hours": 48, "lookback_padding_days": 5},
        "execution": {"mode": mode, "live_confirm": mode == "live", "base_url": sim_url, "status_lag_seconds": lag_s,
                      "lookup_attempts": 6, "request_timeout_seconds": 10, **execution},
        "schedules": {"tick_seconds": 1, "rebalance_hour_utc": 0, "rebalance_delay_minutes": 15,
                      "snapshot_interval_seconds": 60},
        "paths": _paths(tmp, data_dir, tmp / "strategy.yaml"),
        "metrics": {"trader_port": 0, "bind": "127.0.0.1"},
    }
    # a strategy file states every key of every section: the test's changes over the code defaults, written out
    (tmp / "strategy.yaml").write_text(yaml.safe_dump(strategy_to_dict(parse_strategy(strategy or STRATEGY, "test"))))
    path = tmp / "aura.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@dataclass
class TraderEnv:
    """A stepped simulator and a trader configuration: ``trade()`` runs `aura trade --once` against them."""

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


def write_running_config(tmp_path: Path, sim_url: str, market: Market, metrics_port: int,
                         tick_seconds: float = 1.0, strategy_changes: dict | None = None,
                         universe: list[str] | None = None) -> Path:
    strategy = tmp_path / "strategy.yaml"
    shutil.copyfile(REPO / "config" / "strategy.yaml", strategy)
    if strategy_changes:
        edit_strategy(strategy, strategy_changes)
    config = {
        "universe": {"symbols": list(universe or market.symbols)},
        "execution": {"mode": "testnet", "base_url": sim_url, "status_lag_seconds": 0.5},
        "schedules": {"tick_seconds": tick_seconds, "snapshot_interval_seconds": 1},
        "paths": _paths(tmp_path, market.data_dir, strategy),
        "metrics": {"trader_port": metrics_port, "bind": "127.0.0.1"},
    }
    path = tmp_path / "aura.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def edit_strategy(path: Path, changes: dict) -> None:
    """``{"risk.stop_loss_pct": 12}`` -> rewrite the file whole (temp + rename, like a careful editor)."""
    data = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        section, key = dotted.split(".")
        data[section][key] = value
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    os.replace(tmp, path)


def start_trader(config: Path, log: Path) -> Proc:
    """`aura trade` (the loop) with the simulator's keys; stop it with ``Proc.stop``."""
    return Proc(aura("--config", str(config), "trade"), log, env={"AURA_API_KEY": SIM_KEY, "AURA_API_SECRET": SIM_SECRET})


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The trader's metrics: (sample name, sorted labels) -> value ({} when the endpoint does not answer)."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body = http_get(f"http://127.0.0.1:{port}/metrics", timeout=3.0)
    if status != 200:
        return {}
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(body) for s in fam.samples}


def metric(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))
