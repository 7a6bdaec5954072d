"""Read queries shared by the writer (live file) and the reader (snapshot copies).

Each function takes a connection and returns records with domain values; TEXT becomes Decimal here.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from aura_common.adapters.journal.codec import json_to_fields, text_to_dec
from aura_common.adapters.journal.records import (
    ConfigVersion,
    Cycle,
    CycleStatus,
    EquitySnapshot,
    Event,
    Fill,
    Intent,
    KillSwitch,
    KillSwitchChange,
    KillSwitchState,
    Order,
    Position,
    PositionSnapshot,
    SymbolCosts,
)
from aura_common.domain import OrderStatus, OrderType, Side

TERMINAL = tuple(s.value for s in OrderStatus if s.is_terminal)
_NOT_TERMINAL_SQL = f"o.status NOT IN ({','.join('?' * len(TERMINAL))})"

_CYCLE_COLS = "cycle_key, status, plan_hash, config_version, started_ms, finished_ms, attempts, detail"
_ORDER_SELECT = """SELECT o.client_order_id, i.cycle_key, i.symbol, i.side, i.qty, o.status, o.exchange_order_id,
    o.filled_qty, o.avg_price, i.created_ms, o.sent_ms, o.updated_ms, o.venue_update_ms, o.reason,
    o.request_ts_ms, o.recv_window_ms FROM orders o JOIN intents i USING (client_order_id)"""
_FILL_COLS = ("symbol, trade_id, client_order_id, exchange_order_id, side, qty, price, fee, fee_asset, "
              "venue_ms, recorded_ms")


def _cycle(r: tuple) -> Cycle:
    return Cycle(r[0], CycleStatus(r[1]), r[2], r[3], r[4], r[5], r[6], json_to_fields(r[7]))


def _order(r: tuple) -> Order:
    return Order(r[0], r[1], r[2], Side(r[3]), Decimal(r[4]), OrderStatus(r[5]), r[6], Decimal(r[7]),
                 text_to_dec(r[8]), r[9], r[10], r[11], r[12], r[13], r[14], r[15])


def _fill(r: tuple) -> Fill:
    return Fill(r[0], r[1], r[2], r[3], Side(r[4]), Decimal(r[5]), Decimal(r[6]), Decimal(r[7]), r[8], r[9], r[10])


def cycle(conn: sqlite3.Connection, cycle_key: str) -> Cycle | None:
    r = conn.execute(f"SELECT {_CYCLE_COLS} FROM cycles WHERE cycle_key = ?", (cycle_key,)).fetchone()
    return None if r is None else _cycle(r)


RISK_CYCLE_PREFIX = "risk-"  # the trader's per-day cycle of risk exits (risk-YYYY-MM-DD)


def last_cycle(conn: sqlite3.Connection, include_risk: bool = False) -> Cycle | None:
    """The newest cycle; by default the newest REBALANCE cycle (the per-day risk cycles are left out)."""
    where = "" if include_risk else f"WHERE cycle_key NOT LIKE '{RISK_CYCLE_PREFIX}%' "
    r = conn.execute(f"SELECT {_CYCLE_COLS} FROM cycles {where}ORDER BY started_ms DESC, cycle_key DESC LIMIT 1"
                     ).fetchone()
    return None if r is None else _cycle(r)


def intent(conn: sqlite3.Connection, client_order_id: str) -> Intent | None:
    r = conn.execute("""SELECT client_order_id, cycle_key, symbol, side, order_type, qty, limit_price, ref_price,
        reason, created_ms FROM intents WHERE client_order_id = ?""", (client_order_id,)).fetchone()
    if r is None:
        return None
    return Intent(r[0], r[1], r[2], Side(r[3]), OrderType(r[4]), Decimal(r[5]), text_to_dec(r[6]),
                  text_to_dec(r[7]), r[8], r[9])


def order(conn: sqlite3.Connection, client_order_id: str) -> Order | None:
    r = conn.execute(f"{_ORDER_SELECT} WHERE o.client_order_id = ?", (client_order_id,)).fetchone()
    return None if r is None else _order(r)


def open_orders(conn: sqlite3.Connection) -> list[Order]:
    """Every non-terminal order (PENDING, UNKNOWN, NEW, PARTIALLY_FILLED), oldest first: boot recovery's list."""
    rows = conn.execute(f"{_ORDER_SELECT} WHERE {_NOT_TERMINAL_SQL} ORDER BY i.created_ms, o.client_order_id",
                        TERMINAL).fetchall()
    return [_order(r) for r in rows]


