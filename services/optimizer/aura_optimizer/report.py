"""``report.html`` for people: charts (matplotlib Agg, PNGs embedded as data URIs, also written beside it) and
the tables behind them. Pure rendering of the results mapping; the caller writes the bytes atomically.

Charts: the stitched out-of-sample equity against the default parameters and buy-and-hold of the regime proxy
(log scale, fold boundaries marked) with the drawdown below; each parameter's chosen value per fold as a
position in its declared range (stability); in-sample against out-of-sample Sharpe per fold.
"""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import datetime, timezone
from typing import Any

import numpy as np

COLOURS = {"optimized": "tab:blue", "default": "tab:orange", "buy_and_hold": "tab:gray", "equal_weight": "tab:green"}
LABELS = {"optimized": "optimized (out of sample)", "default": "default parameters", "buy_and_hold": "buy & hold",
          "equal_weight": "equal-weight buy & hold"}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _png(fig) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=96, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _dates(ms: list[int]) -> list[datetime]:
    return [datetime.fromtimestamp(t / 1000, tz=timezone.utc) for t in ms]


def equity_chart(results: dict[str, Any]) -> bytes:
    plt = _plt()
    curves = results["curves"]
    days = _dates(curves["times_ms"])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True, height_ratios=(3, 1))
    for name in ("optimized", "default", "buy_and_hold", "equal_weight"):
        if name not in curves:
            continue
        y = np.array([np.nan if v is None else v for v in curves[name]], dtype=float)
        if np.isnan(y).all():
            continue
        label = LABELS[name] + (f" {results['inputs']['proxy_symbol']}" if name == "buy_and_hold" else "")
        ax1.plot(days, y, lw=1.2 if name == "optimized" else 0.9, color=COLOURS[name], label=label)
        if name in ("optimized", "default"):
            peak = np.maximum.accumulate(y)
            ax2.plot(days, (y / peak - 1) * 100, lw=0.9, color=COLOURS[name])
    for f in results["folds"][1:]:
        x = datetime.fromisoformat(f["test"]["from"]).replace(tzinfo=timezone.utc)
        ax1.axvline(x, color="k", alpha=0.15, lw=0.8)
        ax2.axvline(x, color="k", alpha=0.15, lw=0.8)
    ax1.set_yscale("log")
    ax1.set_ylabel("equity (quote, log)")
    ax1.set_title("Out-of-sample equity, one continuous run each (vertical lines: fold boundaries)")
    ax1.legend(loc="upper left", fontsize=8)
    ax2.set_ylabel("drawdown %")
    return _png(fig)


def stability_chart(results: dict[str, Any]) -> bytes:
    plt = _plt()
    stab = results["stability"]
    names = list(stab)
    grid = np.array([stab[n]["position"] for n in names], dtype=float)
    fig, ax = plt.subplots(figsize=(11, 0.35 * len(names) + 1.6))
    im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_yticks(range(len(names)), [f"{n}  (σ={stab[n]['dispersion']:.2f})" for n in names], fontsize=8)
    ax.set_xticks(range(grid.shape[1]), [f"fold {f['index']}" for f in results["folds"]], fontsize=8)
    ax.set_title("Chosen value per fold, as a position in the declared range (0 = low, 1 = high)")
    fig.colorbar(im, ax=ax, fraction=0.02)
    return _png(fig)


def in_vs_out_chart(results: dict[str, Any]) -> bytes:
    plt = _plt()
    folds = results["folds"]
    x = np.arange(len(folds))
    fig, ax = plt.subplots(figsize=(11, 3.6))
    ax.bar(x - 0.27, [f["in_sample"].get("sharpe", 0.0) for f in folds], 0.27, label="in sample (train, best trial)")
    ax.bar(x, [f["out_of_sample"]["sharpe"] for f in folds], 0.27, label="out of sample (test)")
    ax.bar(x + 0.27, [f["default_out_of_sample"]["sharpe"] for f in folds], 0.27, label="default on test",
           color=COLOURS["default"], alpha=0.6)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(x, [f"fold {f['index']}\n{f['test']['from']}" for f in folds], fontsize=8)
    ax.set_ylabel("Sharpe")
    ax.set_title("In-sample against out-of-sample Sharpe per fold")
    ax.legend(fontsize=8)
    return _png(fig)


