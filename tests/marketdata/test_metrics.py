"""The ingestor metrics follow the contract names exactly, on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from aura_ingestor.metrics import IngestorMetrics

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
    seen = {}
    for fam in reg.collect():
        name = fam.name + ("_total" if fam.type == "counter" else "")
        labels = set()
        for s in fam.samples:
            labels |= set(s.labels) - {"le"}
        seen[name] = (fam.type, labels)
    assert seen == CONTRACT
    text = generate_latest(reg).decode()
    assert 'aura_ingest_rows_rejected_total{provider="archive",reason="misaligned"} 2.0' in text
    assert 'aura_ingest_gaps{interval="1d",symbol="BTCUSDT"} 4.0' in text
    assert "aura_ingest_last_success_timestamp_seconds 1.7e+09" in text