def orders_of_cycle(conn: sqlite3.Connection, cycle_key: str) -> list[Order]:
    rows = conn.execute(f"{_ORDER_SELECT} WHERE i.cycle_key = ? ORDER BY i.created_ms, o.client_order_id",
                        (cycle_key,)).fetchall()
    return [_order(r) for r in rows]


def fill(conn: sqlite3.Connection, symbol: str, trade_id: str) -> Fill | None:
    r = conn.execute(f"SELECT {_FILL_COLS} FROM fills WHERE symbol = ? AND trade_id = ?",
                     (symbol, trade_id)).fetchone()
    return None if r is None else _fill(r)


def fills(conn: sqlite3.Connection, symbol: str | None = None, since_ms: int | None = None,
          client_order_id: str | None = None) -> list[Fill]:
    """Fills in venue-time order, optionally of one symbol / one order / since a venue time."""
    where, args = [], []
    for col, op, val in (("symbol", "=", symbol), ("venue_ms", ">=", since_ms),
                         ("client_order_id", "=", client_order_id)):
        if val is not None:
            where.append(f"{col} {op} ?")
            args.append(val)
    sql = f"SELECT {_FILL_COLS} FROM fills" + (" WHERE " + " AND ".join(where) if where else "")
    return [_fill(r) for r in conn.execute(sql + " ORDER BY venue_ms, symbol, trade_id", args).fetchall()]


def latest_positions(conn: sqlite3.Connection) -> PositionSnapshot | None:
    head = conn.execute("SELECT snapshot_id, ts_ms, source, cycle_key FROM position_snapshots "
                        "ORDER BY ts_ms DESC, snapshot_id DESC LIMIT 1").fetchone()
    if head is None:
        return None
    rows = conn.execute("SELECT symbol, qty, entry_price, mark_price FROM positions WHERE snapshot_id = ? "
                        "ORDER BY symbol", (head[0],)).fetchall()
    pos = tuple(Position(r[0], Decimal(r[1]), text_to_dec(r[2]), text_to_dec(r[3])) for r in rows)
    return PositionSnapshot(head[0], head[1], head[2], head[3], pos)


def _equity(r: tuple) -> EquitySnapshot:
    return EquitySnapshot(r[0], Decimal(r[1]), Decimal(r[2]), Decimal(r[3]), r[4])


def latest_equity(conn: sqlite3.Connection) -> EquitySnapshot | None:
    r = conn.execute("SELECT ts_ms, equity, cash, peak, cycle_key FROM equity_snapshots "
                     "ORDER BY ts_ms DESC, snapshot_id DESC LIMIT 1").fetchone()
    return None if r is None else _equity(r)


def equity_curve(conn: sqlite3.Connection, since_ms: int | None = None) -> list[EquitySnapshot]:
    rows = conn.execute("SELECT ts_ms, equity, cash, peak, cycle_key FROM equity_snapshots WHERE ts_ms >= ? "
                        "ORDER BY ts_ms, snapshot_id", (since_ms if since_ms is not None else -2**62,)).fetchall()
    return [_equity(r) for r in rows]


def kill_switch(conn: sqlite3.Connection) -> KillSwitch:
    r = conn.execute("SELECT kill_switch, tripped_ms, reason, updated_ms FROM risk_state "
                     "WHERE singleton = 1").fetchone()
    return KillSwitch(KillSwitchState(r[0]), r[1], r[2], r[3])


def kill_switch_history(conn: sqlite3.Connection) -> list[KillSwitchChange]:
    rows = conn.execute("SELECT ts_ms, action, reason, actor FROM kill_switch_history ORDER BY change_id").fetchall()
    return [KillSwitchChange(*r) for r in rows]


