"""What ``aura config check --explain`` prints: every bound the validation enforces, generated from the schema.

The ranges come from the one place each is written: ``Field(ge|gt=..., le|lt=...)`` on the main config's models
and ``param(default, low, high)`` on the strategy's dataclasses (core/params.py). README's configuration section
carries the same text, and a test keeps the two identical.
"""

from __future__ import annotations

import typing
from typing import Any

import annotated_types as at
from pydantic import BaseModel

from aura_common.config.loader import MAX_DEPTH, MAX_FILE_BYTES
from aura_common.config.models import AuraConfig
from aura_common.core.params import Bounds, bounds_table, format_number


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds: ``Model``, or the item model of ``tuple[Model, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def config_bounds(model: type[BaseModel] = AuraConfig, prefix: str = "") -> list[tuple[str, str, Any]]:
    """``(section.key, range, default)`` for every bounded numeric field of the main config, in schema order."""
    out: list[tuple[str, str, Any]] = []
    for name, info in model.model_fields.items():
        sub = _model_of(info.annotation)
        if sub is not None:
            many = typing.get_origin(info.annotation) is tuple
            out.extend(config_bounds(sub, f"{prefix}{name}{'[]' if many else ''}."))
            continue
        low: Any = None  # a bound as written beside the field (int or float)
        high: Any = None
        low_open = high_open = False
        for m in info.metadata:
            if isinstance(m, at.Ge):
                low = m.ge
            elif isinstance(m, at.Gt):
                low, low_open = m.gt, True
            elif isinstance(m, at.Le):
                high = m.le
            elif isinstance(m, at.Lt):
                high, high_open = m.lt, True
        if low is not None and high is not None:
            out.append((f"{prefix}{name}", str(Bounds(low, high, low_open, high_open)), info.default))
        elif low is not None or high is not None:  # a half-open range (a test keeps every numeric field bounded)
            out.append((f"{prefix}{name}", f"{low_open and '>' or '>='} {format_number(low)}" if high is None
                        else f"{high_open and '<' or '<='} {format_number(high)}", info.default))
    return out


def _default(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_default(v) for v in value) + "]"
    return format_number(value) if isinstance(value, float) else str(value)


def explain_text() -> str:
    """The bounds table and the file rules, as Markdown (``aura config check --explain``; README)."""
    lines = [
        "Every number must be finite: NaN and ±inf are refused. `[a, b]` includes both ends, `(a, b)` excludes them.",
        "",
        "| file | key | range | default |",
        "|---|---|---|---|",
    ]
    lines += [f"| aura.yaml | `{k}` | {r} | {_default(d)} |" for k, r, d in config_bounds()]
    lines += [f"| strategy.yaml | `{k}` | {r} | {_default(d)} |" for k, r, d in bounds_table()]
    lines += [
        "",
        "Rules across keys (errors): `scoring`: the four selector weights are not all 0; `voting`: `offsets_days` "
        "distinct, `min_votes` <= the number of offsets; `regime`: `fast_sma_days` < `slow_sma_days`, "
        "`bear_breadth_max` <= `bull_breadth_min`; `portfolio`: `min_trade_weight` < `max_weight`; "
        "`data.provider_order` does not repeat a provider.",
        "Warnings (printed by `aura config check`, logged by the trader when it applies the strategy): every "
        "regime exposure 0; `risk.cost_benefit_bps_per_score` 0.",
        "A strategy file states every key of every section; an empty or cut-short file is refused (the trader "
        "keeps its last good strategy).",
        f"Files: a regular file (not a FIFO, device or directory) of at most {MAX_FILE_BYTES // 1024} KiB, YAML "
        f"nested at most {MAX_DEPTH} levels, no duplicate keys, no aliases. Environment overrides "
        "(`AURA_<SECTION>__<KEY>`) are held to the same bounds, and an error names the variable.",
    ]
    return "\n".join(lines) + "\n"
