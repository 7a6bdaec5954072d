"""The main configuration file's schema (config/aura.yaml).

Every model is frozen and forbids unknown keys. Units live in names. Every numeric field has explicit finite
bounds (``Field(ge|gt=..., le|lt=...)``, the one place they are written; ``aura config check --explain`` prints
them) and NaN and ±inf are refused everywhere (``allow_inf_nan=False``). Secrets are never part of this
schema: they come from the environment or secret files (see secrets.py). The hot-reloadable part
(strategy: screen, scoring, voting, regime, portfolio, risk) lives in its own file whose schema is
``aura_common.core.params.StrategyParams``.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aura_common.domain import Interval


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class UniverseConfig(_Model):
    source: Literal["fixed", "exchange"] = "fixed"
    quote_asset: str = "USDT"
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
                                "AVAXUSDT", "DOTUSDT", "LINKUSDT", "LTCUSDT", "TRXUSDT", "MATICUSDT", "ATOMUSDT")
    exclusions: tuple[str, ...] = ()
    stablecoins: tuple[str, ...] = ("USDT", "USDC", "BUSD", "TUSD", "FDUSD", "DAI", "USDP", "PAX", "UST",
                                    "USDD", "EUR", "GBP", "AEUR", "WBTC", "WBETH", "PAXG")
    leveraged_suffixes: tuple[str, ...] = ("UP", "DOWN", "BULL", "BEAR")
    max_symbols: int = Field(300, ge=1, le=5000)

    @field_validator("symbols", "exclusions")
    @classmethod
    def _upper(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for s in v:
            if not s.isalnum():
                raise ValueError(f"symbol {s!r} must be alphanumeric, exchange-native spelling (e.g. BTCUSDT)")
        return tuple(s.upper() for s in v)


class ArchiveProvider(_Model):
    enabled: bool = True
    base_url: str = "https://data.binance.vision"
    timeout_seconds: float = Field(30.0, gt=0, le=600)


class ExchangeFeed(_Model):
    name: str  # a ccxt exchange id: binance, okx, bybit ...
    base_url: str | None = None  # None = the exchange's real URL; tests point it at the simulator
    timeout_seconds: float = Field(10.0, gt=0, le=600)


class CoinGeckoProvider(_Model):
    enabled: bool = True
    base_url: str = "https://api.coingecko.com/api/v3"
    timeout_seconds: float = Field(15.0, gt=0, le=600)
    ids: dict[str, str] = Field(default_factory=lambda: {
        "BTCUSDT": "bitcoin", "ETHUSDT": "ethereum", "BNBUSDT": "binancecoin", "SOLUSDT": "solana",
        "XRPUSDT": "ripple", "ADAUSDT": "cardano", "DOGEUSDT": "dogecoin", "AVAXUSDT": "avalanche-2",
        "DOTUSDT": "polkadot", "LINKUSDT": "chainlink", "LTCUSDT": "litecoin", "TRXUSDT": "tron",
        "MATICUSDT": "matic-network", "ATOMUSDT": "cosmos"})


class DataConfig(_Model):
    intervals: tuple[Interval, ...] = (Interval.D1, Interval.H4)
    decision_interval: Interval = Interval.D1
    start_date: date = date(2017, 8, 1)
    lookback_padding_days: int = Field(30, ge=0, le=3650)
    provider_order: tuple[Literal["archive", "exchange", "coingecko"], ...] = ("archive", "exchange", "coingecko")
    archive: ArchiveProvider = ArchiveProvider()
    exchanges: tuple[ExchangeFeed, ...] = (ExchangeFeed(name="binance"), ExchangeFeed(name="okx"))
    coingecko: CoinGeckoProvider = CoinGeckoProvider()
    max_stale_hours: float = Field(36.0, gt=0, le=720)

    @model_validator(mode="after")
    def _order_unique(self) -> "DataConfig":
        if len(set(self.provider_order)) != len(self.provider_order):
            raise ValueError("provider_order must not repeat a provider")
        return self


class ExecutionConfig(_Model):
    mode: Literal["paper", "testnet", "live"] = "paper"
    live_confirm: bool = False  # live mode refuses to start unless this is true AND keys are present
    exchange: str = "binance"
    base_url: str | None = None  # e.g. http://exchange-sim:8700 to trade against the simulator
    quote_asset: str = "USDT"
    fee_bps: float = Field(10.0, ge=0, le=100)  # 100 bps = 1 % per fill
    slippage_bps: float = Field(5.0, ge=0, le=500)
    paper_initial_quote: float = Field(10_000.0, gt=0, le=1e12)
    request_timeout_seconds: float = Field(10.0, gt=0, le=300)
    status_lag_seconds: float = Field(3.0, ge=0, le=300)  # how long an order may be invisible after acceptance
    lookup_attempts: int = Field(6, ge=1, le=100)
    # recvWindow of every signed request: the venue refuses an order reaching its matching engine after the
    # request's timestamp + this; with the status lag it decides when a "not found" is definitive (Binance: 1..60000)
    recv_window_ms: int = Field(5000, ge=1, le=60_000)


class SchedulesConfig(_Model):
    tick_seconds: float = Field(60.0, ge=0.1, le=3600)
    # the least WALL time between two ticks, and between two reads of a simulator's clock, whatever the venue clock's
    # speed: at 2880x a tick of 60 venue seconds is 21 ms of wall time, and the venue's rate limits are per wall
    # minute. Only `aura parity` (a stepped clock, weight limits off) sets it lower.
    min_tick_wall_seconds: float = Field(1.0, ge=0.0, le=60.0)
    rebalance_hour_utc: int = Field(0, ge=0, le=23)
    rebalance_delay_minutes: int = Field(15, ge=0, le=1439)
    snapshot_interval_seconds: float = Field(300.0, ge=1, le=86400)
    ingest_interval_minutes: float = Field(60.0, gt=0, le=10080)
    optimizer_cron: str = "0 3 * * 0"  # weekly, Sunday 03:00 UTC


class PathsConfig(_Model):
    data_dir: str = "volumes/data"
    journal: str = "volumes/journal/aura.sqlite"
    snapshots_dir: str = "volumes/snapshots"
    optimizer_dir: str = "volumes/optimizer"
    strategy_file: str = "config/strategy.yaml"  # the hot-reloadable file; relative paths resolve against the CWD


class MetricsConfig(_Model):
    trader_port: int = Field(9101, ge=0, le=65535)
    ingestor_port: int = Field(9102, ge=0, le=65535)
    bind: str = "127.0.0.1"  # loopback outside containers; compose sets 0.0.0.0 for Prometheus on its network


class OptimizerConfig(_Model):
    train_days: int = Field(365, ge=30, le=3650)
    test_days: int = Field(90, ge=7, le=3650)
    step_days: int = Field(90, ge=1, le=3650)
    anchored: bool = False
    trials: int = Field(100, ge=1, le=100_000)
    seed: int = Field(42, ge=0, le=2**32 - 1)
    workers: int = Field(0, ge=0, le=1024)  # 0 = one per core
    storage: str | None = None  # Optuna storage URL shared by several workers; default: SQLite on the volume


class AuraConfig(_Model):
    """The whole main configuration. Construct through ``aura_common.config.load_config``."""

    universe: UniverseConfig = UniverseConfig()
    data: DataConfig = DataConfig()
    execution: ExecutionConfig = ExecutionConfig()
    schedules: SchedulesConfig = SchedulesConfig()
    paths: PathsConfig = PathsConfig()
    metrics: MetricsConfig = MetricsConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
