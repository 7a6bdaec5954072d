"""Wiring: config, secrets, logging, clock, journal, the broker of the mode, metrics HTTP server, the loop.

Threading model: everything below runs on the main thread, synchronously. The only other thread is
prometheus_client's metrics HTTP server, which only reads the registry.

Modes:
  paper    (default, no keys) the PaperBroker fills against live public prices (ccxt tickers through make_binance
           without keys; from the simulator when ``execution.base_url`` points at it); its books live in
           ``paper-broker.sqlite`` next to the journal.
  testnet  ccxt's sandbox (testnet.binance.vision) with testnet keys. With ``execution.base_url`` set, sandbox
           mode is NOT enabled (spec §1.2: it would replace the simulator URLs) and that URL is used instead.
  live     real keys AND ``execution.live_confirm: true``, or the trader refuses to start (exit 2) and says why.
With ``execution.base_url`` set (the exchange simulator) the clock follows the venue's server time.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import metadata
from pathlib import Path

from aura_common.adapters.broker import Broker, OutcomeUnknown, TransientError
from aura_common.adapters.broker.ccxt_broker import CcxtBroker
from aura_common.adapters.broker.paper import PaperBroker
from aura_common.adapters.clock import Clock, SystemClock
from aura_common.adapters.exchange import make_binance
from aura_common.adapters.journal import Journal
from aura_common.adapters.logs import event
from aura_common.adapters.parquet_store import CacheError
from aura_common.config import AuraConfig, ConfigError, Secrets

from aura_trader.boot import Boot, BootReport, ReconcileError, retry_read
from aura_trader.crash import CrashHook
from aura_trader.execution import ExecPolicy, Executor
from aura_trader.health import TraderHealth
from aura_trader.venue_clock import VenueClock

log = logging.getLogger("aura_trader")
# Failures a tick may hit that the next tick can recover from; anything else (auth, journal conflicts, invariant
# violations) ends the process: crash-only, boot reconciliation takes over after the restart.
RECOVERABLE = (TransientError, OutcomeUnknown, ReconcileError, CacheError)
# The loop's wall-time bounds (issue 18): a tick at most once a second of wall time whatever the venue clock's speed,
# and the health check's limit on the age of the last completed tick: this many wall tick intervals plus a grace.
MIN_TICK_WALL_SECONDS = 1.0
TICK_AGE_LIMIT_INTERVALS, TICK_AGE_GRACE_SECONDS = 3, 60.0


def version() -> str:
    try:
        return metadata.version("aura")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass
class Venue:
    broker: Broker
    clock: Clock
    exchange: object | None  # the ccxt client that sends orders (None in paper mode)
    hold: CcxtBroker | None = None  # the ccxt broker whose 429/418 back-off holds every venue request


def make_venue(config: AuraConfig, secrets: Secrets, journal_path: Path) -> Venue:
    ex = config.execution
    timeout = ex.request_timeout_seconds
    # ccxt's client-side throttle protects the real venue's weight limits; the simulator enforces its own
    throttle = ex.base_url is None
    public = make_binance(ex.base_url, timeout_seconds=timeout, enable_rate_limit=throttle)
    if ex.mode == "paper":
        prices = CcxtBroker(public)
        clock = _clock(ex.base_url, public, prices, config.schedules.min_tick_wall_seconds)
        specs = retry_read(prices.markets, "loading markets for the paper broker")
        paper = PaperBroker(journal_path.parent / "paper-broker.sqlite", specs, prices.prices, clock,
                            Decimal(str(ex.paper_initial_quote)), ex.quote_asset, ex.fee_bps, ex.slippage_bps)
        return Venue(paper, clock, None, prices)
    if not (secrets.api_key and secrets.api_secret):
        raise ConfigError("execution.mode", "", f"{ex.mode} mode needs AURA_API_KEY and AURA_API_SECRET (environment, "
                                                "<NAME>_FILE or /run/secrets); refusing to start")
    if ex.mode == "live" and not ex.live_confirm:
        raise ConfigError("execution.live_confirm", "", "live mode trades real money and needs "
                                                        "execution.live_confirm: true; refusing to start")
    exchange = make_binance(ex.base_url, secrets.api_key.get(), secrets.api_secret.get(), timeout_seconds=timeout,
                            enable_rate_limit=throttle, recv_window_ms=ex.recv_window_ms)
    if ex.mode == "testnet" and ex.base_url is None:
        exchange.set_sandbox_mode(True)
    trading = CcxtBroker(exchange)
    return Venue(trading, _clock(ex.base_url, exchange, trading, config.schedules.min_tick_wall_seconds), exchange,
                 trading)


def _clock(base_url: str | None, client, hold: CcxtBroker, min_wall_s: float = 1.0) -> Clock:
    """The host clock, or with ``base_url`` (the simulator) a ``VenueClock`` on its server time, read through
    ``hold`` (the broker on ``client``): one error table and one back-off, so a 429/418 on a clock read holds back
    every request, and while the venue holds us back the clock does not ask either."""
    if not base_url:
        return SystemClock()
    read = _server_time(lambda: hold._call(client.fetch_time, "GET /api/v3/time"))
    return retry_read(lambda: VenueClock(read, min_refresh_wall_s=min_wall_s), f"reading the server time of {base_url}")


EPOCH_2010_MS, EPOCH_2100_MS = 1_262_304_000_000, 4_102_444_800_000


def _server_time(read):
    """GET /api/v3/time (``read``: through the broker's error table and back-off), checked: an answer that is not a
    plausible epoch in ms (an HTML page, ``null``) is a transient malformed answer naming the endpoint, never
    ``int(None)``."""
    def call() -> int:
        value = read()
        if isinstance(value, bool) or not isinstance(value, int) or not EPOCH_2010_MS <= value <= EPOCH_2100_MS:
            raise TransientError(f"malformed answer from GET /api/v3/time: {str(value)[:40]!r} is not a server time")
        return value
    return call


def install_send_hook(exchange, crash: CrashHook) -> None:
    """The ``order_sent`` crash point: the order request was processed by the venue, its response not yet read."""
    def hook(response, *args, **kwargs):
        req = response.request
        if req.method == "POST" and req.url.split("?")[0].endswith("/api/v3/order"):
            crash.reach("order_sent")
        return response
    exchange.session.hooks.setdefault("response", []).append(hook)


class Trader:
    """Everything wired; ``boot()`` once, then ``tick()`` until stopped."""

    def __init__(self, config: AuraConfig, secrets: Secrets, environ: Mapping[str, str],
                 metrics_registry=None, metrics=None, health: TraderHealth | None = None) -> None:
        from prometheus_client import CollectorRegistry

        from aura_trader.account import AccountSync
        from aura_trader.cycle import TickRunner
        from aura_trader.metrics import TraderMetrics
        from aura_trader.rebalance import Rebalancer
        from aura_trader.reload import StrategyReloader
        from aura_trader.risk import RiskTicker

        self.config = config
        self.crash = CrashHook.from_env(environ)
        paths, ex, sched = config.paths, config.execution, config.schedules
        self.registry = metrics_registry or CollectorRegistry()
        # the entry point keeps one metrics object (and its server) across start attempts
        self.metrics = metrics if metrics is not None else TraderMetrics(self.registry)
        self.health = health if health is not None else TraderHealth(None)
        journal_path = Path(paths.journal)
        self.venue = make_venue(config, secrets, journal_path)
        if self.venue.exchange is not None and self.crash.armed:
            install_send_hook(self.venue.exchange, self.crash)
        self.clock = self.venue.clock
        self.journal = Journal.open(journal_path, self.clock)
        # the reloader journals the applied version (the first one too) with which secrets are set, never values
        self.reloader = StrategyReloader(paths.strategy_file, self.journal, self.metrics, config=config,
                                         secrets_present=secrets.present())
        self.config_version = self.reloader.version
        broker = self.venue.broker
        policy = ExecPolicy(status_lag_seconds=ex.status_lag_seconds, lookup_attempts=ex.lookup_attempts,
                            recv_window_ms=ex.recv_window_ms)
        # order requests are stamped with, and "not found" is judged on, the clock the venue checks a request's
        # timestamp against: Binance's server time is UTC (the host clock); the simulator accepts the host clock
        # too. NOT self.clock when it is a VenueClock: a replayed/stepped/accelerated market clock is not it.
        self.executor = Executor(broker, self.journal, self.metrics, self.crash, policy, request_clock=SystemClock())
        universe = list(config.universe.symbols) if config.universe.source == "fixed" else None  # None: every
        # TRADING pair of the quote asset on the venue (alphabetical, at most universe.max_symbols)
        self.rebalancer = Rebalancer(
            broker=broker, journal=self.journal, executor=self.executor, metrics=self.metrics,
            data_dir=paths.data_dir, interval=config.data.decision_interval.value, universe=universe,
            quote_asset=ex.quote_asset, exclusions=config.universe.exclusions, fee_bps=ex.fee_bps,
            slippage_bps=ex.slippage_bps, hour_utc=sched.rebalance_hour_utc, delay_minutes=sched.rebalance_delay_minutes,
            max_stale_hours=config.data.max_stale_hours, padding_days=config.data.lookback_padding_days,
            config_version=self.config_version, read=lambda fn, what: retry_read(fn, what),
            max_symbols=config.universe.max_symbols)
        account = AccountSync(broker, self.journal, self.reloader.current, self.metrics, self.clock, ex.quote_asset,
                              managed_symbols=self.rebalancer.universe)
        self.account_sync = account  # its last read's error feeds the health check
        self.runner = TickRunner(clock=self.clock, journal=self.journal, broker=broker, executor=self.executor,
                                 rebalancer=self.rebalancer, reloader=self.reloader, account_sync=account,
                                 risk_ticker=RiskTicker(self.journal, self.metrics), metrics=self.metrics,
                                 snapshots_dir=paths.snapshots_dir, snapshot_interval_s=sched.snapshot_interval_seconds,
                                 crash=self.crash)
        self._stop = False
        self.min_wall_s = sched.min_tick_wall_seconds
        self.boot_report: BootReport | None = None
        hold = self.venue.hold
        if hold is not None:
            self.health.held_back = lambda: (hold.held_back_seconds, hold.hold_reason)

    # --- life -------------------------------------------------------------------------------------------------
    def boot(self) -> BootReport:
        ex = self.config.execution
        self._refresh_clock()
        managed = self.rebalancer.universe()
        report = Boot(self.venue.broker, self.journal, self.executor, self.clock, ex.quote_asset, managed,
                      lag_ms=int(ex.status_lag_seconds * 1000)).reconcile()
        fields = dict(version=version(), mode=ex.mode, config_version=self.config_version,
                      schema_version=self.journal.schema_version, reconcile="ok" if report.ok else "failed",
                      orders_refreshed=report.orders_refreshed, fills_recovered=report.fills_recovered,
                      adopted=report.adopted, cancelled=report.cancelled, positions=report.positions)
        if not report.ok:
            fields["reason"] = report.reason
        event(log, "BOOT", logging.INFO if report.ok else logging.ERROR, **fields)
        self.journal.append_event("BOOT", fields)
        return report

    def tick(self) -> str:
        self._refresh_clock()
        status = self.runner.tick()
        self.health.tick_done(self.account_sync.last_error)
        return status

    def run(self, once: bool) -> int:
        report = self.boot_report = self.boot()
        if not report.ok:
            return 1
        self.health.running()
        signal.signal(signal.SIGTERM, self._on_term)
        while True:
            try:
                status = self.tick()
            except RECOVERABLE as exc:  # the venue or the cache hiccuped: this tick is lost, the next one retries
                reason = f"{type(exc).__name__}: {str(exc)[:200]}"
                event(log, "TICK_FAILED", logging.WARNING, reason=reason)
                self.health.tick_failed(reason)
                status = "failed"
            if once or self._stop:
                return 0 if status != "failed" else 1
            self._sleep(self.config.schedules.tick_seconds)
            if self._stop:
                return 0

    def close(self) -> None:
        self.journal.close()
        close = getattr(self.venue.broker, "close", None)
        if close is not None:
            close()

    def _on_term(self, signum, frame) -> None:
        event(log, "STOP_REQUESTED", signal=signum)
        self._stop = True

    def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of the trader's clock (venue seconds against a simulator), and never less than
        ``schedules.min_tick_wall_seconds`` (default ``MIN_TICK_WALL_SECONDS``) of wall time: however fast a
        simulator's clock runs, the ticks (and their venue reads) come at most once a second, and the venue clock is
        read at most once a second meanwhile (``VenueClock.min_refresh_wall_s``). The health check's tick-age limit follows the wall time a tick
        interval really takes."""
        start = time.monotonic()
        deadline = start + 3600
        end_ms = self.clock.now_ms() + int(seconds * 1000)
        while not self._stop:
            waited = time.monotonic() - start
            left_ms = end_ms - self.clock.now_ms()
            if waited >= deadline - start or (waited >= self.min_wall_s and left_ms <= 0):
                break
            rate = getattr(self.clock, "rate", 0.0) or 1.0  # venue seconds per wall second (1: the host clock)
            wall = max(self.min_wall_s - waited, left_ms / 1000 / max(rate, 1e-9))
            time.sleep(min(1.0, max(0.01 if self.min_wall_s < 0.05 else 0.05, wall)))
            self._refresh_clock()
            self.health.publish()  # a back-off or an unreadable clock shows while the loop waits, not only at a tick
        interval = max(MIN_TICK_WALL_SECONDS, time.monotonic() - start)  # the health limit keeps its floor
        self.health.max_tick_age_s = TICK_AGE_LIMIT_INTERVALS * interval + TICK_AGE_GRACE_SECONDS

    def _refresh_clock(self) -> None:
        refresh = getattr(self.clock, "refresh", None)
        if refresh is None:
            return
        if self.venue.hold is not None and self.venue.hold.held_back_seconds > 0:
            return  # held back after a 429/418: nothing is sent (the health check says so), nothing to log each second
        _safe(refresh)
        self.health.clock_read(getattr(self.clock, "last_error", ""))  # the latest READ's error, not a cached answer


def _safe(fn) -> None:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - a missed clock refresh only delays the schedule
        event(log, "CLOCK_REFRESH_FAILED", logging.WARNING, reason=f"{type(exc).__name__}: {str(exc)[:120]}")


def start_metrics_server(registry, bind: str, port: int, health=None) -> None:
    """The metrics port: ``/metrics``, and ``/health`` (the container's probe) from ``health.check``."""
    if port <= 0:
        return
    from aura_common.adapters.health_http import serve
    serve(registry, bind, port, health.check if health is not None else (lambda: (True, "no health state")))
    event(log, "METRICS", bind=bind, port=port)


__all__ = ["Trader", "make_venue", "start_metrics_server", "version"]
