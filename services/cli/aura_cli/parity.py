"""``aura parity --from D --to D``: the trader and the backtester, on the same candles, must place the same orders.

1. The candles: the Parquet cache (``paths.data_dir``) or ``--fixtures DIR`` (the gzipped-JSON layout of
   ../shared/data, written once into a Parquet cache in the work directory); the simulator, the trader and the
   backtest all read that one cache.
2. The real ``aura exchange-sim`` replays it on a stepped clock with ``--price-model close`` (a market order fills at
   the close of the last candle closed at or before the simulated time, ∓ ``--slippage-bps`` = the config's
   ``execution.slippage_bps``; fee ``execution.fee_bps`` on the received asset), starting with
   ``paper_initial_quote`` of the quote asset.
3. The real ``aura trade`` (testnet mode, the same strategy file, the rebalance due at 00:00 UTC) trades against it.
   The clock is stepped to 00:00 UTC of each day after a decision candle; the trader ticks once (its tick waits
   ``tick_seconds`` of venue time, which only the step moves); the tick is finished when the trader's
   ``aura_cycle_duration_seconds_count`` has grown (or its log says ``[TICK_FAILED]``); then the clock moves on.
4. The backtest runs over the same window, in process, exactly as ``aura backtest`` wires it (costs, initial
   cash, exclusions from the config; the same strategy; the same symbols).
5. ``parity_compare.compare`` matches the trader's journaled fills with the backtest's trades.

Output: a summary, or ``--json`` (one object: ``days trader_orders backtest_orders matched only_trader only_backtest
qty_mismatches price_mismatches equity_diff_pct kill_switch_trips first_divergence divergences ...``). Exit 0 only
on a full match (no divergence, equity within ``--max-equity-diff-pct``), 1 on a divergence or a failure, 2 on a
usage or configuration error. The model and the fields: docs/parity.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from aura_common.adapters.logs import configure_logging, event

from aura_cli.parity_compare import DAY_MS, Order, compare, day_of

log = logging.getLogger("aura.parity")
SIM_KEY, SIM_SECRET = "aura-sim-key", "aura-sim-secret"  # the simulator's offline defaults (loopback only)
TICKS = re.compile(rb"^aura_cycle_duration_seconds_count(?:\{[^}]*\})? ([0-9.e+]+)$", re.M)
TICK_SUM = re.compile(rb"^aura_cycle_duration_seconds_sum(?:\{[^}]*\})? ([0-9.e+]+)$", re.M)


class ParityError(RuntimeError):
    """The run could not be carried out (a process died, a tick never finished): exit 1, naming what."""


class UsageError(ValueError):
    pass


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not v > 0:
        raise argparse.ArgumentTypeError(f"not a number > 0: {text!r}")
    return v


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", type=_date, required=True,
                        help="first decision candle (YYYY-MM-DD, UTC), as `aura backtest --from`")
    parser.add_argument("--to", dest="end", type=_date, required=True,
                        help="last decision candle (YYYY-MM-DD, UTC), as `aura backtest --to`")
    parser.add_argument("--fixtures", metavar="DIR", help="gzipped-JSON candles (../shared/data layout) instead of "
                        "the Parquet cache")
    parser.add_argument("--symbols", help="comma-separated symbols (default: every symbol with data; the regime proxy "
                        "is always added)")
    parser.add_argument("--params", help="strategy YAML (default: paths.strategy_file of the config)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--work-dir", metavar="DIR", help="keep the run's cache, configs, journal and logs here "
                        "(default: a temporary directory, removed afterwards)")
    parser.add_argument("--max-equity-diff-pct", type=_positive, default=0.1,
                        help="largest final equity difference of a full match (default 0.1)")
    parser.add_argument("--day-timeout", type=_positive, default=120.0,
                        help="seconds of wall time one simulated day may take before the run fails (default 120)")


def _ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp() * 1000)


def _aura() -> list[str]:
    exe = Path(sys.executable).with_name("aura")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "aura_cli.main"]


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http(url: str, body: dict | None = None, timeout: float = 10.0) -> bytes:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback only
        return bytes(resp.read())


# --- the candles -------------------------------------------------------------------------------------------------
def prepare_cache(args: argparse.Namespace, config, work: Path, proxy: str, end_ms: int) -> tuple[str, list[str]]:
    """(Parquet cache dir, symbols): the fixtures written once as a cache, or the configured cache."""
    from aura_common.adapters import parquet_store
    from aura_common.domain import parse_symbols
    wanted = None
    if args.symbols:
        try:
            wanted = sorted(set(parse_symbols(args.symbols)) | {proxy})
        except ValueError as exc:
            raise UsageError(f"--symbols: {exc}") from None
    if args.fixtures:
        from aura_common.adapters.json_candles import FixtureError, json_symbol_files, load_json_panel
        files = json_symbol_files(Path(args.fixtures), "1d")
        if not files:
            raise UsageError(f"--fixtures {args.fixtures}: no daily candle files (1d/*_USDT-1d.json.gz)")
        available: tuple[str, ...] = tuple(sorted(files))
        symbols = [s for s in (wanted or available) if s in available]
        try:
            panel = load_json_panel(Path(args.fixtures), "1d", symbols, None, end_ms)
        except FixtureError as exc:
            raise UsageError(f"--fixtures: {exc}") from None
        data_dir = str(work / "data")
        parquet_store.write_panel(data_dir, "1d", panel, "fixtures")
    else:
        data_dir = config.paths.data_dir
        available = parquet_store.cached_symbols(data_dir, "1d")
        if not available:
            raise UsageError(f"no daily candles in the Parquet cache {data_dir} (paths.data_dir; or pass --fixtures)")
        symbols = [s for s in (wanted or available) if s in available]
    missing = sorted(set(wanted or ()) - set(available))
    if missing:
        print(f"aura parity: warning: no daily candles for {', '.join(missing)} (left out)", file=sys.stderr)
    if proxy not in symbols:
        raise UsageError(f"the regime proxy {proxy} has no daily candles in the data")
    return data_dir, symbols


# --- the processes -----------------------------------------------------------------------------------------------
class Proc:
    def __init__(self, args: list[str], logfile: Path, env: dict[str, str] | None = None) -> None:
        self.log = logfile
        self._fh = logfile.open("wb")
        full = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
        full.update(env or {})
        self.popen = subprocess.Popen(args, env=full, stdout=self._fh, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, cwd=logfile.parent)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, n: int = 3000) -> str:
        return self.log.read_bytes()[-n:].decode(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self._fh.close()
        return int(self.popen.returncode)


def _wait(what: str, check, timeout: float, proc: Proc | None = None, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if proc is not None and not proc.alive():
            raise ParityError(f"{what}: the process exited {proc.popen.returncode}:\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise ParityError(f"timed out after {timeout:g} s waiting for {what}"
                              + (f":\n{proc.tail()}" if proc is not None else ""))
        time.sleep(interval)


@dataclass
class Run:
    sim_url: str
    metrics_url: str
    journal: Path
    trader_log: Path


def write_trader_config(work: Path, config, data_dir: str, symbols: list[str], strategy: Path, sim_url: str,
                        metrics_port: int) -> Path:
    import yaml
    ex = config.execution
    cfg = {
        "universe": {"source": "fixed", "quote_asset": ex.quote_asset, "symbols": symbols,
                     "exclusions": list(config.universe.exclusions), "max_symbols": max(len(symbols), 1)},
        "data": {"decision_interval": "1d", "max_stale_hours": config.data.max_stale_hours,
                 "lookback_padding_days": config.data.lookback_padding_days},
        "execution": {"mode": "testnet", "base_url": sim_url, "quote_asset": ex.quote_asset,
                      "fee_bps": ex.fee_bps, "slippage_bps": ex.slippage_bps,
                      "paper_initial_quote": ex.paper_initial_quote, "status_lag_seconds": 0.5,
                      "request_timeout_seconds": 10},
        # one tick per simulated day: the tick waits tick_seconds of VENUE time, which only the clock step moves
        "schedules": {"tick_seconds": 0.1, "rebalance_hour_utc": 0, "rebalance_delay_minutes": 0,
                      "snapshot_interval_seconds": 86400},
        "paths": {"data_dir": data_dir, "journal": str(work / "journal" / "aura.sqlite"),
                  "snapshots_dir": str(work / "snapshots"), "strategy_file": str(strategy)},
        "metrics": {"trader_port": metrics_port, "bind": "127.0.0.1"},
    }
    path = work / "aura-parity.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


# The sync guard rejects an account read whose equity or prices moved "implausibly" and confirms a real move only
# over host seconds: a guard against a lying venue, which the replay is not, and one that a day per fraction of a
# second would turn into weeks of skipped days. The parity copy of the strategy switches it to accept every read.
SYNC_GUARD_OFF = {"sync_guard_max_equity_drop_pct": 99.99, "sync_guard_max_price_move_pct": 999.0,
                  "sync_guard_confirm_reads": 1, "sync_guard_confirm_min_seconds": 0.0}


def write_strategy_copy(source: Path, dest: Path) -> Path:
    """The strategy file as the trader runs it in parity: the same, with ``SYNC_GUARD_OFF``."""
    import yaml
    data = yaml.safe_load(source.read_text())
    data.setdefault("risk", {}).update(SYNC_GUARD_OFF)
    dest.write_text(yaml.safe_dump(data, sort_keys=False))
    return dest


def _ticks(metrics_url: str) -> int | None:
    try:
        m = TICKS.search(_http(metrics_url, timeout=5.0))
    except (OSError, urllib.error.URLError):
        return None
    return int(float(m.group(1))) if m else 0


def step_days(run: Run, trader: Proc, times_ms: list[int], timeout: float) -> dict[str, Any]:
    """Set the simulator's clock to each of ``times_ms`` (the first one is where it starts), one finished trader
    tick each; returns the ticks' figures."""
    failed: list[dict[str, str]] = []
    extra = 0
    offset = 0

    def failures() -> list[str]:
        nonlocal offset
        with run.trader_log.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
        cut = data.rfind(b"\n") + 1
        offset += cut
        return [line.decode(errors="replace") for line in data[:cut].splitlines() if b"[TICK_FAILED]" in line]

    seen = 0
    for i, now in enumerate(times_ms):
        if i:
            time.sleep(0.06)  # let the trader's clock see one still interval: a stepped venue, not a moving one
            count = _ticks(run.metrics_url) or seen
            extra += count - seen
            seen = count
            _http(run.sim_url + "/admin/clock", {"set_ms": now})
        box: dict[str, Any] = {}

        def done() -> bool:
            bad = failures()
            if bad:
                box["failed"] = bad[-1]
                return True
            c = _ticks(run.metrics_url)
            if c is not None and c > seen:
                box["count"] = c
                return True
            return False

        _wait(f"the trader's tick at {day_of(now)}", done, timeout, trader)
        if "failed" in box:
            failed.append({"day": day_of(now), "line": box["failed"][-300:]})
        else:
            seen = box["count"]
    try:
        m = TICK_SUM.search(_http(run.metrics_url, timeout=5.0))
    except (OSError, urllib.error.URLError):
        m = None
    busy = float(m.group(1)) if m else None  # the trader's own time in its ticks (the rest: waiting, stepping)
    return {"failed_ticks": failed, "extra_ticks": extra,
            "trader_tick_seconds_mean": round(busy / seen, 4) if busy is not None and seen else None}


