"""``aura backtest --from DATE --to DATE``: replay history through the decision core and the risk gates.

Data: the Parquet candle cache (``paths.data_dir``, read with ``parquet_store.load_panel``), or ``--fixtures DIR``
(the gzipped-JSON candle layout of ../shared/data). All candles up to ``--to`` are loaded, so the features on
the first decision day already have their full history (point in time: a decision never sees a later candle).
Costs come from ``execution.fee_bps`` / ``slippage_bps``, the starting cash from ``paper_initial_quote``, the
exclusions from ``universe.exclusions``; the strategy from ``--params`` or ``paths.strategy_file``.

Every candle file read is checked by the one candle rule (``core.candles.row_reasons``): a file with a bad row is
refused, naming file, row and reason (exit 1). Holes of at least ``--max-gap-days`` in a symbol's data and a window
reaching beyond the data are reported (text lines ``warning: …`` and ``warnings`` in ``--json``). ``--symbols``:
an invalid name is a usage error, a symbol without data a warning listing them.

Output: a metrics table, or ``--json`` (one JSON object on stdout); ``--report DIR`` writes ``equity.png``
(equity and drawdown, kill-switch periods shaded), ``trades.csv``, ``equity.csv`` and ``report.html`` (a tearsheet:
metrics, kill switch, flat reasons, monthly returns; ``aura_cli.tearsheet``), each atomically. Text and ``--json``
list every kill-switch trip and re-arm, the days flat and, most frequent first, why the book was flat. Exit 0 ok, 1 no data / failure,
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
from datetime import date, datetime, timezone
from pathlib import Path

from aura_common.adapters.files import atomic_write_bytes
from aura_common.adapters.logs import configure_logging, event
from aura_common.config import ConfigError, load_config, load_strategy

log = logging.getLogger("aura.backtest")
DAY_MS = 86_400_000
DEFAULT_MAX_GAP_DAYS = 7
METRIC_ORDER = ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "turnover",
                "turnover_annual", "exposure", "trades", "days", "final_equity")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", type=_date, required=True, help="first decision day (YYYY-MM-DD, UTC)")
    parser.add_argument("--to", dest="end", type=_date, required=True, help="last decision day (YYYY-MM-DD, UTC)")
    parser.add_argument("--params", help="strategy YAML (default: paths.strategy_file of the config)")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.add_argument("--report", metavar="DIR", help="write equity.png, trades.csv, equity.csv and report.html "
                        "into DIR")
    parser.add_argument("--fixtures", metavar="DIR", help="read gzipped-JSON candles (../shared/data layout) "
                        "instead of the Parquet cache")
    parser.add_argument("--symbols", help="comma-separated symbols, or `all` for every symbol with data (default: "
                        "universe.symbols with --fixtures and a fixed universe, else every symbol with data; the "
                        "regime proxy is always added)")
    parser.add_argument("--max-gap-days", type=_days, default=DEFAULT_MAX_GAP_DAYS, metavar="N",
                        help=f"report holes of at least N days in a symbol's data (default {DEFAULT_MAX_GAP_DAYS})")


def _days(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of days >= 1: {text!r}")
    return n


def _ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp() * 1000)


def _load_panel(args: argparse.Namespace, data_dir: str, symbols, end_ms: int):
    if args.fixtures:
        from aura_common.adapters.json_candles import json_symbol_files, load_json_panel
        root = Path(args.fixtures)
        available = json_symbol_files(root, "1d")
        if not available:
            raise FileNotFoundError(f"no daily candle files (1d/*_USDT-1d.json.gz) under {root}")
        wanted = sorted(available) if symbols is None else [s for s in symbols if s in available]
        _unknown(symbols, available, root)
        start = min(int(_first_time(available[s])) for s in wanted) if wanted else 0
        return load_json_panel(root, "1d", wanted, start, end_ms) if wanted else None, str(root)
    from aura_common.adapters.parquet_store import cached_symbols, load_panel
    cached = cached_symbols(data_dir, "1d")
    if not cached:
        raise FileNotFoundError(f"no daily candles in the Parquet cache {data_dir} "
                                "(run `aura ingest --once`, or pass --fixtures DIR)")
    wanted = list(cached) if symbols is None else [s for s in symbols if s in cached]
    _unknown(symbols, cached, data_dir)
    return (load_panel(data_dir, "1d", wanted, None, end_ms) if wanted else None), data_dir


def _unknown(symbols, available, source) -> None:
    missing = [] if symbols is None else [s for s in symbols if s not in available]
    if missing:
        print(f"aura backtest: warning: no daily candles for {', '.join(missing)} in {source} (left out)",
              file=sys.stderr)


def _first_time(path: Path) -> int:
    from aura_common.adapters.json_candles import read_json_rows
    return int(read_json_rows(path)[0, 0])


def run(args: argparse.Namespace) -> int:
    configure_logging(stream=sys.stderr)
    if args.start > args.end:
        print(f"aura backtest: --from {args.start} is after --to {args.end}", file=sys.stderr)
        return 2
    config = load_config(getattr(args, "config", None))
    params_file = args.params or config.paths.strategy_file
    params = load_strategy(params_file)
    symbols = None
    if args.symbols and args.symbols.strip().lower() == "all":
        symbols = None
    elif args.symbols:
        from aura_common.domain import parse_symbols
        try:
            symbols = sorted(set(parse_symbols(args.symbols)) | {params.regime.proxy_symbol})
        except ValueError as exc:
            print(f"aura backtest: --symbols: {exc}", file=sys.stderr)
            return 2
    elif args.fixtures and config.universe.source == "fixed":  # the configured universe, as the trader trades it
        symbols = sorted(set(config.universe.symbols) | {params.regime.proxy_symbol})
    start_ms, end_ms = _ms(args.start), _ms(args.end)
    from aura_common.adapters.json_candles import FixtureError
    from aura_common.adapters.parquet_store import CacheReadError
    try:
        panel, source = _load_panel(args, config.paths.data_dir, symbols, end_ms + DAY_MS)
    except (FileNotFoundError, KeyError) as exc:
        print(f"aura backtest: {str(exc).strip(chr(39))}", file=sys.stderr)
        return 1
    except (CacheReadError, FixtureError) as exc:
        print(f"aura backtest: {exc}", file=sys.stderr)
        return 1
    if panel is not None:  # drop trailing rows without a single candle (a window reaching past the data)
        import numpy as np
        have = np.flatnonzero(~np.all(np.isnan(panel.close), axis=1))
        panel = panel.rows(0, int(have[-1]) + 1 if len(have) else 0)
    if panel is None or panel.shape[0] == 0 or panel.times[-1] < start_ms:
        print(f"aura backtest: no candles between {args.start} and {args.end} in {source}", file=sys.stderr)
        return 1
    warnings = data_warnings(panel, start_ms, end_ms, args.max_gap_days)

    from aura_common.core.backtest import BacktestConfig, CostModel, run_backtest
    from aura_common.core.backtest.engine import row_range
    from aura_common.core.decide import signal_rows
    from aura_common.core.features import compute_features
    from aura_common.core.screen import allowed_columns

    cfg = BacktestConfig(start_ms=start_ms, end_ms=end_ms, initial_cash=config.execution.paper_initial_quote,
                         costs=CostModel(config.execution.fee_bps, config.execution.slippage_bps),
                         exclusions=tuple(config.universe.exclusions))
    fs = compute_features(panel)
    sig = signal_rows(fs, 0, fs.shape[0], params, allowed_columns(panel.symbols, cfg.exclusions))
    result = run_backtest(fs, params, cfg, signals=sig)
    lo, hi = row_range(fs, cfg)
    story = explain(result, params, sig.selected[lo - sig.lo:hi - sig.lo])
    window = {"from": str(args.start), "to": str(args.end), "symbols": len(panel.symbols), "source": source,
              "params": str(params_file), "last_candle": _iso(int(panel.times[-1]))}
    if args.report:
        _write_report(Path(args.report), result, story, window)
    gates: dict[str, int] = {}
    for e in result.gate_events:
        gates[f"{e.gate}/{e.decision}"] = gates.get(f"{e.gate}/{e.decision}", 0) + 1
    if args.json:
        print(json.dumps({"window": window, "metrics": dict(result.metrics), "gate_events": len(result.gate_events),
                          "gates": gates, "warnings": warnings, **story}, sort_keys=True))
    else:
        print(f"backtest {args.start} .. {args.end}: {len(panel.symbols)} symbols from {source}")
        for line in warning_lines(warnings):
            print(f"  warning: {line}")
        for k in METRIC_ORDER:
            print(f"  {k:<16} {result.metrics[k]:>14.4f}")
        for k in sorted(gates):
            print(f"  gate {k:<24} {gates[k]:>6d}")
        for line in story_lines(story, params.risk.kill_switch_cooldown_hours):
            print(f"  {line}")
    return 0


def explain(result, params, selected) -> dict:
    """The kill switch's trips and re-arms, the days flat, and (for a run that traded little) why."""
    from aura_common.core.backtest.explain import days_in_cash, flat_reasons, tripped_periods
    changes = result.kill_switch_changes
    periods = tripped_periods(changes, int(result.times_ms[-1]))
    return {
        "kill_switch": {
            "changes": [{"time": _iso(c.t_ms), "action": c.action,
                         "drawdown_pct": None if c.drawdown_pct != c.drawdown_pct else round(c.drawdown_pct, 4),
                         "reason": c.reason} for c in changes],
            "tripped_periods": [{"from": _iso(a), "to": _iso(b), "re_armed": r} for a, b, r in periods],
            "days_tripped": result.days_tripped,
        },
        "days_flat": result.days_flat,
        "days_in_cash": days_in_cash(result),
        "flat_reasons": flat_reasons(result, params, selected),
    }


