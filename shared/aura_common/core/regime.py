"""Market regime (bull / sideways / bear) from a proxy's trend and the universe's breadth, with hysteresis.

Observation at row ``t`` (closed candles only):

- trend up: proxy close > SMA(slow) and SMA(fast) > SMA(slow); trend down: close < SMA(slow) and fast < slow;
- breadth: the fraction of allowed symbols whose close is above their SMA(``breadth_sma_days``), among those
  where it is defined;
- **bull** when the trend is up and breadth >= ``bull_breadth_min``; **bear** when breadth <= ``bear_breadth_max``,
  or the trend is down and breadth < ``bull_breadth_min``; **sideways** otherwise.
- Before the slow SMA exists (or if the proxy is missing) the observation is **bear**: no evidence, no exposure.

Hysteresis: a different regime takes effect only after it was observed on ``confirm_cycles`` consecutive
cycles. ``RegimeState`` is a small frozen value that serialises to and from a plain dict (the trader persists it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

import numpy as np

from aura_common.core.features import FeatureStore
from aura_common.core.jit import kernel
from aura_common.core.params import RegimeParams


class Regime(str, Enum):
    BULL = "bull"
    SIDEWAYS = "sideways"
    BEAR = "bear"


REGIMES = (Regime.BULL, Regime.SIDEWAYS, Regime.BEAR)  # code = index


_BULL, _SIDEWAYS = Regime.BULL, Regime.SIDEWAYS  # module constants: an Enum member lookup costs a descriptor call


def exposure(regime: Regime, params: RegimeParams) -> float:
    if regime is _BULL:
        return params.exposure_bull
    return params.exposure_sideways if regime is _SIDEWAYS else params.exposure_bear


@dataclass(frozen=True)
class RegimeState:
    regime: Regime = Regime.BEAR
    candidate: Regime | None = None  # a different regime being observed, not yet confirmed
    streak: int = 0  # consecutive cycles the candidate has been observed

    def to_dict(self) -> dict[str, object]:
        return {"regime": self.regime.value, "candidate": self.candidate.value if self.candidate else None,
                "streak": self.streak}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> "RegimeState":
        try:
            cand = data.get("candidate")
            state = cls(Regime(str(data["regime"])), Regime(str(cand)) if cand is not None else None,
                        int(data.get("streak", 0)))  # type: ignore[call-overload]  # a bad value: TypeError, below
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"invalid regime state {dict(data)!r}: {exc}") from None
        if state.streak < 0 or (state.candidate is None) != (state.streak == 0):
            raise ValueError(f"invalid regime state {dict(data)!r}: candidate and streak disagree")
        return state


@kernel
def advance_codes(regime: int, candidate: int, streak: int, observed: int, confirm_cycles: int) -> tuple[int, int, int]:
    """One cycle of hysteresis on codes (index into ``REGIMES``; candidate -1 = none): (regime, candidate, streak).
    The one definition: ``advance`` calls it for the trader, the backtester's day loop from compiled code."""
    if observed == regime:
        return regime, -1, 0
    run = streak + 1 if observed == candidate else 1
    if run >= confirm_cycles:
        return observed, -1, 0
    return regime, observed, run


_CODE = {r: i for i, r in enumerate(REGIMES)}


def state_codes(state: RegimeState) -> tuple[int, int, int]:
    return _CODE[state.regime], (-1 if state.candidate is None else _CODE[state.candidate]), state.streak


def state_from_codes(regime: int, candidate: int, streak: int) -> RegimeState:
    return RegimeState(REGIMES[regime], None if candidate < 0 else REGIMES[candidate], streak)


def advance(state: RegimeState, observed: Regime, confirm_cycles: int) -> RegimeState:
    """One cycle of hysteresis."""
    r, c, s = state_codes(state)
    new = advance_codes(r, c, s, _CODE[observed], int(confirm_cycles))
    return state if new == (r, c, s) else state_from_codes(*new)


def observe_rows(fs: FeatureStore, rows: slice, params: RegimeParams, allowed: np.ndarray) -> np.ndarray:
    """(R,) int8 regime code (index into REGIMES) observed at each row."""
    symbols = fs.panel.symbols
    t_rows = fs.close[rows].shape[0]
    if params.proxy_symbol not in symbols:
        return np.full(t_rows, 2, dtype=np.int8)
    j = symbols.index(params.proxy_symbol)
    close = fs.close[rows, j]
    fast = fs.proxy_sma(j, params.fast_sma_days)[rows]
    slow = fs.proxy_sma(j, params.slow_sma_days)[rows]
    above = fs.above_sma(params.breadth_sma_days)[rows][:, allowed]
    defined = ~np.isnan(above)
    n_def = defined.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        breadth = np.where(n_def > 0, np.where(defined, above, 0.0).sum(axis=1) / np.maximum(n_def, 1), np.nan)
        up = (close > slow) & (fast > slow)
        down = (close < slow) & (fast < slow)
        bull = up & (breadth >= params.bull_breadth_min)
        bear = (breadth <= params.bear_breadth_max) | (down & (breadth < params.bull_breadth_min))
    code = np.where(bull, 0, np.where(bear, 2, 1)).astype(np.int8)
    unknown = np.isnan(close) | np.isnan(slow) | np.isnan(fast) | np.isnan(breadth)
    code[unknown] = 2
    return code
