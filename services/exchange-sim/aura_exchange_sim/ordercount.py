"""Binance's unfilled-order count (spec §3.6, §8.1; Binance faqs/order_count_decrement.md): -1015 and the
``X-MBX-ORDER-COUNT-*`` headers.

The rule chosen is Binance's documented one (the spec only says "filled orders decrement the count"):

* one count per account (the simulator has one account), kept per ``ORDERS`` limit of exchangeInfo over FIXED
  windows: 10 s windows aligned to the epoch (12:34:00-12:34:10, 12:34:10-12:34:20, ...), the UTC day;
* every ACCEPTED new order adds 1 to every window; a rejected request (-1013, -2010, -1015, ...) adds nothing;
* an order's FIRST fill (as a taker at placement, or later as a maker) takes 1 off every window's current count,
  never below 0 (no credit is kept); further fills of the same order, cancels and expiries change nothing. So
  orders that trade at once never use the limit up; orders that rest, and IOC/FOK orders that expire unfilled, do;
* a new order while any window's count is at its limit is refused before it is looked at: HTTP 429, -1015
  "Too many new orders; current limit is 100 orders per 10 SECOND." (``Retry-After`` = seconds to the window's end).

Headers: accepted orders and -1015 answers carry ``X-MBX-ORDER-COUNT-10S`` and ``X-MBX-ORDER-COUNT-1D``
(``-<intervalNum><S|M|H|D>``) with the counts after the request (other rejections carry none, as Binance does not
promise them).

Deviations from Binance: a maker's first fill and very large fills may decrement by more than 1 on Binance (here
always 1); Binance applies the decrement after a short delay, here at once (an order that filled on placement
already shows the decrement in its own header). Windows run on the host's wall clock, like the request weight,
not on the simulated clock. A limit of 0 switches that window's check off (it is still counted and reported, and
exchangeInfo does not advertise it).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from aura_exchange_sim import errors

_UNIT_MS = {"SECOND": 1_000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}


@dataclass(frozen=True)
class OrderLimit:
    interval: str  # SECOND | MINUTE | HOUR | DAY
    interval_num: int
    limit: int  # 0 = not enforced

    @property
    def window_ms(self) -> int:
        return _UNIT_MS[self.interval] * self.interval_num

    @property
    def header(self) -> str:
        return f"X-MBX-ORDER-COUNT-{self.interval_num}{self.interval[0]}"

    def rate_limit_json(self) -> dict:
        return {"rateLimitType": "ORDERS", "interval": self.interval, "intervalNum": self.interval_num,
                "limit": self.limit}


def default_limits(per_10s: int = 100, per_day: int = 200_000) -> tuple[OrderLimit, ...]:
    return OrderLimit("SECOND", 10, per_10s), OrderLimit("DAY", 1, per_day)


class OrderCounter:
    """The unfilled-order count of one account; ``wall`` (host ms) is always a parameter."""

    def __init__(self, limits: tuple[OrderLimit, ...]) -> None:
        for lim in limits:
            if lim.limit < 0 or lim.interval_num < 1 or lim.interval not in _UNIT_MS:
                raise ValueError(f"bad ORDERS limit {lim}")
        self.limits = limits
        self._lock = threading.Lock()
        self._windows = [(-1, 0)] * len(limits)  # (window index, count) per limit

    def _roll(self, wall: int) -> None:
        for i, lim in enumerate(self.limits):
            w = wall // lim.window_ms
            if self._windows[i][0] != w:
                self._windows[i] = (w, 0)

    def check(self, wall: int) -> None:
        """Raise -1015 (HTTP 429) when a window is full."""
        with self._lock:
            self._roll(wall)
            for (w, n), lim in zip(self._windows, self.limits):
                if lim.limit and n >= lim.limit:
                    retry = max(1, math.ceil(((w + 1) * lim.window_ms - wall) / 1000))
                    raise errors.too_many_orders(lim.limit, f"{lim.interval_num} {lim.interval}", retry,
                                                 self._headers_locked())

    def add(self, wall: int) -> None:
        """An accepted new order."""
        with self._lock:
            self._roll(wall)
            self._windows = [(w, n + 1) for w, n in self._windows]

    def filled(self, wall: int, orders: int = 1) -> None:
        """``orders`` orders got their first fill."""
        if orders <= 0:
            return
        with self._lock:
            self._roll(wall)
            self._windows = [(w, max(0, n - orders)) for w, n in self._windows]

    def _headers_locked(self) -> dict[str, str]:
        return {lim.header: str(n) for lim, (_, n) in zip(self.limits, self._windows)}

    def headers(self, wall: int) -> dict[str, str]:
        with self._lock:
            self._roll(wall)
            return self._headers_locked()

    def rate_limits_json(self) -> list[dict]:
        """The enforced ORDERS limits, as exchangeInfo advertises them."""
        return [lim.rate_limit_json() for lim in self.limits if lim.limit]

    def reset(self) -> None:
        with self._lock:
            self._windows = [(-1, 0)] * len(self.limits)
