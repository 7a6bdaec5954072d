"""The metrics contract as data, shared by the observability tests (docs/metrics-and-alerts.md has the same table,
kept identical by test_contract_doc.py)."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from aura_trader.metrics import TraderMetrics

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "prometheus"
GRAFANA_DIR = REPO / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "aura.json"
DATASOURCE_UID = "aura-prometheus"

# name -> (type, label names)
TRADER = {
    "aura_equity_quote": ("gauge", ()),
    "aura_equity_peak_quote": ("gauge", ()),
    "aura_drawdown_ratio": ("gauge", ()),
    "aura_kill_switch_threshold_ratio": ("gauge", ()),
    "aura_kill_switch_active": ("gauge", ()),
    "aura_regime": ("gauge", ("regime",)),
    "aura_positions": ("gauge", ()),
    "aura_exposure_ratio": ("gauge", ()),
    "aura_cycle_duration_seconds": ("histogram", ()),
    "aura_last_cycle_success_timestamp_seconds": ("gauge", ()),
    "aura_last_rebalance_timestamp_seconds": ("gauge", ()),
    "aura_orders_total": ("counter", ("outcome",)),
    "aura_exchange_errors_total": ("counter", ("kind",)),
    "aura_sync_guard_trips_total": ("counter", ("reason",)),
    "aura_gate_decisions_total": ("counter", ("gate", "decision")),
    "aura_config_info": ("gauge", ("version",)),
    "aura_config_reload_errors_total": ("counter", ()),
    "aura_config_reload_failing": ("gauge", ()),
    "aura_data_freshness_age_seconds": ("gauge", ("symbol",)),
    "aura_snapshot_failures_total": ("counter", ()),
    "aura_fills_implausible_total": ("counter", ()),
    "aura_venue_backoff_seconds": ("gauge", ()),
}

# services/ingestor/aura_ingestor/metrics.py (owned by the ingestor engineer) serves these.
INGESTOR = {
    "aura_ingest_rows_written_total": ("counter", ("interval",)),
    "aura_ingest_rows_rejected_total": ("counter", ("provider", "reason")),
    "aura_provider_errors_total": ("counter", ("provider", "kind")),
    "aura_provider_request_duration_seconds": ("histogram", ("provider",)),
    "aura_ingest_symbol_freshness_age_seconds": ("gauge", ("symbol", "interval")),
    "aura_ingest_gaps": ("gauge", ("symbol", "interval")),
    "aura_ingest_last_success_timestamp_seconds": ("gauge", ()),
}

_SUFFIXES = {"counter": ("",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def exposed_names(contract: dict[str, tuple[str, tuple[str, ...]]]) -> set[str]:
    """The sample names a scrape exposes for these metrics (a histogram's _bucket/_sum/_count)."""
    return {name + s for name, (kind, _) in contract.items() for s in _SUFFIXES[kind]}


def trader_sample_names() -> set[str]:
    """Every sample name TraderMetrics can expose (labelled gauges have no sample until set: use the family)."""
    registry = CollectorRegistry()
    TraderMetrics(registry)
    return registry_names(registry)


def ingestor_sample_names() -> set[str]:
    from aura_ingestor.metrics import IngestorMetrics

    registry = CollectorRegistry()
    IngestorMetrics(registry)
    return registry_names(registry)


def registry_names(registry: CollectorRegistry) -> set[str]:
    names = set()
    for family in registry.collect():
        names |= {s.name for s in family.samples}
        names |= exposed_names({family.name + ("_total" if family.type == "counter" else ""): (family.type, ())})
    return names


PROMQL_METRIC = re.compile(r"\baura_[a-z0-9_]*[a-z0-9]\b")


def metric_names_in(expr: str) -> set[str]:
    return set(PROMQL_METRIC.findall(expr))
