"""``aura trade [--once]``: boot reconciliation, then the synchronous tick loop (or one tick with --once).

Exit codes: 0 success (or a clean stop on SIGTERM), 1 runtime failure (reconciliation failed: the trader refuses to
trade and says why), 2 configuration error (including live mode without keys or without confirmation).

Without ``--once`` a start that fails (the venue unreachable, the journal locked, boot reconciliation failed) is not
a silent restart loop: the process stays up, its ``/health`` answers 503 ``cannot start: <reason>`` (so the
container shows unhealthy and ``aura status`` shows the reason), and the whole start - wiring, then boot
reconciliation, as after a restart - is tried again after ``START_RETRY_FIRST_SECONDS``, doubling up to
``START_RETRY_MAX_SECONDS``. SIGTERM during the wait exits 1.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from aura_common.adapters.logs import configure_logging
from aura_common.config import load_config, load_secrets, load_strategy


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="boot, run one tick, exit")
    parser.add_argument("--log-level", default=os.environ.get("AURA_LOG_LEVEL", "INFO"))


def run(args: argparse.Namespace) -> int:
    from aura_common.core import jit

    # One decision a day on a few rows: the decision kernels run interpreted here (the same functions the
    # backtester compiles; the tests hold both modes to identical plans), which keeps Numba and LLVM, about
    # 125 MB, out of the trader's memory.
    jit.interpret()
    from aura_common.adapters.broker import BrokerError
    from aura_common.adapters.journal import JournalError

    from aura_trader.app import Trader, start_metrics_server
    from aura_trader.boot import ReconcileError
    from aura_trader.crash import CrashSpecError

    config = load_config(getattr(args, "config", None))
    load_strategy(config.paths.strategy_file)  # a bad strategy file: exit 2 before the venue or the journal is touched
    secrets = load_secrets()
    configure_logging(args.log_level, secrets=secrets.values())
    from prometheus_client import CollectorRegistry

    from aura_trader.health import TraderHealth
    from aura_trader.metrics import TraderMetrics

    registry = CollectorRegistry()
    metrics, health = TraderMetrics(registry), TraderHealth(config.paths.snapshots_dir)
    health.starting()
    # /metrics and /health answer from the first moment, a failed start included
    start_metrics_server(registry, config.metrics.bind, config.metrics.trader_port, health)
    stop = _StopFlag()
    delay = START_RETRY_FIRST_SECONDS
    while True:
        try:
            trader = Trader(config, secrets, os.environ, metrics_registry=registry, metrics=metrics, health=health)
        except CrashSpecError as exc:
            print(f"aura trade: {exc}", file=sys.stderr)
            return 2
        except (ReconcileError, BrokerError, JournalError) as exc:  # venue unreachable, journal locked or unreadable
            print(f"aura trade: cannot start: {exc}", file=sys.stderr)
            if args.once or not stop.wait(delay, health, str(exc)):
                return 1
            delay = min(2 * delay, START_RETRY_MAX_SECONDS)
            continue
        try:
            code = trader.run(once=args.once)
            report = trader.boot_report
        finally:
            trader.close()
        if report is not None and not report.ok:
            print(f"aura trade: refusing to trade: boot reconciliation failed: {report.reason}", file=sys.stderr)
            if not args.once and stop.wait(delay, health, f"boot reconciliation failed: {report.reason}"):
                delay = min(2 * delay, START_RETRY_MAX_SECONDS)
                continue
            return code
        if code == 1:
            print("aura trade: the tick failed (see the [TICK_FAILED] line)", file=sys.stderr)
        return code


START_RETRY_FIRST_SECONDS, START_RETRY_MAX_SECONDS = 5.0, 60.0


class _StopFlag:
    """SIGTERM while a failed start waits for its retry."""

    def __init__(self) -> None:
        self.stopped = False

    def wait(self, seconds: float, health, problem: str) -> bool:
        """Publish the failed start, wait ``seconds`` (SIGTERM ends the wait); True to try again."""
        health.start_failed(problem[:300])
        previous = signal.signal(signal.SIGTERM, self._term)
        try:
            end = time.monotonic() + seconds
            while not self.stopped and time.monotonic() < end:
                time.sleep(min(0.5, end - time.monotonic()))
        finally:
            signal.signal(signal.SIGTERM, previous)
        if not self.stopped:
            health.starting()
        return not self.stopped

    def _term(self, signum, frame) -> None:
        self.stopped = True
