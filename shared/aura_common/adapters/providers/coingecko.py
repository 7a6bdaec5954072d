"""CoinGecko fallback (plain HTTP): daily candles for symbols or ranges nobody else covers.

Choice (documented in docs/market-data.md): we use ``/coins/{id}/market_chart?vs_currency=usd&days=N&interval=daily``
and not ``/coins/{id}/ohlc``. The ohlc endpoint stamps candles by **close** time and its candle size depends on
``days`` (4-day candles for 31+ days on the public plan, spec §7.4), so it cannot give honest daily candles. The
daily market chart has one price point at 00:00 UTC per day. The candle of day D (open time D 00:00) is built as
open = price at D 00:00, close = price at D+1 00:00, high = max(open, close), low = min(open, close): a
"line candle" whose high/low are NOT the intraday extremes (they understate the range). Points not on 00:00 (the
trailing "now" point) are ignored. Volume and quote volume are unknown (NaN): CoinGecko's ``total_volumes`` is a
rolling 24 h all-venue USD figure, not this market's candle volume. Prices are USD, used for USDT pairs. The public
plan serves at most the last 365 days; older ranges stay gaps. Only the 1d interval is served.
Symbol -> id comes from the fixed table in config (``data.coingecko.ids``). Requests are paced at one per
``min_interval_seconds`` (2 s: the public plan's ~30 calls/min).
"""

from __future__ import annotations

import json

import numpy as np

from aura_common.adapters.clock import Clock
from aura_common.adapters.providers.base import Batch, FetchResult, ProviderError, RequestObserver, no_observer
from aura_common.adapters.providers.httpget import HttpGetter
from aura_common.core.candles import Candles
from aura_common.domain import Interval

DAY_MS = 86_400_000
MAX_DAYS = 365


def parse_market_chart(body: str, origin: str) -> tuple[Candles, dict[str, int]]:
    """Daily line candles from a market_chart body; raises ProviderError('bad_response') for non-JSON or a bad
    shape (an HTML error page, a truncated body, an error object)."""
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, ValueError) as exc:
        snippet = body.strip()[:40].replace("\n", " ")
        detail = f"{exc.msg} at {exc.pos}"  # type: ignore[attr-defined]  # json.loads raises JSONDecodeError
        raise ProviderError("bad_response", f"{origin}: not JSON ({detail}; starts {snippet!r})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("prices"), list):
        what = "an error object" if isinstance(doc, dict) and ("error" in doc or "status" in doc) else "no prices"
        raise ProviderError("bad_response", f"{origin}: {what}")
    points: dict[int, float] = {}
    rejects: dict[str, int] = {}
    for p in doc["prices"]:
        try:
            t, v = int(p[0]), float(p[1])
        except (TypeError, ValueError, IndexError):
            rejects["unparseable"] = rejects.get("unparseable", 0) + 1
            continue
        if t % DAY_MS == 0:
            points[t] = v
    days = sorted(points)
    opens = [d for d in days if d + DAY_MS in points]
    if not opens:
        return Candles.empty(), rejects
    o = np.asarray([points[d] for d in opens])
    c = np.asarray([points[d + DAY_MS] for d in opens])
    return Candles.build(opens, o, np.maximum(o, c), np.minimum(o, c), c, None, None, "coingecko"), rejects


class CoinGeckoProvider:
    name = "coingecko"

    def __init__(self, base_url: str, ids: dict[str, str], clock: Clock, timeout_seconds: float = 15.0,
                 observer: RequestObserver = no_observer, max_retries: int = 2,
                 api_key: str | None = None, min_interval_seconds: float = 2.0) -> None:
        self.base = base_url.rstrip("/")
        self.ids = {k.upper(): v for k, v in ids.items()}
        headers = {"x-cg-demo-api-key": api_key} if api_key else None
        self.http = HttpGetter(self.name, clock, timeout_seconds, observer=observer, max_retries=max_retries,
                               headers=headers, min_interval_seconds=min_interval_seconds)

    def supports(self, symbol: str, interval: Interval) -> bool:
        return Interval(interval) == Interval.D1 and symbol.upper() in self.ids

    def fetch(self, symbol: str, interval: Interval, start_ms: int, end_ms: int, now_ms: int) -> FetchResult:
        result = FetchResult()
        if not self.supports(symbol, interval):
            return result
        today = now_ms - now_ms % DAY_MS
        if end_ms <= today - MAX_DAYS * DAY_MS:
            return result  # beyond the public plan's history: ask nothing
        days = min(MAX_DAYS, max(1, -(-(today - start_ms) // DAY_MS) + 1))
        url = f"{self.base}/coins/{self.ids[symbol.upper()]}/market_chart"
        before = self.http.requests
        try:
            resp = self.http.get(url, params={"vs_currency": "usd", "days": str(days), "interval": "daily"})
            origin = f"{url}?days={days}"
            assert resp is not None  # without allow_404 a 404 raises
            candles, rejects = parse_market_chart(resp.text, origin)
            result.batches.append(Batch(origin, candles, rejects))
        except ProviderError as exc:
            result.errors.append(exc)
        result.requests = self.http.requests - before
        return result
