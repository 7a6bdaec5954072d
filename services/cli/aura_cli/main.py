"""``aura`` — the one entry point. Each subcommand lives in its own module exposing

    configure(parser: argparse.ArgumentParser) -> None
    run(args: argparse.Namespace) -> int

and is imported only when needed. A subcommand whose module is not built yet exits 2 and says so.
Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error. No traceback is the user interface:
set AURA_DEBUG=1 to see one.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from aura_common.config import ConfigError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

# name -> (module, one-line help). Nested commands use "group sub".
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("aura_ingestor.cli", "keep the Parquet candle cache up to date (--once for one pass)"),
    "trade": ("aura_trader.cli", "run the trader's synchronous cycle (--once for one cycle)"),
    "backtest": ("aura_cli.backtest", "replay history through the decision core and risk gates"),
    "optimize": ("aura_optimizer.cli", "walk-forward parameter search on snapshot copies"),
    "exchange-sim": ("aura_exchange_sim.cli", "run the Binance-Spot-compatible exchange simulator"),
    "parity": ("aura_cli.parity", "prove the trader against the simulator places the backtest's orders"),
    "status": ("aura_cli.status", "print mode, equity, drawdown, kill switch, positions, open orders"),
    "config check": ("aura_cli.config_cmd", "validate a config file and print the redacted effective config"),
    "risk reset": ("aura_cli.risk_cmd", "re-arm trading after the kill switch tripped (journaled)"),
}


class _NotBuilt:
    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def run(self, args: argparse.Namespace) -> int:
        print(f"aura {self.name}: not built yet ({self.reason})", file=sys.stderr)
        return EXIT_USAGE


def _load(name: str, module: str):
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            return _NotBuilt(name, f"{module} does not exist")
        raise
    if not (hasattr(mod, "configure") and hasattr(mod, "run")):
        return _NotBuilt(name, f"{module} has no configure()/run()")
    return mod


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="aura", description="AURA crypto spot-trading system")
    parser.add_argument("--config", help="main config file (default: $AURA_CONFIG or config/aura.yaml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    groups: dict[str, argparse._SubParsersAction] = {}
    handlers: dict[str, Any] = {}  # command -> its module (configure(parser), run(args))
    for name, (module, help_text) in COMMANDS.items():
        handler = _load(name, module)
        if " " in name:
            group, leaf = name.split(" ", 1)
            if group not in groups:
                gp = sub.add_parser(group, help=f"{group} commands")
                groups[group] = gp.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
                groups[group].required = True
            p = groups[group].add_parser(leaf, help=help_text, description=help_text)
        else:
            p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", default=argparse.SUPPRESS,
                       help="main config file (default: $AURA_CONFIG or config/aura.yaml)")
        handler.configure(p)
        p.set_defaults(_handler=name)
        handlers[name] = handler
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser, handlers = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or usage error (2)
        return int(exc.code or 0)
    handler = handlers[args._handler]
    try:
        return int(handler.run(args) or 0)
    except ConfigError as exc:
        print(f"aura: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("aura: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one clear line, never a traceback
        if os.environ.get("AURA_DEBUG"):
            raise
        from aura_common.adapters.logs import redact
        print(f"aura {args._handler}: error: {redact(f'{type(exc).__name__}: {exc}')}"
              " (set AURA_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
