"""The trader's Prometheus metrics (the contract in docs/metrics-and-alerts.md).

``TraderMetrics(registry)`` creates every ``aura_*`` trader metric on an injected ``CollectorRegistry``; the entry
point serves that registry on the trader's port (9101). Names carry base units. Every series of a closed label
set is created at zero up front, so rates, alerts and dashboard panels have series before the first event.
Label values outside the contract are programming errors (ValueError), never silently new series.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from aura_common.core.risk import GateDecision, GateResult

REGIMES = ("bull", "sideways", "bear")
ORDER_OUTCOMES = ("filled", "partially_filled", "rejected", "unknown", "skipped", "cancelled")
ERROR_KINDS = ("transient", "rate_limited", "rejected", "unknown_outcome", "auth", "other")
SYNC_GUARD_REASONS = ("empty_balances", "equity_jump", "price_jump", "fetch_failed")
GATES = ("kill_switch", "stop_loss", "take_profit", "cost_benefit")
GATE_DECISIONS = ("clip", "deny")
CYCLE_BUCKETS_SECONDS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


def _value(label: str | Enum) -> str:
    return str(label.value if isinstance(label, Enum) else label)


def _check(what: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{what} {value!r} is not one of {', '.join(allowed)}")
    return value


class TraderMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        g, c = self._gauge, self._counter
        self.equity = g("aura_equity_quote", "Account equity in the quote asset (USDT)")
        self.equity_peak = g("aura_equity_peak_quote", "Rolling equity peak over the kill-switch window (USDT)")
        self.drawdown = g("aura_drawdown_ratio", "Drawdown from the rolling peak, (peak - equity) / peak, 0..1")
        self.kill_switch_threshold = g("aura_kill_switch_threshold_ratio", "Configured kill-switch drawdown, 0..1")
        self.kill_switch_active = g("aura_kill_switch_active", "1 when the kill switch is tripped, 0 when armed")
        self.regime = g("aura_regime", "1 for the current market regime, 0 for the others", ["regime"])
        self.positions = g("aura_positions", "Number of open positions")
        self.exposure = g("aura_exposure_ratio", "Invested value / equity")
        self.cycle_duration = Histogram("aura_cycle_duration_seconds", "Duration of a full trader cycle",
                                        registry=registry, buckets=CYCLE_BUCKETS_SECONDS)
        self.last_cycle_success = g("aura_last_cycle_success_timestamp_seconds",
                                    "Unix time of the last successful cycle")
        self.last_rebalance = g("aura_last_rebalance_timestamp_seconds", "Unix time of the last rebalance")
        self.orders = c("aura_orders", "Orders by outcome", ["outcome"])
        self.exchange_errors = c("aura_exchange_errors", "Exchange errors by kind", ["kind"])
        self.sync_guard_trips = c("aura_sync_guard_trips", "Account reads rejected as transient", ["reason"])
        self.gate_decisions = c("aura_gate_decisions", "Non-pass risk gate decisions", ["gate", "decision"])
        self.config_info = g("aura_config_info", "The applied config version hash (value 1)", ["version"])
        self.config_reload_errors = c("aura_config_reload_errors", "Strategy file reloads rejected as invalid")
        self.config_reload_failing = g("aura_config_reload_failing", "1 while the current strategy file is invalid")
        self.fills_implausible = c("aura_fills_implausible", "Fills recorded with a price far from the reference "
                                                            "price even after a re-read from the venue's trades")
        self.snapshot_failures = c("aura_snapshot_failures", "Journal snapshot copies that could not be written")
        self.venue_backoff = g("aura_venue_backoff_seconds",
                               "Seconds left of the venue's back-off order (429/418 Retry-After); 0 when none")
        self.data_freshness = g("aura_data_freshness_age_seconds",
                                "Seconds since the close of the newest closed candle in the cache", ["symbol"])
        for regime in REGIMES:
            self.regime.labels(regime).set(0)
        for outcome in ORDER_OUTCOMES:
            self.orders.labels(outcome)
        for kind in ERROR_KINDS:
            self.exchange_errors.labels(kind)
        for reason in SYNC_GUARD_REASONS:
            self.sync_guard_trips.labels(reason)
        for gate in GATES:
            for decision in GATE_DECISIONS:
                self.gate_decisions.labels(gate, decision)

    def _gauge(self, name: str, doc: str, labels: list[str] | None = None) -> Gauge:
        return Gauge(name, doc, labels or [], registry=self.registry)

    def _counter(self, name: str, doc: str, labels: list[str] | None = None) -> Counter:
        return Counter(name, doc, labels or [], registry=self.registry)

    # --- update helpers -------------------------------------------------------------------------------------
    def set_risk(self, *, equity: float, peak: float | None, threshold_ratio: float, kill_switch_active: bool) -> None:
        """Equity, peak, drawdown (derived), threshold and kill-switch state from one risk tick."""
        equity, top = float(equity), float(peak if peak is not None else equity)
        self.equity.set(equity)
        self.equity_peak.set(top)
        self.drawdown.set(max(0.0, (top - equity) / top) if top > 0 else 0.0)
        self.kill_switch_threshold.set(float(threshold_ratio))
        self.kill_switch_active.set(1 if kill_switch_active else 0)

    def set_regime(self, regime: str | Enum) -> None:
        current = _check("regime", _value(regime), REGIMES)
        for r in REGIMES:
            self.regime.labels(r).set(1 if r == current else 0)

    def set_positions(self, count: int, exposure_ratio: float) -> None:
        self.positions.set(count)
        self.exposure.set(float(exposure_ratio))

    def cycle_finished(self, duration_seconds: float, *, success: bool, finished_at_s: float) -> None:
        self.cycle_duration.observe(duration_seconds)
        if success:
            self.last_cycle_success.set(finished_at_s)

    def rebalanced(self, at_s: float) -> None:
        self.last_rebalance.set(at_s)

    def order(self, outcome: str | Enum, n: int = 1) -> None:
        self.orders.labels(_check("order outcome", _value(outcome).lower(), ORDER_OUTCOMES)).inc(n)

    def fill_implausible(self) -> None:
        self.fills_implausible.inc()

    def snapshot_failed(self) -> None:
        self.snapshot_failures.inc()

    def set_venue_backoff(self, seconds: float) -> None:
        self.venue_backoff.set(max(0.0, seconds))

    def exchange_error(self, kind: str | Enum) -> None:
        self.exchange_errors.labels(_check("exchange error kind", _value(kind), ERROR_KINDS)).inc()

    def sync_guard_trip(self, reason: str | Enum) -> None:
        self.sync_guard_trips.labels(_check("sync-guard reason", _value(reason), SYNC_GUARD_REASONS)).inc()

    def gate(self, result: GateResult) -> None:
        """Count a gate's decision; passes are not counted."""
        if result.decision is GateDecision.PASS:
            return
        self.gate_decisions.labels(_check("gate", result.gate, GATES),
                                   _check("gate decision", result.decision.value, GATE_DECISIONS)).inc()

    def config_applied(self, version: str) -> None:
        self.config_info.clear()
        self.config_info.labels(version).set(1)
        self.config_reload_failing.set(0)

    def config_reload_failed(self) -> None:
        self.config_reload_errors.inc()
        self.config_reload_failing.set(1)

    def set_data_freshness(self, ages_seconds: Mapping[str, float]) -> None:
        """Replace the per-symbol ages (symbols no longer in the cache disappear)."""
        self.data_freshness.clear()
        for symbol, age in sorted(ages_seconds.items()):
            self.data_freshness.labels(symbol).set(float(age))
