"""``report.html`` of ``aura backtest --report``: a one-page tearsheet (the metrics, the kill switch's trips and
re-arms, why the book was flat, monthly returns by year, the equity chart embedded). Pure rendering; the caller
writes the bytes atomically.

Built on our own metrics (``core.backtest.metrics``: 365-day years, as crypto never closes) rather than
``quantstats`` (it requires yfinance, seaborn and tabulate, and yfinance is an internet client) or
``empyrical-reloaded`` (it adds bottleneck and the peewee ORM for figures we already compute): see
docs/optimizer.md, "Tearsheet".
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from typing import Any

CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}img{max-width:100%}
.neg{color:#b00}.note{background:#fff8e0;border-left:4px solid #e0b000;padding:.5em 1em}"""
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PERCENT = {"total_return", "cagr", "volatility", "max_drawdown", "exposure"}


def _cell(v: Any, pct: bool = False) -> str:
    if v is None:
        return "<td>–</td>"
    if isinstance(v, float):
        text = f"{v * 100:.2f} %" if pct else f"{v:,.4g}"
        return f"<td class='neg'>{text}</td>" if v < 0 else f"<td>{text}</td>"
    return f"<td>{html.escape(str(v))}</td>"


def _table(header: Sequence[str], rows: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def monthly_grid(monthly: Sequence[tuple[int, int, float]]) -> str:
    """Years as rows, months as columns, and the year's compounded return."""
    years: dict[int, dict[int, float]] = {}
    for y, m, r in monthly:
        years.setdefault(y, {})[m] = r
    rows = []
    for y in sorted(years):
        total = 1.0
        for r in years[y].values():
            total *= 1.0 + r
        cells = "".join(_cell(years[y].get(m), pct=True) for m in range(1, 13))
        rows.append(f"<tr><td>{y}</td>{cells}{_cell(total - 1.0, pct=True)}</tr>")
    return _table(["year", *MONTHS, "year"], rows)


def render(window: Mapping[str, Any], metrics: Mapping[str, float], story: Mapping[str, Any],
           monthly: Sequence[tuple[int, int, float]], equity_png: bytes, metric_order: Sequence[str]) -> bytes:
    e = html.escape
    ks = story["kill_switch"]
    metric_rows = [f"<tr><td>{e(k)}</td>{_cell(float(metrics[k]), pct=k in PERCENT)}</tr>" for k in metric_order]
    change_rows = [f"<tr><td>{e(c['time'])}</td><td>{e(c['action'])}</td>{_cell(c['drawdown_pct'])}"
                   f"<td style='text-align:left'>{e(c['reason'])}</td></tr>" for c in ks["changes"]]
    reason_rows = [f"<tr><td>{e(r['reason'])}</td><td>{r['count']} {e(r['unit'])}</td></tr>"
                   for r in story["flat_reasons"]]
    latched = ks["tripped_periods"] and not ks["tripped_periods"][-1]["re_armed"]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>AURA backtest {e(window['from'])} .. "
        f"{e(window['to'])}</title><style>{CSS}</style></head><body>",
        f"<h1>Backtest {e(window['from'])} .. {e(window['to'])}</h1>",
        f"<p>{window['symbols']} symbols from <code>{e(window['source'])}</code>; strategy "
        f"<code>{e(window['params'])}</code>.</p>",
        f"<img alt='equity and drawdown' src='data:image/png;base64,{base64.b64encode(equity_png).decode()}'>",
        "<h2>Metrics</h2>", _table(["metric", "value"], metric_rows),
        "<h2>Kill switch</h2>",
        f"<p>{len(ks['changes'])} changes; {ks['days_tripped']} days tripped; {story['days_flat']} days flat "
        f"(nothing held but dust); {story['days_in_cash']} days in cash (less than 1 % invested).</p>",
        "<p class='note'>The kill switch was still tripped at the end of the run.</p>" if latched else "",
        _table(["time", "action", "drawdown %", "reason"], change_rows) if change_rows else "",
        "<h2>Why the book was flat or orders were not placed</h2>",
        _table(["reason", "count"], reason_rows) if reason_rows else "<p>Nothing to explain.</p>",
        "<h2>Monthly returns</h2>", monthly_grid(monthly),
        "</body></html>",
    ]
    return "\n".join(parts).encode()
