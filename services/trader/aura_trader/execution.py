"""Intents → orders, idempotently. The only module that sends orders.

The protocol for one journaled order (see ARCHITECTURE.md, "The life of an order"):

    PENDING  (journaled, never sent)   sells: clamp to the free balance (balance read retried with backoff);
                                       a balance too small to sell while the journal says we hold a sellable
                                       amount is re-read, and if still small the sell stays PENDING for the next
                                       tick (up to ``sell_confirm_ticks``); dust → SKIPPED; then
                                       mark_order_sent (UNKNOWN) and send
    UNKNOWN  (sent, outcome not seen)  look it up by client order id, with backoff, BEFORE anything else:
                                       found → record it; not found by a lookup made once the request clock
                                       passed the journaled request timestamp + recvWindow + status lag (the
                                       venue refuses the request after timestamp + recvWindow, -1021; an
                                       accepted order may stay invisible for the lag) → resend with the SAME
                                       id; no definitive answer → stays UNKNOWN, the cycle stays RUNNING and the
                                       next tick tries again. Orders journaled without a request timestamp
                                       (before journal schema 4): the old rule, the status lag in wall time
                                       counted from our first lookup.
    NEW / PARTIALLY_FILLED             refreshed by lookup
    terminal                           missing fills are fetched and recorded

Never two live orders for one intent: an order is (re)sent only when the journal says PENDING, or UNKNOWN and the
venue definitively denies it after the lag window. Definitive rejections are journaled with their reason and the
cycle goes on. A FatalBrokerError (auth, configuration) propagates: the cycle stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from aura_common.adapters.broker import (
    Broker,
    DuplicateClientOrderId,
    OutcomeUnknown,
    RateLimited,
    Rejected,
    TransientError,
)
from aura_common.adapters.clock import Clock, SystemClock
from aura_common.adapters.journal import Journal, Order
from aura_common.adapters.logs import event
from aura_common.core.intents import Dust, Intent, client_order_id
from aura_common.core.reconcile import definitive_not_found_at_ms, positions_from_fills
from aura_common.domain import OrderReport, OrderRequest, OrderStatus, Side, Symbol

from aura_trader.crash import CrashHook
from aura_trader.positions import journal_fills

log = logging.getLogger("aura_trader.execution")
DUST_LEG_BASE = 10_000  # dust rows get legs 10000+ so they never collide with sent intents' legs
_OUTCOME = {OrderStatus.FILLED: "filled", OrderStatus.PARTIALLY_FILLED: "partially_filled",
            OrderStatus.REJECTED: "rejected", OrderStatus.UNKNOWN: "unknown", OrderStatus.SKIPPED: "skipped",
            OrderStatus.CANCELED: "cancelled", OrderStatus.EXPIRED: "cancelled"}
_NOT_FOUND = object()
_UNDETERMINED = object()


@dataclass(frozen=True)
class ExecPolicy:
    status_lag_seconds: float = 3.0
    lookup_attempts: int = 6
    read_attempts: int = 5  # balance reads before a sell gives up for this tick (the order stays PENDING)
    first_backoff_seconds: float = 0.25
    max_backoff_seconds: float = 5.0
    max_sends: int = 3  # sends of one order within one settle() call
    confirm_reads: int = 3  # re-reads of a free balance too small for a sell the journal says we can make
    sell_confirm_ticks: int = 5  # ticks such a sell stays PENDING before the small balance counts as confirmed
    fill_price_max_deviation_pct: float = 25.0  # a fill further from the intent's reference price is re-read
    recv_window_ms: int = 5000  # recvWindow of every order request (journaled with its timestamp)


@dataclass
class ExecSummary:
    outcomes: dict[str, int] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.unresolved


class Executor:
    def __init__(self, broker: Broker, journal: Journal, metrics, crash: CrashHook | None = None,
                 policy: ExecPolicy = ExecPolicy(), wait: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic, request_clock: Clock | None = None) -> None:
        """``request_clock`` stamps order requests and judges when a "not found" is definitive: the clock the
        venue checks ``timestamp``/``recvWindow`` against (Binance's server time is UTC: the host clock)."""
        self.broker, self.journal, self.metrics = broker, journal, metrics
        self.crash = crash or CrashHook()
        self.policy, self._wait, self._mono = policy, wait, monotonic
        self.request_clock = request_clock or SystemClock()

    # --- journal first ---------------------------------------------------------------------------------------
    def record(self, cycle_key: str, intents: Sequence[Intent], dust: Sequence[Dust] = (), plan_hash: str = "",
               reasons: Mapping[str, str] | None = None, before: Callable[[], None] | None = None) -> None:
        """Journal every intent (and every dust order as SKIPPED) in ONE transaction, before anything is sent:
        after a crash either the whole batch is there or none of it. ``before`` runs first inside that
        transaction (the cycle row, the plan's regime and gate events)."""
        reasons = reasons or {}
        with self.journal.transaction():
            if before is not None:
                before()
            for it in intents:
                self.journal.record_intent(cycle_key, it.client_order_id, it.symbol, it.side, it.quantity,
                                           ref_price=it.reference_price, reason=reasons.get(it.symbol, ""))
            for i, d in enumerate(dust):
                if d.quantity <= 0:
                    continue
                cid = client_order_id(cycle_key, d.symbol, d.side, d.quantity, plan_hash, DUST_LEG_BASE + i)
                self.journal.record_intent(cycle_key, cid, d.symbol, d.side, d.quantity, reason=d.reason)
                self.journal.update_order(cid, OrderStatus.SKIPPED, reason=d.reason)
        for d in dust:
            event(log, "ORDER_SKIPPED", cycle=cycle_key, symbol=d.symbol, side=d.side.value, qty=d.quantity,
                  reason=d.reason)
            self._count(OrderStatus.SKIPPED)
        self.crash.reach("intent_written")

    # --- the cycle's orders -----------------------------------------------------------------------------------
    def run(self, cycle_key: str) -> ExecSummary:
        """Settle every order of the cycle: sells first (they free cash), then buys, in client-id order."""
        orders = sorted(self.journal.orders_of_cycle(cycle_key),
                        key=lambda o: (o.side is not Side.SELL, o.created_ms, o.client_order_id))
        summary = ExecSummary()
        for order in orders:
            final = self.settle(order)
            key = final.status.value
            summary.outcomes[key] = summary.outcomes.get(key, 0) + 1
            if not final.status.is_terminal:
                summary.unresolved.append(final.client_order_id)
                if final.status is OrderStatus.UNKNOWN:
                    self._count(OrderStatus.UNKNOWN)  # outcome still unknown at the end of this tick
        return summary

    def settle(self, order: Order) -> Order:
        """Drive one order as far as the venue allows now; returns the journal's view afterwards."""
        sends = 0
        while True:
            status = order.status
            if status.is_terminal:
                self.ensure_fills(order)
                return self.journal.order(order.client_order_id) or order
            if status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
                found = self._lookup(order, attempts=1)
                if isinstance(found, OrderReport):
                    return self.apply(order, found)
                return order
            if status is OrderStatus.UNKNOWN:
                found = self._lookup(order, attempts=self.policy.lookup_attempts)
                if isinstance(found, OrderReport):
                    return self.apply(order, found)
                if found is _UNDETERMINED or sends >= self.policy.max_sends:
                    event(log, "ORDER_UNRESOLVED", client_order_id=order.client_order_id, symbol=order.symbol,
                          sends=sends, action="retry_next_tick")
                    return order
                # the venue definitively says it does not exist after the lag window: resend, same id
                order, sent = self._send(order, resend=True)
            else:  # PENDING: never sent
                order, sent = self._send(order, resend=False)
            if not sent:
                return order
            sends += 1

    # --- sending ----------------------------------------------------------------------------------------------
    def _send(self, order: Order, *, resend: bool) -> tuple[Order, bool]:
        cid, symbol = order.client_order_id, Symbol(order.symbol)
        qty = order.qty
        if order.side is Side.SELL:
            clamped = self._clamp_sell(order)
            if clamped is None:
                return (self.journal.order(cid) or order), False
            qty = clamped
        ts, window = self.request_clock.now_ms(), self.policy.recv_window_ms
        if resend:
            self.journal.mark_order_resend(cid, "not found on the venue after timestamp + recvWindow + status lag",
                                           request_ts_ms=ts, recv_window_ms=window)
        else:
            self.journal.mark_order_sent(cid, request_ts_ms=ts, recv_window_ms=window)
        request = OrderRequest(client_order_id=cid, symbol=symbol, side=order.side, quantity=qty,  # type: ignore[arg-type]
                               timestamp_ms=ts, recv_window_ms=window)
        event(log, "ORDER_SEND", client_order_id=cid, symbol=symbol, side=order.side.value, qty=qty,
              resend=resend, cycle=order.cycle_key, timestamp=ts, recv_window_ms=window)
        self.crash.reach("order_in_flight")
        try:
            report = self.broker.place_order(request)
        except (OutcomeUnknown, TransientError) as exc:  # a send never reports plain transient; be safe anyway
            self._error(exc)
            event(log, "ORDER_UNKNOWN", level=logging.WARNING, client_order_id=cid, symbol=symbol,
                  reason=str(exc)[:200], action="lookup")
            return self.journal.mark_order_unknown(cid, str(exc)[:300]), True
        except DuplicateClientOrderId as exc:  # an OPEN order has this id: it is ours; look it up
            self._error(exc)
            event(log, "ORDER_DUPLICATE", level=logging.WARNING, client_order_id=cid, symbol=symbol,
                  action="lookup")
            return self.journal.mark_order_unknown(cid, str(exc)[:300]), True
        except Rejected as exc:
            self._error(exc)
            event(log, "ORDER_REJECTED", level=logging.WARNING, client_order_id=cid, symbol=symbol,
                  reason=str(exc)[:200])
            self._count(OrderStatus.REJECTED)
            return self.journal.update_order(cid, OrderStatus.REJECTED, reason=str(exc)[:300]), False
        self.crash.reach("order_acked")
        return self.apply(self.journal.order(cid) or order, report), False

    def _clamp_sell(self, order: Order) -> Decimal | None:
        """The sell quantity: the order's, clamped to the free balance and floored to the lot step. None when the
        order was closed instead (dust → SKIPPED / REJECTED) or the balance could not be read (stays as it is)."""
        spec = self.broker.markets().get(Symbol(order.symbol))
        if spec is None:
            self._close(order, f"{order.symbol} is not traded on the venue")
            return None
        free = self._free_balance(spec.base_asset)
        if free is None:
            event(log, "ORDER_DEFERRED", client_order_id=order.client_order_id, symbol=order.symbol,
                  reason="balance_unreadable")
            return None
        if free >= order.qty:
            return order.qty
        intent = self.journal.intent(order.client_order_id)
        ref = intent.ref_price if intent and intent.ref_price else Decimal(0)

        def sellable(amount: Decimal) -> bool:
            q = spec.floor_qty(amount)
            return q > 0 and q >= spec.min_qty and not (ref > 0 and q * ref < spec.min_notional)

        if not sellable(free):
            # one empty or short read never drops a sell (a stop-loss exit among them): when the journal says we
            # hold a sellable amount, the answer must be confirmed by further reads, and by the next ticks
            expected = self._expected_holding(spec)
            if sellable(expected):
                free = self._confirm_free(spec.base_asset, lambda f: sellable(f)) or free
                if not sellable(free) and self._deferrals(order) < self.policy.sell_confirm_ticks:
                    event(log, "ORDER_DEFERRED", level=logging.WARNING, client_order_id=order.client_order_id,
                          symbol=order.symbol, reason="balance_unconfirmed", free=free, expected=expected)
                    self.journal.append_event("ORDER_DEFERRED", {
                        "client_order_id": order.client_order_id, "reason": "balance_unconfirmed",
                        "free": str(free), "expected": str(expected)}, cycle_key=order.cycle_key)
                    return None
                if free >= order.qty:
                    return order.qty
        qty = spec.floor_qty(free)
        if not sellable(free):
            self._close(order, f"free {spec.base_asset} {free} is below the minimum order "
                               f"(min_qty {spec.min_qty}, min_notional {spec.min_notional})")
            return None
        event(log, "ORDER_CLAMPED", client_order_id=order.client_order_id, symbol=order.symbol, planned=order.qty,
              free=free, qty=qty)
        self.journal.append_event("ORDER_CLAMPED", {"client_order_id": order.client_order_id,
                                                    "planned": str(order.qty), "free": str(free), "qty": str(qty)},
                                  cycle_key=order.cycle_key)
        return qty

    def _expected_holding(self, spec) -> Decimal:
        """What the journal says we hold of ``spec``'s base asset: its fills net of base fees, or the last position
        snapshot (the venue's quantity at the last accepted sync), whichever is larger."""
        base_of: dict[str, str] = {s: m.base_asset for s, m in self.broker.markets().items()}
        held = positions_from_fills(journal_fills(self.journal, base_of), base_of).get(spec.base_asset, Decimal(0))
        snap = self.journal.latest_positions()
        snapped = max((p.qty for p in snap.positions if p.symbol == spec.symbol), default=Decimal(0)) if snap \
            else Decimal(0)
        return max(held, snapped)

    def _confirm_free(self, asset: str, enough: Callable[[Decimal], bool]) -> Decimal | None:
        """Independent re-reads of a free balance, spread over wall time (backoff); the first that is ``enough``,
        else None."""
        delay = self.policy.first_backoff_seconds
        for _ in range(self.policy.confirm_reads):
            self._wait(delay)
            delay = min(delay * 2, self.policy.max_backoff_seconds)
            free = self._free_balance(asset)
            if free is not None and enough(free):
                return free
        return None

    def _deferrals(self, order: Order) -> int:
        """Ticks this sell was already deferred on an unconfirmed balance (journaled, so it survives restarts)."""
        return sum(1 for e in self.journal.events(tag="ORDER_DEFERRED", limit=10_000)
                   if e.fields.get("client_order_id") == order.client_order_id
                   and e.fields.get("reason") == "balance_unconfirmed")

    def _close(self, order: Order, reason: str) -> None:
        status = OrderStatus.SKIPPED if order.status is OrderStatus.PENDING else OrderStatus.REJECTED
        self.journal.update_order(order.client_order_id, status, reason=reason)
        event(log, "ORDER_SKIPPED", client_order_id=order.client_order_id, symbol=order.symbol, reason=reason)
        self._count(status)
        return None

    def _free_balance(self, asset: str) -> Decimal | None:
        delay = self.policy.first_backoff_seconds
        for attempt in range(1, self.policy.read_attempts + 1):
            try:
                bal = self.broker.balances().get(asset)
                return bal.free if bal else Decimal(0)
            except TransientError as exc:  # includes RateLimited
                self._error(exc)
                event(log, "BALANCE_RETRY", level=logging.WARNING, asset=asset, attempt=attempt,
                      reason=str(exc)[:160])
                pause = exc.retry_after if isinstance(exc, RateLimited) and exc.retry_after else delay
                if attempt < self.policy.read_attempts:
                    self._wait(min(pause, self.policy.max_backoff_seconds))
                delay = min(delay * 2, self.policy.max_backoff_seconds)
        return None

    def lookup(self, order: Order) -> OrderReport | str:
        """The venue's report, or ``"not_found"`` (definitively: see ``_lookup``) or ``"undetermined"``."""
        found = self._lookup(order, attempts=self.policy.lookup_attempts)
        if isinstance(found, OrderReport):
            return found
        return "not_found" if found is _NOT_FOUND else "undetermined"

    # --- looking up -------------------------------------------------------------------------------------------
    def _lookup(self, order: Order, attempts: int) -> object:
        """An OrderReport, _NOT_FOUND (definitively) or _UNDETERMINED.

        "Not found" is definitive only from a lookup STARTED once ``_not_found_wait`` is over: the request clock
        past the journaled request timestamp + recvWindow + status lag (old rows: the lag since our first lookup).
        Not found before that → wait (backoff, the last lookup after the window) and ask again."""
        start = self._mono()
        delay = self.policy.first_backoff_seconds
        for attempt in range(1, attempts + 1):
            wait_left = self._not_found_wait(order, start)  # read BEFORE asking: the answer must postdate it
            try:
                found: object = self.broker.get_order(Symbol(order.symbol), order.client_order_id)
            except TransientError as exc:
                self._error(exc)
                found = _UNDETERMINED
            if isinstance(found, OrderReport):
                return found
            if found is None and wait_left <= 0:
                event(log, "ORDER_NOT_FOUND", client_order_id=order.client_order_id, symbol=order.symbol,
                      attempts=attempt, waited_s=round(self._mono() - start, 3), request_ts=order.request_ts_ms,
                      recv_window_ms=order.recv_window_ms)
                return _NOT_FOUND
            if attempt < attempts:
                pause = min(delay, self.policy.max_backoff_seconds)
                if found is None:  # not found yet: the last lookup must come after the window
                    remaining = self._not_found_wait(order, start) + 0.01
                    if remaining > self._max_window_s(order):
                        return _UNDETERMINED  # the request clock went back: ask again next tick
                    pause = remaining if attempt == attempts - 1 else min(pause, remaining)
                self._wait(pause)
                delay = min(delay * 2, self.policy.max_backoff_seconds)
        return _UNDETERMINED

    def _not_found_wait(self, order: Order, lookups_started: float) -> float:
        """Seconds until a lookup that finds nothing would be definitive (<= 0: it is now)."""
        lag_ms = int(self.policy.status_lag_seconds * 1000)
        at = definitive_not_found_at_ms(order.request_ts_ms, order.recv_window_ms, lag_ms)
        if at is None:  # sent before the journal kept request timestamps: the lag since our first lookup
            return self.policy.status_lag_seconds - (self._mono() - lookups_started)
        return (at - self.request_clock.now_ms()) / 1000

    def _max_window_s(self, order: Order) -> float:
        window_ms = max(self.policy.recv_window_ms, order.recv_window_ms or 0)
        return window_ms / 1000 + self.policy.status_lag_seconds + self.policy.max_backoff_seconds

    # --- recording what the venue says ------------------------------------------------------------------------
    def apply(self, order: Order, report: OrderReport) -> Order:
        """Record the venue's view of an order and its fills in ONE transaction."""
        if report.client_order_id != order.client_order_id or report.side is not order.side:
            raise ValueError(f"venue order {report.client_order_id} ({report.side.value}) does not match journal "
                             f"order {order.client_order_id} ({order.side.value})")
        fills = list(report.fills)
        if report.filled_quantity > sum((f.quantity for f in fills), Decimal(0)) and report.exchange_order_id:
            fills = self._venue_fills(order.symbol, report.exchange_order_id)
        fills, avg_price = self._plausible_fills(order, report, fills)
        with self.journal.transaction():
            for i, f in enumerate(fills):
                self.journal.record_fill(f.symbol, f.trade_id, f.side, f.quantity, f.price, f.fee, f.fee_asset,
                                         f.time_ms, client_order_id=order.client_order_id,
                                         exchange_order_id=f.exchange_order_id or report.exchange_order_id)
                if i == 0:
                    self.crash.reach("fill_recording")
            after = self.journal.update_order(order.client_order_id, report.status,
                                              exchange_order_id=report.exchange_order_id,
                                              filled_qty=report.filled_quantity, avg_price=avg_price,
                                              venue_ms=report.update_time_ms)
        if after.status is not order.status and after.status.is_terminal:
            self._count(after.status)
            event(log, "ORDER_DONE", client_order_id=order.client_order_id, symbol=order.symbol,
                  side=order.side.value, status=after.status.value, filled=after.filled_qty, avg_price=after.avg_price,
                  exchange_order_id=after.exchange_order_id)
        return after

    def _plausible_fills(self, order: Order, report: OrderReport, fills: list) -> tuple[list, Decimal | None]:
        """The venue's answer is data to check: a fill price further than ``fill_price_max_deviation_pct`` from
        the intent's reference price is re-read from ``myTrades`` (venue truth) before anything is recorded. What
        the re-read says is recorded; a price that still stands is recorded AND flagged (``[FILL_IMPLAUSIBLE]``,
        a journal event the risk tick reads, ``aura_fills_implausible_total``): no stop-loss or take-profit fires
        on an entry made of it while the mark disagrees. Returns (fills, average price to journal)."""
        intent = self.journal.intent(order.client_order_id)
        ref = intent.ref_price if intent is not None and intent.ref_price else None
        limit = Decimal(str(self.policy.fill_price_max_deviation_pct)) / 100

        def off(f) -> bool:
            return ref is not None and f.price > 0 and abs(f.price / ref - 1) > limit

        avg = report.average_price
        if not fills or not any(off(f) for f in fills):
            return fills, avg
        if report.exchange_order_id:
            venue = self._venue_fills(order.symbol, report.exchange_order_id)
            if venue and sum((f.quantity for f in venue), Decimal(0)) >= sum((f.quantity for f in fills), Decimal(0)):
                event(log, "FILL_REREAD", level=logging.WARNING, client_order_id=order.client_order_id,
                      symbol=order.symbol, answered=max(f.price for f in fills), venue=max(f.price for f in venue),
                      ref=ref)
                fills = venue
                qty = sum((f.quantity for f in fills), Decimal(0))
                avg = sum((f.quantity * f.price for f in fills), Decimal(0)) / qty if qty > 0 else avg
        for f in fills:
            if off(f):
                event(log, "FILL_IMPLAUSIBLE", level=logging.ERROR, client_order_id=order.client_order_id,
                      symbol=f.symbol, trade_id=f.trade_id, price=f.price, ref=ref)
                self.journal.append_event("FILL_IMPLAUSIBLE", {"client_order_id": order.client_order_id,
                                                               "symbol": str(f.symbol), "trade_id": f.trade_id,
                                                               "price": str(f.price), "ref": str(ref)},
                                          cycle_key=order.cycle_key)
                if self.metrics is not None and hasattr(self.metrics, "fill_implausible"):
                    self.metrics.fill_implausible()
        return fills, avg

    def ensure_fills(self, order: Order) -> int:
        """Record the venue's fills of a settled order that the journal lacks. Returns how many were new."""
        if order.filled_qty <= 0 or not order.exchange_order_id:
            return 0
        have = sum((f.qty for f in self.journal.fills(client_order_id=order.client_order_id)), Decimal(0))
        if have >= order.filled_qty:
            return 0
        new = 0
        with self.journal.transaction():
            for f in self._venue_fills(order.symbol, order.exchange_order_id):
                new += self.journal.record_fill(f.symbol, f.trade_id, f.side, f.quantity, f.price, f.fee,
                                                f.fee_asset, f.time_ms, client_order_id=order.client_order_id,
                                                exchange_order_id=order.exchange_order_id)
        if new:
            event(log, "FILLS_RECOVERED", client_order_id=order.client_order_id, symbol=order.symbol, fills=new)
        return new

    def _venue_fills(self, symbol: str, exchange_order_id: str):
        delay = self.policy.first_backoff_seconds
        for attempt in range(1, self.policy.read_attempts + 1):
            try:
                return self.broker.fills(Symbol(symbol), exchange_order_id=exchange_order_id)
            except TransientError as exc:
                self._error(exc)
                if attempt == self.policy.read_attempts:
                    raise
                self._wait(delay)
                delay = min(delay * 2, self.policy.max_backoff_seconds)
        return []

    # --- metrics ----------------------------------------------------------------------------------------------
    def _count(self, status: OrderStatus) -> None:
        if self.metrics is not None and status in _OUTCOME:
            self.metrics.order(_OUTCOME[status])

    def _error(self, exc: Exception) -> None:
        if self.metrics is not None:
            self.metrics.exchange_error(getattr(exc, "kind", "other"))
