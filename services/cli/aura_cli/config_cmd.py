"""``aura config check [FILE]``: validate the main config and its strategy file, print the redacted effective
configuration and its version hash. Exit 0 when valid, 2 (with one line naming file and key) when not.
Legal but suspicious strategy combinations are printed as ``aura: configuration warning: ...`` lines on stderr.
``--explain`` prints every bound and rule the validation enforces (generated from the schema) and exits 0."""

from __future__ import annotations

import argparse
import json
import sys

import yaml

from aura_common.config import config_hash, load_config, load_secrets, load_strategy, redacted_dump
from aura_common.core.params import strategy_warnings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", help="config file to check (default: --config, $AURA_CONFIG, config/aura.yaml)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    parser.add_argument("--explain", action="store_true",
                        help="print every bound and rule the check enforces (no file is read)")


def run(args: argparse.Namespace) -> int:
    if args.explain:
        from aura_common.config.explain import explain_text
        sys.stdout.write(explain_text())
        return 0
    config = load_config(args.file or getattr(args, "config", None))
    strategy = load_strategy(config.paths.strategy_file)
    for key, why in strategy_warnings(strategy):
        print(f"aura: configuration warning: {config.paths.strategy_file}: {key}: {why}", file=sys.stderr)
    secrets = load_secrets()
    dump = redacted_dump(config, strategy, secrets.present())
    version = config_hash(config, strategy)
    if args.json:
        print(json.dumps({"version": version, "config": dump}, indent=2, sort_keys=True))
    else:
        sys.stdout.write(yaml.safe_dump(dump, sort_keys=False))
        print(f"# config version: {version}")
    return 0
