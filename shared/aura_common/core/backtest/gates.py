"""The trader's three risk gates (``aura_common.core.risk``) as the backtester calls them, day by day.

The gates are the real ones; nothing here decides for them. Because the gates compute in Decimal and explain
themselves in sentences, calling them for every position on every day would dominate a backtest, so a call is
skipped when its outcome is certain (``screen=True``, the default):

- ``kill_switch`` is not called while it is armed and the drawdown from the peak of a window one day *wider*
  than the gate's (and, like the gate's, never reaching back past the last re-arm) is below the threshold by
  more than 1e-9 (a wider window can only see a higher peak, and float rounding of the ratio is ~1e-16, so the
  gate would PASS), nor while it is tripped and its cooldown (``cooldown_ends_ms``) has not ended (it stays
  tripped: DENY). The gate's PASS calls only refresh ``peak_equity``, which the backtest never reads;
- ``position_exit`` is not called while the last price is more than 1 % inside both the stop and the take
  price (the gate would PASS);
- ``cost_benefit`` is not called when the benefit clears the weighed trades' cost plus margin by more than a
  rounding tolerance (PASS, all trades kept) or, with ``cost_benefit_action: skip``, falls short of it by more
  than that tolerance (DENY, only forced trades kept). Near a tie, and always with ``trim``, the gate decides.
  The reason of a DENY decided this way is obtained from the real gate when it is read (``GateEvent.reason``),
  which also re-checks that the gate agrees.

``tests/core/test_backtest.py`` (``test_screened_gate_calls_change_nothing``) runs whole backtests with ``screen=False`` (every gate called every day)
and asserts identical trades, equity and gate decisions, so the screen can never change a result.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aura_common.core.params import RiskParams
from aura_common.core.risk import (
    GateDecision,
    KillSwitchState,
    TradeEstimate,
    cooldown_ends_ms,
    cost_benefit,
    kill_switch,
    position_exit,
)
from aura_common.domain.values import Side

DAY_MS = 86_400_000
_DENY = GateDecision.DENY.value


def _time(point: tuple[int, float]) -> int:
    return point[0]


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


# (symbol, side, notional, forced, why) — an order the backtester is about to weigh
Order = tuple[str, Side, float, bool, str]


@dataclass
class GateRunner:
    params: RiskParams
    screen: bool = True
    state: KillSwitchState = field(default_factory=KillSwitchState)
    events: list[GateEvent] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=lambda: {"kill_switch": 0, "position_exit": 0, "cost_benefit": 0})

    def __post_init__(self) -> None:
        p = self.params
        # certain PASS below the threshold less a tolerance far above float rounding (the gate compares the
        # same two floats exactly, in Decimal)
        self._ks_margin = p.kill_switch_max_drawdown_pct / 100.0 - 1e-9
        self._ks_points = p.kill_switch_window_days + 2
        self._since: int | None = None  # the last re-arm time seen, and the index of its first curve point
        self._since_at = 0
        self._stop_hi = (1 - p.stop_loss_pct / 100.0) * 1.01
        self._take_lo = (1 + p.take_profit_pct / 100.0) * 0.99

    def kill_switch_blocks(self, curve: list[tuple[int, float]], marks: list[float], now_ms: int) -> bool:
        """True when the kill switch is tripped (new entries blocked) after this tick (``marks`` = the equities)."""
        if self.screen and self.state.tripped:
            ends = cooldown_ends_ms(self.state, self.params)
            if ends is None or now_ms < ends:
                return True  # stays tripped until a reset or the end of the cooldown
        elif self.screen:
            n = self._ks_points
            since = self.state.armed_since_ms
            if since is not None:  # the gate never looks back past its last re-arm: neither does the screen
                if self._since != since:
                    self._since, self._since_at = since, bisect_left(curve, since, key=_time)
                n = min(n, len(curve) - self._since_at)
            peak = max(marks[-n:])
            if peak <= 0 or (peak - marks[-1]) / peak < self._ks_margin:
                return False
        self.calls["kill_switch"] += 1
        start = now_ms - (self.params.kill_switch_window_days + 1) * DAY_MS
        lo = len(curve)
        while lo > 0 and curve[lo - 1][0] >= start:
            lo -= 1
        was_tripped = self.state.tripped
        result, self.state = kill_switch(curve[lo:], self.state, self.params, now_ms)
        if result.decision is not GateDecision.PASS and not was_tripped:
            self.events.append(GateEvent(now_ms, result.gate, result.decision.value, "", result.reason))
        return result.decision is GateDecision.DENY

    def exit_band(self, entry: float) -> tuple[float, float]:
        """(low, high): a last price strictly between them is > 1 % inside both the stop and the take price, so
        ``position_exit`` would PASS (the screen of ``exit_now``, computed once per entry price). Empty when
        not screening."""
        if self.screen and entry > 0:
            return entry * self._stop_hi, entry * self._take_lo
        return math.inf, -math.inf

    def exit_now(self, symbol: str, entry: float, last: float, now_ms: int) -> str | None:
        """The gate name (stop_loss / take_profit) when the position must be exited now, else None."""
        if self.screen and entry > 0 and entry * self._stop_hi < last < entry * self._take_lo:
            return None
        self.calls["position_exit"] += 1
        result = position_exit(symbol, entry, last, self.params)
        if result.decision is GateDecision.DENY:
            self.events.append(GateEvent(now_ms, result.gate, result.decision.value, symbol, result.reason))
            return result.gate
        return None

    def weigh(self, orders: Sequence[Order], benefit_bps: float, equity: float, fee_bps: float,
              slippage_bps: float, now_ms: int) -> list[Order]:
        """The orders the cost-benefit gate keeps (forced ones always)."""
        p = self.params
        if self.screen and equity > 0:
            cost = sum(o[2] for o in orders if not o[3]) * (fee_bps + slippage_bps) / equity
            edge = benefit_bps - (cost + p.cost_benefit_margin_bps)
            tol = 1e-6 + 1e-9 * (abs(benefit_bps) + cost + p.cost_benefit_margin_bps)
            if edge > tol:
                return list(orders)
            if edge < -tol and p.cost_benefit_action == "skip":
                args = (tuple(orders), benefit_bps, equity, fee_bps, slippage_bps)
                self.events.append(GateEvent(now_ms, "cost_benefit", _DENY, "",
                                             lambda: self._explain_deny(*args)))
                return [o for o in orders if o[3]]
        self.calls["cost_benefit"] += 1
        result, kept = self._cost_benefit(orders, benefit_bps, equity, fee_bps, slippage_bps)
        if result.decision is not GateDecision.PASS:
            self.events.append(GateEvent(now_ms, result.gate, result.decision.value, "", result.reason))
        keep = {(k.symbol, k.side) for k in kept}
        return [o for o in orders if (o[0], o[1]) in keep]

    def _cost_benefit(self, orders, benefit_bps, equity, fee_bps, slippage_bps):
        estimates = [TradeEstimate(s, side, round(n, 8), f) for s, side, n, f, _ in orders]
        return cost_benefit(estimates, benefit_bps, equity, self.params, fee_bps, slippage_bps)

    def _explain_deny(self, orders, benefit_bps, equity, fee_bps, slippage_bps) -> str:
        result, _ = self._cost_benefit(orders, benefit_bps, equity, fee_bps, slippage_bps)
        if result.decision is not GateDecision.DENY:  # the screen must never disagree with the gate
            raise AssertionError(f"cost-benefit screen said deny, the gate said {result.decision.value}")
        return result.reason
