"""A small HTTP GET helper for the plain-HTTP providers (archive, CoinGecko): timeouts, Retry-After, one error map.

Rate limiting: 429 and 418 are retried after ``Retry-After`` seconds (default ``backoff_seconds`` doubling), at most
``max_retries`` times and never waiting longer than ``max_wait_seconds`` in one go; then ``rate_limited``. The wait
goes through the injected Clock so that tests do not sleep. Only GETs exist here, so retrying is always safe.
"""

from __future__ import annotations

import time

import requests

from aura_common.adapters.clock import Clock
from aura_common.adapters.providers.base import Breaker, ProviderError, RequestObserver, no_observer


class HttpGetter:
    def __init__(self, provider: str, clock: Clock, timeout_seconds: float, session: requests.Session | None = None,
                 observer: RequestObserver = no_observer, max_retries: int = 3, backoff_seconds: float = 1.0,
                 max_wait_seconds: float = 120.0, headers: dict[str, str] | None = None) -> None:
        self.provider = provider
        self.clock = clock
        self.timeout = timeout_seconds
        self.session = session or requests.Session()
        self.observer = observer
        self.max_retries = max_retries
        self.backoff = backoff_seconds
        self.max_wait = max_wait_seconds
        self.headers = headers or {}
        self.requests = 0
        self.breaker = Breaker(provider)

    def get(self, url: str, params: dict | None = None, allow_404: bool = False) -> requests.Response | None:
        """The response (status 200), None for a 404 when ``allow_404``; otherwise ProviderError naming the URL."""
        self.breaker.check(url)
        try:
            resp = self._get(url, params, allow_404)
        except ProviderError as exc:
            self.breaker.failure(exc.kind)
            raise
        self.breaker.success()
        return resp

    def _get(self, url: str, params: dict | None, allow_404: bool) -> requests.Response | None:
        delay = self.backoff
        for attempt in range(self.max_retries + 1):
            t0 = time.perf_counter()
            self.requests += 1
            try:
                resp = self.session.get(url, params=params, timeout=self.timeout, headers=self.headers)
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