# --- the two sides -----------------------------------------------------------------------------------------------
def trader_side(journal: Path) -> tuple[list[Order], list[str], dict[tuple[str, str], str]]:
    """(filled orders, kill-switch trip days, notes on intents without a fill) from the journal (read-only)."""
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        fills = conn.execute("SELECT f.symbol, f.side, f.qty, f.price, f.fee, f.fee_asset, f.venue_ms, i.reason, "
                             "i.cycle_key FROM fills f LEFT JOIN intents i USING (client_order_id)").fetchall()
        trips = [r[0] for r in conn.execute("SELECT ts_ms FROM kill_switch_history WHERE action = 'trip'")]
        unfilled = conn.execute("SELECT i.cycle_key, i.symbol, i.side, i.qty, i.reason, o.status, o.reason "
                                "FROM intents i JOIN orders o USING (client_order_id) "
                                "WHERE CAST(o.filled_qty AS REAL) = 0").fetchall()
    finally:
        conn.close()
    orders = [Order(day_of(int(ms)), s, side, float(q), float(p), float(fee), fa, why or (key or "?"))
              for s, side, q, p, fee, fa, ms, why, key in fills]
    notes: dict[tuple[str, str], str] = {}
    for key, symbol, side, qty, why, status, status_reason in unfilled:
        day = key[5:15] if key.startswith("risk-") else key[:10]
        text = f"{side} {qty} ({why}) {status}: {status_reason or '-'}"
        notes[(day, symbol)] = f"{notes[(day, symbol)]}; {text}" if (day, symbol) in notes else text
    return orders, [day_of(int(t)) for t in trips], notes


