"""Hot reload of the strategy file (selector weights, risk thresholds) between trader cycles.

``StrategyReloader.current()`` is called at the start of every tick. It reads the file's bytes (a few KB) and
compares their SHA-256 with the last content it judged: an unchanged file costs one read and one hash, and a change
is seen even when the modification time is not (same-second writes, restored mtimes, clock skew on a volume).

A changed file is parsed and validated as a whole into ONE ``StrategyParams`` (the schema in core/params.py):

- valid: it becomes the current strategy at once (never half applied). Its version is ``config_hash(config,
  strategy)`` when the main config is given (the same id as ``[BOOT] config_version``), else ``strategy_hash``.
  A new version is journaled with ``record_config_version`` (version + the redacted content + which secrets are
  set, ``<set>``/``<unset>``, when ``secrets_present`` is given; the first version too) and logged as
  ``[CONFIG_RELOAD] status=applied``; ``aura_config_info{version}`` follows it and ``aura_config_reload_failing``
  drops to 0. A change that does not change the effective parameters (a comment, key order) keeps the version.
  Each ``strategy_warnings`` finding of a newly applied version is one ``[CONFIG_RELOAD] status=warning`` line.
- invalid (YAML error, unknown key, a value outside its bounds or NaN/inf, a file that does not state every key
  of every section: empty or cut short, not a regular file, too large or too deep, missing or unreadable): the
  last good strategy keeps running,
  one ``[CONFIG_RELOAD] status=rejected file=... key=... problem=...`` line names the file and key,
  ``aura_config_reload_errors_total`` counts it (once per distinct bad content, not once per tick) and
  ``aura_config_reload_failing`` stays 1 until a valid file is applied. The rejection is journaled as an event.

The file is read twice around the parse; if the two reads differ (a writer in the middle of a non-atomic write),
nothing is decided this tick and the next tick reads again.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from aura_common.adapters.logs import event
from aura_common.config import AuraConfig, ConfigError, config_hash, redacted_dump
from aura_common.config.loader import load_strategy, read_config_bytes, strategy_hash, strategy_to_dict
from aura_common.core.params import StrategyParams, strategy_warnings

TAG = "CONFIG_RELOAD"


class ConfigJournal(Protocol):
    def record_config_version(self, version: str, content: Mapping[str, Any]) -> bool: ...

    def append_event(self, tag: str, fields: Mapping[str, Any] | None = None, *,
                     cycle_key: str | None = None) -> int: ...


class ConfigMetrics(Protocol):
    def config_applied(self, version: str) -> None: ...

    def config_reload_failed(self) -> None: ...


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths whose values differ between two nested mappings (sorted; a whole sub-tree counts once)."""
    out: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        path = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.extend(changed_keys(a, b, path + "."))
        elif a != b or (key in old) != (key in new):
            out.append(path)
    return out


def _read(path: Path) -> bytes | None:
    """The file's bytes, bounded like every config read (never blocks on a FIFO, never reads /dev/zero)."""
    try:
        return read_config_bytes(path)
    except ConfigError:
        return None  # load_strategy below reports it with the file name


class StrategyReloader:
    """Holds the applied strategy; ``current()`` re-reads the file when its content changed.

    Construction loads the file once: an invalid file at start is a ``ConfigError`` (the trader refuses to start,
    exit 2), because there is no last good configuration to keep.
    """

    def __init__(self, path: str | os.PathLike[str], journal: ConfigJournal, metrics: ConfigMetrics,
                 logger: logging.Logger | None = None, *, config: AuraConfig | None = None,
                 secrets_present: Mapping[str, bool] | None = None) -> None:
        self.path = Path(path)
        self._journal, self._metrics = journal, metrics
        self._log = logger or logging.getLogger(__name__)
        self._config = config
        self._secrets_present = dict(secrets_present) if secrets_present is not None else None
        self._seen: str | None = None  # sha256 of the last content judged (valid or not)
        self._strategy: StrategyParams | None = None
        self._version: str | None = None
        self._failing: ConfigError | None = None
        self._reload()
        if self._strategy is None:
            raise self._failing or ConfigError(str(self.path), "", "the file changed while it was being read")

    # --- what the cycle reads ---------------------------------------------------------------------------------
    def current(self) -> StrategyParams:
        """The strategy to use for this tick (re-read first when the file's content changed)."""
        self._reload()
        assert self._strategy is not None
        return self._strategy

    @property
    def version(self) -> str:
        assert self._version is not None
        return self._version

    @property
    def failing(self) -> ConfigError | None:
        """The error of the current (rejected) file content, or None when the file in place is the applied one."""
        return self._failing

    def version_of(self, strategy: StrategyParams) -> str:
        return config_hash(self._config, strategy) if self._config is not None else strategy_hash(strategy)

    # --- internals ------------------------------------------------------------------------------------------
    def _reload(self) -> bool:
        """True when the file's content was judged (applied, unchanged or rejected); False when it moved."""
        before = _read(self.path)
        digest = hashlib.sha256(before).hexdigest() if before is not None else "missing"
        if digest == self._seen:
            return True
        try:
            strategy = load_strategy(self.path)
        except ConfigError as exc:
            after = _read(self.path)
            if after != before:
                return False
            self._seen = digest
            self._reject(exc)
            return True
        if _read(self.path) != before:
            return False
        self._seen = digest
        self._apply(strategy)
        return True

    def _content(self, strategy: StrategyParams) -> dict[str, Any]:
        """What a version journals: the redacted config, and which secrets are set (never their values)."""
        if self._config is not None:
            return redacted_dump(self._config, strategy, self._secrets_present)
        content: dict[str, Any] = {"strategy": strategy_to_dict(strategy)}
        if self._secrets_present is not None:
            content["secrets"] = {k: ("<set>" if v else "<unset>") for k, v in sorted(self._secrets_present.items())}
        return content

    def _apply(self, strategy: StrategyParams) -> None:
        version = self.version_of(strategy)
        previous, old = self._version, self._strategy
        changed = changed_keys(strategy_to_dict(old), strategy_to_dict(strategy)) if old is not None else []
        recorded = self._journal.record_config_version(version, self._content(strategy))
        self._strategy, self._version = strategy, version
        was_failing, self._failing = self._failing, None
        self._metrics.config_applied(version)
        if previous != version or was_failing is not None:
            event(self._log, TAG, status="applied", file=str(self.path), version=version, previous=previous,
                  journaled="yes" if recorded else "no", changed=",".join(changed) if changed else "-")
            for key, why in strategy_warnings(strategy):
                event(self._log, TAG, logging.WARNING, status="warning", file=str(self.path), key=key, problem=why,
                      version=version)

    def _reject(self, exc: ConfigError) -> None:
        self._failing = exc
        self._metrics.config_reload_failed()
        fields = {"status": "rejected", "file": exc.source, "key": exc.key or "-", "problem": exc.problem,
                  "kept_version": self._version}
        event(self._log, TAG, logging.ERROR, **fields)
        if self._strategy is not None:  # a running trader: the rejection is a fact worth keeping
            self._journal.append_event(TAG, fields)