def story_lines(story: dict, cooldown_hours: float) -> list[str]:
    ks = story["kill_switch"]
    out = []
    for c in ks["changes"]:
        dd = "" if c["drawdown_pct"] is None or c["action"] != "trip" else f" at drawdown {c['drawdown_pct']:.2f} %"
        out.append(f"kill switch {c['action']} {c['time']}{dd}: {c['reason']}")
    if ks["tripped_periods"] and not ks["tripped_periods"][-1]["re_armed"]:
        why = ("with kill_switch_cooldown_hours 0 it stays tripped (in the trader only `aura risk reset` re-arms it)"
               if cooldown_hours <= 0 else "the run ended before its cooldown did")
        out.append(f"note: the kill switch was still tripped at the end ({why})")
    out.append(f"days flat (nothing held but dust) {story['days_flat']}; days in cash (< 1 % invested) {story['days_in_cash']}; "
               f"days with the kill switch tripped {ks['days_tripped']}")
    if story["flat_reasons"]:
        out.append("why the book was flat or orders were not placed (most frequent first):")
        out.extend(f"  {r['reason']}: {r['count']} {r['unit']}" for r in story["flat_reasons"])
    return out


def data_warnings(panel, start_ms: int, end_ms: int, max_gap_days: int) -> dict:
    """What the run should be told about its data: ``gaps`` (holes of at least ``max_gap_days`` between a symbol's
    first and last candle up to ``--to``) and ``beyond_data`` (the part of the window before the first candle or
    after the last one, which is not simulated)."""
    import numpy as np

    from aura_common.core.coverage import long_gaps
    gaps = []
    for j, symbol in enumerate(panel.symbols):
        times = panel.times[np.isfinite(panel.close[:, j])]
        for lo, hi in long_gaps(times, panel.interval_ms, max_gap_days * DAY_MS):
            gaps.append({"symbol": symbol, "from": _day(lo), "to": _day(hi - DAY_MS), "days": (hi - lo) // DAY_MS})
    beyond = {}
    have = np.flatnonzero(np.isfinite(panel.close).any(axis=1))
    first, last = int(panel.times[have[0]]), int(panel.times[have[-1]])
    if start_ms < first:
        beyond["before_first_candle"] = {"from": _day(start_ms), "first_candle": _day(first),
                                         "days": (first - start_ms) // DAY_MS}
    if end_ms > last:
        beyond["after_last_candle"] = {"to": _day(end_ms), "last_candle": _day(last), "days": (end_ms - last) // DAY_MS}
    return {"gaps": gaps, "beyond_data": beyond, "max_gap_days": max_gap_days}


def warning_lines(warnings: dict) -> list[str]:
    out = []
    before = warnings["beyond_data"].get("before_first_candle")
    if before:
        out.append(f"the window starts {before['from']}, {before['days']} days before the first candle "
                   f"({before['first_candle']}): those days are not simulated")
    after = warnings["beyond_data"].get("after_last_candle")
    if after:
        out.append(f"the window ends {after['to']}, {after['days']} days after the last candle "
                   f"({after['last_candle']}): those days are not simulated")
    for g in warnings["gaps"]:
        out.append(f"gap of {g['days']} days in {g['symbol']}: no candle {g['from']} .. {g['to']}")
    return out


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_report(out: Path, result, story: dict, window: dict) -> None:
    tripped = story["kill_switch"]["tripped_periods"]
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["time", "symbol", "side", "qty", "price", "notional", "fee", "reason"])
    for t in result.trades:
        w.writerow([_iso(t.t_ms), t.symbol, t.side, repr(t.qty), repr(t.price), repr(t.notional), repr(t.fee),
                    t.reason])
    atomic_write_bytes(out / "trades.csv", buf.getvalue().encode())
    event(log, "BACKTEST_REPORT", file=out / "trades.csv", rows=len(result.trades))

    from aura_common.core.backtest.metrics import drawdown_series
    dd = drawdown_series(result.equity)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["time", "equity", "drawdown", "exposure", "regime"])
    for ms, e, d, x, r in zip(result.times_ms.tolist(), result.equity.tolist(), dd.tolist(),
                              result.exposure.tolist(), result.regime):
        w.writerow([_iso(ms), repr(e), repr(d), repr(x), r])
    atomic_write_bytes(out / "equity.csv", buf.getvalue().encode())
    event(log, "BACKTEST_REPORT", file=out / "equity.csv", rows=len(result.equity))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    days = [datetime.fromtimestamp(ms / 1000, tz=timezone.utc) for ms in result.times_ms.tolist()]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, height_ratios=(3, 1))
    ax1.plot(days, result.equity, lw=1.0)
    ax1.set_ylabel("equity (quote, log scale)")
    if float(result.equity.min()) > 0:
        ax1.set_yscale("log")
    ax1.set_title("AURA backtest" + (" (shaded: kill switch tripped)" if tripped else ""))
    for k, p in enumerate(tripped):
        a, b = (datetime.strptime(p[x], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) for x in ("from", "to"))
        for ax in (ax1, ax2):
            ax.axvspan(a, b, color="tab:red", alpha=0.12, lw=0, label="kill switch tripped" if k == 0 and ax is ax1
                       else None)
    if tripped:
        ax1.legend(loc="upper left", fontsize=8)
    ax2.fill_between(days, dd * 100, 0, color="tab:red", alpha=0.5)
    ax2.set_ylabel("drawdown %")
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(out / "equity.png", png.getvalue())
    event(log, "BACKTEST_REPORT", file=out / "equity.png", bytes=len(png.getvalue()))

    from aura_cli.tearsheet import render
    from aura_common.core.backtest.metrics import monthly_returns
    page = render(window, result.metrics, story, monthly_returns(result.times_ms, result.equity), png.getvalue(),
                  METRIC_ORDER)
    atomic_write_bytes(out / "report.html", page)
    event(log, "BACKTEST_REPORT", file=out / "report.html", bytes=len(page))


__all__ = ["configure", "run", "ConfigError"]
