"""The declared search space: which strategy parameters the optimizer may move, and how far (data, validated).

A search-space file (default: ``default_space.yaml`` beside this module) is YAML::

    objective:
      metric: sharpe            # sharpe | calmar | sortino
      turnover_penalty: 0.02    # subtracted per unit of annual turnover
      min_trades: 10            # fewer trades in a training window: the trial scores below any real one
    parameters:
      scoring.w_momentum: {low: 0.0, high: 2.0}               # float (the default value's type)
      regime.slow_sma_days: {low: 120, high: 250, step: 10}   # int
      screen.min_median_quote_volume: {low: 1.0e5, high: 1.0e7, log: true}
      voting.offsets_days: {choices: [[0, 1, 2, 3], [0, 2, 4, 6]]}

Every key names a field of ``StrategyParams`` as ``section.field``; the type comes from the field's default.
Validation refuses unknown keys and parameters, ranges with ``low >= high``, non-integral bounds of int
parameters, ``log`` with a non-positive bound, and any bound or choice that the strategy schema itself rejects
(each is tried on its own over the base strategy). Cross-parameter constraints (``fast_sma_days <
slow_sma_days``) can still fail for one sampled combination: that trial is pruned, not an error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from aura_common.config import ConfigError
from aura_common.config.loader import parse_strategy, read_yaml, strategy_to_dict
from aura_common.core.params import StrategyParams

DEFAULT_SPACE = Path(__file__).with_name("default_space.yaml")
METRICS = ("sharpe", "calmar", "sortino")
_RANGE_KEYS = {"low", "high", "step", "log"}


@dataclass(frozen=True)
class Objective:
    metric: str = "sharpe"
    turnover_penalty: float = 0.02
    min_trades: int = 10


@dataclass(frozen=True)
class Dimension:
    path: str  # section.field
    kind: str  # int | float | categorical
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    @property
    def bounds(self) -> tuple[float, float]:
        """``(low, high)`` of a numeric dimension (a categorical one has ``choices`` instead)."""
        if self.low is None or self.high is None:
            raise ValueError(f"{self.path}: a {self.kind} dimension has no bounds")
        return self.low, self.high

    def normalise(self, value: Any) -> float:
        """Position of a value in the range, 0..1 (for stability charts)."""
        if self.kind == "categorical":
            idx = [json.dumps(c) for c in self.choices].index(json.dumps(value))
            return idx / max(len(self.choices) - 1, 1)
        lo, hi, v = float(self.bounds[0]), float(self.bounds[1]), float(value)
        if self.log:
            lo, hi, v = math.log(lo), math.log(hi), math.log(v)
        return (v - lo) / (hi - lo)


@dataclass(frozen=True)
class SearchSpace:
    objective: Objective
    dimensions: tuple[Dimension, ...]
    source: str
    raw: Mapping[str, Any]

    def suggest(self, trial) -> dict[str, Any]:
        """Sample one point with an Optuna trial: ``{path: value}``."""
        out: dict[str, Any] = {}
        for d in self.dimensions:
            if d.kind == "categorical":
                keys = [json.dumps(c) for c in d.choices]
                out[d.path] = json.loads(trial.suggest_categorical(d.path, keys))
            elif d.kind == "int":
                out[d.path] = trial.suggest_int(d.path, int(d.bounds[0]), int(d.bounds[1]), step=int(d.step or 1), log=d.log)
            else:
                out[d.path] = trial.suggest_float(d.path, *d.bounds, step=d.step, log=d.log)
        return out

    def distributions(self) -> dict[str, Any]:
        """The Optuna distribution of each dimension, exactly as ``suggest`` declares it."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
        out: dict[str, Any] = {}
        for d in self.dimensions:
            if d.kind == "categorical":
                out[d.path] = CategoricalDistribution([json.dumps(c) for c in d.choices])
            elif d.kind == "int":
                out[d.path] = IntDistribution(int(d.bounds[0]), int(d.bounds[1]), log=d.log, step=int(d.step or 1))
            else:
                out[d.path] = FloatDistribution(*d.bounds, log=d.log, step=d.step)
        return out

    def from_optuna(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Values as ``suggest`` returns them, from a finished trial's ``params``."""
        return {d.path: json.loads(params[d.path]) if d.kind == "categorical" else params[d.path]
                for d in self.dimensions}


def apply(base: StrategyParams, values: Mapping[str, Any], source: str = "<search space>") -> StrategyParams:
    """``base`` with the given ``section.field`` values; raises ConfigError when the result is invalid."""
    data = strategy_to_dict(base)
    for path, value in values.items():
        section, name = path.split(".", 1)
        data[section][name] = value
    return parse_strategy(data, source)


def _field_defaults() -> dict[str, Any]:
    base = StrategyParams()
    out = {}
    for sec in fields(base):
        section = getattr(base, sec.name)
        for f in fields(section):
            out[f"{sec.name}.{f.name}"] = getattr(section, f.name)
    return out


def _num(source: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(source, key, f"must be a finite number, got {value!r}")
    return float(value)


def _dimension(source: str, path: str, spec: Any, default: Any) -> Dimension:
    key = f"parameters.{path}"
    if not isinstance(spec, Mapping):
        raise ConfigError(source, key, "must be a mapping with low/high (and step, log) or choices")
    if "choices" in spec:
        extra = set(spec) - {"choices"}
        if extra:
            raise ConfigError(source, f"{key}.{sorted(extra)[0]}", "unknown key (choices stand alone)")
        choices = spec["choices"]
        if not isinstance(choices, list) or len(choices) < 2:
            raise ConfigError(source, f"{key}.choices", "must be a list of at least 2 values")
        if len({json.dumps(c) for c in choices}) != len(choices):
            raise ConfigError(source, f"{key}.choices", "must not repeat a value")
        return Dimension(path, "categorical", choices=tuple(choices))
    extra = set(spec) - _RANGE_KEYS
    if extra:
        raise ConfigError(source, f"{key}.{sorted(extra)[0]}", "unknown key (use low, high, step, log or choices)")
    if "low" not in spec or "high" not in spec:
        raise ConfigError(source, key, "needs low and high (or choices)")
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        raise ConfigError(source, key, f"is not numeric (default {default!r}): declare choices")
    low, high = _num(source, f"{key}.low", spec["low"]), _num(source, f"{key}.high", spec["high"])
    if low >= high:
        raise ConfigError(source, key, f"low ({low:g}) must be below high ({high:g})")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(source, f"{key}.log", "must be true or false")
    step = spec.get("step")
    if step is not None:
        step = _num(source, f"{key}.step", step)
        if step <= 0:
            raise ConfigError(source, f"{key}.step", "must be > 0")
        if log:
            raise ConfigError(source, key, "step and log cannot be combined")
    if log and low <= 0:
        raise ConfigError(source, f"{key}.low", "must be > 0 with log: true")
    kind = "int" if isinstance(default, int) else "float"
    if kind == "int":
        for name, v in (("low", low), ("high", high), ("step", step)):
            if v is not None and v != int(v):
                raise ConfigError(source, f"{key}.{name}", f"{path} is an integer parameter, got {v:g}")
        return Dimension(path, kind, int(low), int(high), int(step) if step else None, log)
    return Dimension(path, kind, low, high, step, log)


def _objective(source: str, data: Any) -> Objective:
    if data is None:
        return Objective()
    if not isinstance(data, Mapping):
        raise ConfigError(source, "objective", "must be a mapping")
    extra = set(data) - {"metric", "turnover_penalty", "min_trades"}
    if extra:
        raise ConfigError(source, f"objective.{sorted(extra)[0]}", "unknown key")
    metric = data.get("metric", Objective.metric)
    if metric not in METRICS:
        raise ConfigError(source, "objective.metric", f"must be one of {', '.join(METRICS)}, got {metric!r}")
    penalty = _num(source, "objective.turnover_penalty", data.get("turnover_penalty", Objective.turnover_penalty))
    min_trades = data.get("min_trades", Objective.min_trades)
    if penalty < 0:
        raise ConfigError(source, "objective.turnover_penalty", "must be >= 0")
    if isinstance(min_trades, bool) or not isinstance(min_trades, int) or min_trades < 0:
        raise ConfigError(source, "objective.min_trades", "must be an integer >= 0")
    return Objective(metric, penalty, min_trades)


def parse_space(data: Any, source: str, base: StrategyParams) -> SearchSpace:
    """Validate a search-space mapping against the strategy schema and the base strategy."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, "", "a search space must be a mapping")
    extra = set(data) - {"objective", "parameters"}
    if extra:
        raise ConfigError(source, sorted(extra)[0], "unknown key (use objective and parameters)")
    params = data.get("parameters")
    if not isinstance(params, Mapping) or not params:
        raise ConfigError(source, "parameters", "must declare at least one parameter")
    defaults = _field_defaults()
    dims = []
    for path, spec in params.items():
        if path not in defaults:
            raise ConfigError(source, f"parameters.{path}", "no such strategy parameter (use section.field, "
                              "e.g. scoring.w_momentum)")
        dim = _dimension(source, path, spec, defaults[path])
        values = dim.choices if dim.kind == "categorical" else (dim.low, dim.high)
        for v in values:
            try:
                apply(base, {path: v}, source)
            except ConfigError as exc:
                raise ConfigError(source, f"parameters.{path}",
                                  f"value {v!r} is not a valid strategy: {exc.problem}") from None
        dims.append(dim)
    return SearchSpace(_objective(source, data.get("objective")), tuple(dims), source, dict(data))


def load_space(path: str | Path | None, base: StrategyParams) -> SearchSpace:
    file = Path(path) if path else DEFAULT_SPACE
    return parse_space(read_yaml(file), str(file), base)
