"""``aura ingest``: keep the Parquet candle cache up to date.

``aura ingest --seed-rehearsal`` writes the offline rehearsal's seeded market into an empty cache (``seed.py``).
``aura ingest --once`` does one pass and exits 0 on success, 1 when something needed updating and nothing could be
updated (every provider failed, the cache is unwritable ...), 2 on a configuration error. Without ``--once`` a
blocking APScheduler job runs a pass every ``schedules.ingest_interval_minutes`` (the first one at start) and
Prometheus metrics are served on ``metrics.ingestor_port``. Each pass ends with one ``[INGEST]`` summary line.
"""

from __future__ import annotations

import argparse
import logging
import os
from datetime import datetime, timezone

from aura_common.adapters.clock import SystemClock
from aura_common.adapters.logs import configure_logging, event
from aura_common.config import load_config
from aura_common.config.models import AuraConfig
from aura_common.domain import Interval

log = logging.getLogger("aura.ingestor")
EXIT_OK, EXIT_FAILURE = 0, 1


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="one pass, then exit (0 ok, 1 nothing could be updated)")
    parser.add_argument("--symbols", help="comma-separated symbols instead of the configured universe")
    parser.add_argument("--intervals", help="comma-separated intervals instead of data.intervals (e.g. 1d,4h)")
    parser.add_argument("--data-dir", help="cache root instead of paths.data_dir")
    parser.add_argument("--workers", type=int, default=4,
                        help="pairs updated concurrently (I/O bound; exchange calls stay serialised), default 4")
    parser.add_argument("--no-metrics", action="store_true", help="do not serve Prometheus metrics")
    parser.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                        help="progress bar: auto = only on a terminal")
    parser.add_argument("--seed-rehearsal", action="store_true",
                        help="write the offline rehearsal's seeded market into an EMPTY cache (1d), then exit "
                             "(a cache holding 1d candles is left alone; compose.sim.yaml runs this first)")
    parser.add_argument("--log-level", default=os.environ.get("AURA_LOG_LEVEL", "INFO"))


def build_service(config: AuraConfig, args: argparse.Namespace, registry=None):
    from prometheus_client import CollectorRegistry

    from aura_ingestor.metrics import IngestorMetrics
    from aura_ingestor.service import DAY_MS, IngestService, build_providers, start_ms_of
    from aura_ingestor.universe import resolve_universe

    clock = SystemClock()
    metrics = IngestorMetrics(registry if registry is not None else CollectorRegistry())
    intervals = [Interval(i.strip()) for i in args.intervals.split(",")] if args.intervals else \
        list(config.data.intervals)
    if args.symbols:
        symbols = sorted({s.strip().upper() for s in args.symbols.split(",") if s.strip()})

        def universe():
            return symbols
    else:
        from aura_common.adapters.providers.ccxt_tail import make_exchange
        from aura_ingestor.universe import CachedUniverse
        feed = config.data.exchanges[0] if config.data.exchanges else None

        def factory():
            return make_exchange(feed.name if feed else "binance", feed.base_url if feed else None,
                                 feed.timeout_seconds if feed else 10.0)
        universe = CachedUniverse(lambda: resolve_universe(config.universe, factory), clock)

    progress = {"auto": None, "on": True, "off": False}[args.progress]
    service = IngestService(
        data_dir=args.data_dir or config.paths.data_dir,
        providers_factory=lambda: build_providers(config, clock, metrics.observe_request),
        universe=universe, intervals=intervals, start_ms=start_ms_of(config),
        padding_ms=config.data.lookback_padding_days * DAY_MS, clock=clock, recorder=metrics,
        on_pass_success=metrics.pass_succeeded, progress=progress, workers=args.workers)
    return service, metrics


def run(args: argparse.Namespace) -> int:
    config = load_config(getattr(args, "config", None))
    if args.intervals:
        try:
            [Interval(i.strip()) for i in args.intervals.split(",")]
        except ValueError:
            from aura_common.config import ConfigError
            raise ConfigError("command line", "--intervals", f"{args.intervals!r}: use values among "
                              f"{', '.join(i.value for i in Interval)}") from None
    if args.symbols and not all(s.strip().isalnum() for s in args.symbols.split(",") if s.strip()):
        from aura_common.config import ConfigError
        raise ConfigError("command line", "--symbols",
                          f"{args.symbols!r}: exchange-native spellings only (e.g. BTCUSDT,ETHUSDT)")
    if args.workers < 1:
        from aura_common.config import ConfigError
        raise ConfigError("command line", "--workers", f"{args.workers}: must be at least 1")
    configure_logging(args.log_level)
    if args.seed_rehearsal:
        from aura_ingestor.seed import seed_rehearsal
        seed_rehearsal(args.data_dir or config.paths.data_dir)
        return EXIT_OK
    service, metrics = build_service(config, args)
    if args.once:
        summary = service.run_pass()
        return EXIT_OK if summary.ok else EXIT_FAILURE
    return _serve(config, args, service, metrics)


def _serve(config: AuraConfig, args: argparse.Namespace, service, metrics) -> int:
    from apscheduler.schedulers.blocking import BlockingScheduler
    if not args.no_metrics:  # /metrics, and /health (the container's probe)
        from aura_common.adapters.health_http import serve
        max_age_s = 3 * config.schedules.ingest_interval_minutes * 60 + 3600  # a pass may take long (downloads)
        serve(metrics.registry, config.metrics.bind, config.metrics.ingestor_port, lambda: service.health(max_age_s))
        event(log, "METRICS", port=config.metrics.ingestor_port, bind=config.metrics.bind)
    scheduler = BlockingScheduler(timezone=timezone.utc)

    def job() -> None:
        try:
            service.run_pass()
        except Exception as exc:  # noqa: BLE001 - the loop survives anything one pass throws
            event(log, "INGEST_FAIL", logging.ERROR, error=f"{type(exc).__name__}: {exc}"[:300])

    scheduler.add_job(job, "interval", minutes=config.schedules.ingest_interval_minutes, id="ingest",
                      next_run_time=datetime.now(timezone.utc), max_instances=1, coalesce=True,
                      misfire_grace_time=None)
    event(log, "INGEST_SCHEDULE", every_minutes=config.schedules.ingest_interval_minutes)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    return EXIT_OK
