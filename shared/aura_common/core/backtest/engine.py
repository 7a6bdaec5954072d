"""Replay history day by day through the decision core and the risk gates, like the trader does.

Pure: a function of the panel's features, the strategy parameters and a ``BacktestConfig``; no I/O, no clock.
Each day ``t`` (decision at the close of candle ``t``):

1. mark the book at the close (a symbol without a candle that day keeps its last price);
2. kill switch on the curve of marks: when tripped, no new entries and no additions (sells only); with
   ``kill_switch_liquidate`` everything is sold;
3. ``position_exit`` for every position: a DENY (stop-loss / take-profit) sells it today, no re-entry today;
4. ``plan_at`` — the trader's decision function — gives target weights against the current weights;
5. the orders (target − current, in quote notional) go through ``cost_benefit`` with the expected benefit of
   ``rebalance_benefit_bps``; sells caused by a gate or by a regime exposure cut are ``forced``;
6. sells fill first, then buys, at the close ∓ slippage, fee on the notional. A quantity is the order's
   notional at the mark (the close), as the trader sizes a market order from the last price, floored to the lot
   step; orders below min quantity / min notional are not placed; buys shrink to the cash left, so cash never
   goes negative. A symbol without a candle that day is not bought; a sell of it fills at its last price.

The reported daily equity is the mark after that day's trades; the kill switch sees the pre-trade marks (what
the trader observes at its tick).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from aura_common.core.backtest.costs import CostModel, lot_rules
from aura_common.core.backtest.gates import GateEvent, GateRunner
from aura_common.core.backtest.metrics import compute_metrics
from aura_common.core.decide import Signals, plan_at, signal_rows
from aura_common.core.features import FeatureStore
from aura_common.core.params import StrategyParams
from aura_common.core.regime import Regime, RegimeState
from aura_common.core.risk import rebalance_benefit_bps
from aura_common.core.screen import allowed_columns
from aura_common.domain.values import MarketSpec, Side


ALL_GATES = frozenset({"kill_switch", "position_exit", "cost_benefit"})


@dataclass(frozen=True)
class BacktestConfig:
    start_ms: int | None = None  # first decision candle (open time, inclusive); None = first row
    end_ms: int | None = None  # last decision candle (open time, inclusive); None = last row
    initial_cash: float = 10_000.0
    costs: CostModel = field(default_factory=CostModel)
    exclusions: tuple[str, ...] = ()
    specs: Mapping[str, MarketSpec] | None = None
    screen_gates: bool = True  # skip gate calls whose outcome is certain (see gates.py); False calls every gate
    # Which risk gates run. All three, as in the trader, unless a research comparison (the benchmark's plain
    # rotation) switches them off explicitly; a gate that is off is not consulted at all.
    gates: frozenset[str] = ALL_GATES
    record_plans: bool = False  # keep every day's plan hash and its inputs (holdings, regime state)


class Trade(NamedTuple):
    """One fill (immutable; a NamedTuple because a backtest makes thousands)."""

    t_ms: int  # decision time (close of the decision candle)
    symbol: str
    side: str  # BUY / SELL
    qty: float
    price: float  # fill price after slippage
    notional: float
    fee: float
    reason: str  # rebalance / exit / stop_loss / take_profit / kill_switch / regime


@dataclass(frozen=True, eq=False)
class BacktestResult:
    times_ms: np.ndarray  # (D,) decision times
    equity: np.ndarray  # (D,) post-trade marks
    exposure: np.ndarray  # (D,) invested fraction
    regime: tuple[str, ...]  # (D,) effective regime
    trades: tuple[Trade, ...]
    gate_events: tuple[GateEvent, ...]
    gate_calls: Mapping[str, int]
    metrics: Mapping[str, float]
    final_cash: float
    final_positions: Mapping[str, float]
    plan_hashes: tuple[str, ...] = ()
    plan_inputs: tuple[tuple[dict[str, float], RegimeState], ...] = ()


def row_range(fs: FeatureStore, cfg: BacktestConfig) -> tuple[int, int]:
    times = fs.panel.times
    lo = 0 if cfg.start_ms is None else int(np.searchsorted(times, cfg.start_ms, side="left"))
    hi = len(times) if cfg.end_ms is None else int(np.searchsorted(times, cfg.end_ms, side="right"))
    if lo >= hi:
        raise ValueError("the backtest window holds no candles")
    return lo, hi


def run_backtest(fs: FeatureStore, params: StrategyParams, cfg: BacktestConfig,
                 signals: Signals | None = None) -> BacktestResult:
    """Backtest over the window. ``signals`` (from ``signal_rows(fs, 0, T, ...)``) may be passed to reuse them."""
    if signals is None:
        allowed = allowed_columns(fs.panel.symbols, cfg.exclusions)
        signals = signal_rows(fs, 0, fs.shape[0], params, allowed)
    return _simulate(fs, signals, params, cfg)


def _simulate(fs: FeatureStore, sig: Signals, params: StrategyParams, cfg: BacktestConfig) -> BacktestResult:
    lo, hi = row_range(fs, cfg)
    unknown = set(cfg.gates) - ALL_GATES
    if unknown:
        raise ValueError(f"unknown risk gates: {sorted(unknown)}")
    use_ks, use_exit, use_cb = ("kill_switch" in cfg.gates, "position_exit" in cfg.gates,
                                "cost_benefit" in cfg.gates)
    symbols = fs.panel.symbols
    col = {s: j for j, s in enumerate(symbols)}
    rules = lot_rules(symbols, cfg.specs)
    closes = fs.close_rows()
    dec_ms = sig.decision_ms.tolist()
    risk = params.risk
    fee_bps, slip_bps = cfg.costs.fee_bps, cfg.costs.slippage_bps
    fee, slip = fee_bps / 1e4, slip_bps / 1e4
    gates = GateRunner(risk, screen=cfg.screen_gates)
    score_rows, row_floor = sig.score, sig.score_floor
    SELL, BUY = Side.SELL, Side.BUY  # noqa: N806 - local aliases for the hot loop
    ks_blocks, exit_now, exit_band = gates.kill_switch_blocks, gates.exit_now, gates.exit_band

    cash = float(cfg.initial_cash)
    qty: dict[str, float] = {}
    entry: dict[str, float] = {}
    band: dict[str, tuple[float, float]] = {}  # per position: last prices strictly inside need no exit call
    last_px: dict[str, float] = {}
    state = RegimeState()
    curve: list[tuple[int, float]] = []
    marks: list[float] = []
    eq_list: list[float] = []  # lists while looping (a NumPy scalar store costs more than an append)
    expo_list: list[float] = []
    regimes: list[Regime] = []
    sig_lo = sig.lo
    trades: list[Trade] = []
    hashes: list[str] = []
    inputs: list[tuple[dict[str, float], RegimeState]] = []
    traded = 0.0
    prev_exposure = 0.0

    for t in range(lo, hi):
        row = closes[t]
        r = t - sig_lo
        now = dec_ms[r]
        value = 0.0
        for s, q in qty.items():
            p = row[col[s]]
            if p == p:
                last_px[s] = p
            value += q * last_px[s]
        equity = cash + value
        curve.append((now, equity))
        marks.append(equity)

        # 1. the gates that watch the book
        blocked = equity <= 0 or (use_ks and ks_blocks(curve, marks, now))
        forced: dict[str, str] = {}
        if use_exit and qty:
            for s in sorted(qty):
                last = last_px[s]
                lo_px, hi_px = band[s]
                if lo_px < last < hi_px:  # the gate's own screen (GateRunner.exit_band): it would PASS
                    continue
                reason = exit_now(s, entry[s], last, now)
                if reason:
                    forced[s] = reason
        # 2. the trader's decision
        weights = {s: q * last_px[s] / equity for s, q in qty.items()} if equity > 0 and qty else {}
        plan = plan_at(sig, t, weights, state, params)
        if cfg.record_plans:
            hashes.append(plan.hash)
            inputs.append((dict(weights), state))
        state = plan.regime
        targets = dict(plan.targets)
        for s in forced:
            targets.pop(s, None)
        if blocked:
            if risk.kill_switch_liquidate:
                for s in qty:
                    forced.setdefault(s, "kill_switch")
                targets = {}
            else:
                targets = {s: min(w, weights[s]) for s, w in targets.items() if s in weights}
        regime_cut = plan.exposure < prev_exposure
        prev_exposure = plan.exposure

        # 3. orders: (symbol, side, notional, forced, why), weighed by the cost-benefit gate
        orders = []
        for s in sorted(qty.keys() | targets.keys()):
            cur = weights.get(s, 0.0)
            tgt = 0.0 if s in forced else targets.get(s, 0.0)
            if tgt < cur:
                why = forced.get(s) or ("regime" if regime_cut else ("exit" if tgt == 0 else "rebalance"))
                orders.append((s, SELL, (cur - tgt) * equity, s in forced or regime_cut, why))
            elif tgt > cur:
                orders.append((s, BUY, (tgt - cur) * equity, False, "rebalance"))
        if use_cb and orders and not all(o[3] for o in orders):
            scores = {p[0]: p[1] for p in plan.picks}  # (symbol, score, ...)
            for s in weights:  # held symbols: their score, or the cross-section's lowest when unscored
                if s not in scores:
                    v = score_rows[r, col[s]]
                    scores[s] = float(v) if v == v else row_floor[r]
            benefit = rebalance_benefit_bps(weights, targets, scores, risk.cost_benefit_bps_per_score)
            orders = gates.weigh(orders, benefit, equity, fee_bps, slip_bps, now)

        # 4. fills: sells first, then buys with the cash there is
        for s, side, notional, _, why in orders:
            if side is not SELL:
                continue
            px = last_px[s] * (1 - slip)
            held = qty[s]
            q = held if s in forced or notional >= held * last_px[s] * (1 - 1e-9) else rules[col[s]].floor_qty(
                notional / last_px[s])
            if q <= 0 or not rules[col[s]].placeable(q, px):
                continue
            gross = q * px
            f = gross * fee
            cash += gross - f
            traded += gross
            if q >= held:
                del qty[s], entry[s], band[s]
            else:
                qty[s] = held - q
            trades.append(Trade(now, s, "SELL", q, px, gross, f, why))
        for s, side, notional, _, why in orders:
            if side is not BUY:
                continue
            price = row[col[s]]
            if price != price or cash <= 0:
                continue
            px = price * (1 + slip)
            rule = rules[col[s]]
            # 1e-12 below the cash: float rounding of the quotient must never buy a hair more than we have
            q = rule.floor_qty(min(notional / price, cash / (px * (1 + fee)) * (1 - 1e-12)))
            cost = q * px * (1 + fee)
            if q <= 0 or cost > cash or not rule.placeable(q, px):
                continue
            gross = q * px
            cash -= cost
            traded += gross
            held = qty.get(s, 0.0)
            entry[s] = e = (entry.get(s, 0.0) * held + gross) / (held + q)
            band[s] = exit_band(e)
            qty[s] = held + q
            last_px[s] = price
            trades.append(Trade(now, s, "BUY", q, px, gross, gross * fee, why))
        if cash < 0:  # pragma: no cover - an invariant; a negative balance means an accounting bug
            raise AssertionError(f"cash went negative ({cash}) at {now}")
        value = 0.0
        for s, q in qty.items():
            value += q * last_px[s]
        equity = cash + value
        eq_list.append(equity)
        expo_list.append(value / equity if equity > 0 else 0.0)
        regimes.append(state.regime)

    eq_out, expo_out = np.array(eq_list, dtype=np.float64), np.array(expo_list, dtype=np.float64)
    metrics = compute_metrics(eq_out, expo_out, traded, len(trades))
    return BacktestResult(np.asarray(dec_ms[lo - sig.lo:hi - sig.lo], dtype=np.int64), eq_out, expo_out,
                          tuple(r.value for r in regimes), tuple(trades), tuple(gates.events), dict(gates.calls), metrics, cash,
                          dict(sorted(qty.items())), tuple(hashes), tuple(inputs))
