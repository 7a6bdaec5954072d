"""What a backtest's numbers do not say by themselves: when the kill switch tripped and re-armed, how long the
book sat flat, and why a run made (almost) no trades. Pure: a ``BacktestResult`` (and the strategy parameters and
signals it ran with) in, values out; ``aura backtest`` prints them (text and ``--json``) and shades ``equity.png``.

The kill switch's changes come from the engine's ``result.kill_switch_changes`` when it has them; otherwise they
are derived from what the gates recorded: every trip is a kill-switch ``GateEvent`` (the runner records one per
transition to tripped), its drawdown is the figure in the gate's own sentence, and a trip re-arms
``kill_switch_cooldown_hours`` after it when that is positive (the gate's own rule, ``cooldown_ends_ms``) — with
cooldown 0 it stays tripped to the end of the run, as in the trader until ``aura risk reset``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from aura_common.core.params import StrategyParams

DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_DRAWDOWN = re.compile(r"drawdown (-?\d+(?:\.\d+)?)%")


class KillSwitchChange(NamedTuple):
    t_ms: int
    action: str  # 'trip' | 're-arm'
    drawdown_pct: float
    reason: str


def kill_switch_changes(result: Any, params: StrategyParams) -> tuple[KillSwitchChange, ...]:
    """Every trip and re-arm of the run's kill switch, in time order."""
    own = getattr(result, "kill_switch_changes", None)
    if own is not None:
        return tuple(KillSwitchChange(int(c.t_ms), str(c.action), float(c.drawdown_pct), str(c.reason)) for c in own)
    end = int(result.times_ms[-1]) if len(result.times_ms) else 0
    cooldown_ms = round(params.risk.kill_switch_cooldown_hours * _HOUR_MS)
    out: list[KillSwitchChange] = []
    for e in result.gate_events:
        if e.gate != "kill_switch":
            continue
        reason = e.reason
        m = _DRAWDOWN.search(reason)
        out.append(KillSwitchChange(int(e.t_ms), "trip", float(m.group(1)) if m else float("nan"), reason))
        if cooldown_ms > 0 and e.t_ms + cooldown_ms <= end:
            out.append(KillSwitchChange(int(e.t_ms + cooldown_ms), "re-arm", 0.0,
                                        f"cooldown of {params.risk.kill_switch_cooldown_hours:g} h ended"))
    return tuple(out)


def tripped_periods(changes: Sequence[KillSwitchChange], end_ms: int) -> list[tuple[int, int, bool]]:
    """(from_ms, to_ms, re_armed) of each tripped stretch; an open one ends at ``end_ms`` with re_armed False."""
    out, start = [], None
    for c in changes:
        if c.action == "trip" and start is None:
            start = c.t_ms
        elif c.action == "re-arm" and start is not None:
            out.append((start, c.t_ms, True))
            start = None
    if start is not None:
        out.append((start, end_ms, False))
    return out


def days_flat(result: Any) -> int:
    """Days whose end-of-day book held nothing (zero exposure)."""
    own = getattr(result, "days_flat", None)
    if own is not None:
        return int(own)
    return int(np.count_nonzero(np.asarray(result.exposure) <= 0.0))


def days_in(periods: Sequence[tuple[int, int, bool]], times_ms: np.ndarray) -> int:
    """Decision days that fall inside the periods (a period's first day counts; a re-arm day does not)."""
    t = np.asarray(times_ms)
    inside = np.zeros(len(t), dtype=bool)
    for lo, hi, re_armed in periods:
        inside |= (t >= lo) & ((t < hi) if re_armed else (t <= hi))
    return int(inside.sum())


def flat_reasons(result: Any, params: StrategyParams, selected: np.ndarray | None) -> list[dict[str, Any]]:
    """Why the book was empty or the orders were not placed, most frequent first: each ``{"reason", "count",
    "unit"}``. ``selected`` is the signals' (days × picks) selection of the backtest's rows (-1 pads), or None."""
    rp = params.regime
    exposure = {"bull": rp.exposure_bull, "sideways": rp.exposure_sideways, "bear": rp.exposure_bear}
    zero_regime = sum(1 for r in result.regime if exposure.get(r, 1.0) <= 0.0)
    changes = kill_switch_changes(result, params)
    end = int(result.times_ms[-1]) if len(result.times_ms) else 0
    tripped = days_in(tripped_periods(changes, end), result.times_ms)
    denials = sum(1 for e in result.gate_events if e.gate == "cost_benefit" and e.decision == "deny")
    rows = [("regime exposure 0 (the regime allowed no holdings)", zero_regime, "days"),
            ("kill switch tripped (no new entries)", tripped, "days"),
            ("cost-benefit gate denied the rebalance (expected benefit below costs + margin)", denials, "days")]
    if selected is not None:
        empty = int(np.count_nonzero(np.all(np.asarray(selected) < 0, axis=1)))
        rows.append(("no candidate passed the universe screen and the vote", empty, "days"))
    rows.sort(key=lambda row: -row[1])
    return [{"reason": r, "count": int(n), "unit": u} for r, n, u in rows if n > 0]
