"""The ingestor's Prometheus metrics (contract: /tmp/prompts/metrics.md, Ingestor section), on an injected registry.

Also the chain's ``Recorder`` and the providers' request observer, so that the chain and the providers never
import prometheus_client.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IngestorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.rows_written_total = Counter("aura_ingest_rows_written_total", "Candle rows written to the cache",
                                          ["interval"], registry=registry)
        self.rows_rejected_total = Counter("aura_ingest_rows_rejected_total",
                                           "Incoming candle rows rejected by validation or parsing",
                                           ["provider", "reason"], registry=registry)
        self.provider_errors_total = Counter("aura_provider_errors_total", "Provider failures",
                                             ["provider", "kind"], registry=registry)
        self.provider_request_duration = Histogram(
            "aura_provider_request_duration_seconds", "Duration of one provider request", ["provider"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=registry)
        self.symbol_freshness_age = Gauge("aura_ingest_symbol_freshness_age_seconds",
                                          "Age of the newest closed candle in the cache (since it closed)",
                                          ["symbol", "interval"], registry=registry)
        self.gaps = Gauge("aura_ingest_gaps", "Missing candles no provider filled", ["symbol", "interval"],
                          registry=registry)
        self.last_success = Gauge("aura_ingest_last_success_timestamp_seconds",
                                  "Unix time of the last successful ingest pass", registry=registry)

    # --- chain Recorder
    def rows_written(self, interval: str, n: int) -> None:
        if n > 0:
            self.rows_written_total.labels(interval=interval).inc(n)

    def rejected(self, provider: str, reason: str, n: int) -> None:
        if n > 0:
            self.rows_rejected_total.labels(provider=provider, reason=reason).inc(n)

    def provider_error(self, provider: str, kind: str) -> None:
        self.provider_errors_total.labels(provider=provider, kind=kind).inc()

    def symbol_state(self, symbol: str, interval: str, freshness_age_s: float | None, gap_candles: int) -> None:
        if freshness_age_s is not None:
            self.symbol_freshness_age.labels(symbol=symbol, interval=interval).set(freshness_age_s)
        self.gaps.labels(symbol=symbol, interval=interval).set(gap_candles)

    # --- provider request observer
    def observe_request(self, provider: str, seconds: float, ok: bool) -> None:
        self.provider_request_duration.labels(provider=provider).observe(seconds)

    def pass_succeeded(self, now_ms: int) -> None:
        self.last_success.set(now_ms / 1000.0)
