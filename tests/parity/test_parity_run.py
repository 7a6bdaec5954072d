"""``aura parity`` end to end: the real simulator (close price model, stepped clock), the real trader (testnet mode,
real ccxt over loopback HTTP, its SQLite journal) and the backtest over the same window; assertions on the JSON.

- a short synthetic window (a seeded Parquet cache) always runs;
- 120-day windows of real Binance candles (../shared/data or $AURA_REAL_DATA; skipped without them) for the default
  strategy and for ``bench/parity/strategy-risk.yaml`` (stop-losses, take-profits, a kill switch that re-arms).
  2021-04-01 .. 2021-07-29 holds the May 2021 crash.

The done criterion (issue #16) is ``only_trader == only_backtest == 0`` and ``equity_diff_pct < 0.1``; until the
core's known divergences are fixed (docs/parity.md) these assertions fail and name the first divergence.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from aura_common.adapters.parquet_store import write_panel
from aura_common.config.loader import parse_strategy, strategy_to_dict
from aura_common.core.synthetic import synthetic_panel
from harness.processes import REPO, aura
from harness.trader import STRATEGY

RISK_STRATEGY = REPO / "bench" / "parity" / "strategy-risk.yaml"
FIELDS = ("days", "trader_orders", "backtest_orders", "matched", "only_trader", "only_backtest", "qty_mismatches",
          "price_mismatches", "equity_diff_pct", "kill_switch_trips", "first_divergence", "full_match")


def parity(tmp: Path, *args: str, timeout: float = 1800) -> tuple[int, dict, str]:
    config = tmp / "aura.yaml"
    if not config.exists():
        config.write_text(yaml.safe_dump({"paths": {"data_dir": str(tmp / "cache"),
                                                    "strategy_file": str(REPO / "config" / "strategy.yaml")}}))
    r = subprocess.run(aura("--config", str(config), "parity", "--json", "--work-dir", str(tmp / "work"), *args),
                       capture_output=True, text=True, timeout=timeout, cwd=tmp)
    try:
        report = json.loads(r.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"aura parity exited {r.returncode} without a JSON report:\n{r.stderr[-4000:]}")
    return r.returncode, report, r.stderr


def assert_parity(code: int, report: dict) -> None:
    for f in FIELDS:
        assert f in report, f
    assert report["failed_ticks"] == [], report["failed_ticks"]
    assert report["planned_days"] > 0
    assert report["pick_mismatches"] == 0, report["first_pick_mismatch"]  # the same decision: no look-ahead
    assert report["matched"] + report["only_trader"] == report["trader_orders"]
    assert report["matched"] + report["only_backtest"] == report["backtest_orders"]
    first = json.dumps(report["first_divergence"])
    assert (report["only_trader"], report["only_backtest"]) == (0, 0), f"unmatched orders; first: {first}"
    assert report["equity_diff_pct"] < 0.1, f"equity differs by {report['equity_diff_pct']} %; first: {first}"
    assert code == (0 if report["full_match"] else 1)


@pytest.mark.slow
def test_synthetic_window(tmp_path):
    """A seeded market (8 symbols, the proxy BTCUSDT among them) and the harness's permissive strategy (invested in
    a few coins, trading every day)."""
    panel = synthetic_panel(8, 260, 5, start_ms=1_577_836_800_000, late_listing_fraction=0.0)  # from 2020-01-01
    write_panel(tmp_path / "cache", "1d", panel, "synthetic")
    assert "BTCUSDT" in panel.symbols
    strategy = tmp_path / "strategy.yaml"
    strategy.write_text(yaml.safe_dump(strategy_to_dict(parse_strategy(STRATEGY, "test"))))
    code, report, err = parity(tmp_path, "--from", "2020-08-01", "--to", "2020-08-20", "--params", str(strategy),
                               timeout=600)
    assert report["days"] == 20 and report["extra_ticks"] == 0
    assert report["backtest_orders"] >= 20, "the strategy should trade on most days"
    assert report["window"]["symbols"] == 8
    assert report["costs"] == {"fee_bps": 10.0, "slippage_bps": 5.0, "initial_cash": 10000.0}
    assert report["price_mismatches"] == 0, report["first_divergence"]
    assert_parity(code, report)


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("strategy", [None, RISK_STRATEGY], ids=["default", "risk"])
def test_real_data_120_days(tmp_path, real_data, strategy):
    args = ["--from", "2021-04-01", "--to", "2021-07-29", "--fixtures", str(real_data)]
    if strategy is not None:
        args += ["--params", str(strategy)]
    code, report, err = parity(tmp_path, *args)
    assert report["days"] == 120 and report["window"]["symbols"] == 50
    assert report["price_mismatches"] == 0, report["first_divergence"]
    assert_parity(code, report)


@pytest.mark.parametrize("args,needle", [
    (("--from", "2021-02-01", "--to", "2021-01-01"), "--from 2021-02-01 is after --to 2021-01-01"),
    (("--from", "2021-01-01", "--to", "2021-01-05", "--fixtures", "/nonexistent/fixtures"), "--fixtures"),
    (("--from", "2021-01-01", "--to", "2021-01-05", "--symbols", "BTC/USDT"), "--symbols"),
    (("--from", "2021-01-01", "--to", "2021-01-05", "--params", "/nonexistent/strategy.yaml"), "strategy.yaml"),
])
def test_bad_input_is_a_usage_error_naming_it(tmp_path, args, needle):
    (tmp_path / "cache").mkdir()
    (tmp_path / "aura.yaml").write_text(yaml.safe_dump({"paths": {"data_dir": str(tmp_path / "cache")}}))
    r = subprocess.run(aura("--config", str(tmp_path / "aura.yaml"), "parity", *args), capture_output=True,
                       text=True, timeout=120, cwd=REPO)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
