"""A real trader process against a real simulator process, for whole-system tests (also used by
tests/observability/test_prometheus_trader.py).

    market = write_market_cache(data_dir)            # the same synthetic candles for the sim and the trader's cache
    sim = start_sim(tmp_path, market)                # `aura exchange-sim --data-dir ...` on a free port
    cfg = write_trader_config(tmp_path, sim.url, market.symbols, metrics_port)
    trader = start_trader(cfg, tmp_path / "trader.log")   # `aura trade` (testnet mode: real ccxt to the sim)

Every wait is bounded in time; every process is stopped (SIGTERM, then SIGKILL) by the caller's fixture.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ..conftest import free_port, stop_process, wait_until  # noqa: TID252 - the suite-wide helpers

REPO = Path(__file__).resolve().parents[2]
AURA = str(Path(sys.executable).with_name("aura"))
DAY = 86_400_000
SIM_KEY, SIM_SECRET = "aura-sim-key", "aura-sim-secret"


@dataclass
class Market:
    data_dir: Path
    symbols: tuple[str, ...]
    start_ms: int  # the simulator's replay start: 00:20 UTC or later, so the day's rebalance is due at once
    panel: object = None  # the candles (aura_common.core.panel.Panel)


def write_market_cache(data_dir: Path, n_symbols: int = 6, n_days: int = 400, seed: int = 11,
                       wall_clock: bool = False, crash_day: int | None = None, crash: float = 0.5) -> Market:
    """Synthetic daily candles written as the ingestor's Parquet cache (the simulator replays the same file).

    The replay starts at 00:20 UTC of day ``n_days - 20``; with ``wall_clock`` the candles are dated so that this
    day is today and the replay starts NOW (venue time = wall time, as in production). With ``crash_day`` every
    symbol gaps down to ``crash`` times its level at that day's open and stays there."""
    from aura_common.adapters import parquet_store
    from aura_common.core.synthetic import synthetic_panel

    first = 1_577_836_800_000  # 2020-01-01
    if wall_clock:
        now = int(time.time() * 1000)
        first = now - now % DAY - (n_days - 20) * DAY
    panel = synthetic_panel(n_symbols, n_days, seed, start_ms=first, late_listing_fraction=0.0)
    if crash_day is not None:
        from aura_common.core.panel import Panel
        fields = {f: np.array(getattr(panel, f)) for f in ("open", "high", "low", "close")}
        for f in fields.values():
            f[crash_day:] *= crash
        panel = Panel(panel.symbols, panel.times, panel.interval_ms, fields["open"], fields["high"], fields["low"],
                      fields["close"], panel.volume, panel.quote_volume)
    parquet_store.write_panel(data_dir, "1d", panel, "synthetic")
    start = first + (n_days - 20) * DAY + 20 * 60_000
    if wall_clock:
        start = max(start, int(time.time() * 1000))
    return Market(data_dir, tuple(panel.symbols), start, panel)


class Proc:
    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._fh = log.open("w")
        full = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
        full.update(env or {})
        self.popen = subprocess.Popen(args, cwd=REPO, env=full, stdout=self._fh, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def lines(self, tag: str) -> list[dict[str, str]]:
        """The ``[TAG] k=v ...`` lines of the log as field dicts."""
        out = []
        for line in self.text().splitlines():
            at = line.find(f"[{tag}] ")
            if at >= 0:
                try:
                    out.append(dict(p.split("=", 1) for p in shlex.split(line[at + len(tag) + 3:]) if "=" in p))
                except ValueError:
                    continue  # a line still being written
        return out

    def stop(self, timeout: float = 20.0) -> int:
        code = stop_process(self.popen, timeout=timeout)
        self._fh.close()
        return code


def http_get(url: str, timeout: float = 3.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - 127.0.0.1 only
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError:
        return 0, ""


def http_post(url: str, body: bytes) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - 127.0.0.1 only
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@dataclass
class Sim:
    proc: Proc
    url: str

    def admin(self, path: str, payload) -> str:
        import json
        status, body = http_post(self.url + path, json.dumps(payload).encode())
        assert status == 200, body
        return body


def start_sim(tmp_path: Path, market: Market, balances: str = "USDT=10000") -> Sim:
    port = free_port()
    proc = Proc([AURA, "exchange-sim", "--port", str(port), "--data-dir", str(market.data_dir), "--speed", "1",
                 "--start", str(market.start_ms), "--balances", balances, "--weight-limit", "0"],
                tmp_path / "sim.log")
    url = f"http://127.0.0.1:{port}"
    wait_until("the simulator", lambda: http_get(url + "/health")[0] == 200 or (not proc.alive() and proc.text()))
    assert proc.alive(), proc.text()
    return Sim(proc, url)


def write_trader_config(tmp_path: Path, sim_url: str, market: Market, metrics_port: int,
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
        "paths": {"data_dir": str(market.data_dir), "journal": str(tmp_path / "journal" / "aura.sqlite"),
                  "snapshots_dir": str(tmp_path / "snapshots"), "strategy_file": str(strategy)},
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
    return Proc([AURA, "--config", str(config), "trade"], log,
                env={"AURA_API_KEY": SIM_KEY, "AURA_API_SECRET": SIM_SECRET})


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The trader's metrics: (sample name, sorted labels) -> value ({} when the endpoint does not answer)."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body = http_get(f"http://127.0.0.1:{port}/metrics")
    if status != 200:
        return {}
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(body) for s in fam.samples}


def metric(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))
