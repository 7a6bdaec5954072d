"""The daily universe screen: which symbols may be scored at all.

A symbol passes at row ``t`` when, using only candles up to ``t``:

- it is not excluded (stablecoins and fiat, pegged or wrapped assets, leveraged tokens, plus the configured list),
- it has at least ``min_history_days`` candles since listing (and enough for every window used),
- its ``momentum_days`` return is above ``momentum_min_return``,
- its close is above SMA(``sma_days``),
- its drawdown from the ``drawdown_window_days`` closing high is no worse than ``-max_drawdown_pct``,
- its median quote volume over ``liquidity_window_days`` is at least ``min_median_quote_volume``.

Every check is a row-wise array operation, so the backtester screens all rows at once and the trader screens
one row with the same code.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from aura_common.core.features import FeatureStore
from aura_common.core.params import ScreenParams

QUOTE_ASSETS = ("USDT", "BUSD", "USDC", "FDUSD", "TUSD", "BTC", "ETH", "BNB")

# Bases that are not a bet on a crypto asset's own price: stablecoins, fiat, gold-pegged, wrapped/staked twins.
EXCLUDED_BASES = frozenset({
    "USDT", "USDC", "BUSD", "TUSD", "USDP", "PAX", "DAI", "FDUSD", "UST", "USTC", "USDD", "GUSD", "SUSD",
    "LUSD", "FRAX", "PYUSD", "USD1", "EUR", "EURI", "AEUR", "GBP", "AUD", "TRY", "BRL", "BIDR", "IDRT", "UAH",
    "RUB", "NGN", "ZAR", "PAXG", "XAUT", "WBTC", "WBETH", "WETH", "STETH", "BETH", "BTCB",
})
# Binance leveraged tokens: BTCUP, ETHDOWN, BNBBULL, XRPBEAR... (the prefix must be a ticker of >= 3 letters,
# so JUP or SUPER are not mistaken for one).
LEVERAGED_SUFFIXES = ("UP", "DOWN", "BULL", "BEAR")


def base_asset(symbol: str) -> str:
    for quote in QUOTE_ASSETS:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)]
    return symbol


def exclusion_reason(symbol: str, configured: Iterable[str] = ()) -> str | None:
    """Why a symbol is excluded from the universe, or None. ``configured`` holds symbols or base assets."""
    return _reason(symbol.upper(), frozenset(c.upper() for c in configured))


def _reason(symbol: str, wanted: frozenset[str]) -> str | None:
    base = base_asset(symbol)
    if symbol in wanted or base in wanted:
        return "configured"
    if base in EXCLUDED_BASES:
        return "stable_or_pegged"
    for suffix in LEVERAGED_SUFFIXES:
        if base.endswith(suffix) and len(base) - len(suffix) >= 3:
            return "leveraged_token"
    return None


def allowed_columns(symbols: Iterable[str], configured: Iterable[str] = ()) -> np.ndarray:
    """(N,) bool: True where the symbol is not excluded."""
    wanted = frozenset(c.upper() for c in configured)
    return np.array([_reason(s.upper(), wanted) is None for s in symbols], dtype=bool)


def min_history(params: ScreenParams) -> int:
    """Candles a symbol needs before every screen window is defined."""
    return max(params.min_history_days, params.momentum_days + 1, params.sma_days,
               params.liquidity_window_days, 1)


def screen_rows(fs: FeatureStore, rows: slice, params: ScreenParams, allowed: np.ndarray) -> np.ndarray:
    """(R × N) bool: the symbols passing the screen at each row of ``rows``."""
    mom = fs.ret(params.momentum_days)[rows]
    close = fs.close[rows]
    sma = fs.sma(params.sma_days)[rows]
    dd = fs.drawdown(params.drawdown_window_days)[rows]
    mqv = fs.median_quote_volume(params.liquidity_window_days)[rows]
    hist = fs.history()[rows]
    with np.errstate(invalid="ignore"):
        ok = (hist >= min_history(params)) & (mom > params.momentum_min_return) & (close > sma)
        ok &= dd >= -params.max_drawdown_pct / 100.0
        ok &= mqv >= params.min_median_quote_volume
    ok &= allowed[None, :]
    return ok
