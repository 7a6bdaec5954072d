"""The ports the trader's shell depends on, as Protocols: what a tick (``cycle.py``), a rebalance (``rebalance.py``)
and the position rebuild (``positions.py``) ask of the journal and of the metrics.

The SQLite ``Journal`` and ``TraderMetrics`` implement them (mypy checks it where ``app.py`` wires them); a test
may pass any other implementation. Each port lists only what its user calls, so a change to the journal's wider
API is not a change to what a tick depends on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from aura_common.adapters.journal import Cycle, CycleStatus, Event, Fill, Intent, Order, Position, PositionSnapshot
from aura_common.core.risk import GateResult
from aura_common.domain import OrderStatus


class CycleJournal(Protocol):
    """What a rebalance reads and records: its cycle row, its orders, the REGIME/GATE/DATA_REFUSED events."""

    def cycle(self, cycle_key: str) -> Cycle | None: ...

    def begin_cycle(self, cycle_key: str, plan_hash: str | None = None,
                    config_version: str | None = None) -> Cycle: ...

    def finish_cycle(self, cycle_key: str, status: CycleStatus, plan_hash: str | None = None,
                     detail: Mapping[str, Any] | None = None) -> Cycle: ...

    def orders_of_cycle(self, cycle_key: str) -> list[Order]: ...

    def events(self, tag: str | None = None, since_ms: int | None = None, limit: int = 1000) -> list[Event]: ...

    def append_event(self, tag: str, fields: Mapping[str, Any] | None = None, *,
                     cycle_key: str | None = None) -> int: ...


class PositionsJournal(Protocol):
    """What rebuilding positions reads: the fills and the last position snapshot."""

    def fills(self, symbol: str | None = None, since_ms: int | None = None,
              client_order_id: str | None = None) -> list[Fill]: ...

    def latest_positions(self) -> PositionSnapshot | None: ...


class TickJournal(CycleJournal, PositionsJournal, Protocol):
    """What a tick needs besides: single orders, the cycles left running, position snapshots, the snapshot copy."""

    def order(self, client_order_id: str) -> Order | None: ...

    def intent(self, client_order_id: str) -> Intent | None: ...

    def running_cycles(self) -> list[Cycle]: ...

    def update_order(self, client_order_id: str, status: OrderStatus, *, exchange_order_id: str | None = None,
                     filled_qty: Decimal | None = None, avg_price: Decimal | None = None,
                     venue_ms: int | None = None,
                     reason: str | None = None) -> Order: ...

    def record_positions(self, positions: Iterable[Position], source: str,
                         cycle_key: str | None = None) -> PositionSnapshot: ...

    def snapshot(self, dest_dir: str | os.PathLike[str], keep: int = 3,
                 before_publish: Callable[[], None] | None = None) -> Path: ...


class RebalanceMetrics(Protocol):
    """A rebalance's gauges and counters: the gate's decision, the regime, the data's age."""

    def gate(self, result: GateResult) -> None: ...

    def set_regime(self, regime: str | Enum) -> None: ...

    def set_data_freshness(self, ages_seconds: Mapping[str, float]) -> None: ...


class TickMetrics(Protocol):
    """A tick's: the cycle's duration and success, the last rebalance, the venue's back-off, snapshot failures."""

    def rebalanced(self, at_s: float) -> None: ...

    def set_venue_backoff(self, seconds: float) -> None: ...

    def cycle_finished(self, duration_seconds: float, *, success: bool, finished_at_s: float) -> None: ...

    def snapshot_failed(self) -> None: ...