def charts(results: dict[str, Any]) -> dict[str, bytes]:
    return {"equity.png": equity_chart(results), "stability.png": stability_chart(results),
            "in_vs_out.png": in_vs_out_chart(results)}


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}img{max-width:100%}
.note{background:#fff8e0;border-left:4px solid #e0b000;padding:.5em 1em}code{background:#f3f3f3;padding:0 3px}"""


def render_html(results: dict[str, Any], pngs: dict[str, bytes]) -> bytes:
    inp = results["inputs"]
    e = html.escape

    def img(name: str, alt: str) -> str:
        return f'<img alt="{e(alt)}" src="data:image/png;base64,{base64.b64encode(pngs[name]).decode()}">'

    metrics = ("total_return", "cagr", "sharpe", "calmar", "max_drawdown", "turnover_annual", "trades", "exposure")
    st = results["stitched"]
    summary = [[LABELS[k] + (f" {inp['proxy_symbol']}" if k == "buy_and_hold" else "")]
               + [None if st.get(k) is None else st[k][m] for m in metrics]
               for k in ("optimized", "default", "buy_and_hold", "equal_weight")]
    verdict, of = results["verdict"], results["overfitting"]
    th = verdict["thresholds"]
    if verdict["ok"]:
        advice = ("<p class='note'>Nothing has been applied. <code>proposed.yaml</code> (the best parameters of the "
                  f"most recent fold, {results['proposed']['from_fold']}) has the strategy file's exact format; apply "
                  f"it with <code>aura optimize --apply-run {e(results['run_id'])}</code>, after reading this page.</p>")
    else:
        advice = ("<p class='note'><b>Not recommended: do not apply this proposal.</b></p><ul>"
                  + "".join(f"<li>{e(p)}</li>" for p in verdict["problems"])
                  + f"</ul><p>Nothing has been applied. <code>aura optimize --apply-run {e(results['run_id'])}</code> "
                  "refuses this run; <code>--force</code> overrides the refusal and is recorded in "
                  "<code>applied.jsonl</code> and the log.</p>")
    how = ("Each curve is one continuous run over the whole out-of-sample window: at a fold boundary the "
           "proposal's parameters change, its portfolio, kill switch and regime state carry over. Kill switch: "
           + "; ".join(f"{LABELS[n]} tripped {sum(c['action'] == 'trip' for c in k['changes'])} times, "
                       f"{k['days_tripped']} days tripped, {k['days_flat']} days flat"
                       for n, k in results["kill_switch"].items()) + ".")
    of_rows = [[f["index"]] + ([None] * 6 if f["overfitting"] is None else
               [f["overfitting"][k] for k in ("trials", "days", "sharpe_daily", "expected_max_sharpe_daily", "dsr",
                                               "pbo")]) for f in results["folds"]]
    overfit = [
        "<h2>Is the search fitting noise?</h2>",
        f"<p>Deflated Sharpe ratio of the proposal {_fmt(of['proposal_dsr'])} (refused below {th['dsr_min']}: the "
        "probability that its in-sample Sharpe beats the best that many trials would show by luck; Bailey &amp; "
        "López de Prado 2014). Probability of backtest overfitting of its fold "
        f"{_fmt(of['proposal_pbo'])} (refused above {th['pbo_max']}; folds' mean {_fmt(of['mean_pbo'])}: the share of "
        "combinatorially symmetric cross-validation splits of the trials' daily in-sample returns in which the "
        "in-sample best ranked at or below the median out of sample; Bailey, Borwein, López de Prado &amp; Zhu "
        "2015).</p>",
        _table(["fold", "trials", "days", "selected daily SR", "E[max SR] of N", "DSR", "PBO"], of_rows),
    ]
    fold_rows = [[f["index"], f"{f['train']['from']} .. {f['train']['to']}", f"{f['test']['from']} .. {f['test']['to']}",
                  f["trials"], f["objective"], f["in_sample"].get("sharpe"), f["out_of_sample"]["sharpe"],
                  f["default_out_of_sample"]["sharpe"], f["out_of_sample"]["total_return"],
                  f["out_of_sample"]["max_drawdown"], f["out_of_sample"]["trades"]] for f in results["folds"]]
    stab = results["stability"]
    param_rows = [[p] + s["values"] + [s["dispersion"]] for p, s in stab.items()]
    ivo = results["in_vs_out"]
    costs = inp["costs"]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>AURA optimizer {e(results['run_id'])}</title>"
        f"<style>{CSS}</style></head><body>",
        f"<h1>Walk-forward optimisation <code>{e(results['run_id'])}</code></h1>",
        f"<p>{len(results['folds'])} folds ({'anchored' if inp['anchored'] else 'rolling'}: train {inp['train_days']} d, "
        f"test {inp['test_days']} d, step {inp['step_days']} d) × {inp['trials']} trials, TPE seed {inp['seed']}, "
        f"objective <code>{e(inp['objective']['metric'])}</code> − {inp['objective']['turnover_penalty']} × annual "
        f"turnover, at least {inp['objective']['min_trades']} trades. Data: {inp['data']['symbols']} symbols, "
        f"{e(inp['data']['from'])} .. {e(inp['data']['to'])} (fingerprint <code>{e(inp['data']['fingerprint'])}</code>). "
        f"Costs: fee {costs['fee_bps']} bps, slippage {costs['slippage_bps']} bps from <b>{e(costs['source'])}</b> "
        f"({e(costs['detail'])}).</p>",
        advice,
        "<h2>Out-of-sample performance</h2>",
        f"<p>{e(how)}</p>",
        _table(["curve"] + list(metrics), summary),
        *overfit,
        img("equity.png", "stitched out-of-sample equity and drawdown"),
        "<h2>In sample against out of sample</h2>",
        f"<p>Mean Sharpe in sample {ivo['mean_in_sample_sharpe']:.3f}, out of sample "
        f"{ivo['mean_out_of_sample_sharpe']:.3f} (efficiency {_fmt(ivo['efficiency'])}: out/in; far below 1 means "
        "the search fitted noise).</p>",
        img("in_vs_out.png", "in-sample against out-of-sample Sharpe per fold"),
        _table(["fold", "train", "test", "trials", "objective", "IS sharpe", "OOS sharpe", "default OOS sharpe",
                "OOS return", "OOS max DD", "OOS trades"], fold_rows),
        "<h2>Parameters per fold and their stability</h2>",
        img("stability.png", "parameter positions per fold"),
        _table(["parameter"] + [f"fold {f['index']}" for f in results["folds"]] + ["dispersion"], param_rows),
        "<h2>Proposed strategy</h2><pre>" + e(results["proposed_yaml"]) + "</pre>",
        f"<p>Generated {e(results['finished'])}; machine-readable: <code>results.json</code>.</p></body></html>",
    ]
    return "\n".join(parts).encode()
