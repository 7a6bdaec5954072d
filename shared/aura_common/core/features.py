"""Per-symbol features as (T × N) arrays, computed once per panel and memoised by window.

Every feature at row ``t`` uses only candles ``0..t`` (point in time): they are reductions over trailing
windows that *end* at ``t``, never centred, never forward-filled from the future. So the features of
``panel.rows(0, t + 1)`` equal rows ``0..t`` of the features of any longer panel, bit for bit, and the trader
(which computes them on ``panel.closed_by(now)``) sees exactly what the backtester saw.

``FeatureStore`` memoises each array under ``(kind, window)``. A parameter sweep that keeps a store per data
window recomputes nothing that does not depend on the swept parameter. The store is deterministic (a memo,
not hidden state): asking twice returns the same read-only array.

**Tail stores.** A decision at row ``t`` reads only rows ``t - max(voting offsets)..t``. ``fs.tail(first_row)``
is a store that computes every feature only for rows ``>= first_row`` (from the candles its windows reach back
to; earlier rows are NaN and must not be read), reusing the arrays its parent already holds. Each row is the
same reduction over the same window, computed by the same NumPy call on a shorter stack of windows, so the
values are bit-identical to the full computation (``tests/core/test_features.py`` checks this as a property).
This is what makes the trader's single decision cheap: a rolling median over the last few rows, not all.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from aura_common.core.panel import Panel


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


def _trailing(values: np.ndarray, days: int, reduce: Callable[[np.ndarray], np.ndarray],
              first_row: int = 0) -> np.ndarray:
    """``reduce`` over the trailing window of ``days`` rows ending at each row ``>= first_row``; NaN for the
    rows before (and for the first ``days - 1`` rows, whose window is incomplete)."""
    t, n = values.shape
    out = np.full((t, n), np.nan)
    if days <= t:
        a = max(0, min(first_row, t) - days + 1)  # the first candle the first wanted window reaches
        if t - a >= days:
            win = sliding_window_view(values[a:], days, axis=0)  # (T - a - days + 1, N, days)
            out[a + days - 1:] = reduce(win)
    return out


def median_tolerating_gaps(w: np.ndarray) -> np.ndarray:
    """Median over the last axis, ignoring missing values while at least half the window has one; NaN otherwise.

    A day without a quote volume (a CoinGecko stand-in, a feed that does not report it) must not make a liquid
    symbol look illiquid for a whole window; a mostly empty window still proves nothing. Gaps are rare, so the
    NaN-aware median runs only on the windows that need it."""
    out = np.median(w, axis=-1)
    bad = np.isnan(out)
    if bad.any():
        sub = w[bad]
        enough = np.count_nonzero(~np.isnan(sub), axis=-1) >= (w.shape[-1] + 1) // 2
        fixed = np.full(sub.shape[0], np.nan)
        if enough.any():
            fixed[enough] = np.nanmedian(sub[enough], axis=-1)
        out[bad] = fixed
    median: np.ndarray = out
    return median


class FeatureStore:
    """Memoised trailing-window features of one panel. Arrays are (T × N) float64, read-only.

    ``first_row`` > 0 (see ``tail``): only rows ``>= first_row`` are computed; earlier rows hold NaN."""

    def __init__(self, panel: Panel, first_row: int = 0, parent: "FeatureStore | None" = None) -> None:
        self.panel = panel
        self.first_row = max(0, int(first_row))
        self._parent = parent
        self._memo: dict[tuple[str, int], np.ndarray] = {}
        self._close_list: list[list[float]] | None = None

    def tail(self, first_row: int) -> "FeatureStore":
        """A store for rows ``>= first_row`` only (a single decision's block): computes just those rows and
        reuses this store's arrays when it already has them (``self`` when it starts at ``first_row``; a
        fresh store when ``first_row`` is earlier than the rows this one holds)."""
        first_row = max(0, int(first_row))
        if first_row == self.first_row:
            return self
        return FeatureStore(self.panel, first_row, self if first_row > self.first_row else None)

    def _get(self, kind: str, window: int, build: Callable[[], np.ndarray]) -> np.ndarray:
        key = (kind, int(window))
        arr = self._memo.get(key)
        if arr is None:
            parent = self._parent
            arr = parent._memo.get(key) if parent is not None else None
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
        def build() -> np.ndarray:
            seen = ~np.isnan(self.panel.close)
            f = self.first_row
            if f == 0:
                return np.cumsum(seen, axis=0).astype(np.float64)
            out = np.full(seen.shape, np.nan)
            out[f:] = (np.cumsum(seen[f:], axis=0) + np.count_nonzero(seen[:f], axis=0)).astype(np.float64)
            return out
        return self._get("history", 0, build)

    def ret(self, days: int) -> np.ndarray:
        """Simple return over ``days`` rows: close[t] / close[t - days] - 1."""
        def build() -> np.ndarray:
            c = self.panel.close
            out = np.full(c.shape, np.nan)
            a = max(days, self.first_row)
            if a < len(c):
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[a:] = c[a:] / c[a - days:len(c) - days] - 1.0
            return out
        return self._get("ret", days, build)

    def sma(self, days: int) -> np.ndarray:
        """Simple moving average of close over a full window (NaN if any candle in it is missing)."""
        return self._get("sma", days, lambda: _trailing(self.panel.close, days, lambda w: w.mean(axis=-1),
                                                        self.first_row))

    def rolling_high(self, days: int) -> np.ndarray:
        """Highest close over the trailing window (candles before listing ignored)."""
        return self._get("high", days, lambda: _trailing(self.panel.close, days,
                                                         lambda w: np.fmax.reduce(w, axis=-1), self.first_row))

    def drawdown(self, days: int) -> np.ndarray:
        """close / rolling high - 1 (<= 0)."""
        return self._get("drawdown", days, lambda: self.panel.close / self.rolling_high(days) - 1.0)

    def median_quote_volume(self, days: int) -> np.ndarray:
        """Median quote volume over the trailing window (see ``median_tolerating_gaps`` for missing days)."""
        return self._get("mqv", days, lambda: _trailing(self.panel.quote_volume, days,
                                                         median_tolerating_gaps, self.first_row))

    def log_liquidity(self, days: int) -> np.ndarray:
        """log of the median quote volume over ``days`` (the liquidity factor)."""
        def build() -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore"):
                logs: np.ndarray = np.log(self.median_quote_volume(days))
                return logs
        return self._get("logliq", days, build)

    def _log_returns_from(self, a: int) -> np.ndarray:
        """log(close[t] / close[t - 1]) for rows ``>= a`` (NaN before, and at row 0)."""
        c = self.panel.close
        out = np.full(c.shape, np.nan)
        a = max(a, 1)
        if a < len(c):
            with np.errstate(divide="ignore", invalid="ignore"):
                out[a:] = np.log(c[a:] / c[a - 1:-1])
        return out

    def log_returns(self) -> np.ndarray:
        return self._get("logret", 1, lambda: self._log_returns_from(self.first_row))

    def volatility(self, days: int) -> np.ndarray:
        """Standard deviation of daily log returns over a full window of ``days`` returns."""
        def build() -> np.ndarray:
            f = self.first_row
            lr = self.log_returns() if f == 0 else self._log_returns_from(f - days + 1)
            return _trailing(lr, days, lambda w: w.std(axis=-1), f)
        return self._get("vol", days, build)

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
        def build() -> np.ndarray:
            col = np.ascontiguousarray(self.panel.close[:, column:column + 1])
            return _trailing(col, days, lambda w: w.mean(axis=-1), self.first_row)[:, 0].copy()
        return self._get("proxy_sma", days * 100_000 + column, build)


def compute_features(panel: Panel) -> FeatureStore:
    """The features of a panel (lazy and memoised: each array is built on first use)."""
    return FeatureStore(panel)
