"""The trader's journal: the one writer of the live SQLite file.

``Journal.open(path, clock)`` takes the writer lock (a second writer fails at once with JournalLockedError),
opens the file in WAL mode with foreign keys on, and migrates it to the newest schema. Every method is one
transaction; ``with journal.transaction():`` groups several calls into one (nested blocks are savepoints).
Amounts are ``Decimal`` and statuses are domain enums at this API; TEXT exists only inside. Local times come
from the injected clock; exchange times are passed in as ``venue_ms``.

The order protocol (crash-safe, never resends blindly):
    record_intent()      before anything is sent             -> order PENDING
    mark_order_sent()    immediately before the request       -> UNKNOWN (refused unless PENDING), with the
                         request's timestamp and recvWindow
    update_order()       with what the exchange says          -> NEW / PARTIALLY_FILLED / terminal
    mark_order_unknown() when the request's outcome was lost  -> stays UNKNOWN, with the reason
    record_fill()        each trade, idempotent by (symbol, trade id)
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from aura_common.adapters.clock import Clock
from aura_common.adapters.files import private_dir, private_file
from aura_common.adapters.journal import queries as q
from aura_common.adapters.journal.codec import dec_to_text, fields_to_json, opt_dec_to_text
from aura_common.adapters.journal.errors import JournalConflictError, JournalError, JournalSchemaError
from aura_common.adapters.journal.lock import WriterLock
from aura_common.adapters.journal.order_rules import Verdict, judge_update
from aura_common.adapters.journal.records import Cycle, CycleStatus, Fill, Intent, Order
from aura_common.adapters.journal.schema import SCHEMA_VERSION, migrate
from aura_common.adapters.journal.snapshots import snapshot_connection
from aura_common.adapters.journal.state import AccountStateWriter
from aura_common.adapters.logs import event
from aura_common.domain import OrderStatus, OrderType, Side
from aura_common.domain.values import validate_client_order_id

log = logging.getLogger(__name__)


def connect(path: Path) -> sqlite3.Connection:
    """A read-write connection with the journal's pragmas (WAL, foreign keys, full sync), autocommit mode."""
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=10.0)
        conn.execute("PRAGMA foreign_keys = ON")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as exc:
        raise JournalSchemaError(f"{path} cannot be opened as a journal: {exc}") from None
    if mode != "wal":
        conn.close()
        raise JournalError(f"{path}: cannot switch to WAL mode (got {mode})")
    return conn


