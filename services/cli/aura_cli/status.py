"""``aura status [--json]``: what the trader is doing, from the latest journal snapshot copy.

Reads ``<paths.snapshots_dir>/latest.sqlite`` (never the live journal) and prints the trader's health, the mode, the
last cycle, equity and drawdown, the kill switch, positions and open orders. The health comes from the state file
the trader publishes beside the snapshots (``trader-health.json``: healthy or not, and why - a start that fails, a
venue back-off, a failed tick - also before any snapshot exists). Exit 0 when a snapshot was read; 1 when there is
none yet or it is unreadable (one line naming the file, after the health line when there is one); 2 for a bad
config (raised to main).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from aura_common.adapters.clock import SystemClock
from aura_common.adapters.journal import JournalReader, SnapshotError
from aura_common.config import AuraConfig, load_config

EXIT_OK, EXIT_FAILURE = 0, 1


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object for machines")
    parser.add_argument("--snapshot", metavar="FILE",
                        help="read this snapshot copy instead of <paths.snapshots_dir>/latest.sqlite")


def run(args: argparse.Namespace) -> int:
    config = load_config(getattr(args, "config", None))
    now_ms = SystemClock().now_ms()
    health = trader_health(config.paths.snapshots_dir, now_ms)
    try:
        reader = (JournalReader.open(args.snapshot) if args.snapshot
                  else JournalReader.latest(config.paths.snapshots_dir))
        with reader:
            report = build_report(reader, config, now_ms)
    except SnapshotError as exc:
        if health is not None:
            print(json.dumps({"health": health}, indent=2, sort_keys=True) if args.json else _health_line(health))
        print(f"aura status: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    report["health"] = health
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(render_text(report))
    return EXIT_OK


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _num(d: Decimal | None) -> str | None:
    if d is None:
        return None
    text = format(d, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def build_report(reader: JournalReader, config: AuraConfig, now_ms: int) -> dict[str, Any]:
    """Everything ``aura status`` shows, as plain JSON-ready values (Decimals as exact strings, times ISO UTC)."""
    cfg = reader.current_config_version()
    journal_mode = (cfg.content.get("execution") or {}).get("mode") if cfg else None
    taken = reader.taken_ms
    cycle = reader.last_cycle()
    eq = reader.latest_equity()
    ks = reader.kill_switch()
    pos = reader.latest_positions()
    return {
        "mode": journal_mode or config.execution.mode,
        "mode_source": "journal" if journal_mode else "config",
        "config_version": cfg.version if cfg else None,
        "quote_asset": config.execution.quote_asset,
        "snapshot": {"path": str(reader.path), "taken_at": _iso(taken),
                     "age_seconds": max(0, (now_ms - taken) // 1000)},
        "last_cycle": None if cycle is None else {
            "key": cycle.cycle_key, "status": cycle.status.value, "plan_hash": cycle.plan_hash,
            "started_at": _iso(cycle.started_ms), "finished_at": _iso(cycle.finished_ms), "attempts": cycle.attempts},
        "equity": None if eq is None else {
            "equity": _num(eq.equity), "cash": _num(eq.cash), "peak": _num(eq.peak),
            "drawdown_pct": _num(eq.drawdown_pct.quantize(Decimal("0.0001"))), "at": _iso(eq.ts_ms)},
        "kill_switch": {"state": ks.state.value, "tripped_at": _iso(ks.tripped_ms), "reason": ks.reason},
        "positions": None if pos is None else {
            "at": _iso(pos.ts_ms), "source": pos.source,
            "items": [{"symbol": p.symbol, "qty": _num(p.qty), "entry_price": _num(p.entry_price),
                       "mark_price": _num(p.mark_price)} for p in pos.positions]},
        "open_orders": [
            {"client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side.value, "qty": _num(o.qty),
             "status": o.status.value, "filled_qty": _num(o.filled_qty), "exchange_order_id": o.exchange_order_id,
             "cycle": o.cycle_key, "created_at": _iso(o.created_ms)} for o in reader.open_orders()],
    }


def trader_health(snapshots_dir: str, now_ms: int) -> dict[str, Any] | None:
    """The trader's last published health (``trader-health.json``), with its age; None when there is none."""
    from aura_trader.health import read_state

    state = read_state(snapshots_dir)
    if state is None:
        return None
    judged = state.get("judged_at_s")
    judged_ms = int(float(judged) * 1000) if isinstance(judged, (int, float)) else None
    return {"healthy": bool(state.get("healthy")), "reason": str(state.get("reason", "")),
            "phase": state.get("phase"), "judged_at": _iso(judged_ms),
            "age_seconds": None if judged_ms is None else max(0, (now_ms - judged_ms) // 1000)}


def _health_line(h: dict[str, Any] | None) -> str:
    if h is None:
        return "health       unknown (the trader published no health state)"
    return (f"health       {'healthy' if h['healthy'] else 'UNHEALTHY'}: {h['reason']} "
            f"(judged {h['judged_at']}, {h['age_seconds']} s ago)")


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def render_text(r: dict[str, Any]) -> str:
    q = r["quote_asset"]
    snap = r["snapshot"]
    lines = [
        _health_line(r.get("health")),
        f"mode         {r['mode']} (from the {r['mode_source']}"
        + (f", config version {r['config_version']})" if r["config_version"] else ")"),
        f"snapshot     {snap['path']} taken {snap['taken_at']} ({snap['age_seconds']} s ago)",
    ]
    c = r["last_cycle"]
    lines.append("last cycle   none yet" if c is None else
                 f"last cycle   {c['key']} {c['status']} (started {c['started_at']}, finished "
                 f"{c['finished_at'] or '-'}, attempts {c['attempts']})")
    e = r["equity"]
    lines.append("equity       none recorded yet" if e is None else
                 f"equity       {e['equity']} {q} (cash {e['cash']}) at {e['at']}")
    if e is not None:
        lines.append(f"drawdown     {e['drawdown_pct']}% from peak {e['peak']} {q}")
    k = r["kill_switch"]
    lines.append("kill switch  armed" if k["state"] == "armed" else
                 f"kill switch  TRIPPED at {k['tripped_at']}: {k['reason']} (re-arm with: aura risk reset)")
    p = r["positions"]
    if p is None:
        lines.append("positions    none recorded yet")
    elif not p["items"]:
        lines.append(f"positions    flat (at {p['at']})")
    else:
        lines.append(f"positions    {len(p['items'])} at {p['at']} ({p['source']})")
        lines += _table([["symbol", "qty", "entry", "mark"]] + [
            [i["symbol"], i["qty"], i["entry_price"] or "-", i["mark_price"] or "-"] for i in p["items"]])
    o = r["open_orders"]
    lines.append(f"open orders  {len(o) or 'none'}")
    if o:
        lines += _table([["client order id", "symbol", "side", "qty", "status", "filled", "exchange id"]] + [
            [x["client_order_id"], x["symbol"], x["side"], x["qty"], x["status"], x["filled_qty"],
             x["exchange_order_id"] or "-"] for x in o])
    return "\n".join(lines)
