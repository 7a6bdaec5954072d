"""Replay history day by day through the decision core and the risk gates, like the trader does.

Pure: a function of the panel's features, the strategy parameters and a ``BacktestConfig``; no I/O, no clock.
Each day ``t`` (decision at the close of candle ``t``):

1. mark the book at the close (a symbol without a candle that day keeps its last price);
2. kill switch on the curve of marks (its re-arm policy is the strategy's cooldown): when tripped, no new entries
   and no additions (sells only); with ``kill_switch_liquidate`` every holding is sold;
3. ``position_exit`` for every position (dust excluded): a DENY (stop-loss / take-profit) is a risk exit;
4. the risk exits FILL first (the whole holding floored to the lot step, at the close − slippage, fee in quote),
   as the trader's risk tick sells before its rebalance; an exited symbol is not bought back today;
5. ``plan_at`` — the trader's decision function — gives target weights against the weights after the exits;
6. the one post-plan step (``core/rebalance.py``, the trader's too): legs, regime cuts and lifts forced, the others
   weighed by ``cost_benefit`` with the benefit of ``rebalance_benefit_bps``, then sized (``size_legs``);
7. sells fill, then buys: a SELL at close × (1 − slippage) paying its fee in quote, a BUY at close × (1 + slippage)
   paying its fee in the base asset it receives (q × (1 − fee) arrives), prices on the symbol's tick grid (BUY up,
   SELL down; no grid without specs). A symbol without a candle that day is not bought; a sell of it fills at its
   last price.

The reported daily equity is the mark after that day's trades; the kill switch sees the pre-trade marks (what
the trader observes at its tick).

The days run in one compiled kernel (``loop.run_days``) that calls the trader's own compiled steps (hysteresis,
target weights, the rebalance benefit) and suspends to this module whenever a risk gate has to be asked: see
``loop.py``. ``_run`` is the driver (``run_backtest`` and ``run_backtest_segments`` call it): it lays out the arrays, answers the kernel's requests with the real
gates (``gates.GateRunner``) and turns the arrays into a ``BacktestResult``. The initial output capacity is
``_capacity(days, symbols)``; the kernel asks for more when a day could overflow it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import NamedTuple

import numpy as np

from aura_common.core.backtest.costs import CostModel, lot_rules
from aura_common.core.backtest import loop as lp
from aura_common.core import rebalance as rb
from aura_common.core.backtest.gates import DAY_MS, GateEvent, GateRunner, KillSwitchChange
from aura_common.core.backtest.metrics import compute_metrics
from aura_common.core.decide import Signals, plan_at, signal_rows, voting_lookback
from aura_common.core.features import FeatureStore
from aura_common.core.params import StrategyParams
from aura_common.core.regime import REGIMES, RegimeState, state_codes, state_from_codes
from aura_common.core.screen import allowed_columns
from aura_common.domain.values import MarketSpec, Side


ALL_GATES = frozenset({"kill_switch", "position_exit", "cost_benefit"})
FLAT_EXPOSURE = 1e-4  # a day ending below this share of equity invested is flat (dust aside)


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


class BacktestResult:
    """A backtest's outcome. Per-day series are arrays; ``trades``, ``gate_events`` and ``regime`` are built from the
    loop's arrays on first read (a sweep that reads only ``metrics`` never pays for them)."""

    def __init__(self, times_ms: np.ndarray, equity: np.ndarray, exposure: np.ndarray, metrics: Mapping[str, float],
                 final_cash: float, final_positions: Mapping[str, float], gate_calls: Mapping[str, int],
                 build_trades: Callable[[], tuple[Trade, ...]], build_events: Callable[[], tuple[GateEvent, ...]],
                 regime_codes: np.ndarray, plan_hashes: tuple[str, ...] = (),
                 plan_inputs: tuple[tuple[dict[str, float], RegimeState], ...] = (),
                 kill_switch_changes: tuple[KillSwitchChange, ...] = ()) -> None:
        self.times_ms, self.equity, self.exposure = times_ms, equity, exposure  # (D,) decision times, marks, invested
        self.metrics, self.final_cash, self.final_positions = metrics, final_cash, final_positions
        self.gate_calls = gate_calls  # real gate calls made (the loop decides the certain outcomes itself)
        self.plan_hashes, self.plan_inputs = plan_hashes, plan_inputs
        self._build_trades, self._build_events, self._regime_codes = build_trades, build_events, regime_codes
        self.kill_switch_changes = kill_switch_changes  # every trip and re-arm, in time order

    @property
    def days_flat(self) -> int:
        """Days that ended with nothing invested but dust (under 0.01 % of equity: what the lot step leaves after a
        whole holding was sold, the base-asset fee having made it a fraction of a step)."""
        return int(np.count_nonzero(self.exposure < FLAT_EXPOSURE))

    @property
    def days_tripped(self) -> int:
        """Decision days on which the kill switch was tripped (from a trip to its re-arm, or to the end)."""
        days, since = 0, None
        for c in self.kill_switch_changes:
            if c.action == "trip":
                since = c.t_ms
            elif since is not None:
                days += int(np.count_nonzero((self.times_ms >= since) & (self.times_ms < c.t_ms)))
                since = None
        if since is not None:
            days += int(np.count_nonzero(self.times_ms >= since))
        return days

    @cached_property
    def trades(self) -> tuple[Trade, ...]:
        return self._build_trades()

    @cached_property
    def gate_events(self) -> tuple[GateEvent, ...]:
        return self._build_events()

    @cached_property
    def regime(self) -> tuple[str, ...]:
        """(D,) the effective regime of each day."""
        return tuple(_REGIME_VALUES[c] for c in self._regime_codes.tolist())


