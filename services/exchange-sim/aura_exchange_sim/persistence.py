"""Optional SQLite persistence of the simulator's own state across ITS restart (``--state FILE``).

Tables: ``ledger`` (append-only entries), ``orders`` (one JSON row per order incl. its trades, upserted when it
changes) and ``meta`` (clock, id counters). Saved after every mutating request inside one transaction (WAL), so a
killed simulator restarts with every order it acknowledged. On load the balances are rebuilt by summing the ledger
— the ledger is the source of truth — and the clock resumes at the later of the configured start and the saved
simulated time (the clock never goes backwards).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import fields
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from aura_exchange_sim.ledger import ZERO
from aura_exchange_sim.orders import Order, Trade

if TYPE_CHECKING:  # pragma: no cover
    from aura_exchange_sim.app import Simulator

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (order_id INTEGER PRIMARY KEY, body TEXT NOT NULL);
"""
_DEC_ORDER = {"price", "orig_qty", "orig_quote_qty", "executed_qty", "cum_quote", "locked"}
_DEC_TRADE = {"price", "qty", "quote_qty", "commission"}


class StateError(RuntimeError):
    pass


def _order_to_json(o: Order) -> str:
    d = {f.name: getattr(o, f.name) for f in fields(Order) if f.name != "trades"}
    d = {k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in d.items()}
    d["trades"] = [{f.name: (format(getattr(t, f.name), "f") if f.name in _DEC_TRADE else getattr(t, f.name))
                    for f in fields(Trade)} for t in o.trades]
    return json.dumps(d)


def _order_from_json(text: str) -> Order:
    d = json.loads(text)
    trades = [Trade(**{k: (Decimal(v) if k in _DEC_TRADE else v) for k, v in t.items()}) for t in d.pop("trades")]
    o = Order(**{k: (Decimal(v) if k in _DEC_ORDER else v) for k, v in d.items()})
    o.trades = trades
    return o


class StateStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: cannot open simulator state: {exc}") from None
        self.saved_seq = 0
        self._saved_max_oid = 0
        self._open_at_save: set[int] = set()

    def wipe(self) -> None:
        self.db.executescript("BEGIN; DELETE FROM meta; DELETE FROM ledger; DELETE FROM orders; COMMIT;")
        self.saved_seq, self._saved_max_oid, self._open_at_save = 0, 0, set()

    def save(self, sim: Simulator) -> None:
        eng = sim.engine
        new_entries = eng.book.entries[self.saved_seq:]
        ids = sorted(set(range(self._saved_max_oid + 1, eng.next_order_id)) | self._open_at_save)
        changed = [eng.orders[i] for i in ids if i in eng.orders]
        meta = {"now_ms": sim.clock.now_ms(), "next_order_id": eng.next_order_id,
                "next_trade_id": eng.next_trade_id, "last_sync": eng.last_sync}
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO ledger(seq, entry) VALUES (?, ?)",
                                [(e["seq"], json.dumps(e)) for e in new_entries])
            self.db.executemany("INSERT OR REPLACE INTO orders(order_id, body) VALUES (?, ?)",
                                [(o.order_id, _order_to_json(o)) for o in changed])
            self.db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                                [(k, json.dumps(v)) for k, v in meta.items()])
        self.saved_seq = len(eng.book.entries)
        self._saved_max_oid = eng.next_order_id - 1
        self._open_at_save = set(eng.open)

    def load(self, sim: Simulator) -> bool:
        meta = {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta")}
        if not meta:
            self.save(sim)
            return False
        eng = sim.engine
        with eng.lock:
            entries = [json.loads(e) for (e,) in self.db.execute("SELECT entry FROM ledger ORDER BY seq")]
            if [e["seq"] for e in entries] != list(range(1, len(entries) + 1)):
                raise StateError(f"{self.path}: ledger sequence has gaps; refusing to load a damaged state")
            eng.reset({}, int(meta["last_sync"]))
            eng.book.entries = entries
            for e in entries:
                if e["kind"] == "balance":
                    a = e["asset"]
                    eng.book.free[a] = eng.book.free.get(a, ZERO) + Decimal(e["free"])
                    eng.book.locked[a] = eng.book.locked.get(a, ZERO) + Decimal(e["locked"])
            for (body,) in self.db.execute("SELECT body FROM orders ORDER BY order_id"):
                o = _order_from_json(body)
                eng.orders[o.order_id] = o
                eng.by_symbol.setdefault(o.symbol, []).append(o)
                eng.trades_by_symbol.setdefault(o.symbol, []).extend(o.trades)
                eng.latest_by_cid[(o.symbol, o.client_order_id)] = o.order_id
                if o.is_open:
                    eng.open[o.order_id] = o
                    eng.open_by_cid[o.client_order_id] = o.order_id
            for trades in eng.trades_by_symbol.values():
                trades.sort(key=lambda t: t.id)
            eng.next_order_id, eng.next_trade_id = int(meta["next_order_id"]), int(meta["next_trade_id"])
            if sim.clock.now_ms() < int(meta["now_ms"]):
                sim.clock.set(int(meta["now_ms"]))
            self.saved_seq = len(entries)
            self._saved_max_oid = eng.next_order_id - 1
            self._open_at_save = set(eng.open)
        return True
