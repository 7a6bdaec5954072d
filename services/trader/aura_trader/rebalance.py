"""The rebalance: schedule due? → panel from the Parquet cache → decision core → cost-benefit gate → intents.

Schedule: one rebalance a day, ``rebalance_hour_utc`` + ``rebalance_delay_minutes`` after 00:00 UTC, deciding on the
daily candle that closed at 00:00 UTC of that day. The cycle key is the due time (``2024-05-01T00:15Z``), a pure
function of the decision day: a restarted trader computes the SAME key, finds the cycle in the journal and resumes
it (reusing its journaled intents — it never re-plans with new balances) or sees it finished and does nothing.

``plan_intents`` is the pure heart (no I/O): the same panel, parameters, balances and prices give the same plan,
the same intents and the same client order ids, in any process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime, timezone
from decimal import Decimal

import numpy as np

from aura_common.adapters import parquet_store
from aura_common.adapters.journal import CycleStatus
from aura_common.adapters.logs import event
from aura_common.core.decide import decide
from aura_common.core.features import FeatureStore
from aura_common.core.intents import IntentBatch, plan_legs_for, size_intents
from aura_common.core.panel import Panel
from aura_common.core.params import StrategyParams
from aura_common.core.plan import Plan
from aura_common.core.rebalance import O_KEEP
from aura_common.core.regime import RegimeState
from aura_common.core.risk import GateDecision, GateResult, TradeEstimate, cost_benefit, rebalance_benefit_bps
from aura_common.domain import Interval, MarketSpec, Symbol

from aura_trader.ports import CycleJournal, RebalanceMetrics

log = logging.getLogger("aura_trader.rebalance")
DAY_MS = 86_400_000


@dataclass(frozen=True)
class DueCycle:
    key: str  # e.g. 2024-05-01T00:15Z
    due_ms: int  # when it became due
    day_ms: int  # 00:00 UTC of the decision day: the decision uses candles closed by then


def due_cycle(now_ms: int, hour_utc: int, delay_minutes: int) -> DueCycle:
    """The latest rebalance that is due at ``now_ms`` (today's once its time has come, else yesterday's).
    It decides on the candles closed by the latest 00:00 UTC at or before its due time."""
    offset = (hour_utc * 3_600_000 + delay_minutes * 60_000) % DAY_MS
    due = now_ms - (now_ms - offset) % DAY_MS  # the latest time <= now at the configured time of day
    day = due - due % DAY_MS  # the latest 00:00 UTC close at or before it: the decision day
    key = datetime.fromtimestamp(due / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    return DueCycle(key, due, day)


def lookback_days(params: StrategyParams, padding_days: int) -> int:
    """Enough history for every window of the strategy: the largest ``*_days`` parameter plus voting offsets."""
    longest = 0

    def walk(obj) -> None:
        nonlocal longest
        for f in fields(obj):
            v = getattr(obj, f.name)
            if is_dataclass(v):
                walk(v)
            elif f.name.endswith("_days"):
                for x in (v if isinstance(v, tuple) else (v,)):
                    if isinstance(x, (int, float)):
                        longest = max(longest, int(x))

    walk(params)
    return longest + max(params.voting.offsets_days) + padding_days + 1


DECISION_FIELDS = ("close", "quote_volume")


def decision_row(panel: Panel) -> int | None:
    """The last row with at least one finite close (None when the panel has none)."""
    ok = np.isfinite(panel.close).any(axis=1)
    rows = np.nonzero(ok)[0]
    return int(rows[-1]) if len(rows) else None


@dataclass(frozen=True)
class Proposal:
    plan: Plan
    gate: GateResult | None
    targets: dict[str, float]  # after the cost-benefit gate
    batch: IntentBatch
    reasons: dict[str, str]


def plan_intents(*, panel: Panel, row: int, params: StrategyParams, regime: RegimeState, prev_exposure: float,
                 cycle_key: str, holdings: Mapping[Symbol, Decimal], free_quote: Decimal,
                 prices: Mapping[Symbol, Decimal], specs: Mapping[Symbol, MarketSpec], fee_bps: float,
                 slippage_bps: float, exclusions: Sequence[str] = (), blocked: bool = False,
                 stopped: Mapping[Symbol, str] | None = None) -> Proposal:
    """Pure: plan → the one post-plan step (``core.rebalance``, as the backtester's day loop runs it) → intents.

    ``holdings`` are FREE base quantities of managed symbols. ``blocked``: the kill switch is tripped (no new entries
    or additions; sells still run). ``stopped``: symbols exited today by a stop-loss / take-profit (or the kill
    switch's liquidation) and why: they are not bought back today."""
    equity = free_quote + sum((q * prices[s] for s, q in holdings.items() if q > 0), Decimal(0))
    weights: dict[str, float] = ({s: float(q * prices[s] / equity) for s, q in holdings.items() if q > 0}
                                  if equity > 0 else {})
    plan = decide(FeatureStore(panel), row, weights, regime, params, exclusions)
    planned: dict[Symbol, float] = {Symbol(s): w for s, w in plan.targets if s in specs}
    stopped = {s: why for s, why in (stopped or {}).items() if s in specs and s in prices}
    for s in stopped:  # a symbol exited today and no longer held still needs a column (its target is forced to 0)
        planned.setdefault(s, 0.0)
    legs = plan_legs_for(targets=planned, holdings=holdings, prices=prices, specs=specs, free_quote=free_quote,
                         forced=stopped, blocked=blocked, liquidate=params.risk.kill_switch_liquidate,
                         cut=plan.exposure < prev_exposure, lift=plan.exposure > prev_exposure)
    targets: dict[str, float] = {str(s): float(w) for s, w in zip(legs.symbols, legs.target.tolist())}
    gate = None
    if legs.weighable and equity > 0:
        trades = [TradeEstimate(legs.symbol(k), legs.side(k), Decimal(repr(round(float(legs.o_f[k]), 8))),
                                legs.forced(k)) for k in range(legs.n)]
        # picks at their score; held symbols at theirs, or the cross-section's lowest when unscored (as the
        # backtester weighs them: the same rule, from the same signals)
        scores = {**dict(plan.held_scores), **{p.symbol: p.score for p in plan.picks}}
        benefit = rebalance_benefit_bps(weights, targets, scores, params.risk.cost_benefit_bps_per_score)
        gate, kept = cost_benefit(trades, benefit, equity, params.risk, fee_bps, slippage_bps)
        if gate.decision is not GateDecision.PASS:
            keep = {(k.symbol, k.side) for k in kept}
            for k in range(legs.n):
                if (legs.symbol(k), legs.side(k)) not in keep:  # dropped: hold the current weight, no trade
                    legs.o_i[k, O_KEEP] = 0
                    targets[legs.symbol(k)] = weights.get(legs.symbol(k), 0.0)
    reasons: dict[str, str] = {str(legs.symbol(k)): legs.reason(k) for k in legs.kept()}
    batch = size_intents(legs, cycle_key=cycle_key, plan_hash=plan.hash, holdings=holdings, prices=prices,
                         specs=specs, free_quote=free_quote, fee_bps=fee_bps, slippage_bps=slippage_bps)
    targets = {s: w for s, w in targets.items() if w > 0}
    return Proposal(plan, gate, targets, batch, reasons)


class Rebalancer:
    """The shell around ``plan_intents``: schedule, cache, venue reads, journal, execution."""

    def __init__(self, *, broker, journal: CycleJournal, executor, metrics: RebalanceMetrics | None, data_dir: str,
                 interval: str, universe, quote_asset: str,
                 exclusions: Sequence[str], fee_bps: float, slippage_bps: float, hour_utc: int, delay_minutes: int,
                 max_stale_hours: float, padding_days: int, config_version: str, read, max_symbols: int = 300) -> None:
        self.broker, self.journal, self.executor, self.metrics = broker, journal, executor, metrics
        self.data_dir, self.interval, self.quote = data_dir, interval, quote_asset
        self._universe, self.exclusions = universe, tuple(exclusions)
        self.fee_bps, self.slippage_bps = fee_bps, slippage_bps
        self.hour, self.delay, self.max_stale_ms = hour_utc, delay_minutes, int(max_stale_hours * 3_600_000)
        self.padding, self.config_version, self._read = padding_days, config_version, read
        self.max_symbols = max_symbols

    def universe(self) -> tuple[Symbol, ...]:
        """The configured symbols that the venue trades against the quote asset (``None`` = all of them)."""
        specs = self._read(self.broker.markets, "loading markets")
        wanted = self._universe if self._universe is not None else sorted(specs)
        out = tuple(Symbol(s) for s in wanted if s in specs and specs[Symbol(s)].quote_asset == self.quote
                    and s not in self.exclusions)
        return out[: self.max_symbols]

    def due(self, now_ms: int) -> DueCycle | None:
        d = due_cycle(now_ms, self.hour, self.delay)
        cycle = self.journal.cycle(d.key)
        return d if cycle is None or not cycle.status.is_finished else None

    def run(self, due: DueCycle, params: StrategyParams, now_ms: int, *, blocked: bool = False,
            stopped: Mapping[Symbol, str] | None = None) -> str:
        """Plan (or resume) and execute the cycle; returns its journal status afterwards. ``blocked``: the kill
        switch is tripped (sells only); ``stopped``: symbols a risk exit sold today (not bought back today)."""
        cycle = self.journal.cycle(due.key)
        if cycle is None or not self.journal.orders_of_cycle(due.key):
            finished = self._plan(due, params, now_ms, blocked, stopped)
            if finished is not None:
                return finished
        else:
            self.journal.begin_cycle(due.key)  # a re-entry after a restart: attempts + 1, intents reused
            event(log, "CYCLE_RESUME", cycle=due.key, orders=len(self.journal.orders_of_cycle(due.key)))
        summary = self.executor.run(due.key)
        if not summary.complete:
            event(log, "CYCLE_PENDING", logging.WARNING, cycle=due.key, unresolved=",".join(summary.unresolved))
            return CycleStatus.RUNNING.value
        regime = self.journal.events("REGIME", limit=1)
        detail = {"orders": summary.outcomes, "regime": regime[0].fields.get("regime") if regime else None}
        done = self.journal.finish_cycle(due.key, CycleStatus.DONE, detail=detail)
        event(log, "CYCLE_DONE", cycle=due.key,
              orders=",".join(f"{k}:{v}" for k, v in sorted(summary.outcomes.items())) or "-", attempts=done.attempts)
        return done.status.value

    def _plan(self, due: DueCycle, params: StrategyParams, now_ms: int, blocked: bool = False,
              stopped: Mapping[Symbol, str] | None = None) -> str | None:
        symbols = self.universe()
        iv = Interval(self.interval)
        start = due.day_ms - lookback_days(params, self.padding) * DAY_MS
        # the decision reads closes and quote volumes only (the other columns are NaN). A symbol whose cache
        # file is unreadable or refused by the candle rule is left out of this cycle, and said so.
        refused: dict[str, str] = {}
        panel = parquet_store.load_panel(self.data_dir, iv, symbols, start_ms=start, end_ms=due.day_ms,
                                         fields=DECISION_FIELDS,
                                         on_invalid=lambda s, exc: refused.__setitem__(s, str(exc)))
        if refused:
            for s, why in sorted(refused.items()):
                event(log, "DATA_REFUSED", logging.WARNING, cycle=due.key, symbol=s, left_out=True, reason=why)
            self.journal.append_event("DATA_REFUSED", {"cycle": due.key, "symbols": sorted(refused),
                                                       "reasons": refused})  # the cycle row does not exist yet
            symbols = tuple(s for s in symbols if s not in refused)
            panel = panel.select(symbols)
        self._freshness(panel, now_ms)
        row = decision_row(panel)
        age_ms = due.day_ms - (int(panel.times[row]) + panel.interval_ms) if row is not None else None
        if row is None or age_ms is None or age_ms > self.max_stale_ms:
            reason = (f"data stale: newest closed {self.interval} candle in {self.data_dir} closed "
                      f"{'never' if age_ms is None else f'{age_ms / 3_600_000:.1f} h'} before {due.key}")
            self.journal.begin_cycle(due.key, config_version=self.config_version)
            self.journal.finish_cycle(due.key, CycleStatus.SKIPPED, detail={"reason": reason})
            event(log, "CYCLE_SKIPPED", logging.WARNING, cycle=due.key, reason=reason)
            return CycleStatus.SKIPPED.value
        specs = self._read(self.broker.markets, "loading markets")
        balances = self._read(self.broker.balances, "reading balances")
        prices = self._read(lambda: self.broker.prices(symbols), "reading prices")
        holdings = {s: balances[specs[s].base_asset].free for s in symbols
                    if specs[s].base_asset in balances and s in prices}
        quote = balances.get(self.quote)
        last = [e for e in self.journal.events("REGIME", limit=10) if e.cycle_key != due.key][-1:]
        regime = RegimeState.from_dict(last[0].fields["regime"]) if last else RegimeState()
        prev_exposure = float(last[0].fields.get("exposure", 0.0)) if last else 0.0
        proposal = plan_intents(panel=panel, row=row, params=params, regime=regime, prev_exposure=prev_exposure,
                                cycle_key=due.key, holdings=holdings, free_quote=quote.free if quote else Decimal(0),
                                prices=prices, specs=specs, fee_bps=self.fee_bps, slippage_bps=self.slippage_bps,
                                exclusions=self.exclusions, blocked=blocked, stopped=stopped)
        plan, gate = proposal.plan, proposal.gate

        def journal_plan() -> None:
            self.journal.begin_cycle(due.key, plan.hash, self.config_version)
            self.journal.append_event("REGIME", {"regime": plan.regime.to_dict(), "exposure": plan.exposure,
                                                 "observed": plan.observed.value}, cycle_key=due.key)
            if gate is not None and gate.decision is not GateDecision.PASS:
                self.journal.append_event("GATE", {"gate": gate.gate, "decision": gate.decision.value,
                                                   "reason": gate.reason, **gate.figures}, cycle_key=due.key)

        batch = proposal.batch
        self.executor.record(due.key, batch.intents, batch.dust, plan.hash, proposal.reasons, before=journal_plan)
        if gate is not None and gate.decision is not GateDecision.PASS and self.metrics is not None:
            self.metrics.gate(gate)
        if self.metrics is not None:
            self.metrics.set_regime(plan.regime.regime.value)
        event(log, "PLAN", cycle=due.key, plan_hash=plan.hash[:12], regime=plan.regime.regime.value,
              exposure=plan.exposure, picks=",".join(p.symbol for p in plan.picks) or "-", intents=len(batch.intents),
              dust=len(batch.dust), gate=gate.decision.value if gate else "-",
              kill_switch="tripped" if blocked else "armed", no_reentry=",".join(sorted(stopped or {})) or "-")
        return None

    def _freshness(self, panel: Panel, now_ms: int) -> None:
        if self.metrics is None:
            return
        ages = {}
        finite = np.isfinite(panel.close)
        for j, s in enumerate(panel.symbols):
            rows = np.nonzero(finite[:, j])[0]
            if len(rows):
                ages[s] = max(0.0, (now_ms - int(panel.times[rows[-1]]) - panel.interval_ms) / 1000)
        self.metrics.set_data_freshness(ages)
