"""The risk tick: kill switch on rolling drawdown, per-position stop-loss / take-profit, reset requests.

``RiskTicker.tick(account, now_ms, params, cycle_key)`` runs once per trader tick, after the account sync:

1. Pending ``aura risk reset`` requests are applied (risk_reset.py): a tripped switch re-arms, journaled with
   time, reason and requester, and the request is archived.
2. An ACCEPTED account view appends its equity to the rolling curve (kept in memory, loaded from the journal's
   equity snapshots at the first tick) and is journaled (``record_equity`` with the rolling peak). A rejected view
   (the sync guard's last good one) adds nothing: it can neither move drawdown nor trip the switch.
3. The pure kill-switch gate judges the curve. Its state lives in the journal (``risk_state`` +
   ``kill_switch_history``), so it survives restarts: a trip is journaled (``trip_kill_switch``), a cooldown
   re-arm too (actor ``cooldown``). While tripped: ``cancel_open_orders``, no new entries
   (``kill_switch_active``), and with ``risk.kill_switch_liquidate`` a market sell of every position.
4. ``[RISK_TICK]`` once; then one ``[SL_CHECK]`` per position (entry from the journal's latest position
   snapshot, else the average cost of the current holding from journaled fills); a stop-loss or take-profit DENY
   becomes an exit intent (only on an accepted view: never on stale balances).
5. Every non-pass gate decision is journaled (``RISK_GATE`` event) and counted
   (``aura_gate_decisions_total{gate,decision}``); the risk gauges are updated.

Exit intents are ``core.intents.Intent`` with plan hash ``RISK_PLAN_HASH`` and legs from ``RISK_LEG_BASE`` up,
so their client order ids never collide with a rebalance's in the same cycle.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aura_common.adapters.logs import event
from aura_common.core.intents import Intent
from aura_common.core.params import RiskParams
from aura_common.core.risk import GateDecision, GateResult, KillSwitchState, exit_prices, kill_switch
from aura_common.core.risk import position_exit, sl_check_decision
from aura_common.core.risk.kill_switch import DAY_MS, cooldown_ends_ms
from aura_common.core.reconcile import Lot
from aura_common.domain import Side, Symbol
from aura_trader import risk_reset
from aura_trader.account import AccountView, risk_params
from aura_trader.positions import journal_lots

RISK_PLAN_HASH = "risk"
RISK_LEG_BASE = 1000
ZERO = Decimal(0)


@dataclass(frozen=True)
class RiskOutcome:
    kill_switch_active: bool
    exit_intents: tuple[Intent, ...]
    cancel_open_orders: bool
    equity: Decimal = ZERO
    peak: Decimal | None = None
    drawdown: Decimal = ZERO  # (peak - equity) / peak, 0..1
    gates: tuple[GateResult, ...] = ()
    reasons: Mapping[str, str] = field(default_factory=dict)  # client order id -> why (journal the intent with it)
    resets: tuple[str, ...] = ()  # outcomes of the reset requests applied this tick


class RollingWindow:
    """Accepted equity over a sliding time window: the newest point and the window's maximum, in O(1) amortised
    per tick (a monotonic deque: each point is kept only while no later point is at least as high).

    ``compact()`` is the curve the kill-switch gate needs - the peak point and the newest point - which gives
    exactly the same verdict as the full curve over the same window (the gate reads only those two points)."""

    def __init__(self, start_ms: int) -> None:
        self.start_ms = start_ms
        self.last: tuple[int, Decimal] | None = None
        self._max: deque[tuple[int, Decimal]] = deque()

    @classmethod
    def of(cls, points: Iterable[tuple[int, Decimal]], start_ms: int) -> RollingWindow:
        window = cls(start_ms)
        for t, e in points:
            window.append(t, e)
        window.evict(start_ms)
        return window

    def append(self, t_ms: int, equity: Decimal) -> None:
        if self.last is not None and t_ms < self.last[0]:
            raise ValueError(f"equity at {t_ms} is older than the last point at {self.last[0]}")
        while self._max and self._max[-1][1] <= equity:
            self._max.pop()
        self._max.append((t_ms, equity))
        self.last = (t_ms, equity)

    def evict(self, start_ms: int) -> None:
        self.start_ms = max(self.start_ms, start_ms)
        while self._max and self._max[0][0] < self.start_ms:
            self._max.popleft()
        if self.last is not None and self.last[0] < self.start_ms:
            self.last = None

    @property
    def peak(self) -> Decimal | None:
        return self._max[0][1] if self._max else None

    def compact(self) -> list[tuple[int, Decimal]]:
        if not self._max or self.last is None:
            return []
        return [self._max[0]] if self._max[0] == self.last else [self._max[0], self.last]


class RiskTicker:
    def __init__(self, journal: Any, metrics: Any, logger: logging.Logger | None = None, *,
                 control_dir: str | Path | None = None) -> None:
        self._journal, self._metrics = journal, metrics
        self._log = logger or logging.getLogger(__name__)
        self.control_dir = Path(control_dir) if control_dir is not None else risk_reset.control_dir(journal.path)
        self._rolling: RollingWindow | None = None
        self._armed_since = self._last_reset_ms()

    # --- persisted kill-switch state --------------------------------------------------------------------------
    def _last_reset_ms(self) -> int | None:
        resets = [c.ts_ms for c in self._journal.kill_switch_history() if c.action == "reset"]
        return resets[-1] if resets else None

    def _state(self) -> KillSwitchState:
        ks = self._journal.kill_switch()
        return KillSwitchState(tripped=ks.tripped, tripped_at_ms=ks.tripped_ms, reason=ks.reason or "",
                               armed_since_ms=self._armed_since)

    def _equity_history(self, since_ms: int) -> list[tuple[int, Decimal]]:
        return [(r.ts_ms, r.equity) for r in self._journal.equity_curve(since_ms)]

    def _window(self, start_ms: int) -> RollingWindow:
        """The rolling window from ``start_ms`` (loaded from the journal once, or again when it must reach back)."""
        if self._rolling is None or start_ms < self._rolling.start_ms:
            self._rolling = RollingWindow.of(self._equity_history(start_ms), start_ms)
        self._rolling.evict(start_ms)
        return self._rolling

    # --- the tick -------------------------------------------------------------------------------------------
    def tick(self, account: AccountView, now_ms: int, params: object, cycle_key: str) -> RiskOutcome:
        risk = risk_params(params)
        ref = cycle_key if self._journal.cycle(cycle_key) is not None else None  # journal rows link begun cycles
        resets = self._apply_resets(now_ms, ref)
        was = self._state()
        # the window the gate will judge: the rolling days, never before the last re-arm (a reset, or the cooldown
        # that ends by this tick), so that the compact curve below is exactly the gate's window
        start = now_ms - risk.kill_switch_window_days * DAY_MS
        ends = cooldown_ends_ms(was, risk)
        for floor in (self._armed_since, ends if ends is not None and now_ms >= ends else None):
            if floor is not None:
                start = max(start, floor)
        window = self._window(start)
        counted = account.accepted and self._in_order(window, now_ms, account.equity, cycle_key)
        if counted:
            window.append(now_ms, account.equity)
        curve = window.compact()
        result, state = kill_switch(curve, was, risk, now_ms)
        tripped_now = state.tripped and not was.tripped
        if tripped_now:
            self._journal.trip_kill_switch(state.reason, actor="trader")
            event(self._log, "KILL_SWITCH", logging.WARNING, action="trip", reason=state.reason)
        elif was.tripped and not state.tripped:  # the configured cooldown ended
            self._journal.reset_kill_switch(state.reason, actor="cooldown")
            self._armed_since = state.armed_since_ms
            event(self._log, "KILL_SWITCH", action="rearm", reason=state.reason)
        peak = window.peak
        # a rejected read never reaches equity: report the last accepted point (the sync guard's last good one)
        equity = account.equity if counted or window.last is None else window.last[1]
        if counted:
            self._journal.record_equity(equity, account.cash, peak=peak if peak is not None else equity,
                                        cycle_key=ref)
        drawdown = max(ZERO, (peak - equity) / peak) if peak else ZERO
        sync = "accepted" if account.accepted else "stale"
        event(self._log, "RISK_TICK", equity=equity, peak=peak, drawdown_pct=round(float(drawdown * 100), 4),
              threshold_pct=risk.kill_switch_max_drawdown_pct, kill_switch="tripped" if state.tripped else "armed",
              sync=sync, positions=len(account.positions), cycle=cycle_key)
        gates = [result]
        self._record_gate(result, ref)

        intents: list[Intent] = []
        reasons: dict[str, str] = {}
        liquidate = state.tripped and risk.kill_switch_liquidate and account.accepted
        exits = self._position_checks(account, risk, ref, gates, sync)
        for symbol in sorted(account.positions):
            why = "kill_switch_liquidate" if liquidate else exits.get(symbol)
            if why is None or not account.accepted:
                continue
            intent = self._exit_intent(account, symbol, cycle_key, RISK_LEG_BASE + len(intents))
            if intent is not None:
                intents.append(intent)
                reasons[intent.client_order_id] = why

        self._metrics.set_risk(equity=float(equity), peak=float(peak) if peak is not None else None,
                               threshold_ratio=risk.kill_switch_max_drawdown_pct / 100,
                               kill_switch_active=state.tripped)
        self._metrics.set_positions(len(account.positions), float(account.exposure))
        return RiskOutcome(state.tripped, tuple(intents), state.tripped, equity, peak, drawdown, tuple(gates),
                           reasons, resets)

    # --- pieces ---------------------------------------------------------------------------------------------
    def _in_order(self, window: RollingWindow, now_ms: int, equity: Decimal, cycle_key: str) -> bool:
        """False (and one ``[EQUITY_SKIPPED]`` line) when the clock is behind the last equity point - an NTP step
        back, or a restart on a clock behind the last process's: the point is neither judged nor journaled (the
        curve stays in time order) and the tick goes on; points count again once the clock has caught up."""
        if window.last is None or now_ms >= window.last[0]:
            return True
        event(self._log, "EQUITY_SKIPPED", logging.WARNING, reason="clock_behind", equity=equity, now_ms=now_ms,
              last_ms=window.last[0], behind_ms=window.last[0] - now_ms, cycle=cycle_key)
        return False

    def _record_gate(self, result: GateResult, cycle_key: str | None, **extra: Any) -> None:
        if result.decision is GateDecision.PASS:
            return
        self._metrics.gate(result)
        self._journal.append_event("RISK_GATE", {"gate": result.gate, "decision": result.decision.value,
                                                 "reason": result.reason, **dict(result.figures), **extra},
                                   cycle_key=cycle_key)

    def _position_checks(self, account: AccountView, risk: RiskParams, cycle_key: str | None,
                         gates: list[GateResult],
                         sync: str) -> dict[Symbol, str]:
        """One [SL_CHECK] per position; returns symbol -> exit reason for the positions to exit."""
        snap = self._journal.latest_positions()
        snapshot = {p.symbol: p for p in snap.positions} if snap is not None else {}
        exits: dict[Symbol, str] = {}
        # the entry: the snapshot's, else the lot rebuilt from the journal's fills by THE entry rule
        # (core.reconcile.open_lots, as boot's [ENTRY_RECOVER]); fills are read at most once a tick
        lots: Mapping[str, Lot] | None = None
        flagged: set[str] | None = None  # symbols with a fill flagged implausible: read only when an entry disagrees
        move = Decimal(str(risk.sync_guard_max_price_move_pct)) / 100
        for symbol in sorted(account.positions):
            pos = snapshot.get(symbol)
            entry = pos.entry_price if pos is not None and pos.entry_price else None
            if entry is None:
                lots = journal_lots(self._journal, account.specs) if lots is None else lots
                lot = lots.get(symbol)
                entry = lot.entry_price if lot is not None else None
            last = account.prices.get(symbol)
            if entry is not None and last and not (1 - move) <= entry / last <= 1 / (1 - move):
                if flagged is None:
                    flagged = {e.fields.get("symbol") for e in self._journal.events(tag="FILL_IMPLAUSIBLE",
                                                                                  limit=1000)}
                if symbol in flagged:
                    # the entry comes from a fill flagged implausible and the (guarded) mark disagrees with it: no
                    # stop-loss or take-profit fires on it (the operator was alerted when the fill was recorded)
                    entry = None
            result = position_exit(symbol, entry, last, risk)
            stop, take = exit_prices(entry, risk) if entry else (None, None)
            decision = sl_check_decision(result)
            event(self._log, "SL_CHECK", symbol=symbol, entry=entry, last=last, stop=stop, take=take,
                  decision=decision, qty=account.positions[symbol], sync=sync)
            gates.append(result)
            self._record_gate(result, cycle_key, symbol=symbol)
            if result.decision is GateDecision.DENY:
                exits[symbol] = decision
        return exits

    def _exit_intent(self, account: AccountView, symbol: Symbol, cycle_key: str, leg: int) -> Intent | None:
        qty, price, spec = account.positions[symbol], account.prices.get(symbol), account.specs.get(symbol)
        if price is None or price <= 0:
            return None
        if spec is not None:
            # never ask for more than the venue lets us sell: the FREE base balance (what fees in the base asset
            # and open orders leave), not the journal's gross quantity
            free = account.balances.get(spec.base_asset)
            if free is not None:
                qty = min(qty, free.free)
            if spec.is_dust(qty, price):
                event(self._log, "RISK_EXIT", symbol=symbol, qty=qty, action="dust", cycle=cycle_key)
                return None
            qty = spec.floor_qty(qty)
        return Intent(cycle_key, RISK_PLAN_HASH, leg, symbol, Side.SELL, qty, price)

    def _apply_resets(self, now_ms: int, cycle_key: str | None) -> tuple[str, ...]:
        out = []
        for req in risk_reset.pending_requests(self.control_dir):
            if isinstance(req, risk_reset.BadRequest):
                risk_reset.archive(req, "rejected", now_ms, req.problem)
                event(self._log, "RISK_RESET", logging.ERROR, source="request", file=str(req.path),
                      result="rejected", problem=req.problem)
                out.append("rejected")
                continue
            actor = f"aura risk reset ({req.requester})"
            result = risk_reset.apply_reset(self._journal, req.reason, actor, "request", req.path.name, cycle_key)
            if result == "reset":
                self._armed_since = self._last_reset_ms()
            risk_reset.archive(req, result, now_ms)
            event(self._log, "RISK_RESET", source="request", file=str(req.path), requester=req.requester,
                  reason=req.reason, result=result)
            out.append(result)
        return tuple(out)
