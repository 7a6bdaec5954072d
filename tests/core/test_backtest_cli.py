"""`aura backtest` as a real subprocess on a small gzipped-JSON fixture built in tmp_path."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from aura_common.config.loader import parse_strategy, strategy_to_dict
from aura_common.core.synthetic import synthetic_panel

REPO = Path(__file__).resolve().parents[2]
AURA = REPO / ".venv" / "bin" / "aura"


def aura(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
    return subprocess.run([str(AURA), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> Path:
    """Six synthetic pairs over 500 days (2018-01-01 ..), in the ../shared/data layout."""
    root = tmp_path_factory.mktemp("candles")
    (root / "1d").mkdir()
    panel = synthetic_panel(6, 500, seed=3)
    for j, sym in enumerate(panel.symbols):
        rows = [[int(t), panel.open[i, j], panel.high[i, j], panel.low[i, j], panel.close[i, j], panel.volume[i, j]]
                for i, t in enumerate(panel.times) if not np.isnan(panel.close[i, j])]
        with gzip.open(root / "1d" / f"{sym[:-4]}_USDT-1d.json.gz", "wt") as fh:
            json.dump(rows, fh)
    return root


@pytest.fixture(scope="module")
def params_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("params") / "strategy.yaml"
    changes = {"screen": {"min_history_days": 60, "min_median_quote_volume": 100000.0},
               "regime": {"slow_sma_days": 100, "exposure_bear": 0.3}, "risk": {"kill_switch_cooldown_hours": 240.0}}
    p.write_text(yaml.safe_dump(strategy_to_dict(parse_strategy(changes, "test"))))  # a file states every key
    return p


def test_json_metrics_and_report(fixtures, params_file, tmp_path):
    report = tmp_path / "report"
    proc = aura("backtest", "--from", "2018-06-01", "--to", "2019-05-14", "--fixtures", str(fixtures),
                "--params", str(params_file), "--json", "--report", str(report))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    m = out["metrics"]
    assert {"total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "turnover",
            "exposure", "trades"} <= set(m)
    assert m["days"] == 348 and m["trades"] > 0
    assert out["window"]["symbols"] == 6
    assert (report / "equity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(report / "trades.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == m["trades"]
    assert {r["side"] for r in rows} <= {"BUY", "SELL"}
    with open(report / "equity.csv") as fh:
        eq = list(csv.DictReader(fh))
    assert len(eq) == 348 and float(eq[-1]["equity"]) == pytest.approx(m["final_equity"])
    assert not [p for p in report.iterdir() if p.name.startswith(".")]  # no temp files left


def test_same_run_same_output(fixtures, params_file):
    args = ("backtest", "--from", "2018-09-01", "--to", "2019-03-01", "--fixtures", str(fixtures),
            "--params", str(params_file), "--json")
    assert aura(*args).stdout == aura(*args).stdout


def test_human_output_and_symbol_subset(fixtures, params_file):
    proc = aura("backtest", "--from", "2018-09-01", "--to", "2019-03-01", "--fixtures", str(fixtures),
                "--params", str(params_file), "--symbols", "SYN000USDT,SYN001USDT,NOPEUSDT")
    assert proc.returncode == 0, proc.stderr
    assert "3 symbols" in proc.stdout and "sharpe" in proc.stdout  # the regime proxy BTCUSDT is added
    assert "NOPEUSDT" in proc.stderr


@pytest.mark.parametrize(("args", "code", "message"), [
    (("--from", "2019-01-01", "--to", "2018-01-01"), 2, "is after"),
    (("--from", "2019-13-01", "--to", "2019-12-01"), 2, "not a date"),
    (("--from", "2030-01-01", "--to", "2030-02-01"), 1, "no candles between"),
])
def test_usage_and_data_errors(fixtures, args, code, message):
    proc = aura("backtest", *args, "--fixtures", str(fixtures))
    assert proc.returncode == code
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_missing_data_and_bad_params_are_one_clear_line(tmp_path, fixtures):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = aura("backtest", "--from", "2018-06-01", "--to", "2018-07-01", "--fixtures", str(empty))
    assert proc.returncode == 1 and "no daily candle files" in proc.stderr
    cfg = tmp_path / "aura.yaml"
    cfg.write_text(f"paths:\n  data_dir: {tmp_path / 'nocache'}\n")
    proc = aura("--config", str(cfg), "backtest", "--from", "2018-06-01", "--to", "2018-07-01")
    assert proc.returncode == 1 and "Parquet cache" in proc.stderr and "--fixtures" in proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("voting:\n  top_k: 0\n")
    proc = aura("backtest", "--from", "2018-06-01", "--to", "2018-07-01", "--fixtures", str(fixtures),
                "--params", str(bad))
    assert proc.returncode == 2 and "top_k" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_reads_the_parquet_cache_of_the_config(tmp_path, params_file):
    """Without --fixtures the data comes from paths.data_dir through parquet_store.load_panel."""
    from aura_common.adapters.parquet_store import write_panel

    data_dir = tmp_path / "data"
    write_panel(data_dir, "1d", synthetic_panel(6, 500, seed=3), "archive")
    cfg = tmp_path / "aura.yaml"
    cfg.write_text(f"paths:\n  data_dir: {data_dir}\n  strategy_file: {params_file}\n")
    proc = aura("--config", str(cfg), "backtest", "--from", "2018-06-01", "--to", "2019-05-14", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["window"]["source"] == str(data_dir) and out["window"]["symbols"] == 6
    assert out["metrics"]["days"] == 348 and out["metrics"]["trades"] > 0
