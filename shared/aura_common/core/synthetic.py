"""A seeded synthetic market: regime switches, volatility clustering, late listings.

Pure: the same arguments give the same panel, bit for bit. Used by tests, benchmarks and the exchange
simulator when no historical data is given. Symbol 0 is always ``BTCUSDT`` (the default regime proxy), listed
from the first day with beta 1; the others are ``SYN000USDT``... with their own beta, volatility and listing day.
"""

from __future__ import annotations

import numpy as np

from aura_common.core.panel import Panel

DAY_MS = 86_400_000
DEFAULT_START_MS = 1_514_764_800_000  # 2018-01-01T00:00:00Z

# regime: (daily drift, daily vol) of the market factor; a Markov chain switches between them
_REGIMES = np.array([[0.0030, 0.030], [0.0000, 0.020], [-0.0035, 0.045]])
_SWITCH = np.array([[0.985, 0.010, 0.005], [0.010, 0.980, 0.010], [0.010, 0.015, 0.975]])


def synthetic_symbols(n_symbols: int) -> tuple[str, ...]:
    return ("BTCUSDT",) + tuple(f"SYN{i:03d}USDT" for i in range(n_symbols - 1))


def market_regimes(n_days: int, rng: np.random.Generator) -> np.ndarray:
    """The hidden regime path (0 bull, 1 sideways, 2 bear)."""
    states = np.empty(n_days, dtype=np.int8)
    s = 1
    u = rng.random(n_days)
    cum = np.cumsum(_SWITCH, axis=1)
    for t in range(n_days):
        s = int(np.searchsorted(cum[s], u[t], side="right"))
        states[t] = min(s, 2)
    return states


def synthetic_panel(n_symbols: int, n_days: int, seed: int, start_ms: int = DEFAULT_START_MS,
                    interval_ms: int = DAY_MS, late_listing_fraction: float = 0.3) -> Panel:
    if n_symbols < 1 or n_days < 2:
        raise ValueError("need at least 1 symbol and 2 candles")
    rng = np.random.default_rng(seed)
    regimes = market_regimes(n_days, rng)
    drift, vol = _REGIMES[regimes, 0], _REGIMES[regimes, 1]
    # volatility clustering: a slowly mean-reverting multiplier on the factor volatility
    shock = rng.standard_normal(n_days)
    cluster = np.empty(n_days)
    c = 1.0
    for t in range(n_days):
        c = 0.97 * c + 0.03 + 0.08 * abs(shock[t]) - 0.064
        c = min(max(c, 0.5), 2.5)
        cluster[t] = c
    market = drift + vol * cluster * rng.standard_normal(n_days)

    beta = np.concatenate([[1.0], rng.uniform(0.6, 1.8, n_symbols - 1)])
    idio_vol = np.concatenate([[0.004], rng.uniform(0.01, 0.05, n_symbols - 1)])
    alpha = np.concatenate([[0.0], rng.normal(0.0, 0.0008, n_symbols - 1)])
    rets = alpha + market[:, None] * beta + rng.standard_normal((n_days, n_symbols)) * idio_vol
    rets = np.clip(rets, -0.6, 1.5)
    start_price = np.concatenate([[10_000.0], np.exp(rng.uniform(np.log(0.01), np.log(500.0), n_symbols - 1))])
    close = start_price * np.exp(np.cumsum(np.log1p(rets), axis=0))

    gap = rng.normal(0.0, 0.002, (n_days, n_symbols))
    open_ = np.empty_like(close)
    open_[0] = start_price
    open_[1:] = close[:-1] * (1 + gap[1:])
    wick = np.abs(rng.normal(0.0, 1.0, (2, n_days, n_symbols))) * idio_vol * 0.8
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - np.minimum(wick[1], 0.5))
    base_vol = np.exp(rng.uniform(np.log(2e5), np.log(5e8), n_symbols)) / start_price
    volume = base_vol * np.exp(rng.normal(0.0, 0.5, (n_days, n_symbols))) * (1 + 5 * np.abs(rets))
    quote_volume = volume * (high + low + close) / 3.0

    listing = np.zeros(n_symbols, dtype=int)
    late = rng.random(n_symbols) < late_listing_fraction
    late[0] = False
    listing[late] = rng.integers(1, max(2, int(n_days * 0.8)), late.sum())
    mask = np.arange(n_days)[:, None] < listing[None, :]
    for arr in (open_, high, low, close, volume, quote_volume):
        arr[mask] = np.nan
    times = start_ms + np.arange(n_days, dtype=np.int64) * interval_ms
    return Panel.from_arrays(synthetic_symbols(n_symbols), times, interval_ms, open=open_, high=high, low=low,
                             close=close, volume=volume, quote_volume=quote_volume)
