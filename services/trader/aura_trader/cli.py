"""``aura trade [--once]``: boot reconciliation, then the synchronous tick loop (or one tick with --once).

Exit codes: 0 success (or a clean stop on SIGTERM), 1 runtime failure (reconciliation failed: the trader refuses to
trade and says why), 2 configuration error (including live mode without keys or without confirmation).
"""

from __future__ import annotations

import argparse
import os
import sys

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
    try:
        trader = Trader(config, secrets, os.environ)
    except CrashSpecError as exc:
        print(f"aura trade: {exc}", file=sys.stderr)
        return 2
    except (ReconcileError, BrokerError, JournalError) as exc:  # venue unreachable, journal locked or unreadable
        print(f"aura trade: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        start_metrics_server(trader.registry, config.metrics.bind, config.metrics.trader_port)
        code = trader.run(once=args.once)
        report = trader.boot_report
        if report is not None and not report.ok:
            print(f"aura trade: refusing to trade: boot reconciliation failed: {report.reason}", file=sys.stderr)
        elif code == 1:
            print("aura trade: the tick failed (see the [TICK_FAILED] line)", file=sys.stderr)
        return code
    finally:
        trader.close()
