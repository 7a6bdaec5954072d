"""The trader's three risk gates (``aura_common.core.risk``) as the backtester calls them.

The gates are the real ones; nothing here decides for them. The compiled day loop (``loop.py``) decides a gate
itself only where the outcome is certain and suspends otherwise; ``GateRunner`` then makes the real call, keeps the
kill switch's state, counts calls and records every non-pass as a ``GateEvent``. For a DENY the loop decided
(a position beyond its stop or take price, a cost-benefit ``skip`` far from a tie) the event's reason is obtained
from the real gate when it is read (``GateEvent.reason``), which re-checks that the gate agrees.

``tests/core/test_backtest.py`` runs whole backtests with ``screen_gates=False`` (every gate called every day)
and asserts identical trades, equity and gate decisions, so the screens can never change a result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from aura_common.core.params import RiskParams
from aura_common.core.risk.kill_switch import iso_ms
from aura_common.core.risk import (
    GateDecision,
    GateResult,
    KillSwitchState,
    TradeEstimate,
    cooldown_ends_ms,
    cost_benefit,
    kill_switch,
    position_exit,
)
from aura_common.domain.values import Side

DAY_MS = 86_400_000


@dataclass(frozen=True)
class GateEvent:
    """A non-pass gate decision, as the trader would journal it. ``reason`` is the gate's own sentence."""

    t_ms: int
    gate: str
    decision: str
    symbol: str
    explain: str | Callable[[], str] = field(repr=False, compare=False)

    @property
    def reason(self) -> str:
        return self.explain if isinstance(self.explain, str) else self.explain()

    def key(self) -> tuple[int, str, str, str, str]:
        return (self.t_ms, self.gate, self.decision, self.symbol, self.reason)


class KillSwitchChange(NamedTuple):
    """A trip or a re-arm of the kill switch in a backtest: when, the drawdown the gate measured, its sentence."""

    t_ms: int
    action: str  # "trip" | "re-arm"
    drawdown_pct: float
    reason: str


# (symbol, side, notional, forced) — an order the backtester is about to weigh
Order = tuple[str, Side, float, bool]


@dataclass
class GateRunner:
    params: RiskParams
    state: KillSwitchState = field(default_factory=KillSwitchState)
    events: list[tuple[tuple[int, int, int], GateEvent]] = field(default_factory=list)  # (sort key, event)
    calls: dict[str, int] = field(default_factory=lambda: {"kill_switch": 0, "position_exit": 0, "cost_benefit": 0})
    changes: list[KillSwitchChange] = field(default_factory=list)

    def kill_switch(self, curve: list[tuple[int, float]], now_ms: int, key: tuple[int, int, int]) -> bool:
        """The real gate on ``curve``: the equity points of its window and at least one day before it (the gate
        picks its window itself). True when tripped (DENY)."""
        self.calls["kill_switch"] += 1
        was = self.state
        result, self.state = kill_switch(curve, was, self.params, now_ms)
        drawdown = float(result.figures.get("drawdown_pct", 0.0))
        if was.tripped and (not self.state.tripped or self.state.tripped_at_ms != was.tripped_at_ms):
            at = self.state.armed_since_ms if self.state.armed_since_ms is not None else now_ms
            self.changes.append(KillSwitchChange(at, "re-arm", drawdown, self.state.reason if not self.state.tripped
                                                 else f"re-armed by cooldown at {iso_ms(at)}"))
        if self.state.tripped and (not was.tripped or self.state.tripped_at_ms != was.tripped_at_ms):
            self.changes.append(KillSwitchChange(now_ms, "trip", drawdown, self.state.reason))
        if result.decision is not GateDecision.PASS and (not was.tripped
                                                          or self.state.tripped_at_ms != was.tripped_at_ms):
            self.events.append((key, GateEvent(now_ms, result.gate, result.decision.value, "", result.reason)))
        return result.decision is GateDecision.DENY

    def cooldown_ends_ms(self) -> int | None:
        return cooldown_ends_ms(self.state, self.params)

    def exit_now(self, symbol: str, entry: float, last: float, now_ms: int, key: tuple[int, int, int]) -> str | None:
        """The gate name (stop_loss / take_profit) when the position must be exited now, else None."""
        self.calls["position_exit"] += 1
        result = position_exit(symbol, entry, last, self.params)
        if result.decision is GateDecision.DENY:
            self.events.append((key, GateEvent(now_ms, result.gate, result.decision.value, symbol, result.reason)))
            return result.gate
        return None

    def weigh(self, orders: Sequence[Order], benefit_bps: float, equity: float, fee_bps: float,
              slippage_bps: float, now_ms: int, key: tuple[int, int, int]) -> list[bool]:
        """Which of ``orders`` the real cost-benefit gate keeps (forced ones always)."""
        self.calls["cost_benefit"] += 1
        result, kept = self._cost_benefit(orders, benefit_bps, equity, fee_bps, slippage_bps)
        if result.decision is not GateDecision.PASS:
            self.events.append((key, GateEvent(now_ms, result.gate, result.decision.value, "", result.reason)))
        keep = {(k.symbol, k.side) for k in kept}
        return [(o[0], o[1]) in keep for o in orders]

    def _cost_benefit(self, orders: Sequence[Order], benefit_bps: float, equity: float, fee_bps: float,
                      slippage_bps: float) -> tuple[GateResult, tuple[TradeEstimate, ...]]:
        # a float notional: TradeEstimate converts it to Decimal (the one conversion, as_decimal)
        estimates = [TradeEstimate(s, side, round(n, 8), f) for s, side, n, f in orders]  # type: ignore[arg-type]
        return cost_benefit(estimates, benefit_bps, equity, self.params, fee_bps, slippage_bps)

    # --- reasons of the DENYs the compiled loop decided (asked of the real gate when read) ---

    def exit_event(self, now_ms: int, gate: str, symbol: str, entry: float, last: float) -> GateEvent:
        def explain() -> str:
            result = position_exit(symbol, entry, last, self.params)
            if result.decision is not GateDecision.DENY or result.gate != gate:  # the screen must never disagree
                raise AssertionError(f"exit screen said {gate} for {symbol}, the gate said {result.gate} "
                                     f"{result.decision.value}")
            return result.reason
        return GateEvent(now_ms, gate, GateDecision.DENY.value, symbol, explain)

    def cost_benefit_deny_event(self, now_ms: int, orders: Sequence[Order], benefit_bps: float, equity: float,
                                fee_bps: float, slippage_bps: float) -> GateEvent:
        def explain() -> str:
            result, _ = self._cost_benefit(orders, benefit_bps, equity, fee_bps, slippage_bps)
            if result.decision is not GateDecision.DENY:  # the screen must never disagree with the gate
                raise AssertionError(f"cost-benefit screen said deny, the gate said {result.decision.value}")
            return result.reason
        return GateEvent(now_ms, "cost_benefit", GateDecision.DENY.value, "", explain)