def backtest_side(data_dir: str, symbols: list[str], params, config, start_ms: int, end_ms: int):
    """The backtest as ``aura backtest`` wires it: the same cache, costs, initial cash and exclusions."""
    import numpy as np

    from aura_common.adapters.parquet_store import load_panel
    from aura_common.core.backtest import BacktestConfig, CostModel, run_backtest
    from aura_common.core.decide import plan_at, signal_rows
    from aura_common.core.features import compute_features
    from aura_common.core.screen import allowed_columns
    panel = load_panel(data_dir, "1d", symbols, None, end_ms + DAY_MS)
    have = np.flatnonzero(~np.all(np.isnan(panel.close), axis=1))
    panel = panel.rows(0, int(have[-1]) + 1 if len(have) else 0)
    if panel.shape[0] == 0 or int(panel.times[-1]) < end_ms:
        raise UsageError(f"the data ends before --to: the last candle in {data_dir} opens "
                         f"{day_of(int(panel.times[-1])) if panel.shape[0] else 'never'}")
    ex = config.execution
    cfg = BacktestConfig(start_ms=start_ms, end_ms=end_ms, initial_cash=ex.paper_initial_quote,
                         costs=CostModel(ex.fee_bps, ex.slippage_bps), exclusions=tuple(config.universe.exclusions))
    fs = compute_features(panel)
    sig = signal_rows(fs, 0, fs.shape[0], params, allowed_columns(panel.symbols, cfg.exclusions))
    result = run_backtest(fs, params, dataclasses.replace(cfg, record_plans=True), sig)
    trades = [Order(day_of(t.t_ms), t.symbol, t.side, t.qty, t.price, t.fee, "quote", t.reason)
              for t in result.trades]
    trips = [day_of(e.t_ms) for e in result.gate_events if e.gate == "kill_switch"]
    lo = int(np.searchsorted(panel.times, start_ms, side="left"))
    picks = {day_of(int(t)): [p.symbol for p in plan_at(sig, lo + d, w, state, params).picks]
             for d, (t, (w, state)) in enumerate(zip(result.times_ms.tolist(), result.plan_inputs))}
    return panel, result, trades, trips, picks


