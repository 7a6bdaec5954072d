"""The rebalance plan: what the decision core hands to the trader and the backtester, with a stable hash.

The hash is the SHA-256 of a canonical JSON serialisation: keys sorted, symbols sorted, floats written as
``format(x, ".12e")`` (``-0.0`` as ``0``), no whitespace. The same inputs give the same bytes on any machine
and in any process, whatever the order of dicts, sets or symbols that went in.
"""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

from aura_common.core.regime import Regime, RegimeState


def canonical_float(x: float) -> str:
    x = float(x)
    if x != x:
        return "nan"
    if x == 0.0:
        return "0"
    return format(x, ".12e")


class Pick(NamedTuple):
    """A selected symbol: its composite score, its votes (offsets where it ranked top K) and its points."""

    symbol: str
    score: float
    votes: int
    points: float


class Plan(NamedTuple):
    """Immutable (a NamedTuple: cheap to build once a day for thousands of simulated days)."""

    decision_ms: int  # the close time of the last candle used (= when the decision may be taken)
    regime: RegimeState  # after this cycle's hysteresis step
    observed: Regime  # what this cycle's data said
    exposure: float  # the regime's target exposure
    picks: tuple[Pick, ...]  # in order of preference
    targets: tuple[tuple[str, float], ...]  # (symbol, weight), sorted by symbol, weight > 0
    exits: tuple[str, ...]  # held symbols to sell entirely, sorted
    # (symbol, score) of every held symbol, sorted: its composite score, or the cross-section's lowest when it is
    # not scored (what the cost-benefit gate weighs a held position at). An echo of the inputs, not a decision:
    # left out of the canonical form and the hash.
    held_scores: tuple[tuple[str, float], ...] = ()

    def target_map(self) -> dict[str, float]:
        return dict(self.targets)

    def to_dict(self) -> dict[str, object]:
        return {
            "decision_ms": self.decision_ms,
            "regime": self.regime.to_dict(),
            "observed": self.observed.value,
            "exposure": canonical_float(self.exposure),
            "picks": [{"symbol": p.symbol, "score": canonical_float(p.score), "votes": p.votes,
                       "points": canonical_float(p.points)} for p in self.picks],
            "targets": [[s, canonical_float(w)] for s, w in self.targets],
            "exits": list(self.exits),
        }

    def canonical_json(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.canonical_json()).hexdigest()