_REGIME_VALUES = tuple(r.value for r in REGIMES)


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


def run_backtest_segments(fs: FeatureStore, segments: Sequence[tuple[StrategyParams, int, int]],
                          cfg: BacktestConfig) -> BacktestResult:
    """ONE continuous backtest whose parameters change at segment boundaries (a walk-forward's out-of-sample run).

    ``segments`` are ``(params, start_ms, end_ms)``: contiguous decision windows (open times, inclusive ends, as in
    ``BacktestConfig``) in time order. The portfolio, the entry prices, the kill switch (its state and its equity
    curve) and the regime state carry over every boundary; only the parameters change. ``cfg.start_ms`` /
    ``cfg.end_ms`` are ignored (the segments are the window) and ``record_plans`` is not supported."""
    if not segments:
        raise ValueError("run_backtest_segments needs at least one segment")
    if cfg.record_plans and len(segments) > 1:
        raise ValueError("record_plans is not supported across parameter changes")
    allowed = allowed_columns(fs.panel.symbols, cfg.exclusions)
    parts: list[tuple[Signals, StrategyParams, int, int]] = []
    for params, start_ms, end_ms in segments:
        lo, hi = row_range(fs, replace(cfg, start_ms=start_ms, end_ms=end_ms))
        if parts and lo != parts[-1][3]:
            raise ValueError(f"segments must be contiguous: one ends before row {parts[-1][3]}, the next starts at "
                             f"row {lo}")
        # the votes of the segment's first rows read the ranks of the rows before it (voting offsets)
        parts.append((signal_rows(fs, max(0, lo - voting_lookback(params)), hi, params, allowed), params, lo, hi))
    return _run(fs, parts, cfg)


def _simulate(fs: FeatureStore, sig: Signals, params: StrategyParams, cfg: BacktestConfig) -> BacktestResult:
    lo, hi = row_range(fs, cfg)
    return _run(fs, [(sig, params, lo, hi)], cfg)


