"""What the journal gives back: frozen records with domain values (Decimal, enums), never raw rows.

Times are integer UTC epoch milliseconds. ``*_ms`` fields without a prefix are local (our clock);
``venue_*_ms`` fields are the exchange's own timestamps. The two are never mixed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aura_common.domain import OrderStatus, OrderType, Side

__all__ = [  # the package re-exports exactly these (aura_common.adapters.journal)
    "ConfigVersion", "Cycle", "CycleStatus", "EquitySnapshot", "Event", "Fill", "Intent", "KillSwitch",
    "KillSwitchChange", "KillSwitchState", "Order", "Position", "PositionSnapshot", "SymbolCosts",
]


class CycleStatus(str, enum.Enum):
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"  # nothing to do (e.g. kill switch tripped, data stale): recorded, not traded

    @property
    def is_finished(self) -> bool:
        return self is not CycleStatus.RUNNING


class KillSwitchState(str, enum.Enum):
    ARMED = "armed"      # trading allowed
    TRIPPED = "tripped"  # trading halted until an operator resets it


@dataclass(frozen=True, slots=True)
class Cycle:
    cycle_key: str  # e.g. "2024-05-01T00:15Z"
    status: CycleStatus
    plan_hash: str | None
    config_version: str | None
    started_ms: int
    finished_ms: int | None
    attempts: int  # how many times begin_cycle was called for this key (1 = no restart)
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Intent:
    """What the plan decided to send, journaled before anything is sent."""

    client_order_id: str
    cycle_key: str
    symbol: str
    side: Side
    order_type: OrderType
    qty: Decimal
    limit_price: Decimal | None
    ref_price: Decimal | None  # the price the plan used: the reference for realised slippage
    reason: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class Order:
    """The journal's view of one order (one per intent, keyed by client order id)."""

    client_order_id: str
    cycle_key: str
    symbol: str
    side: Side
    qty: Decimal
    status: OrderStatus
    exchange_order_id: str | None
    filled_qty: Decimal
    avg_price: Decimal | None
    created_ms: int
    sent_ms: int | None
    updated_ms: int
    venue_update_ms: int | None
    reason: str | None
    request_ts_ms: int | None = None  # the last send's signed timestamp (request clock); None = never sent, or
    recv_window_ms: int | None = None  # sent before schema version 4 (then the old lag rule applies)


@dataclass(frozen=True, slots=True)
class Fill:
    symbol: str
    trade_id: str  # the exchange's trade id (unique per symbol on Binance)
    client_order_id: str | None  # None for a fill of an order we never sent (adopted in reconciliation)
    exchange_order_id: str | None
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    venue_ms: int  # trade time on the exchange
    recorded_ms: int  # when we journaled it

    @property
    def quote_qty(self) -> Decimal:
        return self.qty * self.price


@dataclass(frozen=True, slots=True)
class Position:
    symbol: str
    qty: Decimal
    entry_price: Decimal | None = None
    mark_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    snapshot_id: int
    ts_ms: int
    source: str  # e.g. "sync", "fills", "boot"
    cycle_key: str | None
    positions: tuple[Position, ...]


@dataclass(frozen=True, slots=True)
class EquitySnapshot:
    ts_ms: int
    equity: Decimal  # total account value in the quote asset
    cash: Decimal  # free quote asset
    peak: Decimal  # the high-water mark the drawdown is measured from
    cycle_key: str | None

    @property
    def drawdown_pct(self) -> Decimal:
        if self.peak <= 0:
            return Decimal(0)
        return max(Decimal(0), (self.peak - self.equity) / self.peak * 100)


@dataclass(frozen=True, slots=True)
class KillSwitch:
    state: KillSwitchState
    tripped_ms: int | None
    reason: str | None
    updated_ms: int

    @property
    def tripped(self) -> bool:
        return self.state is KillSwitchState.TRIPPED


@dataclass(frozen=True, slots=True)
class KillSwitchChange:
    ts_ms: int
    action: str  # "trip" | "reset"
    reason: str
    actor: str


@dataclass(frozen=True, slots=True)
class ConfigVersion:
    version: str  # the config hash (aura_common.config.config_hash)
    applied_ms: int
    content: dict[str, Any]  # the redacted effective configuration


@dataclass(frozen=True, slots=True)
class Event:
    event_id: int
    ts_ms: int
    tag: str
    cycle_key: str | None
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SymbolCosts:
    """Realised trading costs of one symbol, from fills and their intents' reference prices."""

    symbol: str
    fills: int
    traded_quote: Decimal
    fees: dict[str, Decimal]  # fee asset -> amount
    slippage_quote: Decimal  # > 0: we paid more (bought higher / sold lower) than the plan's reference price
    slippage_base_quote: Decimal  # reference notional (ref price x qty) of the fills that have a reference price
    # the fees valued in the symbol's quote asset: quote fees as they are, base fees (Binance's BUY commission) at
    # their fill's price; None when some fee was paid in a third asset (BNB) that the journal has no price for
    fees_in_quote: Decimal | None = None

    @property
    def slippage_bps(self) -> Decimal | None:
        if self.slippage_base_quote <= 0:
            return None
        return self.slippage_quote / self.slippage_base_quote * 10_000