PLAN_LINE = re.compile(r"\[PLAN\] cycle=(\d{4}-\d{2}-\d{2})T\S* .*?picks=(\S+)")


def trader_picks(trader_log: Path) -> dict[str, list[str]]:
    """Each planned day's picks, from the trader's ``[PLAN]`` lines (the decision, before any execution)."""
    out = {}
    for m in PLAN_LINE.finditer(trader_log.read_text(errors="replace")):
        out[m.group(1)] = [] if m.group(2) == "-" else m.group(2).split(",")
    return out


def pick_mismatches(trader: dict[str, list[str]], backtest: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Days the trader planned whose picks (symbols in preference order) differ from the backtest's: a difference
    in the data or the decision (e.g. look-ahead), not in execution."""
    return [{"day": d, "trader": trader[d], "backtest": backtest.get(d)} for d in sorted(trader)
            if trader[d] != backtest.get(d)]


def _marks(panel) -> dict[str, float]:
    import numpy as np
    out = {}
    for j, s in enumerate(panel.symbols):
        col = panel.close[:, j]
        ok = np.flatnonzero(np.isfinite(col))
        if len(ok):
            out[s] = float(col[ok[-1]])
    return out


def _specs(sim_url: str) -> tuple[dict[str, float], dict[str, float]]:
    info = json.loads(_http(sim_url + "/api/v3/exchangeInfo"))
    steps, ticks = {}, {}
    for s in info["symbols"]:
        f = {x["filterType"]: x for x in s["filters"]}
        steps[s["symbol"]] = float(f["LOT_SIZE"]["stepSize"])
        ticks[s["symbol"]] = float(f["PRICE_FILTER"]["tickSize"])
    return steps, ticks


def trader_equity(sim_url: str, quote: str, marks: dict[str, float]) -> float:
    balances = json.loads(_http(sim_url + "/admin/balances"))["balances"]
    total = 0.0
    for asset, b in balances.items():
        qty = float(b["free"]) + float(b["locked"])
        total += qty if asset == quote else qty * marks.get(asset + quote, 0.0)
    return total


# --- the command -------------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    configure_logging(stream=sys.stderr)
    if args.start > args.end:
        print(f"aura parity: --from {args.start} is after --to {args.end}", file=sys.stderr)
        return 2
    from aura_common.config import load_config, load_strategy
    config = load_config(getattr(args, "config", None))
    params_file = Path(args.params or config.paths.strategy_file)
    params = load_strategy(str(params_file))
    keep = args.work_dir is not None
    work = Path(args.work_dir) if keep else Path(tempfile.mkdtemp(prefix="aura-parity-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return _run(args, config, params, params_file, work.resolve())
    except UsageError as exc:
        print(f"aura parity: {exc}", file=sys.stderr)
        return 2
    except ParityError as exc:
        print(f"aura parity: {exc}", file=sys.stderr)
        return 1
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, config, params, params_file: Path, work: Path) -> int:
    start_ms, end_ms = _ms(args.start), _ms(args.end)
    data_dir, symbols = prepare_cache(args, config, work, params.regime.proxy_symbol, end_ms + DAY_MS)
    panel, result, bt_orders, bt_trips, bt_picks = backtest_side(data_dir, symbols, params, config, start_ms, end_ms)
    days = len(result.times_ms)
    first_ms = int(result.times_ms[0])  # 00:00 UTC after the first decision candle
    strategy = write_strategy_copy(params_file, work / "strategy.yaml")
    ex = config.execution
    sim_port, metrics_port = _free_port(), _free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    t0 = time.monotonic()
    sim = Proc([*_aura(), "exchange-sim", "--port", str(sim_port), "--data-dir", data_dir, "--symbols",
                ",".join(symbols), "--speed", "step", "--start", str(first_ms), "--price-model", "close",
                "--balances", f"{ex.quote_asset}={ex.paper_initial_quote}", "--fee-bps", str(ex.fee_bps),
                "--slippage-bps", str(ex.slippage_bps), "--weight-limit", "0", "--order-limit-10s", "0",
                "--order-limit-1d", "0", "--log-level", "WARNING"], work / "sim.log")
    trader: Proc | None = None
    try:
        _wait("the simulator", lambda: _up(sim_url + "/health"), 120.0, sim, interval=0.1)
        cfg = write_trader_config(work, config, data_dir, symbols, strategy, sim_url, metrics_port)
        trader = Proc([*_aura(), "--config", str(cfg), "trade"], work / "trader.log",
                      env={"AURA_API_KEY": SIM_KEY, "AURA_API_SECRET": SIM_SECRET, "PYTHONUNBUFFERED": "1"})
        run = Run(sim_url, f"http://127.0.0.1:{metrics_port}/metrics", work / "journal" / "aura.sqlite",
                  work / "trader.log")
        _wait("the trader's metrics", lambda: _ticks(run.metrics_url) is not None, 300.0, trader, interval=0.1)
        ticks = step_days(run, trader, [int(t) for t in result.times_ms], args.day_timeout)
        code = trader.stop()
        if code != 0:
            raise ParityError(f"the trader exited {code}:\n{trader.tail()}")
        wall = time.monotonic() - t0
        marks = _marks(panel)
        equity_t = trader_equity(sim_url, ex.quote_asset, marks)
        steps, tick_sizes = _specs(sim_url)
    finally:
        if trader is not None:
            trader.stop()
        sim.stop()
    t_orders, t_trips, notes = trader_side(run.journal)
    picks_t = trader_picks(work / "trader.log")
    bad_picks = pick_mismatches(picks_t, bt_picks)
    report = compare(t_orders, bt_orders, steps=steps, ticks=tick_sizes, trader_trips=t_trips,
                     backtest_trips=bt_trips, trader_equity=equity_t, backtest_equity=float(result.equity[-1]),
                     days=days, max_equity_diff_pct=args.max_equity_diff_pct, trader_notes=notes)
    full = report["full_match"] and not ticks["failed_ticks"] and not bad_picks
    report.update(full_match=full, window={"from": str(args.start), "to": str(args.end),
                                           "first_tick": day_of(first_ms), "symbols": len(symbols),
                                           "data": data_dir if not args.fixtures else args.fixtures,
                                           "params": str(params_file)},
                  planned_days=len(picks_t), pick_mismatches=len(bad_picks), first_pick_mismatch=(
                      bad_picks[0] if bad_picks else None), pick_mismatch_list=bad_picks[:200], sync_guard=SYNC_GUARD_OFF, costs={"fee_bps": ex.fee_bps, "slippage_bps": ex.slippage_bps,
                         "initial_cash": ex.paper_initial_quote},
                  wall_seconds=round(wall, 2), days_per_second=round(days / wall, 3) if wall > 0 else None,
                  **ticks)
    event(log, "PARITY", days=days, matched=report["matched"], only_trader=report["only_trader"],
          only_backtest=report["only_backtest"], qty_mismatches=report["qty_mismatches"],
          price_mismatches=report["price_mismatches"], equity_diff_pct=report["equity_diff_pct"], full_match=full)
    text = json.dumps(report, sort_keys=True, default=str)
    (work / "parity.json").write_text(text + "\n")
    if args.json:
        print(text)
    else:
        _print(report)
    return 0 if full else 1


def _up(url: str) -> bool:
    try:
        _http(url, timeout=2.0)
        return True
    except (OSError, urllib.error.URLError):
        return False


def _print(r: dict[str, Any]) -> None:
    w = r["window"]
    print(f"parity {w['from']} .. {w['to']}: {r['days']} days, {w['symbols']} symbols "
          f"({r['wall_seconds']} s, {r['days_per_second']} days/s)")
    for k in ("trader_orders", "backtest_orders", "matched", "only_trader", "only_backtest", "qty_mismatches",
              "price_mismatches", "equity_trader", "equity_backtest", "equity_diff_pct"):
        print(f"  {k:<18} {r[k]}")
    ks = r["kill_switch_trips"]
    print(f"  kill_switch_trips  trader {ks['trader']} backtest {ks['backtest']}")
    for f in r["failed_ticks"]:
        print(f"  failed tick {f['day']}: {f['line']}")
    d = r["first_divergence"]
    if d:
        print(f"  first divergence {d['day']} {d['symbol']} ({d['kind']}): trader {d['trader']} | "
              f"backtest {d['backtest']}" + (f" | trader note: {d['trader_note']}" if d.get("trader_note") else ""))
    print("  FULL MATCH" if r["full_match"] else f"  NOT A MATCH ({r['divergences_total']} divergences)")


__all__ = ["configure", "run"]