def _run(fs: FeatureStore, parts: Sequence[tuple[Signals, StrategyParams, int, int]],
         cfg: BacktestConfig) -> BacktestResult:
    """The driver: lays out the state arrays once for the whole window, runs the kernel over each part with its
    parameters (state carried over), answers the kernel's requests with the real gates and builds the result."""
    lo, hi = parts[0][2], parts[-1][3]
    unknown = set(cfg.gates) - ALL_GATES
    if unknown:
        raise ValueError(f"unknown risk gates: {sorted(unknown)}")
    for sig, _, p_lo, p_hi in parts:
        if p_lo < sig.lo or p_hi > sig.lo + len(sig.observed):
            raise IndexError(f"backtest rows {p_lo}..{p_hi - 1} outside the signals' rows")
    symbols = fs.panel.symbols
    n, days = len(symbols), hi - lo
    fee_bps, slip_bps = cfg.costs.fee_bps, cfg.costs.slippage_bps
    rules = lot_rules(symbols, cfg.specs)
    lots = np.array([[r.step for r in rules], [r.min_qty for r in rules], [r.min_notional for r in rules],
                     [r.tick for r in rules]], dtype=np.float64).reshape(4, n)
    ist = np.zeros(lp.I_SIZE, dtype=np.int64)
    ist[lp.I_T], ist[lp.I_PHASE] = lo, lp.P_MARK
    ist[lp.I_REGIME], ist[lp.I_CAND], ist[lp.I_STREAK] = state_codes(RegimeState())
    ist[lp.I_KS_ENDS] = -1
    fst = np.zeros(lp.F_SIZE)
    fst[lp.F_CASH] = float(cfg.initial_cash)
    book = np.zeros((lp.B_SIZE, n))
    book[lp.B_LAST] = np.nan
    forced = np.zeros(n, dtype=np.int64)
    o_i, o_f = np.zeros((n, rb.O_SIZE), dtype=np.int64), np.zeros(n)
    out_f, out_reg = np.zeros((lp.D_SIZE, days)), np.zeros(days, dtype=np.int8)
    cap = _capacity(days, n)
    tr_i, tr_f = np.zeros((cap, 4), dtype=np.int64), np.zeros((cap, 4))
    ev_i, ev_f = np.zeros((cap, 6), dtype=np.int64), np.zeros((cap, 2))
    ol_i, ol_f = np.zeros((cap, 3), dtype=np.int64), np.zeros(cap)
    rec = cfg.record_plans
    rec_w, rec_tgt = (np.zeros((days, n)), np.zeros((days, n))) if rec else (np.zeros((1, n)), np.zeros((1, n)))
    rec_state = np.zeros((days if rec else 1, 3), dtype=np.int64)
    # one memory layout for the kernel whatever the panel's (the transpose of the usual column-major close is free)
    close_t = fs.panel.close.T
    if not close_t.flags.c_contiguous:
        close_t = np.ascontiguousarray(close_t)
    times = np.concatenate([np.asarray(sig.decision_ms[p_lo - sig.lo:p_hi - sig.lo], dtype=np.int64)
                            for sig, _, p_lo, p_hi in parts])
    gates: GateRunner | None = None
    for sig, params, p_lo, p_hi in parts:
        risk = params.risk
        pi, pf = _kernel_params(lo, p_hi, sig.lo, params, cfg)
        # the kill switch's state (trip, cooldown, re-arm, its events) carries over; its parameters are the part's
        gates = GateRunner(risk) if gates is None else GateRunner(risk, gates.state, gates.events, gates.calls,
                                                                  gates.changes)
        if gates.state.tripped:
            ends = gates.cooldown_ends_ms()
            ist[lp.I_KS_ENDS] = -1 if ends is None else ends
        score = np.ascontiguousarray(sig.score, dtype=np.float64)
        selected = np.ascontiguousarray(sig.selected, dtype=np.int64)
        observed = np.ascontiguousarray(sig.observed, dtype=np.int8)
        dec = np.ascontiguousarray(sig.decision_ms, dtype=np.int64)
        floor = np.asarray(sig.score_floor, dtype=np.float64)
        while True:
            status = lp.run_days(close_t, score, floor, selected, observed, dec, lots, pi, pf, ist, fst, book,
                                 forced, o_i, o_f, out_f, out_reg, tr_i, tr_f, ev_i, ev_f, ol_i, ol_f, rec_w,
                                 rec_tgt, rec_state)
            if status == lp.DONE:
                break
            d = int(ist[lp.I_T]) - lo
            now = int(times[d])
            if status == lp.NEED_KS:
                first = int(np.searchsorted(times[:d + 1], now - (risk.kill_switch_window_days + 1) * DAY_MS))
                curve = list(zip(times[first:d + 1].tolist(), out_f[lp.D_MARK, first:d + 1].tolist()))
                ist[lp.I_BLOCKED] = gates.kill_switch(curve, now, (d, lp.P_MARK, -1))
                state = gates.state
                ends = gates.cooldown_ends_ms()
                ist[lp.I_KS_TRIPPED], ist[lp.I_KS_ENDS] = state.tripped, -1 if ends is None else ends
                since = state.armed_since_ms
                ist[lp.I_KS_SINCE] = 0 if since is None else int(np.searchsorted(times[:d + 1], since, side="left"))
            elif status == lp.NEED_EXIT:
                j = int(ist[lp.I_POS])
                gate = gates.exit_now(symbols[j], float(book[lp.B_ENTRY, j]), float(book[lp.B_LAST, j]), now,
                                      (d, lp.P_EXIT, j))
                forced[j] = 0 if gate is None else _WHY[gate]
            elif status == lp.NEED_CB:
                no = int(ist[lp.I_NORD])
                orders = _orders(symbols, o_i[:no, rb.O_COL], o_i[:no, rb.O_SIDE], o_f[:no], o_i[:no, rb.O_FORCED])
                keep = gates.weigh(orders, float(fst[lp.F_BENEFIT]), float(fst[lp.F_EQUITY]), fee_bps, slip_bps,
                                   now, (d, lp.P_PLAN, -1))
                o_i[:no, rb.O_KEEP] = keep
            elif status == lp.NEED_SPACE:
                tr_i, tr_f, ev_i, ev_f, ol_i, ol_f = (np.concatenate([a, np.zeros_like(a)])
                                                      for a in (tr_i, tr_f, ev_i, ev_f, ol_i, ol_f))
            else:  # pragma: no cover - the kernel returns only the statuses above
                raise AssertionError(f"unknown day-loop status {status}")
    assert gates is not None
    runner = gates

    equity, exposure = out_f[lp.D_EQUITY].copy(), out_f[lp.D_EXPO].copy()
    n_tr, n_ev = int(ist[lp.I_NTR]), int(ist[lp.I_NEV])
    metrics = compute_metrics(equity, exposure, float(fst[lp.F_TRADED]), n_tr)
    qty = book[lp.B_QTY]
    final_positions = {symbols[j]: float(qty[j]) for j in np.flatnonzero(qty > 0).tolist()}
    tr_i, tr_f, ev_i, ev_f = tr_i[:n_tr], tr_f[:n_tr], ev_i[:n_ev], ev_f[:n_ev]

    def build_trades() -> tuple[Trade, ...]:
        t_ms = times[tr_i[:, 0]].tolist()
        new = tuple.__new__
        return tuple(new(Trade, (tm, symbols[j], _SIDES[side], q, px, gross, f, rb.REASONS[why]))
                     for tm, (_, j, side, why), (q, px, gross, f) in zip(t_ms, tr_i.tolist(), tr_f.tolist()))

    def build_events() -> tuple[GateEvent, ...]:
        out = list(runner.events)
        for (d, phase, j, gate, start, count), (a, b) in zip(ev_i.tolist(), ev_f.tolist()):
            now = int(times[d])
            if gate == lp.EV_CB:
                orders = _orders(symbols, ol_i[start:start + count, 0], ol_i[start:start + count, 1],
                                 ol_f[start:start + count], ol_i[start:start + count, 2])
                ev = runner.cost_benefit_deny_event(now, orders, a, b, fee_bps, slip_bps)
            else:
                ev = runner.exit_event(now, rb.REASONS[gate], symbols[j], a, b)
            out.append(((d, phase, j), ev))
        out.sort(key=lambda e: e[0])
        return tuple(e for _, e in out)

    hashes: tuple[str, ...] = ()
    inputs: tuple[tuple[dict[str, float], RegimeState], ...] = ()
    if rec:
        sig, params = parts[0][0], parts[0][1]
        hashes, inputs = _replay_plans(sig, params, symbols, lo, rec_w, rec_tgt, rec_state)
    return BacktestResult(times.copy(), equity, exposure, metrics, float(fst[lp.F_CASH]), final_positions,
                          dict(runner.calls), build_trades, build_events, out_reg, hashes, inputs,
                          tuple(runner.changes))


