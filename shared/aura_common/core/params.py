"""Plain, frozen parameter objects for the decision core and the risk gates.

These dataclasses are the *schema* of the hot-reloadable strategy file (config/strategy.yaml): the config
layer validates YAML straight into them (pydantic reads ``__pydantic_config__``; the core never imports it),
and the optimizer writes ``proposed.yaml`` in exactly this shape. Units live in the names.

Every numeric field declares its sane range ONCE, next to the field (``param(default, low, high)``, kept in the
field's metadata as ``Bounds``). ``__post_init__`` enforces it on every construction (the strategy file, the
optimizer's trials, a test), NaN is never inside a range, and ``aura config check --explain`` prints the same
table (``bounds_table``). Combinations under which a strategy could never trade are ``strategy_errors`` (the
config layer refuses them); combinations that are legal but worth a second look are ``strategy_warnings``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

# pydantic reads this plain dict (the core does not import pydantic): unknown keys are errors, NaN and ±inf are
# refused before any range is even looked at.
_STRICT = {"extra": "forbid", "allow_inf_nan": False}


class ParamError(ValueError):
    """A parameter is out of range or inconsistent. ``key`` is the field's name within its section ("" = the
    section as a whole); the config layer adds the section and the file."""

    def __init__(self, key: str, problem: str) -> None:
        self.key, self.problem = key, problem
        super().__init__(f"{key} {problem}" if key else problem)


def _require(cond: bool, key: str, problem: str) -> None:
    if not cond:
        raise ParamError(key, problem)


def format_number(x: float) -> str:
    """A bound or default as the docs print it: 100, 0.5, 1e+12 stays 1000000000000."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


