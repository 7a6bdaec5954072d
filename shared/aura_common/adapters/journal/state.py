"""The account-state half of the writer API: positions, equity, the kill switch, config versions, events.

A mixin of ``Journal`` (writer.py), split out to keep modules small; it uses the journal's connection,
clock and ``transaction()``. Each method is one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, ContextManager

from aura_common.adapters.clock import Clock
from aura_common.adapters.journal import queries as q
from aura_common.adapters.journal.codec import dec_to_text, fields_to_json, opt_dec_to_text
from aura_common.adapters.journal.records import (
    ConfigVersion, EquitySnapshot, Event, KillSwitch, KillSwitchChange, KillSwitchState, Position, PositionSnapshot,
)


class AccountStateWriter:
    _conn: sqlite3.Connection
    _clock: Clock

    def transaction(self) -> ContextManager[None]:  # provided by Journal
        raise NotImplementedError

    def _x(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, tuple(args))

    # --- positions and equity -----------------------------------------------------------------------------
    def record_positions(self, positions: Iterable[Position], source: str,
                         cycle_key: str | None = None) -> PositionSnapshot:
        """The full set of positions at this moment (an empty set means flat)."""
        items = list(positions)
        symbols = [p.symbol for p in items]
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"position snapshot lists a symbol twice: {sorted(symbols)}")
        with self.transaction():
            sid = self._x("INSERT INTO position_snapshots (ts_ms, source, cycle_key) VALUES (?, ?, ?)",
                          (self._clock.now_ms(), source, cycle_key)).lastrowid
            for p in items:
                self._x("INSERT INTO positions VALUES (?, ?, ?, ?, ?)",
                        (sid, p.symbol, dec_to_text(p.qty, f"{p.symbol} qty"),
                         opt_dec_to_text(p.entry_price, f"{p.symbol} entry"),
                         opt_dec_to_text(p.mark_price, f"{p.symbol} mark")))
            return q.latest_positions(self._conn)

    def latest_positions(self) -> PositionSnapshot | None:
        return q.latest_positions(self._conn)

    def record_equity(self, equity: Decimal, cash: Decimal, *, peak: Decimal | None = None,
                      cycle_key: str | None = None) -> EquitySnapshot:
        """Equity in the quote asset; ``peak`` defaults to the high-water mark so far (including this one)."""
        with self.transaction():
            prev = q.latest_equity(self._conn)
            if peak is None:
                peak = equity if prev is None else max(prev.peak, equity)
            self._x("INSERT INTO equity_snapshots (ts_ms, equity, cash, peak, cycle_key) VALUES (?, ?, ?, ?, ?)",
                    (self._clock.now_ms(), dec_to_text(equity, "equity"), dec_to_text(cash, "cash"),
                     dec_to_text(peak, "peak"), cycle_key))
            return q.latest_equity(self._conn)

    def latest_equity(self) -> EquitySnapshot | None:
        return q.latest_equity(self._conn)

    def equity_curve(self, since_ms: int | None = None) -> list[EquitySnapshot]:
        """Equity snapshots from ``since_ms`` on (local time, inclusive; all when None), oldest first."""
        return q.equity_curve(self._conn, since_ms)

    # --- kill switch --------------------------------------------------------------------------------------
    def kill_switch(self) -> KillSwitch:
        return q.kill_switch(self._conn)

    def trip_kill_switch(self, reason: str, actor: str = "trader") -> KillSwitch:
        """Halt trading. Tripping a tripped switch keeps the first trip's time and reason."""
        with self.transaction():
            if q.kill_switch(self._conn).state is KillSwitchState.ARMED:
                now = self._clock.now_ms()
                self._x("UPDATE risk_state SET kill_switch = 'tripped', tripped_ms = ?, reason = ?, updated_ms = ?",
                        (now, reason, now))
                self._x("INSERT INTO kill_switch_history (ts_ms, action, reason, actor) VALUES (?, 'trip', ?, ?)",
                        (now, reason, actor))
            return q.kill_switch(self._conn)

    def reset_kill_switch(self, reason: str, actor: str) -> KillSwitch:
        """Re-arm after a trip; the reset (time, reason, who) is kept in the history. No-op when armed."""
        if not reason.strip():
            raise ValueError("a kill-switch reset needs a reason")
        with self.transaction():
            if q.kill_switch(self._conn).state is KillSwitchState.TRIPPED:
                now = self._clock.now_ms()
                self._x("UPDATE risk_state SET kill_switch = 'armed', tripped_ms = NULL, reason = NULL, updated_ms = ?",
                        (now,))
                self._x("INSERT INTO kill_switch_history (ts_ms, action, reason, actor) VALUES (?, 'reset', ?, ?)",
                        (now, reason, actor))
            return q.kill_switch(self._conn)

    def kill_switch_history(self) -> list[KillSwitchChange]:
        return q.kill_switch_history(self._conn)

    # --- config versions and events -----------------------------------------------------------------------
    def record_config_version(self, version: str, content: Mapping[str, Any]) -> bool:
        """Record the effective (redacted) config when it differs from the current one. True if recorded."""
        with self.transaction():
            current = q.current_config_version(self._conn)
            if current is not None and current.version == version:
                return False
            self._x("INSERT INTO config_versions (version, applied_ms, content) VALUES (?, ?, ?)",
                    (version, self._clock.now_ms(), fields_to_json(content)))
            return True

    def current_config_version(self) -> ConfigVersion | None:
        return q.current_config_version(self._conn)

    def append_event(self, tag: str, fields: Mapping[str, Any] | None = None, *, cycle_key: str | None = None) -> int:
        """Append one fact (e.g. a risk-gate decision). Fields are JSON; registered secrets are removed."""
        with self.transaction():
            return self._x("INSERT INTO events (ts_ms, tag, cycle_key, fields) VALUES (?, ?, ?, ?)",
                           (self._clock.now_ms(), tag, cycle_key, fields_to_json(fields or {}))).lastrowid

    def events(self, tag: str | None = None, since_ms: int | None = None, limit: int = 1000) -> list[Event]:
        return q.events(self._conn, tag, since_ms, limit)
