"""Load, validate and fingerprint configuration files.

Errors are ``ConfigError`` naming the file, the key path and what is wrong; the CLI turns them into one
line and exit code 2. Nothing here prints a traceback or a secret.

Reading is bounded before anything is parsed: only a regular file is read (never a FIFO, a device such as
/dev/zero, or a directory), at most ``MAX_FILE_BYTES``; the YAML may nest at most ``MAX_DEPTH`` levels and may not
use aliases (``*name``, the "billion laughs" expansion). A strategy *file* must state every key of every section
(``missing_strategy_keys``): a file cut short by an editor crash or emptied by ``> strategy.yaml`` is refused,
never run on the code defaults.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from aura_common.config.errors import ConfigError
from aura_common.config.models import AuraConfig
from aura_common.core.params import ParamError, StrategyParams, strategy_errors
from aura_common.core.redaction import redact_url_credentials

ENV_PREFIX = "AURA_"
ENV_NESTING = "__"
CONFIG_ENV = "AURA_CONFIG"
DEFAULT_CONFIG = "config/aura.yaml"

_STRATEGY = TypeAdapter(StrategyParams)

MAX_FILE_BYTES = 256 * 1024  # the shipped files are a few KB; a 5,000-symbol universe list is ~60 KB
MAX_DEPTH = 20  # nested YAML nodes (aura.yaml needs 5: data -> exchanges -> [0] -> name)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (a silent overwrite is a classic config bug), aliases, and
    nesting deeper than ``MAX_DEPTH`` (PyYAML composes recursively: 100,000 ``[`` would be a RecursionError)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in a config file",
                                              self.peek_event().start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


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


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_config_bytes(path: Path) -> bytes:
    """The bytes of a config file: a regular file of at most ``MAX_FILE_BYTES``, else a one-line ``ConfigError``.

    Opened non-blocking (a FIFO never hangs the caller) and checked with ``fstat`` on the open descriptor."""
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(source, "", "file not found") from None
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(source, "", f"not a regular file ({_kind(st.st_mode)})")
        limit = f"larger than the {MAX_FILE_BYTES // 1024} KiB limit for a config file"
        if st.st_size > MAX_FILE_BYTES:
            raise ConfigError(source, "", f"{limit} ({st.st_size} bytes)")
        chunks, size = [], 0
        while size <= MAX_FILE_BYTES:  # the size may change under us: never read more than the limit + 1
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise ConfigError(source, "", limit)
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML with the strict, bounded loader; errors are one ``ConfigError`` naming ``source``."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - strict SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        raise ConfigError(source, "", f"invalid YAML: {where}{context + ' ' if context else ''}{problem}") from None


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; an empty file is an empty mapping."""
    raw = read_config_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "", f"not UTF-8 text (byte {exc.start})") from None
    data = parse_yaml(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", f"top level must be a mapping, got {type(data).__name__}")
    return data


def _first_error(source: str, exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if p != "__root__")
    msg = err["msg"]
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, ParamError):  # a strategy bound or rule: name the field, not just its section
        loc = ".".join(p for p in (loc, cause.key) if p)
        msg = cause.problem
    elif err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
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
            value = parse_yaml(environ[name], f"environment variable {name}")
        except ConfigError as exc:
            if "nested deeper" in exc.problem or "aliases" in exc.problem:
                raise
            value = environ[name]  # not YAML: the plain string
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
            dotted = ".".join(key_path)
            if err.key and (err.key == dotted or dotted.startswith(err.key + ".") or err.key.startswith(dotted + ".")):
                raise ConfigError(f"environment variable {var}", err.key,
                                  f"{err.problem} (an override of {file})") from None
        raise err from None


def missing_strategy_keys(data: Mapping[str, Any]) -> list[str]:
    """The ``section`` / ``section.key`` names a complete strategy file states and ``data`` does not."""
    missing = []
    for sec in fields(StrategyParams):
        given = data.get(sec.name)
        if not isinstance(given, Mapping):
            missing.append(sec.name)
            continue
        section = sec.default_factory  # a section's default factory is its dataclass
        missing.extend(f"{sec.name}.{f.name}" for f in fields(section)  # type: ignore[arg-type]
                       if f.name not in given)
    return missing


def parse_strategy(data: Mapping[str, Any], source: str, *, complete: bool = False) -> StrategyParams:
    """Validate a strategy mapping: types, bounds (core/params.py) and ``strategy_errors``. ``complete``: it must
    also state every key of every section (a file does: ``load_strategy``); in-memory changes over a base strategy
    (the optimizer's trials, tests) need not."""
    try:
        params = _STRATEGY.validate_python(dict(data))
    except ValidationError as exc:
        raise _first_error(source, exc) from None
    for key, why in strategy_errors(params)[:1]:
        raise ConfigError(source, key, why)
    if complete:
        missing = missing_strategy_keys(data)
        if not data:
            raise ConfigError(source, "", "the file is empty; a strategy file states every key of every section "
                                          "(an emptied file is never run on the defaults)")
        if missing:
            more = f" ({len(missing)} keys or sections missing)" if len(missing) > 1 else ""
            raise ConfigError(source, missing[0], f"missing; a strategy file states every key of every section, so a "
                                                  f"file cut short is refused, never run on the defaults{more}")
    return params


def load_strategy(path: str | os.PathLike[str]) -> StrategyParams:
    """Load a strategy file (screen, scoring, voting, regime, portfolio, risk): every key of every section."""
    return parse_strategy(read_yaml(Path(path)), str(path), complete=True)


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
