"""A small HTTP GET helper for the plain-HTTP providers (archive, CoinGecko): timeouts, Retry-After, pacing, one
error map.

Rate limiting: 429 and 418 are retried after ``Retry-After`` seconds (default ``backoff_seconds`` doubling), at most
``max_retries`` times and never waiting longer than ``max_wait_seconds`` in one go; then ``rate_limited`` and the
breaker stops asking for the rest of the pass. ``min_interval_seconds`` paces requests (CoinGecko's public plan
allows ~30 calls/min). Waits go through the injected Clock so that tests do not sleep. Only GETs exist here, so
retrying is always safe.

Thread-safe: one ``requests.Session`` per thread; ``requests`` counts the calling thread's requests (a provider
reports how many requests one fetch made by differencing it).
"""

from __future__ import annotations

import threading
import time

import requests
from requests import Response, Session  # the class has a `requests` property: these name the types

from aura_common.adapters.clock import Clock
from aura_common.adapters.providers.base import Breaker, ProviderError, RequestObserver, no_observer


class HttpGetter:
    def __init__(self, provider: str, clock: Clock, timeout_seconds: float, observer: RequestObserver = no_observer,
                 max_retries: int = 3, backoff_seconds: float = 1.0, max_wait_seconds: float = 120.0,
                 headers: dict[str, str] | None = None, min_interval_seconds: float = 0.0) -> None:
        self.provider = provider
        self.clock = clock
        self.timeout = timeout_seconds
        self.observer = observer
        self.max_retries = max_retries
        self.backoff = backoff_seconds
        self.max_wait = max_wait_seconds
        self.headers = headers or {}
        self.min_interval_ms = int(min_interval_seconds * 1000)
        self.breaker = Breaker(provider)
        self._local = threading.local()
        self._pace_lock = threading.Lock()
        self._last_ms: int | None = None

    @property
    def requests(self) -> int:
        return getattr(self._local, "requests", 0)

    def _session(self) -> Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
        return s

    def _pace(self) -> None:
        if self.min_interval_ms <= 0:
            return
        with self._pace_lock:
            now = self.clock.now_ms()
            if self._last_ms is not None and now - self._last_ms < self.min_interval_ms:
                self.clock.sleep((self.min_interval_ms - (now - self._last_ms)) / 1000)
                now = self.clock.now_ms()
            self._last_ms = now

    def get(self, url: str, params: dict | None = None, allow_404: bool = False) -> Response | None:
        """The response (status 200), None for a 404 when ``allow_404``; otherwise ProviderError naming the URL."""
        self.breaker.check(url)
        try:
            resp = self._get(url, params, allow_404)
        except ProviderError as exc:
            self.breaker.failure(exc.kind)
            raise
        self.breaker.success()
        return resp

    def _get(self, url: str, params: dict | None, allow_404: bool) -> Response | None:
        delay = self.backoff
        for attempt in range(self.max_retries + 1):
            self._pace()
            t0 = time.perf_counter()
            self._local.requests = self.requests + 1
            try:
                resp = self._session().get(url, params=params, timeout=self.timeout, headers=self.headers)
            except requests.Timeout as exc:
                self.observer(self.provider, time.perf_counter() - t0, False)
                raise ProviderError("timeout", f"{url}: no answer within {self.timeout:g} s") from exc
            except requests.RequestException as exc:
                self.observer(self.provider, time.perf_counter() - t0, False)
                raise ProviderError("connection", f"{url}: {type(exc).__name__}") from exc
            ok = resp.status_code == 200 or (allow_404 and resp.status_code == 404)
            self.observer(self.provider, time.perf_counter() - t0, ok)
            if resp.status_code == 200:
                return resp
            if resp.status_code == 404 and allow_404:
                return None
            if resp.status_code in (429, 418):
                if attempt >= self.max_retries:
                    raise ProviderError("rate_limited", f"{url}: HTTP {resp.status_code} after "
                                                        f"{attempt + 1} attempts")
                wait = retry_after_seconds(resp.headers.get("Retry-After"), delay)
                self.clock.sleep(min(wait, self.max_wait))
                delay *= 2
                continue
            raise ProviderError("http_error", f"{url}: HTTP {resp.status_code}")
        raise AssertionError("unreachable")


def retry_after_seconds(value: str | None, default: float) -> float:
    """Seconds from a Retry-After header (delta-seconds form); ``default`` when absent or not a number."""
    if value is None:
        return default
    try:
        secs = float(value.strip())
    except ValueError:
        return default
    return secs if secs >= 0 else default