def _kernel_params(lo: int, hi: int, sig_lo: int, params: StrategyParams,
                   cfg: BacktestConfig) -> tuple[np.ndarray, np.ndarray]:
    """The day loop's integer and float parameters (``loop.K_*``, ``loop.G_*``)."""
    risk, rp, pp = params.risk, params.regime, params.portfolio
    fee_bps, slip_bps = cfg.costs.fee_bps, cfg.costs.slippage_bps
    pi = np.zeros(lp.K_SIZE, dtype=np.int64)
    pi[lp.K_LO], pi[lp.K_HI], pi[lp.K_SIG_LO] = lo, hi, sig_lo
    pi[lp.K_USE_KS] = "kill_switch" in cfg.gates
    pi[lp.K_USE_EXIT] = "position_exit" in cfg.gates
    pi[lp.K_USE_CB] = "cost_benefit" in cfg.gates
    pi[lp.K_SCREEN], pi[lp.K_LIQUIDATE] = cfg.screen_gates, risk.kill_switch_liquidate
    pi[lp.K_EQUAL], pi[lp.K_CONFIRM] = pp.weighting == "equal", rp.confirm_cycles
    pi[lp.K_KS_POINTS], pi[lp.K_TRIM] = risk.kill_switch_window_days + 2, risk.cost_benefit_action == "trim"
    pi[lp.K_RECORD] = cfg.record_plans
    pf = np.zeros(lp.G_SIZE)
    pf[lp.G_FEE], pf[lp.G_SLIP], pf[lp.G_FEE_BPS], pf[lp.G_SLIP_BPS] = fee_bps / 1e4, slip_bps / 1e4, fee_bps, slip_bps
    pf[lp.G_EXPO_BULL], pf[lp.G_EXPO_SIDE], pf[lp.G_EXPO_BEAR] = rp.exposure_bull, rp.exposure_sideways, rp.exposure_bear
    pf[lp.G_MAX_W], pf[lp.G_MIN_TRADE] = pp.max_weight, pp.min_trade_weight
    # certain PASS below the threshold less a tolerance far above float rounding (the gate compares exactly)
    pf[lp.G_KS_MARGIN] = risk.kill_switch_max_drawdown_pct / 100.0 - 1e-9
    pf[lp.G_STOP], pf[lp.G_TAKE] = 1 - risk.stop_loss_pct / 100.0, 1 + risk.take_profit_pct / 100.0
    pf[lp.G_CB_MARGIN], pf[lp.G_BPS_PER_SCORE] = risk.cost_benefit_margin_bps, risk.cost_benefit_bps_per_score
    return pi, pf


