"""Read-only access to a journal snapshot copy (``aura status``, the optimizer). Never the live file.

Opened with a ``mode=ro`` URI, so nothing here can change the copy. Any SQLite failure (a corrupt or
truncated copy, a file that is not a journal) becomes one SnapshotError naming the file.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from aura_common.adapters.journal import queries as q
from aura_common.adapters.journal.errors import JournalSchemaError, SnapshotError
from aura_common.adapters.journal.records import (
    ConfigVersion, Cycle, EquitySnapshot, Event, Fill, KillSwitch, KillSwitchChange, Order, PositionSnapshot,
    SymbolCosts,
)
from aura_common.adapters.journal.schema import SCHEMA_VERSION, check_journal
from aura_common.adapters.journal.snapshots import latest_snapshot

T = TypeVar("T")


class JournalReader:
    """Queries over one snapshot copy. Use ``JournalReader.open(path)`` or ``JournalReader.latest(dir)``."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path, self._conn = path, conn

    @classmethod
    def open(cls, path: str | os.PathLike[str], verify: bool = True) -> JournalReader:
        """Open a copy read-only; ``verify`` runs ``PRAGMA quick_check`` first (corrupt data is worse than none)."""
        path = Path(path)
        if not path.is_file():
            raise SnapshotError(str(path), "file not found")
        try:
            conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            raise SnapshotError(str(path), f"cannot open: {exc}") from None
        try:
            version = check_journal(conn, str(path))
        except JournalSchemaError as exc:
            conn.close()
            raise SnapshotError(str(path), str(exc).removeprefix(f"{path} ")) from None
        except sqlite3.Error as exc:
            conn.close()
            raise SnapshotError(str(path), f"unreadable: {exc}") from None
        if version != SCHEMA_VERSION:
            conn.close()
            raise SnapshotError(str(path), f"journal schema version {version}, this code reads {SCHEMA_VERSION}")
        reader = cls(path, conn)
        if verify:
            check = reader._q(lambda c: c.execute("PRAGMA quick_check").fetchone()[0])
            if check != "ok":
                conn.close()
                raise SnapshotError(str(path), f"corrupt: {check}")
        return reader

    @classmethod
    def latest(cls, snapshots_dir: str | os.PathLike[str], verify: bool = True) -> JournalReader:
        """The newest copy in the snapshots directory (SnapshotMissingError when there is none yet)."""
        return cls.open(latest_snapshot(snapshots_dir), verify)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> JournalReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def taken_ms(self) -> int:
        """When the copy was written (its modification time), UTC epoch ms."""
        return int(self.path.stat().st_mtime * 1000)

    def _q(self, fn: Callable[..., T], *args: object) -> T:
        try:
            return fn(self._conn, *args)
        except sqlite3.Error as exc:
            raise SnapshotError(str(self.path), f"unreadable: {exc}") from None

    def integrity_check(self) -> str:
        """``ok`` or SQLite's first complaint."""
        return self._q(lambda c: c.execute("PRAGMA integrity_check").fetchone()[0])

    def last_cycle(self, include_risk: bool = False) -> Cycle | None:
        """The newest rebalance cycle (with ``include_risk``, the per-day risk-exit cycles count too)."""
        return self._q(q.last_cycle, include_risk)

    def cycle(self, cycle_key: str) -> Cycle | None:
        return self._q(q.cycle, cycle_key)

    def latest_equity(self) -> EquitySnapshot | None:
        return self._q(q.latest_equity)

    def equity_curve(self, since_ms: int | None = None) -> list[EquitySnapshot]:
        return self._q(q.equity_curve, since_ms)

    def kill_switch(self) -> KillSwitch:
        return self._q(q.kill_switch)

    def kill_switch_history(self) -> list[KillSwitchChange]:
        return self._q(q.kill_switch_history)

    def latest_positions(self) -> PositionSnapshot | None:
        return self._q(q.latest_positions)

    def open_orders(self) -> list[Order]:
        return self._q(q.open_orders)

    def order(self, client_order_id: str) -> Order | None:
        return self._q(q.order, client_order_id)

    def orders_of_cycle(self, cycle_key: str) -> list[Order]:
        return self._q(q.orders_of_cycle, cycle_key)

    def fills(self, symbol: str | None = None, since_ms: int | None = None) -> list[Fill]:
        return self._q(q.fills, symbol, since_ms)

    def realised_costs(self, since_ms: int | None = None) -> list[SymbolCosts]:
        return self._q(q.realised_costs, since_ms)

    def current_config_version(self) -> ConfigVersion | None:
        return self._q(q.current_config_version)

    def events(self, tag: str | None = None, since_ms: int | None = None, limit: int = 1000) -> list[Event]:
        return self._q(q.events, tag, since_ms, limit)
