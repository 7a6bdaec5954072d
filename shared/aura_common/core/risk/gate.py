"""What every risk gate returns: pass / clip / deny, one sentence of reason, and the figures behind it.

A gate never raises for an ordinary market situation; it explains itself. The shell journals and counts every
non-pass (metric ``aura_gate_decisions_total{gate, decision}``) and logs the reason as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from aura_common.domain.values import to_decimal


class GateDecision(str, Enum):
    PASS = "pass"  # go ahead unchanged
    CLIP = "clip"  # go ahead with less (e.g. trimmed trades)
    DENY = "deny"  # do not go ahead (for position_exit: exit the position now)


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict. ``figures`` are plain floats (for logs, metrics and the journal); a private copy, so the
    result stays picklable (the optimizer's worker processes return results)."""

    gate: str
    decision: GateDecision
    reason: str
    figures: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "figures", {str(k): float(v) for k, v in self.figures.items()})

    @property
    def is_pass(self) -> bool:
        return self.decision is GateDecision.PASS


def as_decimal(value: object, what: str) -> Decimal:
    """A finite Decimal from a Decimal, int or float, or ValueError naming ``what``."""
    try:
        return to_decimal(value)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


def fmt(value: float | Decimal, places: int = 2) -> str:
    """Fixed-point text for reasons (deterministic, no exponent)."""
    return f"{float(value):.{places}f}"
