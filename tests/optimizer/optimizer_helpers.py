"""Optimizer test helpers: a real workspace in tmp_path (config, strategy, search space, Parquet cache built with the
cache's own writer from a seeded synthetic panel) and a runner for the real ``.venv/bin/aura`` console script."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from aura_common.adapters.parquet_store import write_panel
from aura_common.config.loader import parse_strategy, strategy_to_dict
from aura_common.core.panel import Panel

REPO = Path(__file__).resolve().parents[2]
AURA = REPO / ".venv" / "bin" / "aura"

STRATEGY = {
    "screen": {"min_history_days": 40, "sma_days": 20, "momentum_days": 20, "drawdown_window_days": 30,
               "liquidity_window_days": 20, "min_median_quote_volume": 1.0e5},
    "scoring": {"momentum_lookbacks_days": [7, 20], "volatility_days": 20, "trend_days": 20},
    "regime": {"fast_sma_days": 10, "slow_sma_days": 40, "breadth_sma_days": 20},
}
SPACE = {
    "objective": {"metric": "sharpe", "turnover_penalty": 0.01, "min_trades": 2},
    "parameters": {
        "scoring.w_momentum": {"low": 0.0, "high": 2.0},
        "scoring.w_volatility": {"low": -1.0, "high": 0.5},
        "voting.offsets_days": {"choices": [[0, 1, 2, 3], [0, 2, 4, 6]]},
        "voting.min_votes": {"low": 1, "high": 4},
        "regime.fast_sma_days": {"low": 5, "high": 20, "step": 5},
        "risk.stop_loss_pct": {"low": 5.0, "high": 30.0},
    },
}


def write_cache(data_dir: Path, panel: Panel) -> None:
    write_panel(data_dir, "1d", panel, "archive")


@dataclass
class Workspace:
    root: Path
    config: Path
    strategy: Path
    space: Path
    data_dir: Path
    optimizer_dir: Path
    snapshots_dir: Path
    journal: Path

    def aura(self, *args: str, timeout: float = 240, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(AURA), "--config", str(self.config), "optimize", *args], cwd=self.root,
                              capture_output=True, text=True, timeout=timeout, env=self.env(env))

    def popen(self, *args: str, env: dict | None = None, **kw) -> subprocess.Popen:
        return subprocess.Popen([str(AURA), "--config", str(self.config), "optimize", *args], cwd=self.root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env(env), **kw)

    def env(self, extra: dict | None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
        env.update(extra or {})
        return env

    def runs(self) -> list[Path]:
        return sorted(p for p in self.optimizer_dir.iterdir()) if self.optimizer_dir.exists() else []


def make_workspace(root: Path, panel: Panel | None, **optimizer) -> Workspace:
    ws = Workspace(root, root / "aura.yaml", root / "strategy.yaml", root / "space.yaml", root / "data",
                   root / "optimizer", root / "snapshots", root / "journal" / "aura.sqlite")
    opt = {"train_days": 120, "test_days": 60, "step_days": 60, "trials": 10, "seed": 7, "workers": 1} | optimizer
    ws.config.write_text(yaml.safe_dump({
        "paths": {"data_dir": str(ws.data_dir), "journal": str(ws.journal), "snapshots_dir": str(ws.snapshots_dir),
                  "optimizer_dir": str(ws.optimizer_dir), "strategy_file": str(ws.strategy)},
        "optimizer": opt,
        "execution": {"fee_bps": 10, "slippage_bps": 5, "paper_initial_quote": 10000},
    }))
    ws.strategy.write_text(yaml.safe_dump(strategy_to_dict(parse_strategy(STRATEGY, "test"))))  # every key
    ws.space.write_text(yaml.safe_dump(SPACE))
    ws.data_dir.mkdir()
    if panel is not None:
        write_cache(ws.data_dir, panel)
    return ws


@contextlib.contextmanager
def reaped(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """The block's process, killed and reaped if it is still running when the block ends (a failed test)."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def signal_and_wait(proc: subprocess.Popen, sig: int, timeout: float = 60.0) -> str:
    """Send ``sig`` and wait for the process to exit; returns its stderr."""
    proc.send_signal(sig)
    return proc.communicate(timeout=timeout)[1]


def read_until(proc: subprocess.Popen, needle: str, timeout: float = 120.0) -> str:
    """The first stderr line containing ``needle`` (AssertionError when the process ends or time runs out first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if needle in line:
            return line
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"{needle} not seen")
