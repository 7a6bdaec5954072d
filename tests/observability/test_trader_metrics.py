"""TraderMetrics creates exactly the contract's metrics, on the registry it is given, and its helpers work."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from aura_common.core.risk import GateDecision, GateResult
from aura_common.core.sync_guard import SyncReason
from aura_common.domain.values import OrderStatus
from aura_trader.metrics import TraderMetrics

from ..conftest import metric_families  # noqa: TID252 - the suite-wide helpers
from .contract import TRADER


@pytest.fixture
def reg():
    return CollectorRegistry()


@pytest.fixture
def m(reg):
    return TraderMetrics(reg)


def test_every_contract_metric_exists_with_its_type_and_labels(reg, m):
    got = metric_families(reg)
    for name, (kind, labels) in TRADER.items():
        assert name in got, f"missing {name}"
        assert got[name][0] == kind, name
    assert set(got) == set(TRADER), "TraderMetrics has metrics outside the contract"


def test_closed_label_sets_exist_at_zero_before_any_event(reg, m):
    assert reg.get_sample_value("aura_orders_total", {"outcome": "rejected"}) == 0
    assert reg.get_sample_value("aura_sync_guard_trips_total", {"reason": "fetch_failed"}) == 0
    assert reg.get_sample_value("aura_gate_decisions_total", {"gate": "cost_benefit", "decision": "clip"}) == 0
    assert reg.get_sample_value("aura_exchange_errors_total", {"kind": "auth"}) == 0
    assert reg.get_sample_value("aura_regime", {"regime": "bear"}) == 0


def test_registries_are_independent():
    a, b = CollectorRegistry(), CollectorRegistry()
    TraderMetrics(a).order("filled")
    TraderMetrics(b)
    assert a.get_sample_value("aura_orders_total", {"outcome": "filled"}) == 1
    assert b.get_sample_value("aura_orders_total", {"outcome": "filled"}) == 0


def test_risk_values(reg, m):
    m.set_risk(equity=900.0, peak=1000.0, threshold_ratio=0.2, kill_switch_active=False)
    assert reg.get_sample_value("aura_drawdown_ratio") == pytest.approx(0.1)
    assert reg.get_sample_value("aura_equity_peak_quote") == 1000.0
    assert reg.get_sample_value("aura_kill_switch_active") == 0
    m.set_risk(equity=0.0, peak=None, threshold_ratio=0.2, kill_switch_active=True)
    assert reg.get_sample_value("aura_drawdown_ratio") == 0.0
    assert reg.get_sample_value("aura_kill_switch_active") == 1


def test_regime_is_one_hot(reg, m):
    m.set_regime("sideways")
    m.set_regime("bull")
    values = {r: reg.get_sample_value("aura_regime", {"regime": r}) for r in ("bull", "sideways", "bear")}
    assert values == {"bull": 1, "sideways": 0, "bear": 0}
    with pytest.raises(ValueError, match="regime"):
        m.set_regime("crab")


def test_counters_by_label(reg, m):
    m.order(OrderStatus.FILLED)
    m.order("skipped", 3)
    m.exchange_error("rate_limited")
    m.sync_guard_trip(SyncReason.EMPTY_BALANCES)
    m.gate(GateResult("kill_switch", GateDecision.DENY, "tripped", {}))
    m.gate(GateResult("cost_benefit", GateDecision.PASS, "fine", {}))  # passes are not counted
    assert reg.get_sample_value("aura_orders_total", {"outcome": "filled"}) == 1
    assert reg.get_sample_value("aura_orders_total", {"outcome": "skipped"}) == 3
    assert reg.get_sample_value("aura_exchange_errors_total", {"kind": "rate_limited"}) == 1
    assert reg.get_sample_value("aura_sync_guard_trips_total", {"reason": "empty_balances"}) == 1
    assert reg.get_sample_value("aura_gate_decisions_total", {"gate": "kill_switch", "decision": "deny"}) == 1
    assert reg.get_sample_value("aura_gate_decisions_total", {"gate": "cost_benefit", "decision": "deny"}) == 0
    for bad in (lambda: m.order("lost"), lambda: m.exchange_error("weird"), lambda: m.sync_guard_trip("x"),
                lambda: m.gate(GateResult("vibes", GateDecision.DENY, "no", {}))):
        with pytest.raises(ValueError):
            bad()


def test_cycle_and_timestamps(reg, m):
    m.cycle_finished(3.0, success=True, finished_at_s=1_700_000_000.0)
    m.cycle_finished(700.0, success=False, finished_at_s=1_700_003_600.0)
    m.rebalanced(1_700_000_000.0)
    assert reg.get_sample_value("aura_cycle_duration_seconds_count") == 2
    assert reg.get_sample_value("aura_cycle_duration_seconds_bucket", {"le": "5.0"}) == 1
    assert reg.get_sample_value("aura_last_cycle_success_timestamp_seconds") == 1_700_000_000.0
    assert reg.get_sample_value("aura_last_rebalance_timestamp_seconds") == 1_700_000_000.0


def test_config_version_and_reload_errors(reg, m):
    m.config_applied("abc123def456")
    m.config_reload_failed()
    assert reg.get_sample_value("aura_config_reload_failing") == 1
    m.config_applied("0123456789ab")
    assert reg.get_sample_value("aura_config_info", {"version": "abc123def456"}) is None  # old version gone
    assert reg.get_sample_value("aura_config_info", {"version": "0123456789ab"}) == 1
    assert reg.get_sample_value("aura_config_reload_errors_total") == 1
    assert reg.get_sample_value("aura_config_reload_failing") == 0


def test_data_freshness_replaces_symbols(reg, m):
    m.set_data_freshness({"BTCUSDT": 60.0, "ETHUSDT": 120.0})
    m.set_data_freshness({"BTCUSDT": 30.0})
    assert reg.get_sample_value("aura_data_freshness_age_seconds", {"symbol": "BTCUSDT"}) == 30.0
    assert reg.get_sample_value("aura_data_freshness_age_seconds", {"symbol": "ETHUSDT"}) is None

