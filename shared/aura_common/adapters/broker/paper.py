"""The paper broker: a peer of the ccxt broker behind the same port, filling against live prices.

Market orders fill at once, in full, at the live price moved by the slippage model, with the fee charged as Binance
charges it, in the RECEIVED asset (a BUY pays ``qty * rate`` in the base asset, a SELL ``notional * rate`` in the
quote asset); limit orders fill when the live price crosses them (checked on every call). Client order ids follow
Binance's rule (unique only among OPEN orders), so the trader's idempotency is exercised exactly as in live mode.
State lives in its own SQLite file (the paper venue's books, not the journal), so a restarted trader reconciles
against it like against a real exchange.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import cast
from pathlib import Path

from aura_common.adapters.broker.errors import DuplicateClientOrderId, InsufficientBalance, Rejected, TransientError
from aura_common.adapters.clock import Clock
from aura_common.adapters.files import private_dir, private_file
from aura_common.domain import (
    Balance,
    ClientOrderId,
    Fill,
    MarketSpec,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    Symbol,
)

BPS = Decimal("0.0001")
PriceSource = Callable[[Iterable[Symbol]], Mapping[Symbol, Decimal]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS balances (asset TEXT PRIMARY KEY, free TEXT NOT NULL, locked TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
  order_id INTEGER PRIMARY KEY AUTOINCREMENT, client_order_id TEXT NOT NULL, symbol TEXT NOT NULL,
  side TEXT NOT NULL, type TEXT NOT NULL, quantity TEXT NOT NULL, limit_price TEXT,
  status TEXT NOT NULL, filled TEXT NOT NULL, quote_filled TEXT NOT NULL, time_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS orders_cid ON orders(client_order_id);
CREATE TABLE IF NOT EXISTS trades (
  trade_id INTEGER PRIMARY KEY AUTOINCREMENT, order_id INTEGER NOT NULL REFERENCES orders(order_id),
  symbol TEXT NOT NULL, side TEXT NOT NULL, quantity TEXT NOT NULL, price TEXT NOT NULL, fee TEXT NOT NULL,
  fee_asset TEXT NOT NULL, time_ms INTEGER NOT NULL);
"""


