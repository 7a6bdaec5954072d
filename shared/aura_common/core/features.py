"""Per-symbol features as (T × N) arrays, computed once per panel and memoised by window.

Every feature at row ``t`` uses only candles ``0..t`` (point in time): they are reductions over trailing
windows that *end* at ``t``, never centred, never forward-filled from the future. So the features of
``panel.rows(0, t + 1)`` equal rows ``0..t`` of the features of any longer panel, bit for bit, and the trader
(which computes them on ``panel.closed_by(now)``) sees exactly what the backtester saw.

``FeatureStore`` memoises each array under ``(kind, window)``. A parameter sweep that keeps a store per data
window recomputes nothing that does not depend on the swept parameter. The store is deterministic (a memo,
not hidden state): asking twice returns the same read-only array.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from aura_common.core.panel import Panel


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


def _trailing(values: np.ndarray, days: int, reduce: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``reduce`` over the trailing window of ``days`` rows ending at each row; NaN for the first rows."""
    t, n = values.shape
    out = np.full((t, n), np.nan)
    if days <= t:
        win = sliding_window_view(values, days, axis=0)  # (T - days + 1, N, days)
        out[days - 1:] = reduce(win)
    return out


class FeatureStore:
    """Memoised trailing-window features of one panel. Arrays are (T × N) float64, read-only."""

    def __init__(self, panel: Panel) -> None:
        self.panel = panel
        self._memo: dict[tuple[str, int], np.ndarray] = {}
        self._close_list: list[list[float]] | None = None

    def _get(self, kind: str, window: int, build: Callable[[], np.ndarray]) -> np.ndarray:
        key = (kind, int(window))
        arr = self._memo.get(key)
        if arr is None:
            arr = _readonly(build())
            self._memo[key] = arr
        return arr

    @property
    def shape(self) -> tuple[int, int]:
        return self.panel.shape

    @property
    def close(self) -> np.ndarray:
        return self.panel.close

    def close_rows(self) -> list[list[float]]:
        """The close prices as nested Python lists (fast scalar access in the backtest loop)."""
        if self._close_list is None:
            self._close_list = self.panel.close.tolist()
        return self._close_list

    def history(self) -> np.ndarray:
        """Number of candles seen up to and including each row (days since listing, gaps not counted)."""
        return self._get("history", 0, lambda: np.cumsum(~np.isnan(self.panel.close), axis=0).astype(np.float64))

    def ret(self, days: int) -> np.ndarray:
        """Simple return over ``days`` rows: close[t] / close[t - days] - 1."""
        def build() -> np.ndarray:
            c = self.panel.close
            out = np.full(c.shape, np.nan)
            if days < len(c):
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[days:] = c[days:] / c[:-days] - 1.0
            return out
        return self._get("ret", days, build)

    def sma(self, days: int) -> np.ndarray:
        """Simple moving average of close over a full window (NaN if any candle in it is missing)."""
        return self._get("sma", days, lambda: _trailing(self.panel.close, days, lambda w: w.mean(axis=-1)))

    def rolling_high(self, days: int) -> np.ndarray:
        """Highest close over the trailing window (candles before listing ignored)."""
        return self._get("high", days, lambda: _trailing(self.panel.close, days, lambda w: np.fmax.reduce(w, axis=-1)))

    def drawdown(self, days: int) -> np.ndarray:
        """close / rolling high - 1 (<= 0)."""
        return self._get("drawdown", days, lambda: self.panel.close / self.rolling_high(days) - 1.0)

    def median_quote_volume(self, days: int) -> np.ndarray:
        """Median quote volume over a full window (NaN if any day in it is missing)."""
        return self._get("mqv", days, lambda: _trailing(self.panel.quote_volume, days,
                                                         lambda w: np.median(w, axis=-1)))

    def log_liquidity(self, days: int) -> np.ndarray:
        """log of the median quote volume over ``days`` (the liquidity factor)."""
        def build() -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.log(self.median_quote_volume(days))
        return self._get("logliq", days, build)

    def log_returns(self) -> np.ndarray:
        def build() -> np.ndarray:
            c = self.panel.close
            out = np.full(c.shape, np.nan)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[1:] = np.log(c[1:] / c[:-1])
            return out
        return self._get("logret", 1, build)

    def volatility(self, days: int) -> np.ndarray:
        """Standard deviation of daily log returns over a full window of ``days`` returns."""
        return self._get("vol", days, lambda: _trailing(self.log_returns(), days, lambda w: w.std(axis=-1)))

    def trend(self, days: int) -> np.ndarray:
        """Trend strength: close / SMA(days) - 1."""
        return self._get("trend", days, lambda: self.panel.close / self.sma(days) - 1.0)

    def above_sma(self, days: int) -> np.ndarray:
        """1.0 where close > SMA(days), 0.0 where not, NaN where the SMA is undefined (breadth input)."""
        def build() -> np.ndarray:
            s = self.sma(days)
            out = np.where(self.panel.close > s, 1.0, 0.0)
            out[np.isnan(s) | np.isnan(self.panel.close)] = np.nan
            return out
        return self._get("above", days, build)

    def proxy_sma(self, column: int, days: int) -> np.ndarray:
        """SMA of one column (the regime proxy), (T,) — avoids a full-panel window for long SMAs."""
        key = ("proxy_sma", days * 100_000 + column)
        arr = self._memo.get(key)
        if arr is None:
            col = np.ascontiguousarray(self.panel.close[:, column:column + 1])
            arr = _readonly(_trailing(col, days, lambda w: w.mean(axis=-1))[:, 0].copy())
            self._memo[key] = arr
        return arr


def compute_features(panel: Panel) -> FeatureStore:
    """The features of a panel (lazy and memoised: each array is built on first use)."""
    return FeatureStore(panel)
