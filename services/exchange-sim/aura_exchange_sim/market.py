"""Market data replayed from a Panel: the price path inside a candle, klines at any interval, 24h tickers.

Inside candle ``k`` (open time ``t0``, length ``I``) the price moves linearly through four vertices:
``open`` at 0, then ``low`` at I/3 and ``high`` at 2I/3 for an up candle (close >= open) or ``high`` then ``low``
for a down candle, and ``close`` at the end. So the path is deterministic, touches the candle's high and low, and
klines of any interval (smaller or larger than the panel's) are cut from it consistently: the replayed 1h candles
of a 1d panel aggregate back to the 1d candle. Volume is spread evenly over each candle.

With ``price_model="close"`` (the parity model, docs/parity.md) there is no path: the price at time ``t`` is the
close of the last candle that closed at or before ``t`` (a step function that moves only at candle boundaries), so
a market order or a ticker read at 00:00 UTC sees the close of the daily candle that just closed, the very price
the backtester decides and fills at. Then a symbol trades once its first candle has closed; ``extremes`` are the
step values over the interval and the filters' average price is that step price.

A NaN candle (symbol not listed yet, or a gap) has no price: such a symbol is not in exchangeInfo before its first
candle, and is reported as ``BREAK`` (orders get "Market is closed.") during a gap. Past the panel's last candle the
market freezes at the last close with zero volume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np

from aura_common.core.panel import Panel

from aura_exchange_sim.intervals import INTERVALS_MS, floor_open, next_open, prev_open

__all__ = ["INTERVALS_MS", "PRICE_MODELS", "MarketData", "SymbolSpec", "derive_spec", "split_symbol"]

QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB")
DAY_MS = 86_400_000
PRICE_MODELS = ("path", "close")  # the intra-candle path (default) or the last close (the parity model)


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    base: str
    quote: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal
    listed_ms: int  # open time of the first candle with a price
    max_price: Decimal = Decimal("1000000")
    market_max_qty: Decimal = Decimal("128.5")

    def round_price(self, price: float | Decimal, up: bool | None = None) -> Decimal:
        q = Decimal(repr(float(price))) / self.tick
        mode = ROUND_CEILING if up else ROUND_FLOOR if up is False else "ROUND_HALF_EVEN"
        return (q.to_integral_value(rounding=mode) * self.tick).quantize(self.tick)

    def floor_qty(self, qty: Decimal) -> Decimal:
        return ((qty / self.step).to_integral_value(rounding=ROUND_FLOOR) * self.step).quantize(self.step)


def split_symbol(symbol: str) -> tuple[str, str]:
    for q in QUOTES:
        if symbol.endswith(q) and len(symbol) > len(q):
            return symbol[: -len(q)], q
    raise ValueError(f"cannot split symbol {symbol!r} into base and quote (known quotes: {', '.join(QUOTES)})")


def _pow10(exp: int, lo: int = -8, hi: int = 0) -> Decimal:
    return Decimal(1).scaleb(min(max(exp, lo), hi))


# Binance's BTCUSDT is the template of every symbol's limits, scaled by price: at ~60,000 USDT it has
# LOT_SIZE.maxQty 9000, MARKET_LOT_SIZE.maxQty ~128.5 (Binance moves it with liquidity), PRICE_FILTER.maxPrice
# 1,000,000 and NOTIONAL.maxNotional 9,000,000.
REF_PRICE = 60_000.0
REF_MAX_QTY_EXP = 3  # LOT_SIZE.maxQty = 9 x 10^3 at REF_PRICE
REF_MARKET_MAX_QTY = 128.5
MAX_NOTIONAL = Decimal("9000000")


def derive_spec(symbol: str, typical_price: float, listed_ms: int, min_notional: Decimal,
                highest_price: float | None = None) -> SymbolSpec:
    """Binance-like filters from a price level: ~6 significant digits of price, a lot step worth ~0.01-0.1 quote,
    and BTCUSDT's limits scaled by price: LOT_SIZE.maxQty 9 x 10^k worth about as much quote as 9000 BTC at 60,000
    (k <= 10, as Binance's largest are ~9.2e10), MARKET_LOT_SIZE.maxQty worth 128.5 x 60,000 quote (on the lot
    step), PRICE_FILTER.maxPrice two orders of magnitude above ``highest_price`` (default the typical price) — the
    real BTCUSDT values at 60,000."""
    base, quote = split_symbol(symbol)
    exp = math.floor(math.log10(typical_price))
    tick = _pow10(exp - 6)
    step = _pow10(math.floor(math.log10(1.0 / typical_price)) - 1)
    k = min(10, max(0, REF_MAX_QTY_EXP + round(math.log10(REF_PRICE / typical_price))))
    max_qty = Decimal(9).scaleb(k)
    market_max = Decimal(repr(REF_MARKET_MAX_QTY * REF_PRICE / typical_price))
    market_max = max(step, min(max_qty, (market_max / step).to_integral_value(rounding=ROUND_FLOOR) * step))
    max_price = Decimal(1).scaleb(math.floor(math.log10(max(highest_price or 0.0, typical_price))) + 2)
    return SymbolSpec(symbol, base, quote, tick, step, step, max_qty, min_notional, MAX_NOTIONAL, listed_ms,
                      max_price, market_max)


class MarketData:
    def __init__(self, panel: Panel, min_notional: Decimal = Decimal(5), price_model: str = "path") -> None:
        if len(panel.times) < 1:
            raise ValueError("the market panel has no candles")
        if price_model not in PRICE_MODELS:
            raise ValueError(f"unknown price model {price_model!r}; expected one of {', '.join(PRICE_MODELS)}")
        self.price_model = price_model
        self._close_model = price_model == "close"
        self.panel = panel
        self.I = int(panel.interval_ms)
        self.t_first = int(panel.times[0])
        self.t_end = int(panel.times[-1]) + self.I
        self._col = {s: i for i, s in enumerate(panel.symbols)}
        # python lists for fast scalar access in the per-request paths
        self._o, self._h, self._l, self._c = (getattr(panel, f).T.tolist() for f in ("open", "high", "low", "close"))
        vol = np.nan_to_num(panel.volume, nan=0.0)
        qv = np.where(np.isnan(panel.quote_volume), vol * np.nan_to_num(panel.close, nan=0.0),
                      panel.quote_volume)
        self._v, self._qv = vol.T.tolist(), np.nan_to_num(qv, nan=0.0).T.tolist()
        self.specs: dict[str, SymbolSpec] = {}
        for s, j in self._col.items():
            col = panel.close[:, j]
            ok = np.flatnonzero(~np.isnan(col))
            if len(ok) == 0:
                continue
            self.specs[s] = derive_spec(s, float(np.median(col[ok])), int(panel.times[ok[0]]), min_notional,
                                        float(np.nanmax(panel.high[ok, j])))

    # ---- candle lookup ---------------------------------------------------------------------------------------
    def _k(self, t: int) -> int:
        """Index of the candle containing t (clamped to the panel)."""
        k = (t - self.t_first) // self.I
        return min(max(k, 0), len(self.panel.times) - 1)

    def listed(self, symbol: str, now: int) -> bool:
        """Listed at its first candle's open; under the close model once that candle has closed (before, it has
        no price to trade at)."""
        spec = self.specs.get(symbol)
        if spec is None:
            return False
        return spec.listed_ms + (self.I if self._close_model else 0) <= now

    def _closed(self, t: int) -> int:
        """Index of the last candle that closed at or before t (-1: none yet), clamped to the panel."""
        return min((t - self.t_first) // self.I - 1, len(self.panel.times) - 1)

    def _close_price(self, j: int, t: int) -> float | None:
        k = self._closed(t)
        if k < 0:
            return None
        p = self._c[j][k]
        return None if p != p else p

    def _at(self, j: int, k: int, f: float) -> float:
        o, h, l, c = self._o[j][k], self._h[j][k], self._l[j][k], self._c[j][k]
        a, b = (l, h) if c >= o else (h, l)
        if f <= 1 / 3:
            return o + (a - o) * f * 3
        if f <= 2 / 3:
            return a + (b - a) * (f - 1 / 3) * 3
        return b + (c - b) * (min(f, 1.0) - 2 / 3) * 3

    def _pos(self, t: int) -> tuple[int, float]:
        if t >= self.t_end:
            return len(self.panel.times) - 1, 1.0
        if t < self.t_first:
            return 0, 0.0
        k = (t - self.t_first) // self.I
        return k, (t - self.t_first - k * self.I) / self.I

    def price(self, symbol: str, t: int) -> float | None:
        """The replay price at time t, or None when the symbol has no candle then (not listed, gap)."""
        j = self._col.get(symbol)
        if j is None or t < self.t_first:
            return None
        if self._close_model:
            return self._close_price(j, t)
        k, f = self._pos(t)
        p = self._at(j, k, f)
        return None if p != p else p

    def extremes(self, symbol: str, t0: int, t1: int) -> tuple[float, float] | None:
        """(low, high) of the price path over [t0, t1], or None when there was no price at all."""
        j = self._col[symbol]
        if self._close_model:  # the step values: the price at t0 and every close that happens in (t0, t1]
            k0, k1 = max(self._closed(t0), -1), self._closed(t1)
            steps = [p for p in (self._c[j][k] for k in range(max(k0, 0), k1 + 1)) if p == p]
            return (min(steps), max(steps)) if steps else None
        t0, t1 = max(t0, self.t_first), min(t1, self.t_end)
        if t1 < t0:
            return None
        (k0, f0), (k1, f1) = self._pos(t0), self._pos(t1)
        if f1 == 0.0 and k1 > k0:
            k1, f1 = k1 - 1, 1.0
        pts: list[float] = []
        segs = [(k0, f0, f1)] if k1 == k0 else [(k0, f0, 1.0), (k1, 0.0, f1)]
        for k, fa, fb in segs:
            pts.append(self._at(j, k, fa))
            pts.append(self._at(j, k, fb))
            for v in (1 / 3, 2 / 3):
                if fa < v < fb:
                    pts.append(self._at(j, k, v))
        if k1 > k0 + 1:
            hs = self.panel.high[k0 + 1:k1, j]
            ls = self.panel.low[k0 + 1:k1, j]
            if not np.all(np.isnan(hs)):
                pts += [float(np.nanmax(hs)), float(np.nanmin(ls))]
        pts = [p for p in pts if p == p]
        return (min(pts), max(pts)) if pts else None

    def average(self, symbol: str, t0: int, t1: int) -> float | None:
        """Time-weighted mean of the price path over [t0, t1] (exact: the path is linear between its vertices).

        Volume is uniform inside a candle, so inside one candle this is the volume-weighted average price; across
        a candle boundary the two candles are weighted by time, not by their volumes (a simplification). Gaps
        (NaN candles) and the time before the first candle are left out; past the last candle the price is frozen.
        """
        j = self._col.get(symbol)
        if j is None:
            return None
        t0 = max(t0, self.t_first)
        if t1 <= t0:
            return self.price(symbol, t1)
        area = span = 0.0
        if t1 > self.t_end and self._c[j][-1] == self._c[j][-1]:
            a = max(t0, self.t_end)
            area, span = self._c[j][-1] * (t1 - a), float(t1 - a)
        for k in range((t0 - self.t_first) // self.I, len(self.panel.times)):
            base = self.t_first + k * self.I
            if base >= min(t1, self.t_end):
                break
            fa, fb = (max(t0, base) - base) / self.I, (min(t1, base + self.I) - base) / self.I
            xs = [fa, *(v for v in (1 / 3, 2 / 3) if fa < v < fb), fb]
            ys = [self._at(j, k, x) for x in xs]
            if fb <= fa or any(y != y for y in ys):
                continue
            area += sum((x1 - x0) * (y0 + y1) / 2 for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:])) * self.I
            span += (fb - fa) * self.I
        return area / span if span else self.price(symbol, t1)

    def avg_price(self, symbol: str, now: int, mins: int) -> Decimal | None:
        """Binance's average price (``/api/v3/avgPrice``, the filters' ``avgPriceMins``) over the last ``mins``
        minutes, 8 decimals; ``mins == 0`` = the last price. Under the close model: the step price now (the
        filters judge an order at the price it fills at, as the backtester does)."""
        if self._close_model:
            mins = 0
        p = self.average(symbol, now - mins * 60_000, now) if mins else self.price(symbol, now)
        return None if p is None else Decimal(repr(p)).quantize(Decimal("0.00000001"))

    def _volume(self, j: int, t0: int, t1: int) -> tuple[float, float]:
        """Base and quote volume traded over [t0, t1) (volume is uniform inside a candle)."""
        t0, t1 = max(t0, self.t_first), min(t1, self.t_end)
        if t1 <= t0:
            return 0.0, 0.0
        k0, k1 = (t0 - self.t_first) // self.I, (t1 - 1 - self.t_first) // self.I
        if k0 == k1:
            w = (t1 - t0) / self.I
            return self._v[j][k0] * w, self._qv[j][k0] * w
        w0 = (self.t_first + (k0 + 1) * self.I - t0) / self.I
        w1 = (t1 - (self.t_first + k1 * self.I)) / self.I
        v = self._v[j][k0] * w0 + self._v[j][k1] * w1 + sum(self._v[j][k0 + 1:k1])
        qv = self._qv[j][k0] * w0 + self._qv[j][k1] * w1 + sum(self._qv[j][k0 + 1:k1])
        return v, qv

    def _grid_bar(self, j: int, k0: int, k1: int) -> tuple[float, float, float, float, float, float] | None:
        """Whole panel candles k0..k1-1 aggregated (the fast path for klines at the panel's interval or a multiple)."""
        c_l = self._c[j]
        ks = [k for k in range(max(k0, 0), min(k1, len(c_l))) if c_l[k] == c_l[k]]
        if not ks:
            return None
        h_l, l_l, v_l, qv_l = self._h[j], self._l[j], self._v[j], self._qv[j]
        return (self._o[j][ks[0]], max(h_l[k] for k in ks), min(l_l[k] for k in ks), c_l[ks[-1]],
                sum(v_l[k] for k in ks), sum(qv_l[k] for k in ks))

    def bar(self, symbol: str, t0: int, t1: int) -> tuple[float, float, float, float, float, float] | None:
        """(open, high, low, close, volume, quote_volume) of the path over [t0, t1)."""
        j = self._col[symbol]
        if t0 >= self.t_first and t1 <= self.t_end and (t0 - self.t_first) % self.I == 0 \
                and (t1 - self.t_first) % self.I == 0:
            return self._grid_bar(j, (t0 - self.t_first) // self.I, (t1 - self.t_first) // self.I)
        o = self.price(symbol, t0)
        c = self.price(symbol, t1 - 1) if t1 < self.t_end else self.price(symbol, self.t_end)
        ext = self.extremes(symbol, t0, t1 - 1 if t1 < self.t_end else t1)
        if o is None or c is None or ext is None:
            return None
        v, qv = self._volume(j, t0, t1)
        return o, max(ext[1], o, c), min(ext[0], o, c), c, v, qv

    # ---- REST shapes -----------------------------------------------------------------------------------------
    def klines(self, symbol: str, interval: str, now: int, start: int | None, end: int | None,
               limit: int) -> list[list]:
        """Candles of ``interval`` (``intervals.KLINE_INTERVALS``: 1w opens on Monday 00:00 UTC, 1M on the 1st);
        with ``start`` the first ``limit`` opening at or after it, else the last ``limit`` up to ``end``/now. The
        first candle after the listing covers the listing onwards."""
        spec = self.specs[symbol]
        last_open = floor_open(interval, now)  # the still-forming candle is included
        first_open = floor_open(interval, spec.listed_ms)
        hi = last_open if end is None else min(last_open, floor_open(interval, end))
        opens: list[int] = []
        if start is not None:
            a = floor_open(interval, start)
            a = max(first_open, a if a == start else next_open(interval, a))
            while a <= hi and len(opens) < limit:
                opens.append(a)
                a = next_open(interval, a)
        else:
            a = hi
            while a >= first_open and len(opens) < limit:
                opens.append(a)
                a = prev_open(interval, a)
            opens.reverse()
        out = []
        px = self._price_fmt(spec)
        for a in opens:
            b = next_open(interval, a)
            bar = self.bar(symbol, max(a, spec.listed_ms), min(b, now + 1))
            if bar is None:
                continue
            o, h, l, c, v, qv = bar
            out.append([a, px(o), px(h), px(l), px(c), f"{v:.8f}", b - 1, f"{qv:.8f}", int(v * 7) % 100_000 + 1,
                        f"{v * 0.5:.8f}", f"{qv * 0.5:.8f}", "0"])
        return out

    @staticmethod
    def _price_fmt(spec: SymbolSpec):
        """Float -> Binance price string on the tick grid (display only; fills use ``SymbolSpec.round_price``)."""
        d = max(0, -int(spec.tick.as_tuple().exponent))  # a finite tick: an int exponent
        pad = "0" * (8 - d) if d < 8 else ""
        if d == 0:
            return lambda x: f"{x:.0f}.{pad}"
        return lambda x: f"{x:.{d}f}{pad}"

    def ticker_24h(self, symbol: str, now: int, spread_bps: float, depth_qty: Decimal) -> dict:
        spec = self.specs[symbol]
        t0 = max(now - DAY_MS, spec.listed_ms)
        bar = self.bar(symbol, t0, now + 1) if now + 1 > t0 else None
        last = self.price(symbol, now)
        if bar is None or last is None:
            o = h = l = c = last or 0.0
            v = qv = 0.0
        else:
            o, h, l, c, v, qv = bar
            if self._close_model:  # the last price is the step price (the 24 h statistics stay the candles')
                c, h, l = last, max(h, last), min(l, last)
        bid, ask = self.quotes(symbol, now, spread_bps) or (Decimal(0), Decimal(0))
        return {"symbol": symbol, "priceChange": _s(spec.round_price(c - o)),
                "priceChangePercent": f"{((c - o) / o * 100) if o else 0.0:.3f}",
                "weightedAvgPrice": _s(spec.round_price(qv / v if v else c)),
                "prevClosePrice": _s(spec.round_price(o)), "lastPrice": _s(spec.round_price(c)),
                "lastQty": _s(spec.step), "bidPrice": _s(bid), "bidQty": _s(depth_qty),
                "askPrice": _s(ask), "askQty": _s(depth_qty), "openPrice": _s(spec.round_price(o)),
                "highPrice": _s(spec.round_price(h)), "lowPrice": _s(spec.round_price(l)),
                "volume": f"{v:.8f}", "quoteVolume": f"{qv:.8f}", "openTime": t0, "closeTime": now,
                "firstId": 1, "lastId": max(1, int(v)), "count": max(1, int(v))}

    def quotes(self, symbol: str, now: int, spread_bps: float) -> tuple[Decimal, Decimal] | None:
        """Best bid and ask: the replay price minus/plus the half spread, on the tick grid."""
        p = self.price(symbol, now)
        if p is None:
            return None
        spec = self.specs[symbol]
        bid = spec.round_price(p * (1 - spread_bps / 1e4), up=False)
        ask = spec.round_price(p * (1 + spread_bps / 1e4), up=True)
        if ask <= bid:
            ask = bid + spec.tick
        return bid, ask


def _s(d: Decimal) -> str:
    return f"{d:.8f}"