class PaperBroker:
    def __init__(self, state_file: Path, specs: Mapping[Symbol, MarketSpec], price_source: PriceSource,
                 clock: Clock, initial_quote: Decimal, quote_asset: str = "USDT", fee_bps: float = 10.0,
                 slippage_bps: float = 5.0) -> None:
        private_file(private_dir(Path(state_file).parent) / Path(state_file).name)  # 0600 in a 0700 directory
        self._db = sqlite3.connect(str(state_file), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._specs = dict(specs)
        self._price_source = price_source
        self._clock = clock
        self._quote = quote_asset
        self._fee = Decimal(str(fee_bps)) * BPS
        self._slip = Decimal(str(slippage_bps)) * BPS
        if self._db.execute("SELECT COUNT(*) FROM balances").fetchone()[0] == 0:
            self._db.execute("INSERT INTO balances VALUES (?, ?, '0')", (quote_asset, str(initial_quote)))

    # -- port -------------------------------------------------------------------------------------------
    def markets(self, refresh: bool = False) -> Mapping[Symbol, MarketSpec]:
        return self._specs

    def balances(self) -> Mapping[str, Balance]:
        self._match_limits()
        rows = self._db.execute("SELECT asset, free, locked FROM balances").fetchall()
        out = {a: Balance(a, Decimal(f), Decimal(lk)) for a, f, lk in rows}
        return {a: b for a, b in out.items() if b.total != 0}

    def prices(self, symbols: Iterable[Symbol]) -> Mapping[Symbol, Decimal]:
        try:
            return dict(self._price_source(list(symbols)))
        except Exception as exc:  # noqa: BLE001 - a price feed failure is a transient read failure
            raise TransientError(f"paper price source failed: {exc}") from exc

    def place_order(self, request: OrderRequest) -> OrderReport:
        spec = self._specs.get(request.symbol)
        if spec is None:
            raise Rejected(f"unknown symbol {request.symbol}")
        if request.quantity != spec.floor_qty(request.quantity) or request.quantity < spec.min_qty:
            raise Rejected(f"Filter failure: LOT_SIZE ({request.symbol} quantity {request.quantity})")
        open_dup = self._db.execute("SELECT 1 FROM orders WHERE client_order_id=? AND status IN ('NEW','PARTIALLY_FILLED')",
                                    (request.client_order_id,)).fetchone()
        if open_dup:
            raise DuplicateClientOrderId(f"Duplicate order sent. ({request.client_order_id})")
        price = self.prices([request.symbol])[request.symbol]
        # a LIMIT request carries its limit price
        ref = cast(Decimal, request.limit_price) if request.order_type is OrderType.LIMIT else price
        if request.quantity * ref < spec.min_notional:
            raise Rejected(f"Filter failure: NOTIONAL ({request.symbol} {request.quantity} x {ref})")
        now = self._clock.now_ms()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            cur = self._db.execute(
                "INSERT INTO orders (client_order_id, symbol, side, type, quantity, limit_price, status, filled,"
                " quote_filled, time_ms) VALUES (?,?,?,?,?,?,'NEW','0','0',?)",
                (request.client_order_id, request.symbol, request.side.value, request.order_type.value,
                 str(request.quantity), str(request.limit_price) if request.limit_price else None, now))
            order_id = cast(int, cur.lastrowid)  # the row this INSERT wrote
            if request.order_type is OrderType.MARKET:
                exec_price = price * (1 + self._slip) if request.side is Side.BUY else price * (1 - self._slip)
                self._fill(order_id, spec, request.side, request.quantity, exec_price, now)
            else:
                self._lock_for_limit(spec, request)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return self._report(order_id)

    def get_order(self, symbol: Symbol, client_order_id: str) -> OrderReport | None:
        self._match_limits()
        row = self._db.execute("SELECT order_id FROM orders WHERE client_order_id=? AND symbol=? "
                               "ORDER BY order_id DESC LIMIT 1", (client_order_id, symbol)).fetchone()
        return self._report(row[0]) if row else None

    def cancel_order(self, symbol: Symbol, client_order_id: str) -> OrderReport | None:
        row = self._db.execute("SELECT order_id, side, quantity, filled, limit_price FROM orders WHERE client_order_id=?"
                               " AND symbol=? AND status IN ('NEW','PARTIALLY_FILLED')", (client_order_id, symbol)).fetchone()
        if not row:
            return None
        order_id, side, qty, filled, limit = row
        spec = self._specs[symbol]
        rest = Decimal(qty) - Decimal(filled)
        asset, amount = ((self._quote, rest * Decimal(limit)) if side == "BUY"
                         else (spec.base_asset, rest))
        self._db.execute("BEGIN IMMEDIATE")
        self._move(asset, free=amount, locked=-amount)
        self._db.execute("UPDATE orders SET status='CANCELED' WHERE order_id=?", (order_id,))
        self._db.execute("COMMIT")
        return self._report(order_id)

    def open_orders(self, symbol: Symbol | None = None) -> list[OrderReport]:
        self._match_limits()
        rows = self._db.execute("SELECT order_id FROM orders WHERE status IN ('NEW','PARTIALLY_FILLED')"
                                + (" AND symbol=?" if symbol else "") + " ORDER BY order_id",
                                (symbol,) if symbol else ()).fetchall()
        return [self._report(r[0]) for r in rows]

    def fills(self, symbol: Symbol, since_ms: int | None = None,
              exchange_order_id: str | None = None) -> list[Fill]:
        if exchange_order_id is not None:
            return [f for f in self.fills(symbol) if f.exchange_order_id == exchange_order_id]
        rows = self._db.execute(
            "SELECT t.trade_id, t.side, t.quantity, t.price, t.fee, t.fee_asset, t.time_ms, o.client_order_id, o.order_id"
            " FROM trades t JOIN orders o USING(order_id) WHERE t.symbol=? AND t.time_ms>=? ORDER BY t.trade_id",
            (symbol, since_ms or 0)).fetchall()
        return [Fill(str(r[0]), symbol, Side(r[1]), Decimal(r[2]), Decimal(r[3]), Decimal(r[4]), r[5], r[6],
                     ClientOrderId(r[7]), str(r[8])) for r in rows]

    def close(self) -> None:
        self._db.close()

    # -- internals --------------------------------------------------------------------------------------
    def _balance(self, asset: str) -> tuple[Decimal, Decimal]:
        row = self._db.execute("SELECT free, locked FROM balances WHERE asset=?", (asset,)).fetchone()
        return (Decimal(row[0]), Decimal(row[1])) if row else (Decimal(0), Decimal(0))

    def _move(self, asset: str, free: Decimal = Decimal(0), locked: Decimal = Decimal(0)) -> None:
        f, lk = self._balance(asset)
        f, lk = f + free, lk + locked
        if f < 0 or lk < 0:
            raise InsufficientBalance(f"Account has insufficient balance for requested action. ({asset})")
        self._db.execute("INSERT INTO balances VALUES (?,?,?) ON CONFLICT(asset) DO UPDATE SET free=excluded.free,"
                         " locked=excluded.locked", (asset, str(f), str(lk)))

    def _fill(self, order_id: int, spec: MarketSpec, side: Side, qty: Decimal, price: Decimal, now: int,
              from_locked: bool = False) -> None:
        quote = qty * price
        if side is Side.BUY:
            fee, fee_asset = qty * self._fee, spec.base_asset
            if from_locked:
                self._move(self._quote, locked=-quote)
            else:
                self._move(self._quote, free=-quote)
            self._move(spec.base_asset, free=qty - fee)
        else:
            fee, fee_asset = quote * self._fee, self._quote
            if from_locked:
                self._move(spec.base_asset, locked=-qty)
            else:
                self._move(spec.base_asset, free=-qty)
            self._move(self._quote, free=quote - fee)
        self._db.execute("INSERT INTO trades (order_id, symbol, side, quantity, price, fee, fee_asset, time_ms)"
                         " VALUES (?,?,?,?,?,?,?,?)", (order_id, spec.symbol, side.value, str(qty), str(price),
                                                       str(fee), fee_asset, now))
        self._db.execute("UPDATE orders SET status='FILLED', filled=quantity, quote_filled=? WHERE order_id=?",
                         (str(quote), order_id))

    def _lock_for_limit(self, spec: MarketSpec, request: OrderRequest) -> None:
        assert request.limit_price is not None
        if request.side is Side.BUY:
            amount = request.quantity * request.limit_price
            self._move(self._quote, free=-amount, locked=amount)
        else:
            self._move(spec.base_asset, free=-request.quantity, locked=request.quantity)

    def _match_limits(self) -> None:
        rows = self._db.execute("SELECT order_id, symbol, side, quantity, limit_price FROM orders"
                                " WHERE status='NEW' AND type='LIMIT'").fetchall()
        if not rows:
            return
        prices = self.prices({r[1] for r in rows})
        for order_id, symbol, side, qty, limit in rows:
            price, lim = prices.get(symbol), Decimal(limit)
            if price is None or (side == "BUY" and price > lim) or (side == "SELL" and price < lim):
                continue
            self._db.execute("BEGIN IMMEDIATE")
            spec = self._specs[symbol]
            self._fill(order_id, spec, Side(side), Decimal(qty), lim, self._clock.now_ms(), from_locked=True)
            self._db.execute("COMMIT")

    def _report(self, order_id: int) -> OrderReport:
        r = self._db.execute("SELECT client_order_id, symbol, side, type, quantity, limit_price, status, filled,"
                             " quote_filled, time_ms FROM orders WHERE order_id=?", (order_id,)).fetchone()
        symbol = Symbol(r[1])
        fills = tuple(f for f in self.fills(symbol) if f.exchange_order_id == str(order_id))
        return OrderReport(ClientOrderId(r[0]), symbol, Side(r[2]), OrderStatus(r[6]), Decimal(r[4]), Decimal(r[7]),
                           Decimal(r[8]), str(order_id), OrderType(r[3]), Decimal(r[5]) if r[5] else None, r[9], fills)
