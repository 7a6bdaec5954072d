"""Typed, frozen, strict configuration resolved once at the edge (see models.py and loader.py)."""

from aura_common.config.errors import ConfigError
from aura_common.config.loader import (
    config_hash,
    load_config,
    load_strategy,
    redacted_dump,
)
from aura_common.config.models import AuraConfig
from aura_common.config.secrets import Secrets, load_secrets

__all__ = [
    "AuraConfig",
    "ConfigError",
    "Secrets",
    "config_hash",
    "load_config",
    "load_secrets",
    "load_strategy",
    "redacted_dump",
]
