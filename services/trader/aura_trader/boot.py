"""Boot reconciliation: start-up IS recovery. Runs once before the first tick; the trader refuses to trade when it
fails, and says why.

1. every journaled order that is not terminal is looked up on the venue by client order id; what the venue knows is
   recorded (status and fills) — ``core.reconcile.plan_order_recovery`` decides;
2. AURA-prefixed open orders on the venue that the journal lacks are cancelled (the documented policy: we cannot
   know the intent behind them);
3. fills the journal missed (an order whose filled quantity exceeds its journaled fills) are fetched and recorded;
4. positions rebuilt from the journal's fills are checked against the venue's balances (the venue holding less
   than the journal is a mismatch: reconciliation fails; more is unmanaged balance, left alone);
5. every position gets its entry price back from the latest position snapshot or from the fills
   (``[ENTRY_RECOVER]``) and a ``boot`` position snapshot is written, so stop-losses stay reachable.

PENDING orders (never sent) and UNKNOWN orders the venue does not know yet are left to the executor, which resends
only once a "not found" is definitive (the request clock past the journaled timestamp + recvWindow + status lag).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import TypeVar

from aura_common.adapters.broker import Broker, BrokerError, TransientError
from aura_common.adapters.journal import Journal, JournalError
from aura_common.adapters.logs import event
from aura_common.core.reconcile import JournalOrder, check_positions, plan_order_recovery
from aura_common.domain import OrderStatus, Symbol

from aura_trader.execution import Executor
from aura_trader.positions import held_positions, journal_lots

log = logging.getLogger("aura_trader.boot")
T = TypeVar("T")


MISMATCH_READS = 5  # non-empty balance reads that must disagree with the journal before boot refuses to trade
MISMATCH_MAX_READS = 12  # reads in all (an EMPTY account answer confirms nothing: it is the venue's glitch)
MISMATCH_FIRST_WAIT_S = 0.5  # then 1, 2, 4, 4, ... s: five reads span 7.5 s of wall time, twelve about 36 s


class ReconcileError(RuntimeError):
    pass


@dataclass
class BootReport:
    ok: bool = True
    reason: str = ""
    orders_refreshed: int = 0
    fills_recovered: int = 0
    adopted: int = 0
    cancelled: int = 0
    positions: int = 0
    still_unknown: int = 0
    entries: dict[str, Decimal | None] = field(default_factory=dict)


def retry_read(fn: Callable[[], T], what: str, attempts: int = 5, wait: Callable[[float], None] = time.sleep,
               first: float = 0.25) -> T:
    """Retry an idempotent read on TransientError with exponential backoff; the last failure propagates."""
    delay = first
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except TransientError as exc:
            if attempt == attempts:
                raise ReconcileError(f"{what} failed {attempts} times: {exc}") from None
            event(log, "READ_RETRY", level=logging.WARNING, what=what, attempt=attempt, reason=str(exc)[:160])
            wait(delay)
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


class Boot:
    def __init__(self, broker: Broker, journal: Journal, executor: Executor, clock, quote_asset: str,
                 managed: Iterable[str], lag_ms: int, wait: Callable[[float], None] = time.sleep) -> None:
        self.broker, self.journal, self.executor, self.clock = broker, journal, executor, clock
        self.quote, self.managed, self.lag_ms, self._wait = quote_asset, set(managed), lag_ms, wait

    def reconcile(self) -> BootReport:
        report = BootReport()
        try:
            self._orders(report)
            self._fills(report)
            self._positions(report)
        except (ReconcileError, BrokerError, JournalError, ValueError) as exc:
            report.ok, report.reason = False, str(exc)  # one sentence for the operator, no exception name
        return report

    def _read(self, fn: Callable[[], T], what: str) -> T:
        return retry_read(fn, what, wait=self._wait)

    def _orders(self, report: BootReport) -> None:
        self._read(self.broker.markets, "loading markets")
        pending = self.journal.open_orders()
        request_now = self.executor.request_clock.now_ms()  # before the lookups: their answers postdate it
        lookups = {o.client_order_id: self._read(partial(self.broker.get_order, Symbol(o.symbol), o.client_order_id),
                                                 f"looking up order {o.client_order_id}") for o in pending}
        venue_open = self._read(lambda: self.broker.open_orders(), "listing open orders")
        plan = plan_order_recovery(
            [JournalOrder(o.client_order_id, o.symbol, o.side, o.qty, o.status, o.sent_ms, o.request_ts_ms,
                          o.recv_window_ms) for o in pending],
            lookups, venue_open, now_ms=self.clock.now_ms(), lag_ms=self.lag_ms, request_now_ms=request_now)
        by_id = {o.client_order_id: o for o in pending}
        for venue in plan.updates:
            before = by_id[venue.client_order_id]
            after = self.executor.apply(before, venue)
            report.orders_refreshed += 1
            if before.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN):
                report.adopted += 1
            event(log, "RECONCILE_ORDER", client_order_id=venue.client_order_id, symbol=venue.symbol,
                  journal=before.status.value, venue=venue.status.value, now=after.status.value)
        report.still_unknown = len(plan.still_unknown) + sum(
            1 for c in plan.resendable if by_id[c].status is OrderStatus.UNKNOWN)
        for stray in plan.cancel:
            self._read(partial(self.broker.cancel_order, stray.symbol, stray.client_order_id),
                       f"cancelling stray order {stray.client_order_id}")
            report.cancelled += 1
            self.journal.append_event("RECONCILE_CANCEL", {"client_order_id": stray.client_order_id,
                                                           "symbol": stray.symbol, "side": stray.side.value,
                                                           "qty": str(stray.quantity)})
            event(log, "RECONCILE_CANCEL", client_order_id=stray.client_order_id, symbol=stray.symbol,
                  reason="aura_prefix_unknown_to_journal")

    def _fills(self, report: BootReport) -> None:
        for order in self.journal.orders_missing_fills():
            report.fills_recovered += self.executor.ensure_fills(order)

    def _positions(self, report: BootReport) -> None:
        specs = self._read(self.broker.markets, "loading markets")
        base_of: dict[str, str] = {s: spec.base_asset for s, spec in specs.items()}
        # a mismatch is CONFIRMED by independent reads spread over a few seconds before boot refuses to trade:
        # one empty or short answer (a venue glitch right after a fill, a cache) is not the account. Between the
        # reads, orders still in flight (journaled, not yet seen by the venue: a late arrival) are looked up again:
        # one that lands meanwhile explains the difference once its fills are recorded
        delay = MISMATCH_FIRST_WAIT_S
        confirmed = 0
        for attempt in range(1, MISMATCH_MAX_READS + 1):
            lots = journal_lots(self.journal, specs)
            mine: dict[str, Decimal] = {}
            for lot in lots.values():
                mine[base_of[lot.symbol]] = mine.get(base_of[lot.symbol], Decimal(0)) + lot.qty
            tolerance = {specs[Symbol(s)].base_asset: specs[Symbol(s)].step_size for s in lots}
            balances = self._read(self.broker.balances, "reading balances")
            venue = {a: b.total for a, b in balances.items() if a != self.quote}
            mismatches, _unmanaged = check_positions(mine, venue, tolerance)
            if not mismatches:
                break
            if any(b.total > 0 for b in balances.values()):
                confirmed += 1  # an account answered with nothing at all is no evidence either way
            if confirmed >= MISMATCH_READS or attempt == MISMATCH_MAX_READS:
                raise ReconcileError(f"positions do not match the venue in {attempt} reads: "
                                     + "; ".join(mismatches))
            event(log, "RECONCILE_RECHECK", level=logging.WARNING, attempt=attempt, of=MISMATCH_READS,
                  wait_s=delay, mismatch="; ".join(mismatches)[:300])
            self._wait(delay)
            delay = min(delay * 2, 4.0)
            if self.journal.open_orders():
                self._orders(report)
                self._fills(report)
        held = held_positions(self.journal, balances, specs, self.managed, lots=lots)
        for h in held:
            p = h.position
            event(log, "ENTRY_RECOVER", symbol=p.symbol, qty=p.qty, entry=p.entry_price, source=h.source)
            report.entries[p.symbol] = p.entry_price
        positions = [h.position for h in held]
        self.journal.record_positions(positions, source="boot")
        report.positions = len(positions)