def _capacity(days: int, symbols: int) -> int:
    return 2 * days + 2 * symbols + 16


_SIDES = ("SELL", "BUY")  # loop.SELL, loop.BUY
_WHY = {"stop_loss": rb.WHY_STOP, "take_profit": rb.WHY_TAKE}


def _orders(symbols: Sequence[str], cols: np.ndarray, sides: np.ndarray, notionals: np.ndarray,
            forced: np.ndarray) -> list[tuple[str, Side, float, bool]]:
    return [(symbols[j], Side.SELL if side == rb.SELL else Side.BUY, x, bool(f))
            for j, side, x, f in zip(cols.tolist(), sides.tolist(), notionals.tolist(), forced.tolist())]


def _replay_plans(sig: Signals, params: StrategyParams, symbols: Sequence[str], lo: int, rec_w: np.ndarray,
                  rec_tgt: np.ndarray, rec_state: np.ndarray,
                  ) -> tuple[tuple[str, ...], tuple[tuple[dict[str, float], RegimeState], ...]]:
    """Each day's plan by ``plan_at`` (the trader's function) from the loop's inputs; its targets must be the ones
    the compiled loop used, or the run is not the trader's strategy and this raises."""
    hashes, inputs = [], []
    for d in range(len(rec_w)):
        held = np.flatnonzero(rec_w[d] > 0).tolist()
        weights = {symbols[j]: float(rec_w[d, j]) for j in held}
        state = state_from_codes(*rec_state[d].tolist())
        plan = plan_at(sig, lo + d, weights, state, params)
        want = np.zeros(len(symbols))
        for s, w in plan.targets:
            want[symbols.index(s)] = w
        if not np.array_equal(want, rec_tgt[d]):
            raise AssertionError(f"the compiled day loop and plan_at disagree on the targets of row {lo + d}")
        hashes.append(plan.hash)
        inputs.append((weights, state))
    return tuple(hashes), tuple(inputs)
