"""The ingestor metrics follow the contract names exactly, on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from aura_ingestor.metrics import IngestorMetrics

from ..conftest import metric_families  # noqa: TID252 - the suite-wide helpers

CONTRACT = {
    "aura_ingest_rows_written_total": ("counter", {"interval"}),
    "aura_ingest_rows_rejected_total": ("counter", {"provider", "reason"}),
    "aura_provider_errors_total": ("counter", {"provider", "kind"}),
    "aura_provider_request_duration_seconds": ("histogram", {"provider"}),
    "aura_ingest_symbol_freshness_age_seconds": ("gauge", {"symbol", "interval"}),
    "aura_ingest_gaps": ("gauge", {"symbol", "interval"}),
    "aura_ingest_last_success_timestamp_seconds": ("gauge", set()),
}


def test_contract_names_types_and_labels():
    reg = CollectorRegistry()
    m = IngestorMetrics(reg)
    m.rows_written("1d", 3)
    m.rejected("archive", "misaligned", 2)
    m.provider_error("coingecko", "timeout")
    m.observe_request("archive", 0.01, True)
    m.symbol_state("BTCUSDT", "1d", 3600.0, 4)
    m.pass_succeeded(1_700_000_000_000)
    assert metric_families(reg) == CONTRACT
    text = generate_latest(reg).decode()
    assert 'aura_ingest_rows_rejected_total{provider="archive",reason="misaligned"} 2.0' in text
    assert 'aura_ingest_gaps{interval="1d",symbol="BTCUSDT"} 4.0' in text
    assert "aura_ingest_last_success_timestamp_seconds 1.7e+09" in text
