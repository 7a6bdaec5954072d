"""One trader tick, in the fixed order of the split (ARCHITECTURE.md, "The life of a cycle"):

    1. strategy = reloader.current()                     hot reload (T-risk)
    2. account  = account_sync.sync()                    behind the sync guard (T-risk)
    3. risk     = risk_ticker.tick(account, now, ...)    kill switch, SL/TP (T-risk)
    4. risk exits / cancellations executed               journal first, idempotent (execution.py)
    5. the rebalance when due and the account read was accepted: with the kill switch tripped it runs sells only,
       and symbols today's risk exits sold are not bought back (core/rebalance.py, as the backtester)
    6. position snapshot + journal snapshot copy every ``snapshot_interval_seconds``; metrics

Risk exits live in a per-day risk cycle (``risk-YYYY-MM-DD``), begun at the day's first tick (the risk tick's
equity snapshot refers to it) and finished at the next day's. Older cycles still RUNNING that are neither today's
rebalance nor today's risk cycle are *superseded*: their never-sent orders are SKIPPED, their in-flight ones
resolved by lookup (not found after the lag window → EXPIRED, never resent), then they finish FAILED.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone

from aura_common.adapters.journal import CycleStatus, SnapshotError
from aura_common.adapters.logs import event
from aura_common.core.intents import is_aura_order
from aura_common.domain import OrderReport, OrderStatus, Side, Symbol

from aura_trader.execution import Executor
from aura_trader.ports import TickJournal, TickMetrics
from aura_trader.positions import held_positions
from aura_trader.rebalance import Rebalancer

log = logging.getLogger("aura_trader.cycle")
# a risk exit's reason (risk.py) -> the post-plan step's forced reason (core/rebalance.py)
_EXIT_REASON = {"stop_loss": "stop_loss", "take_profit": "take_profit", "kill_switch_liquidate": "kill_switch"}


def risk_cycle_key(now_ms: int) -> str:
    return "risk-" + datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


class TickRunner:
    def __init__(self, *, clock, journal: TickJournal, broker, executor: Executor, rebalancer: Rebalancer, reloader,
                 account_sync, risk_ticker, metrics: TickMetrics | None, snapshots_dir: str,
                 snapshot_interval_s: float,
                 crash=None, monotonic: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.clock, self.journal, self.broker, self.executor = clock, journal, broker, executor
        self.rebalancer, self.reloader, self.account_sync, self.risk_ticker = rebalancer, reloader, account_sync, risk_ticker
        self.metrics, self.snapshots_dir, self.snapshot_interval_ms = metrics, snapshots_dir, int(snapshot_interval_s * 1000)
        # ``clock`` is the schedule's (the venue's, against a simulator replaying another year); metric timestamps
        # are wall time (unix seconds), what Prometheus' time() and the AuraCycleOverdue alert compare them with
        self.crash, self._mono, self._wall = crash, monotonic, wall_clock
        self._last_snapshot_ms: int | None = None

    def tick(self) -> str:
        """One tick; returns the rebalance cycle's status after it (or ``idle``)."""
        started = self._mono()
        now = self.clock.now_ms()
        strategy = self.reloader.current()
        self.rebalancer.config_version = self.reloader.version  # a hot reload changes what cycles are journaled with
        account = self.account_sync.sync()
        risk_key = self._risk_cycle(now)
        risk = self.risk_ticker.tick(account, now, strategy, risk_key)
        if risk.cancel_open_orders:
            self._cancel_open_orders()
        if risk.exit_intents:
            self._run_risk_exits(risk_key, risk)
        elif self.journal.orders_of_cycle(risk_key):
            self.executor.run(risk_key)  # anything a crash left in flight
        status = "idle"
        due = self.rebalancer.due(now)
        if due is not None:
            self._supersede(keep={due.key, risk_key})
            if not account.accepted:
                event(log, "REBALANCE_DEFERRED", cycle=due.key, reason=f"account_sync_{account.reason or 'rejected'}")
                status = "deferred"
            else:
                if risk.kill_switch_active:  # the one post-plan policy (core/rebalance.py): sells only
                    event(log, "REBALANCE_BLOCKED", cycle=due.key, reason="kill_switch_tripped", scope="entries")
                status = self.rebalancer.run(due, strategy, now, blocked=risk.kill_switch_active,
                                             stopped=self._stopped_today(risk_key))
                if status == CycleStatus.DONE.value:
                    self._record_positions(due.key)
                    if self.metrics is not None:
                        self.metrics.rebalanced(self._wall())
        self._snapshot(now)
        if self.metrics is not None:
            self.metrics.set_venue_backoff(getattr(self.broker, "held_back_seconds", 0.0))
            self.metrics.cycle_finished(self._mono() - started, success=status not in ("blocked",),
                                        finished_at_s=self._wall())
        return status

    # --- risk ---------------------------------------------------------------------------------------------
    def _risk_cycle(self, now_ms: int) -> str:
        key = risk_cycle_key(now_ms)
        cycle = self.journal.cycle(key)
        if cycle is None:
            self.journal.begin_cycle(key, plan_hash="risk")
        return key

    def _stopped_today(self, risk_key: str) -> dict[Symbol, str]:
        """Symbols today's risk exits sold (or are selling): the rebalance of the same UTC day does not buy them
        back (the backtester's "no re-entry today"). Reason: the exit intent's (stop_loss, take_profit, ...)."""
        out: dict[Symbol, str] = {}
        for order in self.journal.orders_of_cycle(risk_key):
            if order.side is Side.SELL and order.status is not OrderStatus.SKIPPED:
                intent = self.journal.intent(order.client_order_id)
                out[Symbol(order.symbol)] = _EXIT_REASON.get(intent.reason if intent is not None else "", "stop_loss")
        return out

    def _run_risk_exits(self, key: str, risk) -> None:
        reasons = {it.symbol: risk.reasons.get(it.client_order_id, "risk_exit") for it in risk.exit_intents}
        fresh = [it for it in risk.exit_intents if self.journal.order(it.client_order_id) is None]
        if fresh:
            self.executor.record(key, fresh, reasons=reasons)
        self.executor.run(key)
        self._record_positions(key)

    def _cancel_open_orders(self) -> None:
        for venue in self.broker.open_orders():
            if not is_aura_order(venue.client_order_id):
                continue
            done = self.broker.cancel_order(venue.symbol, venue.client_order_id)
            event(log, "ORDER_CANCEL", client_order_id=venue.client_order_id, symbol=venue.symbol,
                  reason="kill_switch")
            order = self.journal.order(venue.client_order_id)
            if order is not None and isinstance(done, OrderReport):
                self.executor.apply(order, done)

    # --- old cycles -----------------------------------------------------------------------------------------
    def _supersede(self, keep: set[str]) -> None:
        for cycle in self.journal.running_cycles():
            if cycle.cycle_key in keep or not self._orders_settled(cycle.cycle_key, supersede=True):
                continue  # today's, or an order still in flight: look again next tick
            if cycle.cycle_key.startswith("risk-"):  # a past day's risk exits: their day is over
                self.journal.finish_cycle(cycle.cycle_key, CycleStatus.DONE)
                continue
            self.journal.finish_cycle(cycle.cycle_key, CycleStatus.FAILED,
                                      detail={"reason": f"superseded by {sorted(keep)[0]}"})
            event(log, "CYCLE_SUPERSEDED", cycle=cycle.cycle_key)

    def _orders_settled(self, key: str, supersede: bool) -> bool:
        settled = True
        for order in self.journal.orders_of_cycle(key):
            if order.status is OrderStatus.PENDING and supersede:
                self.journal.update_order(order.client_order_id, OrderStatus.SKIPPED,
                                          reason="never sent; its cycle was superseded")
            elif order.status is OrderStatus.UNKNOWN and supersede:
                found = self.executor.lookup(order)
                if isinstance(found, OrderReport):
                    order = self.executor.apply(order, found)
                elif found == "not_found":
                    self.journal.update_order(order.client_order_id, OrderStatus.EXPIRED,
                                              reason="not found on the venue after the status-lag window; its "
                                                     "cycle was superseded, not resent")
                    continue
            elif not order.status.is_terminal:
                order = self.executor.settle(order)
            settled = settled and (order.status.is_terminal or order.status is OrderStatus.PENDING)
        return settled

    # --- snapshots ------------------------------------------------------------------------------------------
    def _record_positions(self, cycle_key: str | None) -> None:
        specs = self.broker.markets()
        balances = self.broker.balances()
        held = held_positions(self.journal, balances, specs, self.rebalancer.universe())
        self.journal.record_positions([h.position for h in held], source="fills", cycle_key=cycle_key)

    def _snapshot(self, now_ms: int) -> None:
        """A snapshot copy for readers (status, optimizer). Failing to write one (a full or read-only disk) never
        stops trading: ``[JOURNAL_SNAPSHOT_FAILED]``, a journal event, ``aura_snapshot_failures_total`` (alert
        ``AuraSnapshotsFailing``), and the next tick tries again. The journal itself is untouched."""
        if self._last_snapshot_ms is not None and now_ms - self._last_snapshot_ms < self.snapshot_interval_ms:
            return
        hook = (lambda: self.crash.reach("snapshot_writing")) if self.crash is not None else None
        try:
            self.journal.snapshot(self.snapshots_dir, before_publish=hook)
        except SnapshotError as exc:
            event(log, "JOURNAL_SNAPSHOT_FAILED", logging.ERROR, dir=self.snapshots_dir, problem=str(exc)[:300],
                  action="retry_next_tick")
            self.journal.append_event("JOURNAL_SNAPSHOT_FAILED", {"dir": str(self.snapshots_dir),
                                                                  "problem": str(exc)[:300]})
            if self.metrics is not None:
                self.metrics.snapshot_failed()
            return
        self._last_snapshot_ms = now_ms


__all__ = ["TickRunner", "risk_cycle_key"]
