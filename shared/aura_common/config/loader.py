"""Load, validate and fingerprint configuration files.

Errors are ``ConfigError`` naming the file, the key path and what is wrong; the CLI turns them into one
line and exit code 2. Nothing here prints a traceback or a secret.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from aura_common.config.errors import ConfigError
from aura_common.config.models import AuraConfig
from aura_common.core.params import StrategyParams
from aura_common.core.redaction import redact_url_credentials

ENV_PREFIX = "AURA_"
ENV_NESTING = "__"
CONFIG_ENV = "AURA_CONFIG"
DEFAULT_CONFIG = "config/aura.yaml"

_STRATEGY = TypeAdapter(StrategyParams)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (a silent overwrite is a classic config bug)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen[key] = loader.construct_object(value_node, deep=deep)
    return seen


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; an empty file is an empty mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc}") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - strict SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        raise ConfigError(str(path), "", f"invalid YAML: {where}{context + ' ' if context else ''}{problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", f"top level must be a mapping, got {type(data).__name__}")
    return data


def _first_error(source: str, exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if p != "__root__")
    msg = err["msg"]
    if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        msg = "unknown key"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    more = len(exc.errors()) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(source, loc, msg)


def env_overrides(environ: Mapping[str, str]) -> list[tuple[str, tuple[str, ...], Any]]:
    """``AURA_SECTION__KEY=value`` → (variable, key path, YAML-parsed value). Other AURA_ variables are ignored."""
    out = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or ENV_NESTING not in name:
            continue
        path = tuple(p.lower() for p in name[len(ENV_PREFIX):].split(ENV_NESTING))
        if any(not p for p in path):
            raise ConfigError(f"environment variable {name}", "", "empty key segment")
        try:
            value = yaml.safe_load(environ[name])
        except yaml.YAMLError:
            value = environ[name]
        out.append((name, path, value))
    return out


def _apply(data: dict[str, Any], path: tuple[str, ...], value: Any, var: str) -> None:
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"environment variable {var}", ".".join(path), f"{part!r} is not a section")
        node = child
    node[path[-1]] = value


def resolve_config_path(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path:
    if explicit:
        return Path(explicit)
    return Path(environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(path: str | os.PathLike[str] | None = None,
                environ: Mapping[str, str] | None = None) -> AuraConfig:
    """Load the main config: ``path`` or ``$AURA_CONFIG`` or config/aura.yaml, then ``AURA_*__*`` overrides."""
    environ = os.environ if environ is None else environ
    file = resolve_config_path(path, environ)
    data = read_yaml(file)
    overrides = env_overrides(environ)
    for var, key_path, value in overrides:
        _apply(data, key_path, value, var)
    try:
        return AuraConfig.model_validate(data)
    except ValidationError as exc:
        err = _first_error(str(file), exc)
        for var, key_path, _ in overrides:  # name the variable when an override caused the error
            if err.key and ".".join(key_path).startswith(err.key.split(".")[0]) and err.key == ".".join(key_path):
                raise ConfigError(f"{file} (overridden by {var})", err.key, err.problem) from None
        raise err from None


def parse_strategy(data: Mapping[str, Any], source: str) -> StrategyParams:
    try:
        return _STRATEGY.validate_python(dict(data))
    except ValidationError as exc:
        raise _first_error(source, exc) from None


def load_strategy(path: str | os.PathLike[str]) -> StrategyParams:
    """Load the hot-reloadable strategy file (screen, scoring, voting, regime, portfolio, risk)."""
    return parse_strategy(read_yaml(Path(path)), str(path))


def strategy_to_dict(params: StrategyParams) -> dict[str, Any]:
    """The strategy file's YAML-ready form (tuples as lists); round-trips through ``parse_strategy``."""
    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v
    return plain(asdict(params))


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()


def config_hash(config: AuraConfig, strategy: StrategyParams | None = None) -> str:
    """A short, stable version id of the effective configuration (secrets are not part of it)."""
    payload: dict[str, Any] = {"config": config.model_dump(mode="json")}
    if strategy is not None:
        payload["strategy"] = strategy_to_dict(strategy)
    return hashlib.sha256(_canonical(payload)).hexdigest()[:12]


def strategy_hash(strategy: StrategyParams) -> str:
    return hashlib.sha256(_canonical(strategy_to_dict(strategy))).hexdigest()[:12]


def _redact_urls(value: Any) -> Any:
    if isinstance(value, str):
        return redact_url_credentials(value)
    if isinstance(value, dict):
        return {k: _redact_urls(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_urls(v) for v in value]
    return value


def redacted_dump(config: AuraConfig, strategy: StrategyParams | None = None,
                  secrets_present: Mapping[str, bool] | None = None) -> dict[str, Any]:
    """The effective configuration for display and for the journal. Secrets appear only as '<set>' / '<unset>'; the
    password of a URL (``optimizer.storage: postgresql://user:pass@host/db``) as ``***``."""
    out: dict[str, Any] = _redact_urls(config.model_dump(mode="json"))
    if strategy is not None:
        out["strategy"] = strategy_to_dict(strategy)
    if secrets_present is not None:
        out["secrets"] = {k: ("<set>" if v else "<unset>") for k, v in sorted(secrets_present.items())}
    return out