class Journal(AccountStateWriter):
    """The writer. Construct with ``Journal.open``; close it (or use ``with``) to release the lock.
    Positions, equity, the kill switch, config versions and events come from AccountStateWriter (state.py)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: WriterLock, clock: Clock) -> None:
        self.path, self._conn, self._lock, self._clock = path, conn, lock, clock
        self._depth = 0

    @classmethod
    def open(cls, path: str | os.PathLike[str], clock: Clock) -> Journal:
        path = Path(path)
        try:
            private_dir(path.parent)  # owner-only: the journal holds the account's whole history
        except OSError as exc:
            raise JournalError(f"cannot create the journal directory {path.parent}: {exc.strerror or exc}") from None
        lock = WriterLock(path)
        lock.acquire()
        try:
            try:
                private_file(path)  # 0600 before SQLite opens it (its -wal/-shm files take the same mode)
            except OSError as exc:
                raise JournalError(f"cannot create the journal {path}: {exc.strerror or exc}") from None
            conn = connect(path)
            try:
                before, after = migrate(conn, str(path))
            except BaseException:
                conn.close()
                raise
        except BaseException:
            lock.release()
            raise
        event(log, "JOURNAL_OPEN", path=str(path), schema_version=after, migrated_from=before, pid=os.getpid())
        return cls(path, conn, lock, clock)

    def close(self) -> None:
        if self._lock.held:
            self._conn.close()
            self._lock.release()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return SCHEMA_VERSION

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction for everything inside; a nested block is a savepoint that rolls back on its own."""
        if not self._lock.held:
            raise JournalError(f"journal {self.path} is closed")
        depth = self._depth
        self._conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT sp{depth}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK" if depth == 0 else f"ROLLBACK TO sp{depth}")
            if depth:
                self._conn.execute(f"RELEASE sp{depth}")
            raise
        else:
            self._conn.execute("COMMIT" if depth == 0 else f"RELEASE sp{depth}")
        finally:
            self._depth = depth

    # --- cycles -------------------------------------------------------------------------------------------
    def begin_cycle(self, cycle_key: str, plan_hash: str | None = None, config_version: str | None = None) -> Cycle:
        """Start (or, after a restart, re-enter) a cycle. Re-entering bumps ``attempts`` and keeps the status."""
        with self.transaction():
            self._x("""INSERT INTO cycles (cycle_key, status, plan_hash, config_version, started_ms)
                VALUES (?, 'RUNNING', ?, ?, ?) ON CONFLICT (cycle_key) DO UPDATE SET attempts = attempts + 1,
                plan_hash = coalesce(excluded.plan_hash, plan_hash),
                config_version = coalesce(excluded.config_version, config_version)""",
                    (cycle_key, plan_hash, config_version, self._clock.now_ms()))
            return q.cycle(self._conn, cycle_key)

    def finish_cycle(self, cycle_key: str, status: CycleStatus, plan_hash: str | None = None,
                     detail: Mapping[str, Any] | None = None) -> Cycle:
        status = CycleStatus(status)
        if not status.is_finished:
            raise ValueError(f"cycle {cycle_key}: finish_cycle needs DONE, FAILED or SKIPPED, not {status.value}")
        with self.transaction():
            current = q.cycle(self._conn, cycle_key)
            if current is None:
                raise JournalError(f"cycle {cycle_key} was never begun in {self.path}")
            if current.status.is_finished:  # a recorded outcome is never rewritten
                if current.status is status:
                    return current
                raise JournalConflictError(f"cycle {cycle_key} already finished {current.status.value}, "
                                           f"cannot become {status.value}")
            self._x("""UPDATE cycles SET status = ?, finished_ms = ?, plan_hash = coalesce(?, plan_hash),
                detail = ? WHERE cycle_key = ?""", (status.value, self._clock.now_ms(), plan_hash,
                                                    fields_to_json(detail or {}), cycle_key))
            return q.cycle(self._conn, cycle_key)

    def cycle(self, cycle_key: str) -> Cycle | None:
        return q.cycle(self._conn, cycle_key)

    def last_cycle(self, include_risk: bool = False) -> Cycle | None:
        """The newest rebalance cycle (with ``include_risk``, risk-exit cycles count too)."""
        return q.last_cycle(self._conn, include_risk)

    # --- intents and orders -------------------------------------------------------------------------------
    def record_intent(self, cycle_key: str, client_order_id: str, symbol: str, side: Side, qty: Decimal, *,
                      order_type: OrderType = OrderType.MARKET, limit_price: Decimal | None = None,
                      ref_price: Decimal | None = None, reason: str = "") -> Order:
        """Journal an intent and its PENDING order BEFORE sending, in a RUNNING cycle. Re-recording the same
        intent is a no-op (deterministic ids after a restart); the same id with different content is a
        JournalConflictError."""
        coid = validate_client_order_id(client_order_id)
        side, order_type = Side(side), OrderType(order_type)
        who = f"order {coid}"
        if qty <= 0:
            raise ValueError(f"{who}: quantity must be positive, got {qty}")
        if (order_type is OrderType.LIMIT) != (limit_price is not None):
            raise ValueError(f"{who}: a LIMIT order needs a limit price and a MARKET order must not have one")
        for name, price in (("limit price", limit_price), ("reference price", ref_price)):
            if price is not None and price <= 0:
                raise ValueError(f"{who}: {name} must be positive, got {price}")
        row = (coid, cycle_key, symbol, side.value, order_type.value, dec_to_text(qty, f"{who} qty"),
               opt_dec_to_text(limit_price, f"{who} limit price"), opt_dec_to_text(ref_price, f"{who} ref price"),
               reason)
        with self.transaction():
            old = self._x("""SELECT client_order_id, cycle_key, symbol, side, order_type, qty, limit_price,
                ref_price, reason FROM intents WHERE client_order_id = ?""", (coid,)).fetchone()
            if old is not None:
                if tuple(old) != row:
                    raise JournalConflictError(f"{who} is already journaled with different content "
                                               f"({old[1]} {old[3]} {old[5]} {old[2]}) in {self.path}")
                return q.order(self._conn, coid)
            cycle = q.cycle(self._conn, cycle_key)
            if cycle is None or cycle.status is not CycleStatus.RUNNING:
                state = "was never begun" if cycle is None else f"is {cycle.status.value}, not RUNNING"
                raise JournalError(f"{who}: cycle {cycle_key} {state}")
            now = self._clock.now_ms()
            self._x("""INSERT INTO intents (client_order_id, cycle_key, symbol, side, order_type, qty,
                limit_price, ref_price, reason, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", (*row, now))
            self._x("INSERT INTO orders (client_order_id, status, updated_ms) VALUES (?, 'PENDING', ?)", (coid, now))
            return q.order(self._conn, coid)

    def _current(self, client_order_id: str) -> Order:
        order = q.order(self._conn, client_order_id)
        if order is None:
            raise JournalError(f"order {client_order_id} is not in the journal {self.path}")
        return order

    def mark_order_sent(self, client_order_id: str, request_ts_ms: int | None = None,
                        recv_window_ms: int | None = None) -> Order:
        """Call immediately before the request: PENDING -> UNKNOWN. Refused for an order already sent.

        ``request_ts_ms``/``recv_window_ms`` are the signed request's ``timestamp`` and ``recvWindow``: the venue
        rejects the request if it reaches the matching engine after ``timestamp + recvWindow``, which is what
        makes a later "not found" definitive. Journaled in the same transaction as the status change."""
        with self.transaction():
            order = self._current(client_order_id)
            if order.status is not OrderStatus.PENDING:
                raise JournalConflictError(f"order {client_order_id} was already sent or settled "
                                           f"(status {order.status.value}); look it up, never resend")
            now = self._clock.now_ms()
            self._x("""UPDATE orders SET status = 'UNKNOWN', sent_ms = ?, updated_ms = ?, request_ts_ms = ?,
                recv_window_ms = ? WHERE client_order_id = ?""",
                    (now, now, request_ts_ms, recv_window_ms, client_order_id))
            return q.order(self._conn, client_order_id)

    def mark_order_resend(self, client_order_id: str, reason: str, request_ts_ms: int | None = None,
                          recv_window_ms: int | None = None) -> Order:
        """Call immediately before sending an UNKNOWN order AGAIN, with the same client order id, once the venue
        has definitively said (after its status-lag window) that it does not exist. Refused unless UNKNOWN.
        The new request's timestamp and recvWindow replace the previous one's (see ``mark_order_sent``)."""
        with self.transaction():
            order = self._current(client_order_id)
            if order.status is not OrderStatus.UNKNOWN:
                raise JournalConflictError(f"order {client_order_id} cannot be resent: status "
                                           f"{order.status.value} (only an UNKNOWN order the venue denies may be)")
            now = self._clock.now_ms()
            self._x("""UPDATE orders SET sent_ms = ?, updated_ms = ?, reason = ?, request_ts_ms = ?, recv_window_ms = ?
                WHERE client_order_id = ?""", (now, now, reason, request_ts_ms, recv_window_ms, client_order_id))
            self._x("INSERT INTO events (ts_ms, tag, cycle_key, fields) VALUES (?, 'ORDER_RESEND', ?, ?)",
                    (now, order.cycle_key, fields_to_json({"client_order_id": client_order_id, "reason": reason})))
            return q.order(self._conn, client_order_id)

    def mark_order_unknown(self, client_order_id: str, reason: str) -> Order:
        """The request's outcome was lost (timeout, reset, 5xx). An order the exchange already confirmed keeps
        its confirmed status (a lost cancel does not make a NEW order unknown)."""
        with self.transaction():
            order = self._current(client_order_id)
            if order.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN):
                now = self._clock.now_ms()
                self._x("""UPDATE orders SET status = 'UNKNOWN', sent_ms = coalesce(sent_ms, ?), updated_ms = ?,
                    reason = ? WHERE client_order_id = ?""", (now, now, reason, client_order_id))
            return q.order(self._conn, client_order_id)

    def update_order(self, client_order_id: str, status: OrderStatus, *, exchange_order_id: str | None = None,
                     filled_qty: Decimal | None = None, avg_price: Decimal | None = None,
                     venue_ms: int | None = None, reason: str | None = None) -> Order:
        """Record what the exchange says about an order. Returns the journal's view afterwards: a stale update
        (older than what is recorded) is ignored; a contradiction raises JournalConflictError."""
        status = OrderStatus(status)
        with self.transaction():
            order = self._current(client_order_id)
            try:
                verdict = judge_update(client_order_id=client_order_id, order_qty=order.qty,
                                       old_status=order.status, old_filled=order.filled_qty,
                                       old_exchange_id=order.exchange_order_id, new_status=status,
                                       new_filled=filled_qty, new_exchange_id=exchange_order_id)
            except ValueError as exc:
                raise JournalConflictError(f"{exc} (journal {self.path})") from None
            if verdict is Verdict.STALE:
                return order
            who = f"order {client_order_id}"
            self._x("""UPDATE orders SET status = ?, exchange_order_id = coalesce(?, exchange_order_id),
                filled_qty = coalesce(?, filled_qty), avg_price = coalesce(?, avg_price), updated_ms = ?,
                venue_update_ms = coalesce(?, venue_update_ms), reason = coalesce(?, reason)
                WHERE client_order_id = ?""",
                    (status.value, exchange_order_id, opt_dec_to_text(filled_qty, f"{who} filled qty"),
                     opt_dec_to_text(avg_price, f"{who} average price"), self._clock.now_ms(), venue_ms, reason,
                     client_order_id))
            return q.order(self._conn, client_order_id)

    def order(self, client_order_id: str) -> Order | None:
        return q.order(self._conn, client_order_id)

    def intent(self, client_order_id: str) -> Intent | None:
        return q.intent(self._conn, client_order_id)

    def open_orders(self) -> list[Order]:
        """Every non-terminal order: what boot reconciliation must refresh."""
        return q.open_orders(self._conn)

    def orders_of_cycle(self, cycle_key: str) -> list[Order]:
        return q.orders_of_cycle(self._conn, cycle_key)

    def orders_missing_fills(self) -> list[Order]:
        """Orders whose filled quantity exceeds their journaled fills: boot reconciliation fetches those."""
        return q.orders_missing_fills(self._conn)

    def running_cycles(self) -> list[Cycle]:
        return q.running_cycles(self._conn)

    # --- fills --------------------------------------------------------------------------------------------
    def record_fill(self, symbol: str, trade_id: str, side: Side, qty: Decimal, price: Decimal, fee: Decimal,
                    fee_asset: str, venue_ms: int, *, client_order_id: str | None = None,
                    exchange_order_id: str | None = None) -> bool:
        """Record one trade. True if new, False if already recorded identically (idempotent); the same trade
        with different values is a JournalConflictError."""
        who = f"fill {symbol}/{trade_id}"
        if qty <= 0 or price <= 0 or fee < 0:
            raise ValueError(f"{who}: needs qty > 0, price > 0, fee >= 0 (got {qty}, {price}, {fee})")
        row = (symbol, str(trade_id), client_order_id, exchange_order_id, Side(side).value,
               dec_to_text(qty, f"{who} qty"), dec_to_text(price, f"{who} price"), dec_to_text(fee, f"{who} fee"),
               fee_asset, int(venue_ms))
        with self.transaction():
            old = self._x("""SELECT symbol, trade_id, client_order_id, exchange_order_id, side, qty, price, fee,
                fee_asset, venue_ms FROM fills WHERE symbol = ? AND trade_id = ?""", row[:2]).fetchone()
            if old is not None:
                if tuple(old) != row:
                    raise JournalConflictError(f"{who} is already journaled with different values in {self.path}")
                return False
            try:
                self._x("""INSERT INTO fills (symbol, trade_id, client_order_id, exchange_order_id, side, qty,
                    price, fee, fee_asset, venue_ms, recorded_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                        (*row, self._clock.now_ms()))
            except sqlite3.IntegrityError as exc:
                raise JournalError(f"{who}: order {client_order_id} is not in the journal ({exc})") from None
            return True

    def fills(self, symbol: str | None = None, since_ms: int | None = None,
              client_order_id: str | None = None) -> list[Fill]:
        return q.fills(self._conn, symbol, since_ms, client_order_id)

    # --- snapshots ----------------------------------------------------------------------------------------
    def snapshot(self, dest_dir: str | os.PathLike[str], keep: int = 3,
                 before_publish: Callable[[], None] | None = None) -> Path:
        """A consistent copy at ``dest_dir/latest.sqlite`` for the readers (call between transactions).
        ``before_publish`` runs after the copy is written and checked, before it is renamed into place (a test
        hook: the crash campaign kills the process there)."""
        if self._depth:
            raise JournalError("snapshot inside a transaction would copy uncommitted state")
        return snapshot_connection(self._conn, dest_dir, now_ms=self._clock.now_ms(), keep=keep,
                                   before_publish=before_publish)
