"""The per-day decision: screen → score → vote → regime → plan. Shared by the trader and the backtester.

Two steps, so that the backtester can vectorise the first over all days and still run the very same code:

1. ``signal_rows(features, lo, hi, params, allowed)`` — the path-independent part for rows ``lo..hi-1``
   (screen, score, ranks, votes, selection order, observed regime). Row-wise array code: row ``t`` is the same
   whether computed alone (with its voting offsets) or as part of all rows.
2. ``plan_at(signals, t, holdings, regime_state, params)`` — the path-dependent part for one day: the regime's
   hysteresis step and the target weights against current holdings.

The trader calls ``decide(features_of_closed_panel, t, ...)``, which is exactly 1 on the minimal block then 2;
the features of that block are computed for its rows only (``FeatureStore.tail``), bit-identical to all rows.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from aura_common.core.features import FeatureStore
from aura_common.core.params import StrategyParams
from aura_common.core.plan import Pick, Plan
from aura_common.core.weights import plan_weights
from aura_common.core.regime import REGIMES, Regime, RegimeState, advance, exposure, observe_rows
from aura_common.core.scoring import factor_z, score_rank_rows
from aura_common.core.screen import allowed_columns, screen_rows
from aura_common.core.voting import vote_select_rows


@dataclass(frozen=True, eq=False)
class Signals:
    """Path-independent signals for absolute rows ``lo..lo+R-1`` (arrays R × N unless noted)."""

    lo: int
    symbols: tuple[str, ...]
    decision_ms: np.ndarray  # (R,) close time of each row's candle
    eligible: np.ndarray
    score: np.ndarray
    votes: np.ndarray
    points: np.ndarray
    selected: np.ndarray  # (R × P) column indices in preference order, -1 pads
    observed: np.ndarray  # (R,) regime code

    def picks_at(self, r: int) -> tuple[Pick, ...]:
        """The selected symbols of block row ``r`` as ``Pick`` values in preference order (built once)."""
        cache = self._picks
        got = cache[r]
        if got is None:
            syms = self.symbols
            sel, sc, vo, po = (x[r] for x in self._pick_fields)
            new = tuple.__new__
            got = tuple([new(Pick, (syms[j], s, v, p)) for j, s, v, p in zip(sel, sc, vo, po) if j >= 0])
            cache[r] = got
        return got

    @cached_property
    def _picks(self) -> list[tuple[Pick, ...] | None]:
        return [None] * len(self.selected)

    @cached_property
    def _pick_fields(self) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
        """Per row, the selected columns and their score / votes / points as Python lists (one gather)."""
        sel = self.selected
        at = np.where(sel >= 0, sel, 0)
        return (sel.tolist(), np.take_along_axis(self.score, at, axis=1).tolist(),
                np.take_along_axis(self.votes, at, axis=1).tolist(),
                np.take_along_axis(self.points, at, axis=1).tolist())

    @cached_property
    def column(self) -> dict[str, int]:
        return {s: j for j, s in enumerate(self.symbols)}

    @cached_property
    def score_floor(self) -> list[float]:
        """Per row, the lowest score of the cross-section (0.0 when nothing is scored)."""
        has = self.eligible.any(axis=1)
        low = np.min(np.where(self.eligible, self.score, np.inf), axis=1)
        floor: list[float] = np.where(has, low, 0.0).tolist()
        return floor

    @cached_property
    def decision_times(self) -> list[int]:
        times: list[int] = self.decision_ms.tolist()
        return times

    @cached_property
    def observed_regimes(self) -> list[Regime]:
        return [REGIMES[c] for c in self.observed.tolist()]


def signal_rows(fs: FeatureStore, lo: int, hi: int, params: StrategyParams, allowed: np.ndarray,
                memo: dict[Hashable, Any] | None = None) -> Signals:
    """``memo`` (a dict the caller owns, e.g. a sweep) reuses the parts that depend only on some parameters:
    eligibility (screen), each factor's z-scores (screen + factor window), the score and its ranks (screen +
    scoring) and the observed regime; without one, each z-score is dropped as soon as the score holds it. The
    score is masked and ranked in one pass over the rows (``score_rank_rows``), votes and selection likewise
    (``vote_select_rows``): the kernels of ``score_rows``/``rank_rows`` and ``vote_rows``/``select_rows``."""
    rows = slice(lo, hi)
    keep_z = memo is not None  # without a caller's memo, each z-score is dropped once added to the score
    memo = {} if memo is None else memo
    base = (lo, hi, allowed.tobytes())
    key: Hashable = ("eligible", params.screen, base)
    eligible = memo.get(key)
    if eligible is None:
        eligible = memo[key] = screen_rows(fs, rows, params.screen, allowed)

    def zcache(kind: str, window: int) -> np.ndarray:
        k = ("z", kind, window, params.screen, base)
        z = memo.get(k)
        if z is None:
            z = memo[k] = factor_z(fs, rows, eligible, kind, window)
        return z

    key = ("score", params.scoring, params.screen, base)
    got = memo.get(key)
    if got is None:  # score and ranks depend on screen and scoring only, not on voting or portfolio
        got = memo[key] = score_rank_rows(fs, rows, eligible, params.scoring, params.screen,
                                          zcache if keep_z else None)
    score, rank = got
    votes, points, selected = vote_select_rows(rank, eligible, score, params.voting, params.portfolio.max_positions)
    rp = params.regime
    key = ("regime", rp.proxy_symbol, rp.fast_sma_days, rp.slow_sma_days, rp.breadth_sma_days, rp.bull_breadth_min,
           rp.bear_breadth_max, base)
    observed = memo.get(key)
    if observed is None:
        observed = memo[key] = observe_rows(fs, rows, rp, allowed)
    panel = fs.panel
    return Signals(lo, panel.symbols, panel.times[rows] + panel.interval_ms, eligible, score, votes, points,
                   selected, observed)


def plan_at(sig: Signals, t: int, holdings: Mapping[str, float], state: RegimeState,
            params: StrategyParams) -> Plan:
    """The plan for absolute row ``t``: hysteresis step, then target weights against ``holdings`` (weights)."""
    r = t - sig.lo
    if not 0 <= r < len(sig.observed):
        raise IndexError(f"decision row {t} outside the signals' rows {sig.lo}..{sig.lo + len(sig.observed) - 1}")
    observed = sig.observed_regimes[r]
    rp = params.regime
    new_state = advance(state, observed, rp.confirm_cycles)
    expo = exposure(new_state.regime, rp)
    picks = sig.picks_at(r) if expo > 0 else ()
    targets, exits = plan_weights([(p[0], p[1]) for p in picks], expo, holdings, params.portfolio)
    # tuple.__new__: a Plan without NamedTuple's Python-level __new__ (built once a day for every backtest day)
    return tuple.__new__(Plan, (sig.decision_times[r], new_state, observed, expo, picks, targets, exits,
                                held_scores(sig, r, holdings)))


def held_scores(sig: Signals, r: int, holdings: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    """(symbol, score) of each held symbol at block row ``r``: its score, or the row's lowest when unscored (or
    not in the panel). The backtester's day loop reads the same two arrays."""
    if not holdings:
        return ()
    col = sig.column
    floor = sig.score_floor[r]
    out = []
    for s in sorted(holdings):
        if holdings[s] > 0:
            j = col.get(s)
            v = float(sig.score[r, j]) if j is not None else math.nan
            out.append((s, v if v == v else floor))
    return tuple(out)


def voting_lookback(params: StrategyParams) -> int:
    return max(params.voting.offsets_days)


def decide(fs: FeatureStore, t: int, holdings: Mapping[str, float], state: RegimeState, params: StrategyParams,
           exclusions: Iterable[str] = ()) -> Plan:
    """The plan at row ``t`` of the features (the trader passes the last row of the closed-by-now panel)."""
    n_rows = fs.shape[0]
    if not 0 <= t < n_rows:
        raise IndexError(f"decision row {t} outside the panel's {n_rows} rows")
    allowed = allowed_columns(fs.panel.symbols, sorted(set(exclusions)))
    lo = max(0, t - voting_lookback(params))
    # features only for the block's rows (each from the candles its window reaches): bit-identical to the
    # full computation, at a fraction of its cost (see FeatureStore.tail)
    return plan_at(signal_rows(fs.tail(lo), lo, t + 1, params, allowed), t, holdings, state, params)
