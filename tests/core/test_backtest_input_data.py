"""Issue 14, candles: what `aura backtest` (a real subprocess) does with bad input data.

Every candle file is checked by the one candle rule (``core.candles.row_reasons``, the ingestor's write-side
validation): a bad row makes the run exit 1 naming file, row and reason — never a Python exception name, never a
MemoryError. Holes in the data and a window beyond it are reported in the text and ``--json`` output. ``--symbols``
refuses names that are not symbols (exit 2) and warns about unknown ones.
"""

from __future__ import annotations

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
DAY = 86_400_000
PANEL = synthetic_panel(4, 400, seed=5, late_listing_fraction=0.0)  # BTCUSDT, SYN000..002USDT from 2018-01-01


def aura(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
    return subprocess.run([str(AURA), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180)


def rows_of(symbol: str) -> list[list[float]]:
    j = PANEL.symbols.index(symbol)
    return [[int(t), PANEL.open[i, j], PANEL.high[i, j], PANEL.low[i, j], PANEL.close[i, j], PANEL.volume[i, j]]
            for i, t in enumerate(PANEL.times)]


def write_fixtures(root: Path, edit=None) -> Path:
    """The ../shared/data layout in ``root``; ``edit(symbol, rows)`` may change a symbol's rows first."""
    (root / "1d").mkdir(parents=True)
    for s in PANEL.symbols:
        rows = rows_of(s)
        if edit is not None:
            rows = edit(s, rows)
        with gzip.open(root / "1d" / f"{s[:-4]}_USDT-1d.json.gz", "wt") as fh:
            json.dump(rows, fh)
    return root


@pytest.fixture(scope="module")
def params_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("params") / "strategy.yaml"
    params = parse_strategy({"screen": {"min_history_days": 30, "min_median_quote_volume": 0.0},
                             "regime": {"fast_sma_days": 10, "slow_sma_days": 50}}, "test")
    p.write_text(yaml.safe_dump(strategy_to_dict(params)))  # a strategy file states every key
    return p


def backtest(fixtures: Path, params: Path, *extra: str, start="2018-06-01", end="2019-01-31"):
    every = () if "--symbols" in extra else ("--symbols", "all")  # every fixture file, not universe.symbols
    return aura("backtest", "--from", start, "--to", end, "--fixtures", str(fixtures), "--params", str(params),
                *every, *extra)


def one_clear_line(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.strip()
    assert "Traceback" not in err and "Error:" not in err and "MemoryError" not in err, err
    assert len(err.splitlines()) == 1, err
    return err


def _set(k: int, col: int, value):
    def edit(symbol, rows):
        if symbol == "SYN001USDT":
            rows[k][col] = value
        return rows
    return edit


def _swap(symbol, rows):
    if symbol == "SYN001USDT":
        rows[10], rows[11] = rows[11], rows[10]
    return rows


def _dup(symbol, rows):
    if symbol == "SYN001USDT":
        rows.insert(11, list(rows[10]))
    return rows


def _high_below_low(symbol, rows):
    if symbol == "SYN001USDT":
        rows[10][2], rows[10][3] = rows[10][3] * 0.5, rows[10][2]
    return rows


YEAR_20000_MS = 568_971_820_800_000  # 20000-01-01
YEAR_MINUS_13000_MS = -472_425_955_200_000


@pytest.mark.parametrize(("edit", "row", "reason"), [
    (_set(10, 4, -5.0), 11, "non_positive_price"),     # negative close (tripped the kill switch)
    (_set(10, 4, 0.0), 11, "non_positive_price"),      # zero close
    (_set(10, 4, float("nan")), 11, "non_finite"),     # NaN close (json writes NaN)
    (_high_below_low, 11, "ohlc_inconsistent"),        # high < low
    (_swap, 12, "out_of_order"),                       # unsorted timestamps
    (_dup, 12, "out_of_order"),                        # duplicated timestamp
    (_set(399, 0, YEAR_20000_MS), 400, "time_out_of_range"),        # was a MemoryError
    (_set(0, 0, YEAR_MINUS_13000_MS), 1, "time_out_of_range"),      # was a MemoryError
], ids=["negative-close", "zero-close", "nan-close", "high-below-low", "unsorted", "duplicate", "year-20000",
        "year-minus-13000"])
def test_a_fixture_row_the_candle_rule_refuses_exits_1_naming_file_row_and_reason(tmp_path, params_file, edit, row,
                                                                                  reason):
    fixtures = write_fixtures(tmp_path / "fx", edit)
    proc = backtest(fixtures, params_file)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = one_clear_line(proc)
    assert "SYN001_USDT-1d.json.gz" in err and f"row {row} of " in err and reason in err


@pytest.mark.parametrize("damage", ["truncated", "not-gzip", "not-json"])
def test_a_corrupt_fixture_file_exits_1_naming_it(tmp_path, params_file, damage):
    fixtures = write_fixtures(tmp_path / "fx")
    path = fixtures / "1d" / "SYN002_USDT-1d.json.gz"
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "not-gzip": b"plain text, not gzip",
                      "not-json": gzip.compress(b"[[1, 2, 3")}[damage])
    proc = backtest(fixtures, params_file)
    assert proc.returncode == 1
    err = one_clear_line(proc)
    assert str(path) in err and "EOFError" not in err


@pytest.mark.parametrize(("bad_t", "row"), [(YEAR_20000_MS, 400), (YEAR_MINUS_13000_MS, 1)])
def test_a_parquet_cache_row_dated_out_of_range_exits_1_without_allocating(tmp_path, params_file, bad_t, row):
    """One candle in year 20000 / -13000 used to make the panel span millennia (gigabytes, MemoryError)."""
    import pyarrow.parquet as pq

    from aura_common.adapters.parquet_store import candle_path, to_table, write_panel
    data_dir = tmp_path / "data"
    write_panel(data_dir, "1d", PANEL, "archive")
    path = candle_path(data_dir, "1d", "SYN000USDT")
    cols = to_table(pq.read_table(path)).to_pydict()
    t = [int(x.timestamp() * 1000) for x in cols["open_time"]]
    t[row - 1] = bad_t
    cols["open_time"] = t
    pq.write_table(to_table({**cols, "open_time": np.asarray(t, dtype=np.int64)}), path)
    cfg = tmp_path / "aura.yaml"
    cfg.write_text(f"paths:\n  data_dir: {data_dir}\n  strategy_file: {params_file}\n")
    proc = aura("--config", str(cfg), "backtest", "--from", "2018-06-01", "--to", "2019-01-31")
    assert proc.returncode == 1
    err = one_clear_line(proc)
    assert str(path) in err and "time_out_of_range" in err


def test_a_long_gap_in_the_regime_proxy_is_reported_in_text_and_json(tmp_path, params_file):
    def hole(symbol, rows):  # BTCUSDT (the regime proxy) without candles 2018-03-01 .. 2018-08-31
        if symbol != "BTCUSDT":
            return rows
        lo, hi = 1_519_862_400_000, 1_535_760_000_000
        return [r for r in rows if not lo <= r[0] < hi]
    fixtures = write_fixtures(tmp_path / "fx", hole)
    text = backtest(fixtures, params_file, "--max-gap-days", "30")
    assert text.returncode == 0, text.stderr
    assert "warning: gap of 184 days in BTCUSDT: no candle 2018-03-01 .. 2018-08-31" in text.stdout
    js = backtest(fixtures, params_file, "--json")
    assert js.returncode == 0, js.stderr
    warnings = json.loads(js.stdout)["warnings"]
    assert warnings["gaps"] == [{"symbol": "BTCUSDT", "from": "2018-03-01", "to": "2018-08-31", "days": 184}]
    assert warnings["max_gap_days"] == 7 and warnings["beyond_data"] == {}
    short = backtest(fixtures, params_file, "--json", "--max-gap-days", "200")
    assert json.loads(short.stdout)["warnings"]["gaps"] == []


def test_a_window_past_the_end_of_the_data_is_reported(tmp_path, params_file):
    fixtures = write_fixtures(tmp_path / "fx")  # 400 days from 2018-01-01: the last candle is 2019-02-04
    text = backtest(fixtures, params_file, end="2019-03-31")
    assert text.returncode == 0, text.stderr
    assert ("warning: the window ends 2019-03-31, 55 days after the last candle (2019-02-04): those days are not "
            "simulated") in text.stdout
    js = json.loads(backtest(fixtures, params_file, "--json", start="2017-12-01", end="2019-03-31").stdout)
    assert js["warnings"]["beyond_data"] == {
        "after_last_candle": {"to": "2019-03-31", "last_candle": "2019-02-04", "days": 55},
        "before_first_candle": {"from": "2017-12-01", "first_candle": "2018-01-01", "days": 31}}
    inside = json.loads(backtest(fixtures, params_file, "--json").stdout)
    assert inside["warnings"] == {"gaps": [], "beyond_data": {}, "max_gap_days": 7}


def test_invalid_symbol_names_are_a_usage_error_and_unknown_ones_a_warning(tmp_path, params_file):
    fixtures = write_fixtures(tmp_path / "fx")
    bad = backtest(fixtures, params_file, "--symbols", "../../../etc/passwd,BTCUSDT")
    assert bad.returncode == 2
    assert "../../../etc/passwd" in one_clear_line(bad) and "--symbols" in bad.stderr
    unknown = backtest(fixtures, params_file, "--symbols", "SYN000USDT,NOPEUSDT,ZZZUSDT")
    assert unknown.returncode == 0, unknown.stderr
    assert "warning: no daily candles for NOPEUSDT, ZZZUSDT" in unknown.stderr
    cache = tmp_path / "data"
    from aura_common.adapters.parquet_store import write_panel
    write_panel(cache, "1d", PANEL, "archive")
    cfg = tmp_path / "aura.yaml"
    cfg.write_text(f"paths:\n  data_dir: {cache}\n  strategy_file: {params_file}\n")
    proc = aura("--config", str(cfg), "backtest", "--from", "2018-06-01", "--to", "2019-01-31",
                "--symbols", "SYN000USDT,NOPEUSDT")
    assert proc.returncode == 0 and "warning: no daily candles for NOPEUSDT" in proc.stderr  # was silent
