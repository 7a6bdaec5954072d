"""Recent candles from an exchange's REST API through ccxt (Binance first, then others from config).

Pagination: ``fetch_ohlcv(symbol, timeframe, since, limit)`` pages forward from ``start_ms`` until the range end,
an empty page, or a page that does not advance (bounded by the number of pages the range can need, plus two).
Rate limits: ccxt's own limiter stays on (``enableRateLimit``); on 429/418 (ccxt ``DDoSProtection`` /
``RateLimitExceeded``) we wait ``Retry-After`` (from the last response headers; ccxt ignores it) or an exponential
backoff through the injected Clock, at most ``max_retries`` times, then give the range up as ``rate_limited`` so
the next provider is asked. Thread-safe: calls to the one ccxt client are serialised under a lock (so ccxt's
limiter and our back-off hold for every worker); ``requests`` counts the calling thread's requests. The
still-forming candle is returned by the exchange; the caller drops it (closed
candles only). ccxt's unified rows carry base volume only, so for Binance the raw klines endpoint is read through
ccxt's implicit API method (same signing, throttling and error mapping) to keep the quote volume Binance reports
(column 7) — the screen's liquidity filter needs it. Other exchanges' quote volume is left unknown (NaN), not
invented.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import ccxt
import numpy as np

from aura_common.adapters.clock import Clock
from aura_common.adapters.providers.base import Batch, Breaker, FetchResult, ProviderError, RequestObserver, no_observer
from aura_common.adapters.providers.httpget import retry_after_seconds
from aura_common.core.candles import Candles
from aura_common.domain import Interval

PAGE_LIMIT = {"binance": 1000, "okx": 100, "bybit": 1000}


def map_ccxt_error(exc: Exception) -> str:
    """ccxt exception -> ProviderError kind (one table, checked most specific first)."""
    if isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
        return "rate_limited"
    if isinstance(exc, ccxt.RequestTimeout):
        return "timeout"
    if isinstance(exc, (ccxt.ExchangeNotAvailable, ccxt.NetworkError)):
        return "connection"
    return "bad_response"


class CcxtTailProvider:
    def __init__(self, exchange_factory: Callable[[], ccxt.Exchange], exchange_id: str, clock: Clock,
                 observer: RequestObserver = no_observer, max_retries: int = 3, backoff_seconds: float = 1.0,
                 max_wait_seconds: float = 120.0) -> None:
        self.exchange_id = exchange_id
        self.name = f"exchange:{exchange_id}"
        self._factory = exchange_factory
        self._exchange: ccxt.Exchange | None = None
        self._symbols: dict[str, str] | None = None  # BTCUSDT -> BTC/USDT
        self._markets_error: ProviderError | None = None
        self.clock = clock
        self.observer = observer
        self.max_retries = max_retries
        self.backoff = backoff_seconds
        self.max_wait = max_wait_seconds
        self.breaker = Breaker(self.name)
        self._lock = threading.RLock()
        self._local = threading.local()

    @property
    def requests(self) -> int:
        return getattr(self._local, "requests", 0)

    def supports(self, symbol: str, interval: Interval) -> bool:
        return True

    @property
    def exchange(self) -> ccxt.Exchange:
        if self._exchange is None:
            self._exchange = self._factory()
        return self._exchange

    def _call(self, what: str, fn, *args, check_empty: bool = False):
        with self._lock:
            self.breaker.check(what)
            try:
                out = self._call_with_retries(what, fn, *args)
            except ProviderError as exc:
                self.breaker.failure(exc.kind)
                raise
            self.breaker.success()
            if check_empty and isinstance(out, list) and not out:
                self._check_empty_body(what)
            return out

    def _call_with_retries(self, what: str, fn, *args):
        delay = self.backoff
        for attempt in range(self.max_retries + 1):
            t0 = time.perf_counter()
            self._local.requests = self.requests + 1
            try:
                out = fn(*args)
            except ccxt.BaseError as exc:
                self.observer(self.name, time.perf_counter() - t0, False)
                kind = map_ccxt_error(exc)
                if kind == "rate_limited" and attempt < self.max_retries:
                    headers = getattr(self.exchange, "last_response_headers", None) or {}
                    ra = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
                    self.clock.sleep(min(retry_after_seconds(ra, delay), self.max_wait))
                    delay *= 2
                    continue
                raise ProviderError(kind, f"{self.name} {what}: {type(exc).__name__}: {str(exc)[:160]}") from exc
            except (ValueError, TypeError, KeyError, IndexError) as exc:  # a body ccxt could not make sense of
                self.observer(self.name, time.perf_counter() - t0, False)
                raise ProviderError("bad_response", f"{self.name} {what}: {type(exc).__name__}: "
                                                    f"{str(exc)[:160]}") from exc
            self.observer(self.name, time.perf_counter() - t0, True)
            return out
        raise AssertionError("unreachable")

    def market_symbol(self, symbol: str) -> str | None:
        """``BTCUSDT`` -> the ccxt unified spot symbol (``BTC/USDT``), from the exchange's markets. A failed market
        load is remembered for the rest of the pass (exchangeInfo weighs 20: never once per pair)."""
        with self._lock:
            if self._markets_error is not None:
                raise ProviderError(self._markets_error.kind, f"{self.name}: markets unavailable this pass "
                                                              f"({self._markets_error})")
            if self._symbols is None:
                try:
                    self._symbols = self._load_symbols()
                except ProviderError as exc:
                    self._markets_error = exc
                    raise
        return self._symbols.get(symbol.upper())

    def _load_symbols(self) -> dict[str, str]:
        markets = self._call("load_markets", self.exchange.load_markets)
        if not isinstance(markets, dict):
            raise ProviderError("bad_response", f"{self.name} load_markets: not a market table")
        table = {}
        for m in markets.values():
            if isinstance(m, dict) and m.get("spot") and m.get("base") and m.get("quote"):
                table[f"{m['base']}{m['quote']}".upper()] = m["symbol"]
        if not table:
            # ccxt turns an HTML page or truncated JSON into an empty market table: never a real exchange
            body = str(getattr(self.exchange, "last_http_response", "") or "").strip()[:40].replace("\n", " ")
            raise ProviderError("bad_response", f"{self.name} load_markets: no spot markets (body starts {body!r})")
        return table

    def fetch(self, symbol: str, interval: Interval, start_ms: int, end_ms: int, now_ms: int) -> FetchResult:
        result = FetchResult()
        before = self.requests
        iv = Interval(interval)
        try:
            market = self.market_symbol(symbol)
            if market is None:
                return result  # not listed on this exchange: nothing, no error
            limit = PAGE_LIMIT.get(self.exchange_id, 100)
            max_pages = -(-(end_ms - start_ms) // (iv.ms * limit)) + 2
            since = start_ms
            for _ in range(max_pages):
                url = f"{self.name} fetch_ohlcv {market} {iv.value} since={since}"
                rows = self._call(url, self._fetch_rows, market, iv.value, since, limit, check_empty=True)
                if not isinstance(rows, list):
                    raise ProviderError("bad_response", f"{url}: not a list of candles")
                batch, last = self._to_batch(url, rows)
                if len(batch.candles) or batch.parse_rejects:
                    result.batches.append(batch)
                if last is None or last < since or last + iv.ms >= end_ms or len(rows) < 1:
                    break
                since = last + iv.ms
        except ProviderError as exc:
            result.errors.append(exc)
        result.requests = self.requests - before
        return result

    def _fetch_rows(self, market: str, interval: str, since: int, limit: int) -> list:
        if self.exchange_id == "binance":
            raw_id = self.exchange.market(market)["id"]
            rows = self.exchange.publicGetKlines({"symbol": raw_id, "interval": interval, "startTime": since,
                                                  "limit": limit})
            # like ccxt's unified parser, order a page by open time (stable); duplicates still reach validation
            return sorted(rows, key=_open_time) if isinstance(rows, list) else rows
        return self.exchange.fetch_ohlcv(market, interval, since, limit)

    def _check_empty_body(self, origin: str) -> None:
        """ccxt turns a body it cannot parse (an HTML error page, truncated JSON) into an empty candle list with
        status 200: "no data" and "garbage" must not look alike, so an empty answer is checked against the raw
        body."""
        body = getattr(self.exchange, "last_http_response", None)
        if body is None:
            return
        try:
            doc = json.loads(body)
        except (TypeError, ValueError):
            snippet = str(body).strip()[:40].replace("\n", " ")
            raise ProviderError("bad_response", f"{origin}: body is not JSON (starts {snippet!r})") from None
        if not isinstance(doc, list):
            raise ProviderError("bad_response", f"{origin}: body is not a list of candles")

    def _to_batch(self, origin: str, rows: list) -> tuple[Batch, int | None]:
        good, bad = [], 0
        for r in rows:
            if isinstance(r, (list, tuple)) and len(r) >= 6:
                try:
                    quote = r[7] if len(r) >= 8 else None  # Binance raw klines: quote asset volume
                    good.append([float(x) if x is not None else np.nan for x in (*r[:6], quote)])
                    continue
                except (TypeError, ValueError):
                    pass
            bad += 1
        rejects = {"unparseable": bad} if bad else {}
        if not good:
            return Batch(origin, Candles.empty(), rejects), None
        a = np.asarray(good, dtype=np.float64)
        t = a[:, 0].astype(np.int64)
        c = Candles.build(t, a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5], a[:, 6], self.name)
        return Batch(origin, c, rejects), int(t.max())


def _open_time(row) -> float:
    try:
        return float(row[0])
    except (TypeError, ValueError, IndexError, KeyError):
        return float("inf")  # unparseable rows sort last and are refused by _to_batch


def make_exchange(name: str, base_url: str | None, timeout_seconds: float = 10.0) -> ccxt.Exchange:
    """A public-data ccxt client. Binance goes through ``aura_common.adapters.exchange.make_binance`` (the one
    builder with the safe options); other exchanges get every ``urls['api']`` entry rebased onto ``base_url``
    (keeping each path) so that a test or a proxy can stand in for them."""
    if name == "binance":
        try:
            from aura_common.adapters.exchange import make_binance
        except ImportError:  # the shared builder not installed yet: same safe options, spec §1.3
            make_binance = None  # type: ignore[assignment]  # a fallback for an older shared package
        if make_binance is not None:
            return make_binance(base_url, timeout_seconds=timeout_seconds)
    cls = getattr(ccxt, name, None)
    if cls is None or not isinstance(cls, type):
        raise ValueError(f"unknown ccxt exchange {name!r} in data.exchanges")
    exchange = cls({"enableRateLimit": True, "timeout": int(round(timeout_seconds * 1000)),
                    "options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]},
                                "fetchCurrencies": False, "fetchMargins": False,
                                "adjustForTimeDifference": False}})
    if base_url:
        from urllib.parse import urlsplit
        base = base_url.rstrip("/")

        def rebase(u):
            if isinstance(u, dict):
                return {k: rebase(v) for k, v in u.items()}
            if isinstance(u, str) and u.startswith(("http://", "https://")):
                return base + urlsplit(u).path
            return u
        exchange.urls = dict(exchange.urls)
        exchange.urls["api"] = rebase(exchange.urls["api"])
    return exchange
