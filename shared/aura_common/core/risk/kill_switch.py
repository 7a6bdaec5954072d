"""Gate 1: the kill switch on rolling drawdown.

``kill_switch(equity_curve, state, params, now_ms)`` is pure. Definitions (documented in docs/risk.md):

- The curve is ``(time_ms, equity)`` points sorted by time (equity as Decimal, int or float; compared in Decimal).
  Only *accepted* equity belongs in it: the sync guard keeps implausible reads out, so a glitch never trips it.
- The window is ``[now_ms - kill_switch_window_days, now_ms]`` (both ends inclusive), and never reaches back
  before the last re-arm (``state.armed_since_ms``): after a reset or a cooldown the peak is re-based, otherwise
  the old peak would re-trip the switch at once.
- Equity is the newest point in the window; peak is the largest; drawdown = (peak - equity) / peak.
- It trips when drawdown >= ``kill_switch_max_drawdown_pct`` / 100 (exactly at the threshold trips).
- Once tripped it stays tripped (DENY: cancel open orders, optionally liquidate, block new entries) until
  ``reset_kill_switch`` (``aura risk reset``) or, when ``kill_switch_cooldown_hours > 0``, until
  ``tripped_at_ms + cooldown``; from then on it is armed again and judged on points from that moment only.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import Decimal, localcontext

from aura_common.core.params import RiskParams
from aura_common.core.risk.gate import GateDecision, GateResult, as_decimal, fmt

GATE = "kill_switch"
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class KillSwitchState:
    """Persisted by the trader (survives restarts). ``armed_since_ms`` is when it was last re-armed."""

    tripped: bool = False
    tripped_at_ms: int | None = None
    reason: str = ""
    peak_equity: float | None = None
    armed_since_ms: int | None = None


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cooldown_ends_ms(state: KillSwitchState, params: RiskParams) -> int | None:
    """When a tripped switch re-arms by itself, or None (no cooldown configured / not tripped)."""
    if not state.tripped or state.tripped_at_ms is None or params.kill_switch_cooldown_hours <= 0:
        return None
    return state.tripped_at_ms + round(params.kill_switch_cooldown_hours * HOUR_MS)


def reset_kill_switch(state: KillSwitchState, now_ms: int, reason: str) -> KillSwitchState:
    """Re-arm (``aura risk reset``): the peak is re-based to the equity seen from ``now_ms`` on."""
    if not reason or not reason.strip():
        raise ValueError("a kill-switch reset needs a reason")
    del state  # a reset is unconditional; the caller journals the previous state
    return KillSwitchState(reason=f"reset at {iso_ms(now_ms)}: {reason.strip()}", armed_since_ms=now_ms)


def _window(curve: Sequence[tuple[int, float | Decimal]], start_ms: int,
            now_ms: int) -> tuple[Decimal, Decimal] | None:
    """(equity, peak) over the points in ``[start_ms, now_ms]`` as Decimal, or None when there are none.

    Points are validated cheaply (sorted, finite, >= 0); only the two that matter are converted to Decimal.
    """
    lo = bisect_left(curve, start_ms, key=lambda p: p[0])
    hi = bisect_right(curve, now_ms, key=lambda p: p[0])
    if lo >= hi:
        return None
    prev_t = curve[lo][0]
    peak = curve[lo][1]
    for t, e in curve[lo:hi]:
        if t < prev_t:
            raise ValueError(f"equity_curve must be sorted by time (point at {t} after {prev_t})")
        prev_t = t
        f = float(e)
        if not math.isfinite(f) or f < 0:
            raise ValueError(f"equity at {t} must be a finite number >= 0, got {e!r}")
        if e > peak:
            peak = e
    return as_decimal(curve[hi - 1][1], f"equity at {curve[hi - 1][0]}"), as_decimal(peak, "peak equity")


def _at_or_past(peak: Decimal, equity: Decimal, threshold: Decimal) -> bool:
    """(peak - equity) / peak >= threshold, compared exactly (products, no division, wide precision)."""
    with localcontext() as ctx:
        ctx.prec = 80
        return peak - equity >= peak * threshold


def kill_switch(
    equity_curve: Sequence[tuple[int, float | Decimal]],
    state: KillSwitchState,
    params: RiskParams,
    now_ms: int,
) -> tuple[GateResult, KillSwitchState]:
    ends = cooldown_ends_ms(state, params)
    if ends is not None and now_ms >= ends:
        state = KillSwitchState(reason=f"re-armed by cooldown at {iso_ms(ends)}", armed_since_ms=ends)

    start = now_ms - params.kill_switch_window_days * DAY_MS
    if state.armed_since_ms is not None:
        start = max(start, state.armed_since_ms)
    window = _window(equity_curve, start, now_ms)
    threshold = as_decimal(params.kill_switch_max_drawdown_pct, "kill_switch_max_drawdown_pct") / 100

    figures: dict[str, float] = {
        "threshold_pct": params.kill_switch_max_drawdown_pct,
        "window_days": params.kill_switch_window_days,
    }
    peak: Decimal | None = None
    drawdown = Decimal(0)
    if window is not None:
        equity, peak = window
        drawdown = (peak - equity) / peak if peak > 0 else Decimal(0)
        figures.update(equity=float(equity), peak=float(peak), drawdown_pct=float(drawdown * 100))
        state = replace(state, peak_equity=float(peak))
        measured = (f"drawdown {fmt(drawdown * 100)}% (equity {fmt(equity)}, "
                    f"{params.kill_switch_window_days}-day peak {fmt(peak)})")
    else:
        measured = "no equity observed in the window"

    if not state.tripped and peak is not None and peak > 0 and _at_or_past(peak, equity, threshold):
        state = replace(state, tripped=True, tripped_at_ms=now_ms,
                        reason=f"{measured} reached the {fmt(threshold * 100)}% threshold")

    if state.tripped:
        ends = cooldown_ends_ms(state, params)
        until = f"cooldown ends at {iso_ms(ends)}" if ends is not None else "`aura risk reset`"
        tripped_at = iso_ms(state.tripped_at_ms) if state.tripped_at_ms is not None else "an unknown time"
        reason = (f"Kill switch tripped at {tripped_at} ({state.reason}); now {measured}; "
                  f"new entries are blocked until {until}.")
        return GateResult(GATE, GateDecision.DENY, reason, figures), state

    if window is not None:
        reason = (f"Kill switch armed: {measured} is below the "
                  f"{fmt(params.kill_switch_max_drawdown_pct)}% threshold.")
    else:
        reason = f"Kill switch armed: no equity observed in the window ending {iso_ms(now_ms)}."
    return GateResult(GATE, GateDecision.PASS, reason, figures), state
