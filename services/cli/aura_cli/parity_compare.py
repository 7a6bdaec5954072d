"""The comparison of ``aura parity`` (pure: two lists of orders in, the report's figures out).

An order is keyed by (day, symbol, side): ``day`` is the UTC date of the decision time, 00:00 UTC of the day after
the decision candle (the backtester's ``Trade.t_ms``; the trader's fills happen at that simulated time). Several
fills or orders with one key are summed (quantity, notional-weighted price, fees; reasons joined).

- ``matched``: keys on both sides; among them ``qty_mismatches`` differ by more than one lot step of the symbol and
  ``price_mismatches`` by more than one price tick (the simulator fills on the tick grid, the backtester at the
  exact float; a relative 1e-9 absorbs float noise);
- ``only_trader`` / ``only_backtest``: keys on one side only;
- kill-switch trips are compared by day;
- ``first_divergence`` is the earliest divergence (by day, then symbol), with both sides' orders and reasons;
  ``divergences`` lists them all (``limit`` at most) in that order, ``first_of_kind`` the first of each kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

DAY_MS = 86_400_000
PRICE_REL_TOL = 1e-9
KINDS = ("qty", "price", "only_trader", "only_backtest", "kill_switch")


@dataclass(frozen=True)
class Order:
    day: str  # YYYY-MM-DD (UTC) of the decision time
    symbol: str
    side: str  # BUY / SELL
    qty: float
    price: float  # average fill price
    fee: float = 0.0
    fee_asset: str = ""
    reason: str = ""


def day_of(ms: int) -> str:
    return datetime.fromtimestamp(ms // DAY_MS * DAY_MS / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def aggregate(orders: Iterable[Order]) -> dict[tuple[str, str, str], Order]:
    """One order per (day, symbol, side): quantities and fees summed, the price weighted by quantity."""
    out: dict[tuple[str, str, str], Order] = {}
    for o in orders:
        key = (o.day, o.symbol, o.side)
        have = out.get(key)
        if have is None:
            out[key] = o
            continue
        qty = have.qty + o.qty
        price = (have.price * have.qty + o.price * o.qty) / qty if qty > 0 else o.price
        reasons = have.reason if o.reason in have.reason.split("+") else f"{have.reason}+{o.reason}"
        out[key] = Order(o.day, o.symbol, o.side, qty, price, have.fee + o.fee, have.fee_asset or o.fee_asset,
                         reasons)
    return out


def _side(o: Order | None) -> dict[str, Any] | None:
    if o is None:
        return None
    return {"side": o.side, "qty": o.qty, "price": o.price, "fee": o.fee, "fee_asset": o.fee_asset,
            "reason": o.reason}


def compare(trader: Sequence[Order], backtest: Sequence[Order], *, steps: Mapping[str, float],
            ticks: Mapping[str, float], trader_trips: Sequence[str] = (), backtest_trips: Sequence[str] = (),
            trader_equity: float | None = None, backtest_equity: float | None = None, days: int = 0,
            max_equity_diff_pct: float = 0.1, limit: int = 200,
            trader_notes: Mapping[tuple[str, str], str] | None = None) -> dict[str, Any]:
    """The parity report's figures. ``steps``/``ticks``: each symbol's lot step and price tick (a symbol without one
    gets no tolerance beyond float noise). ``trader_notes``: (day, symbol) -> what the trader did there without a
    fill (a rejected or skipped intent), attached to that day's divergences."""
    t, b = aggregate(trader), aggregate(backtest)
    notes = trader_notes or {}
    divergences: list[dict[str, Any]] = []
    matched = qty_bad = price_bad = 0

    def add(kind: str, key: tuple[str, str, str], to: Order | None, bo: Order | None, **extra: Any) -> None:
        day, symbol, _ = key
        d = {"day": day, "symbol": symbol, "kind": kind, "trader": _side(to), "backtest": _side(bo), **extra}
        note = notes.get((day, symbol))
        if note:
            d["trader_note"] = note
        divergences.append(d)

    for key in sorted(set(t) | set(b)):
        to, bo = t.get(key), b.get(key)
        if to is None:
            add("only_backtest", key, None, bo)
            continue
        if bo is None:
            add("only_trader", key, to, None)
            continue
        matched += 1
        symbol = key[1]
        step, tick = steps.get(symbol, 0.0), ticks.get(symbol, 0.0)
        dq = to.qty - bo.qty
        if abs(dq) > step + 1e-12 * max(abs(to.qty), abs(bo.qty)):
            qty_bad += 1
            add("qty", key, to, bo, qty_diff=dq, lot_step=step,
                qty_diff_pct=100.0 * dq / bo.qty if bo.qty else None)
        dp = to.price - bo.price
        if abs(dp) > tick + PRICE_REL_TOL * abs(bo.price):
            price_bad += 1
            add("price", key, to, bo, price_diff=dp, tick=tick)
    tt, bt = sorted(set(trader_trips)), sorted(set(backtest_trips))
    for day in sorted(set(tt) ^ set(bt)):
        divergences.append({"day": day, "symbol": "-", "kind": "kill_switch",
                            "trader": {"reason": "kill switch tripped"} if day in tt else None,
                            "backtest": {"reason": "kill switch tripped"} if day in bt else None})
    divergences.sort(key=lambda d: (d["day"], d["symbol"], d["kind"]))
    equity_diff = None
    if trader_equity is not None and backtest_equity:
        equity_diff = 100.0 * abs(trader_equity - backtest_equity) / abs(backtest_equity)
    only_t = sum(1 for d in divergences if d["kind"] == "only_trader")
    only_b = sum(1 for d in divergences if d["kind"] == "only_backtest")
    full = (not divergences and equity_diff is not None and equity_diff < max_equity_diff_pct)
    return {
        "days": days,
        "trader_orders": len(t),
        "backtest_orders": len(b),
        "matched": matched,
        "only_trader": only_t,
        "only_backtest": only_b,
        "qty_mismatches": qty_bad,
        "price_mismatches": price_bad,
        "equity_trader": trader_equity,
        "equity_backtest": backtest_equity,
        "equity_diff_pct": equity_diff,
        "kill_switch_trips": {"trader": len(tt), "backtest": len(bt), "trader_days": tt, "backtest_days": bt},
        "first_divergence": divergences[0] if divergences else None,
        "first_of_kind": {k: next(d for d in divergences if d["kind"] == k)
                          for k in KINDS if any(d["kind"] == k for d in divergences)},
        "divergences": divergences[:limit],
        "divergences_total": len(divergences),
        "full_match": full,
    }


__all__ = ["Order", "aggregate", "compare", "day_of"]
