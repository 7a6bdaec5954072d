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
                "--params", str(params_file), "--json", "--report", str(report), "--symbols", "all")
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
            "--params", str(params_file), "--json", "--symbols", "all")
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


def _config(tmp_path: Path, **universe) -> Path:
    cfg = tmp_path / "aura.yaml"
    cfg.write_text(yaml.safe_dump({"universe": universe} if universe else {}))
    return cfg


def test_fixtures_use_the_configured_universe_unless_symbols_all(fixtures, params_file, tmp_path):
    cfg = _config(tmp_path, symbols=["SYN000USDT", "SYN001USDT"])
    base = ("--config", str(cfg), "backtest", "--from", "2018-09-01", "--to", "2019-03-01", "--fixtures",
            str(fixtures), "--params", str(params_file), "--json")
    proc = aura(*base)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["window"]["symbols"] == 3  # the universe and the regime proxy BTCUSDT
    proc = aura(*base, "--symbols", "all")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["window"]["symbols"] == 6


def _risk_params(tmp_path: Path, cooldown_hours: float) -> Path:
    p = tmp_path / f"strategy-{cooldown_hours:g}.yaml"
    changes = {"screen": {"min_history_days": 60, "min_median_quote_volume": 100000.0},
               "regime": {"slow_sma_days": 100, "exposure_bear": 0.3},
               "risk": {"kill_switch_cooldown_hours": cooldown_hours, "kill_switch_max_drawdown_pct": 6.0,
                        "kill_switch_window_days": 20}}
    p.write_text(yaml.safe_dump(strategy_to_dict(parse_strategy(changes, "test"))))
    return p


def test_kill_switch_trips_and_re_arms_are_listed_and_shaded(fixtures, tmp_path):
    """A tight kill switch with a 10-day cooldown trips and re-arms several times: --json lists each change with
    its drawdown, the tripped days buy nothing (trades.csv), and the text output lists them too."""
    params = _risk_params(tmp_path, 240.0)
    report = tmp_path / "report"
    args = ("backtest", "--from", "2018-06-01", "--to", "2019-05-14", "--fixtures", str(fixtures), "--params",
            str(params), "--symbols", "all")
    proc = aura(*args, "--json", "--report", str(report))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    ks = out["kill_switch"]
    trips = [c for c in ks["changes"] if c["action"] == "trip"]
    assert len(trips) >= 2 and out["gates"]["kill_switch/deny"] == len(trips)
    assert [c["action"] for c in ks["changes"]][:2] == ["trip", "re-arm"]  # alternating, trip first
    assert all(c["drawdown_pct"] >= 6.0 for c in trips)  # tripped at or past the threshold
    for a, b in zip(ks["changes"], ks["changes"][1:]):
        assert a["time"] < b["time"] and a["action"] != b["action"]
    assert ks["days_tripped"] > 0 and 0 <= out["days_flat"] <= out["days_in_cash"] <= out["metrics"]["days"]
    with open(report / "trades.csv") as fh:
        buys = [r["time"] for r in csv.DictReader(fh) if r["side"] == "BUY"]
    for p in ks["tripped_periods"]:  # no new entries while tripped (the re-arm day may buy again)
        assert not [t for t in buys if p["from"] <= t < p["to"]], p
    text = aura(*args)
    assert text.returncode == 0, text.stderr
    assert f"kill switch trip {trips[0]['time']} at drawdown" in text.stdout
    assert "kill switch re-arm" in text.stdout and "days flat" in text.stdout


def test_a_latched_kill_switch_is_said_to_stay_tripped(fixtures, tmp_path):
    proc = aura("backtest", "--from", "2018-06-01", "--to", "2019-05-14", "--fixtures", str(fixtures), "--params",
                str(_risk_params(tmp_path, 0.0)), "--symbols", "all", "--json")
    assert proc.returncode == 0, proc.stderr
    ks = json.loads(proc.stdout)["kill_switch"]
    assert [c["action"] for c in ks["changes"]] == ["trip"]
    assert ks["tripped_periods"][0]["re_armed"] is False
    assert ks["tripped_periods"][0]["to"] == "2019-05-15T00:00:00Z"  # the close of the last decision candle


def test_a_run_without_trades_says_why(fixtures, tmp_path):
    """A screen nothing passes (a minimum median volume no symbol reaches): no trades, and the reason says so on
    every day; a regime that allows no exposure is counted too."""
    p = tmp_path / "strict.yaml"
    changes = {"screen": {"min_history_days": 60, "min_median_quote_volume": 1.0e12},
               "regime": {"slow_sma_days": 100, "exposure_bear": 0.0, "exposure_sideways": 0.0}}
    p.write_text(yaml.safe_dump(strategy_to_dict(parse_strategy(changes, "test"))))
    proc = aura("backtest", "--from", "2018-09-01", "--to", "2019-05-14", "--fixtures", str(fixtures),
                "--params", str(p), "--symbols", "all", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    days = out["metrics"]["days"]
    assert out["metrics"]["trades"] == 0 and out["days_flat"] == out["days_in_cash"] == days
    reasons = {r["reason"].split(" (")[0]: r["count"] for r in out["flat_reasons"]}
    assert reasons["no candidate passed the universe screen and the vote"] == days
    assert 0 < reasons["regime exposure 0"] < days
    assert list(reasons.values()) == sorted(reasons.values(), reverse=True)
    text = aura("backtest", "--from", "2018-09-01", "--to", "2019-05-14", "--fixtures", str(fixtures),
                "--params", str(p), "--symbols", "all")
    assert f"no candidate passed the universe screen and the vote: {int(days)} days" in text.stdout


def test_report_html_is_a_tearsheet(fixtures, tmp_path):
    report = tmp_path / "report"
    proc = aura("backtest", "--from", "2018-06-01", "--to", "2019-05-14", "--fixtures", str(fixtures), "--params",
                str(_risk_params(tmp_path, 240.0)), "--symbols", "all", "--report", str(report), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    page = (report / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 1
    for c in out["kill_switch"]["changes"]:
        assert c["time"] in page
    for year, months in (("2018", 7), ("2019", 5)):  # 2018-06 .. 2019-05 (the last mark is 2019-05-15)
        row = page.split(f"<tr><td>{year}</td>", 1)[1].split("</tr>", 1)[0]
        assert row.count("%") == months + 1  # the months with a mark, and the year