@dataclass(frozen=True)
class Bounds:
    """The sane range of a numeric parameter: ``[low, high]``, each end open when ``*_open``. For a tuple
    parameter the range holds for every item, and the tuple has 1 to ``max_items`` items."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False
    max_items: int | None = None

    def contains(self, value: float) -> bool:
        """False for NaN (every comparison with NaN is false) and for anything outside the range."""
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return bool(above and below)

    def __str__(self) -> str:
        low, high = format_number(self.low), format_number(self.high)
        return f"{'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"

    def describe(self) -> str:
        """The range as ``--explain`` prints it."""
        return str(self) if self.max_items is None else f"items in {self}, 1 to {self.max_items} items"


def param(default: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False,
          max_items: int | None = None) -> Any:
    """A dataclass field with its default and its bounds (the one place a parameter's range is written)."""
    return field(default=default, metadata={"bounds": Bounds(low, high, low_open, high_open, max_items)})


def check_bounds(obj: Any) -> None:
    """Raise ``ParamError`` for the first field of ``obj`` outside its declared ``Bounds``."""
    for f in fields(obj):
        b = f.metadata.get("bounds")
        if b is None:
            continue
        value = getattr(obj, f.name)
        if b.max_items is not None:
            _require(1 <= len(value) <= b.max_items, f.name, f"must have 1 to {b.max_items} items, got {len(value)}")
            bad = [item for item in value if not (_finite(item) and b.contains(item))]
            _require(not bad, f.name, f"items must be in {b}, got {bad[0]!r}" if bad else "")
        else:
            _require(_finite(value) and b.contains(value), f.name, f"must be in {b}, got {value!r}")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class ScreenParams:
    """Daily universe screen."""

    __pydantic_config__ = _STRICT
    momentum_days: int = param(30, 1, 1000)
    momentum_min_return: float = param(0.0, -1.0, 10.0)  # a fraction: -1 = -100 %, 10 = +1000 %
    sma_days: int = param(50, 1, 1000)
    drawdown_window_days: int = param(90, 1, 1000)
    max_drawdown_pct: float = param(40.0, 0.0, 100.0, low_open=True)
    liquidity_window_days: int = param(30, 1, 1000)
    min_median_quote_volume: float = param(1_000_000.0, 0.0, 1e12)
    min_history_days: int = param(120, 0, 3650)

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class ScoringParams:
    """Weights of the cross-sectionally normalised factors in the composite score (hot-reloadable)."""

    __pydantic_config__ = _STRICT
    momentum_lookbacks_days: tuple[int, ...] = param((7, 30, 90), 1, 1000, max_items=10)
    w_momentum: float = param(1.0, -100.0, 100.0)
    w_volatility: float = param(-0.5, -100.0, 100.0)
    w_trend: float = param(0.5, -100.0, 100.0)
    w_liquidity: float = param(0.2, -100.0, 100.0)
    volatility_days: int = param(30, 2, 1000)
    trend_days: int = param(50, 2, 1000)

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class VotingParams:
    """Rank voting across historical offsets."""

    __pydantic_config__ = _STRICT
    offsets_days: tuple[int, ...] = param((0, 1, 2, 3), 0, 365, max_items=30)
    top_k: int = param(5, 1, 100)
    min_votes: int = param(3, 1, 30)
    method: Literal["borda", "median"] = "borda"

    def __post_init__(self) -> None:
        check_bounds(self)
        _require(len(set(self.offsets_days)) == len(self.offsets_days), "offsets_days", "must be distinct")
        _require(self.min_votes <= len(self.offsets_days), "min_votes",
                 f"must be at most len(offsets_days) = {len(self.offsets_days)}, got {self.min_votes}")


@dataclass(frozen=True)
class RegimeParams:
    """Bull / sideways / bear from a market proxy and breadth, with hysteresis."""

    __pydantic_config__ = _STRICT
    proxy_symbol: str = "BTCUSDT"
    fast_sma_days: int = param(50, 1, 1000)
    slow_sma_days: int = param(200, 2, 1000)
    breadth_sma_days: int = param(50, 1, 1000)
    bull_breadth_min: float = param(0.5, 0.0, 1.0)
    bear_breadth_max: float = param(0.3, 0.0, 1.0)
    confirm_cycles: int = param(2, 1, 100)
    exposure_bull: float = param(1.0, 0.0, 1.0)
    exposure_sideways: float = param(0.5, 0.0, 1.0)
    exposure_bear: float = param(0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        check_bounds(self)
        _require(self.fast_sma_days < self.slow_sma_days, "fast_sma_days",
                 f"must be below slow_sma_days ({self.fast_sma_days} >= {self.slow_sma_days})")
        _require(self.bear_breadth_max <= self.bull_breadth_min, "bear_breadth_max",
                 f"must be at most bull_breadth_min ({self.bear_breadth_max} > {self.bull_breadth_min})")


@dataclass(frozen=True)
class PortfolioParams:
    """How the selection becomes target weights."""

    __pydantic_config__ = _STRICT
    max_positions: int = param(5, 1, 100)
    weighting: Literal["equal", "score"] = "equal"
    max_weight: float = param(0.25, 0.0, 1.0, low_open=True)
    min_trade_weight: float = param(0.01, 0.0, 1.0, high_open=True)

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class RiskParams:
    """The three risk gates' thresholds (hot-reloadable)."""

    __pydantic_config__ = _STRICT
    kill_switch_window_days: int = param(30, 1, 3650)
    kill_switch_max_drawdown_pct: float = param(20.0, 0.0, 100.0, low_open=True, high_open=True)
    kill_switch_liquidate: bool = False
    kill_switch_cooldown_hours: float = param(720.0, 0.0, 8760.0)  # re-arm after 30 days; 0 = only `aura risk reset`
    stop_loss_pct: float = param(15.0, 0.0, 100.0, low_open=True, high_open=True)
    take_profit_pct: float = param(60.0, 0.0, 10_000.0, low_open=True)
    cost_benefit_margin_bps: float = param(10.0, 0.0, 10_000.0)
    # What the cost-benefit gate does with a rebalance whose benefit does not cover its costs: "skip" every
    # trade (DENY) or "trim" the smallest trades until the rest is covered (CLIP).
    cost_benefit_action: Literal["skip", "trim"] = "skip"
    # Expected benefit of a rebalance, in bps of equity, per unit of improvement of the selection's
    # weight-averaged composite score (core/risk/cost_benefit.py, rebalance_benefit_bps).
    cost_benefit_bps_per_score: float = param(100.0, 0.0, 1e6)
    # Sync guard (core/sync_guard.py): one-sync equity change treated as implausible without fills to explain
    # it (a fall by more than this, or the inverse rise), and how many consecutive consistent reads accept it.
    sync_guard_max_equity_drop_pct: float = param(10.0, 0.0, 100.0, low_open=True, high_open=True)
    sync_guard_confirm_reads: int = param(3, 1, 100)
    # A held symbol's price moving more than this from its last accepted mark in one sync is implausible too
    # (confirmed like the rest), and a confirmation needs its reads spread over at least this much host time.
    sync_guard_max_price_move_pct: float = param(50.0, 0.0, 1000.0, low_open=True, high_open=True)
    sync_guard_confirm_min_seconds: float = param(20.0, 0.0, 3600.0)

    def __post_init__(self) -> None:
        check_bounds(self)
        _require(self.cost_benefit_action in ("skip", "trim"), "cost_benefit_action", "must be 'skip' or 'trim'")


@dataclass(frozen=True)
class StrategyParams:
    """Everything the hot-reloadable strategy file holds; the optimizer searches over it."""

    __pydantic_config__ = _STRICT
    screen: ScreenParams = field(default_factory=ScreenParams)
    scoring: ScoringParams = field(default_factory=ScoringParams)
    voting: VotingParams = field(default_factory=VotingParams)
    regime: RegimeParams = field(default_factory=RegimeParams)
    portfolio: PortfolioParams = field(default_factory=PortfolioParams)
    risk: RiskParams = field(default_factory=RiskParams)


def bounds_table() -> list[tuple[str, str, Any]]:
    """``(section.key, range, default)`` for every bounded field of the strategy schema, in file order."""
    out = []
    for sec in fields(StrategyParams):
        for f in fields(sec.default_factory):  # type: ignore[arg-type]
            if "bounds" in f.metadata:
                out.append((f"{sec.name}.{f.name}", f.metadata["bounds"].describe(), f.default))
    return out


def strategy_errors(p: StrategyParams) -> list[tuple[str, str]]:
    """Combinations under which the strategy could never trade: ``(section.key, why)``. The config layer refuses a
    strategy (file, hot reload, optimizer trial) that has any; the core itself accepts them (edge cases for the
    kernels' tests)."""
    out: list[tuple[str, str]] = []
    s = p.scoring
    if not any((s.w_momentum, s.w_volatility, s.w_trend, s.w_liquidity)):
        out.append(("scoring", "w_momentum, w_volatility, w_trend and w_liquidity are all 0: every symbol would "
                               "score the same and the selector would pick nothing"))
    if p.portfolio.min_trade_weight >= p.portfolio.max_weight:
        out.append(("portfolio.min_trade_weight", f"must be below max_weight ({p.portfolio.min_trade_weight} >= "
                                                  f"{p.portfolio.max_weight}): no position could ever be opened"))
    return out


def strategy_warnings(p: StrategyParams) -> list[tuple[str, str]]:
    """Legal combinations that are probably a mistake: ``(section.key, why)``. ``aura config check`` prints them
    and the trader logs them when it applies the strategy."""
    out: list[tuple[str, str]] = []
    r = p.regime
    if r.exposure_bull == r.exposure_sideways == r.exposure_bear == 0:
        out.append(("regime.exposure_bull", "every regime exposure is 0: the strategy holds only cash"))
    if p.risk.cost_benefit_bps_per_score == 0:
        out.append(("risk.cost_benefit_bps_per_score", "is 0: no rebalance has an expected benefit, so the "
                    "cost-benefit gate refuses every rebalance that costs anything"))
    return out