def current_config_version(conn: sqlite3.Connection) -> ConfigVersion | None:
    r = conn.execute("SELECT version, applied_ms, content FROM config_versions "
                     "ORDER BY change_id DESC LIMIT 1").fetchone()
    return None if r is None else ConfigVersion(r[0], r[1], json_to_fields(r[2]))


def events(conn: sqlite3.Connection, tag: str | None = None, since_ms: int | None = None,
           limit: int = 1000) -> list[Event]:
    """The newest ``limit`` events (optionally of one tag / since a time), returned oldest first."""
    where: list[str] = []
    args: list[object] = []
    if tag is not None:
        where.append("tag = ?")
        args.append(tag)
    if since_ms is not None:
        where.append("ts_ms >= ?")
        args.append(since_ms)
    sql = "SELECT event_id, ts_ms, tag, cycle_key, fields FROM events"
    sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY event_id DESC LIMIT ?"
    rows = conn.execute(sql, (*args, limit)).fetchall()
    return [Event(r[0], r[1], r[2], r[3], json_to_fields(r[4])) for r in reversed(rows)]


def realised_costs(conn: sqlite3.Connection, since_ms: int | None = None) -> list[SymbolCosts]:
    """Fees (by asset) and slippage against each intent's reference price, per symbol, from fills.

    Slippage is signed so that a cost is positive: a buy above or a sell below the reference price.
    Fills without an intent or without a reference price count for fees but not for slippage.
    """
    rows = conn.execute("""SELECT f.symbol, f.side, f.qty, f.price, f.fee, f.fee_asset, i.ref_price
        FROM fills f LEFT JOIN intents i ON i.client_order_id = f.client_order_id
        WHERE f.venue_ms >= ? ORDER BY f.symbol, f.venue_ms, f.trade_id""",
                        (since_ms if since_ms is not None else -2**62,)).fetchall()
    acc: dict[str, dict] = {}
    for symbol, side, qty_t, price_t, fee_t, fee_asset, ref_t in rows:
        a = acc.setdefault(symbol, {"n": 0, "quote": Decimal(0), "fees": {}, "slip": Decimal(0), "base": Decimal(0),
                                    "valued": Decimal(0)})
        qty, price, fee = Decimal(qty_t), Decimal(price_t), Decimal(fee_t)
        a["n"] += 1
        a["quote"] += qty * price
        a["fees"][fee_asset] = a["fees"].get(fee_asset, Decimal(0)) + fee
        if a["valued"] is not None and fee:
            if symbol.endswith(fee_asset) and len(fee_asset) < len(symbol):  # the quote asset
                a["valued"] += fee
            elif symbol.startswith(fee_asset) and len(fee_asset) < len(symbol):  # the base asset, at the fill price
                a["valued"] += fee * price
            else:
                a["valued"] = None
        if ref_t is not None:
            ref = Decimal(ref_t)
            sign = 1 if side == Side.BUY.value else -1
            a["slip"] += sign * (price - ref) * qty
            a["base"] += ref * qty
    return [SymbolCosts(s, a["n"], a["quote"], a["fees"], a["slip"], a["base"], a["valued"])
            for s, a in sorted(acc.items())]


def running_cycles(conn: sqlite3.Connection) -> list[Cycle]:
    """Cycles begun but never finished (a crash or an unresolved order), oldest first."""
    rows = conn.execute(f"SELECT {_CYCLE_COLS} FROM cycles WHERE status = 'RUNNING' "
                        "ORDER BY started_ms, cycle_key").fetchall()
    return [_cycle(r) for r in rows]


def orders_missing_fills(conn: sqlite3.Connection) -> list[Order]:
    """Orders whose recorded filled quantity exceeds the sum of their journaled fills (a fill was missed)."""
    rows = conn.execute(f"{_ORDER_SELECT} WHERE o.filled_qty != '0' ORDER BY i.created_ms, o.client_order_id"
                        ).fetchall()
    out = []
    for r in rows:
        order = _order(r)
        got = sum((f.qty for f in fills(conn, client_order_id=order.client_order_id)), Decimal(0))
        if got < order.filled_qty:
            out.append(order)
    return out
