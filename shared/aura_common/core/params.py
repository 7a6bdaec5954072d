"""Plain, frozen parameter objects for the decision core and the risk gates.

These dataclasses are the *schema* of the hot-reloadable strategy file (config/strategy.yaml): the config
layer validates YAML straight into them (pydantic reads ``__pydantic_config__``; the core never imports it),
and the optimizer writes ``proposed.yaml`` in exactly this shape. Units live in the names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

_STRICT = {"extra": "forbid"}


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


@dataclass(frozen=True)
class ScreenParams:
    """Daily universe screen."""

    __pydantic_config__ = _STRICT
    momentum_days: int = 30
    momentum_min_return: float = 0.0
    sma_days: int = 50
    drawdown_window_days: int = 90
    max_drawdown_pct: float = 40.0
    liquidity_window_days: int = 30
    min_median_quote_volume: float = 1_000_000.0
    min_history_days: int = 120

    def __post_init__(self) -> None:
        for name in ("momentum_days", "sma_days", "drawdown_window_days", "liquidity_window_days"):
            _require(getattr(self, name) >= 1, f"screen.{name} must be >= 1")
        _require(self.min_history_days >= 0, "screen.min_history_days must be >= 0")
        _require(0 < self.max_drawdown_pct <= 100, "screen.max_drawdown_pct must be in (0, 100]")
        _require(self.min_median_quote_volume >= 0, "screen.min_median_quote_volume must be >= 0")


@dataclass(frozen=True)
class ScoringParams:
    """Weights of the cross-sectionally normalised factors in the composite score (hot-reloadable)."""

    __pydantic_config__ = _STRICT
    momentum_lookbacks_days: tuple[int, ...] = (7, 30, 90)
    w_momentum: float = 1.0
    w_volatility: float = -0.5
    w_trend: float = 0.5
    w_liquidity: float = 0.2
    volatility_days: int = 30
    trend_days: int = 50

    def __post_init__(self) -> None:
        _require(len(self.momentum_lookbacks_days) >= 1, "scoring.momentum_lookbacks_days must not be empty")
        _require(all(d >= 1 for d in self.momentum_lookbacks_days), "scoring.momentum_lookbacks_days must be >= 1")
        _require(self.volatility_days >= 2 and self.trend_days >= 2, "scoring windows must be >= 2 days")


@dataclass(frozen=True)
class VotingParams:
    """Rank voting across historical offsets."""

    __pydantic_config__ = _STRICT
    offsets_days: tuple[int, ...] = (0, 1, 2, 3)
    top_k: int = 5
    min_votes: int = 3
    method: Literal["borda", "median"] = "borda"

    def __post_init__(self) -> None:
        _require(len(self.offsets_days) >= 1, "voting.offsets_days must not be empty")
        _require(all(o >= 0 for o in self.offsets_days), "voting.offsets_days must be >= 0")
        _require(len(set(self.offsets_days)) == len(self.offsets_days), "voting.offsets_days must be distinct")
        _require(self.top_k >= 1, "voting.top_k must be >= 1")
        _require(1 <= self.min_votes <= len(self.offsets_days), "voting.min_votes must be in [1, len(offsets_days)]")


@dataclass(frozen=True)
class RegimeParams:
    """Bull / sideways / bear from a market proxy and breadth, with hysteresis."""

    __pydantic_config__ = _STRICT
    proxy_symbol: str = "BTCUSDT"
    fast_sma_days: int = 50
    slow_sma_days: int = 200
    breadth_sma_days: int = 50
    bull_breadth_min: float = 0.5
    bear_breadth_max: float = 0.3
    confirm_cycles: int = 2
    exposure_bull: float = 1.0
    exposure_sideways: float = 0.5
    exposure_bear: float = 0.0

    def __post_init__(self) -> None:
        _require(1 <= self.fast_sma_days < self.slow_sma_days, "regime: need 1 <= fast_sma_days < slow_sma_days")
        _require(0 <= self.bear_breadth_max <= self.bull_breadth_min <= 1, "regime: need 0 <= bear_breadth_max <= bull_breadth_min <= 1")
        _require(self.confirm_cycles >= 1, "regime.confirm_cycles must be >= 1")
        for name in ("exposure_bull", "exposure_sideways", "exposure_bear"):
            _require(0 <= getattr(self, name) <= 1, f"regime.{name} must be in [0, 1]")


@dataclass(frozen=True)
class PortfolioParams:
    """How the selection becomes target weights."""

    __pydantic_config__ = _STRICT
    max_positions: int = 5
    weighting: Literal["equal", "score"] = "equal"
    max_weight: float = 0.25
    min_trade_weight: float = 0.01

    def __post_init__(self) -> None:
        _require(self.max_positions >= 1, "portfolio.max_positions must be >= 1")
        _require(0 < self.max_weight <= 1, "portfolio.max_weight must be in (0, 1]")
        _require(0 <= self.min_trade_weight < 1, "portfolio.min_trade_weight must be in [0, 1)")


@dataclass(frozen=True)
class RiskParams:
    """The three risk gates' thresholds (hot-reloadable)."""

    __pydantic_config__ = _STRICT
    kill_switch_window_days: int = 30
    kill_switch_max_drawdown_pct: float = 20.0
    kill_switch_liquidate: bool = False
    kill_switch_cooldown_hours: float = 0.0  # 0 = only `aura risk reset` re-arms trading
    stop_loss_pct: float = 15.0
    take_profit_pct: float = 60.0
    cost_benefit_margin_bps: float = 10.0
    # What the cost-benefit gate does with a rebalance whose benefit does not cover its costs: "skip" every
    # trade (DENY) or "trim" the smallest trades until the rest is covered (CLIP).
    cost_benefit_action: Literal["skip", "trim"] = "skip"
    # Expected benefit of a rebalance, in bps of equity, per unit of improvement of the selection's
    # weight-averaged composite score (core/risk/cost_benefit.py, rebalance_benefit_bps).
    cost_benefit_bps_per_score: float = 100.0
    # Sync guard (core/sync_guard.py): one-sync equity change treated as implausible without fills to explain
    # it (a fall by more than this, or the inverse rise), and how many consecutive consistent reads accept it.
    sync_guard_max_equity_drop_pct: float = 10.0
    sync_guard_confirm_reads: int = 3
    # A held symbol's price moving more than this from its last accepted mark in one sync is implausible too
    # (confirmed like the rest), and a confirmation needs its reads spread over at least this much host time.
    sync_guard_max_price_move_pct: float = 50.0
    sync_guard_confirm_min_seconds: float = 20.0

    def __post_init__(self) -> None:
        _require(self.kill_switch_window_days >= 1, "risk.kill_switch_window_days must be >= 1")
        _require(0 < self.kill_switch_max_drawdown_pct < 100, "risk.kill_switch_max_drawdown_pct must be in (0, 100)")
        _require(self.kill_switch_cooldown_hours >= 0, "risk.kill_switch_cooldown_hours must be >= 0")
        _require(0 < self.stop_loss_pct < 100, "risk.stop_loss_pct must be in (0, 100)")
        _require(self.take_profit_pct > 0, "risk.take_profit_pct must be > 0")
        _require(self.cost_benefit_margin_bps >= 0, "risk.cost_benefit_margin_bps must be >= 0")
        _require(self.cost_benefit_action in ("skip", "trim"), "risk.cost_benefit_action must be 'skip' or 'trim'")
        _require(self.cost_benefit_bps_per_score >= 0, "risk.cost_benefit_bps_per_score must be >= 0")
        _require(0 < self.sync_guard_max_equity_drop_pct < 100, "risk.sync_guard_max_equity_drop_pct must be in (0, 100)")
        _require(self.sync_guard_confirm_reads >= 1, "risk.sync_guard_confirm_reads must be >= 1")
        _require(0 < self.sync_guard_max_price_move_pct < 1000,
                 "risk.sync_guard_max_price_move_pct must be in (0, 1000)")
        _require(0 <= self.sync_guard_confirm_min_seconds <= 3600,
                 "risk.sync_guard_confirm_min_seconds must be in [0, 3600]")


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
