"""THE one place that builds a ``ccxt.binance`` client (trader, ingestor, tests, benchmarks).

With ``base_url`` (e.g. ``http://127.0.0.1:8700`` for the exchange simulator) EVERY ``urls['api']`` key is pointed
at that host, keeping each key's path suffix (``/api/v3``, ``/sapi/v1``, ``/fapi/v1`` ...), so that an unexpected
code path lands on the simulator and fails loudly with a 404 instead of leaving the machine; ``urls['test']`` and
``urls['demo']`` are redirected as well so that even a stray ``set_sandbox_mode(True)`` cannot reach the internet.
Sandbox mode is never used with a base URL.

With or without a base URL the same safe options apply (spec §1.3): spot markets only, no currencies/margins
calls during ``load_markets()``, no automatic time-difference adjustment, market orders keep ``quantity``
semantics even when a reference price is passed (``createOrder.quoteOrderQty = False``), and
``fetch_open_orders()`` without a symbol is allowed (no local ``ExchangeError``).
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

import ccxt

DEFAULT_RECV_WINDOW_MS = 5000


def _merge(dst: dict, src: dict) -> dict:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = v
    return dst


def _rebase_tree(urls: Any, base: str) -> Any:
    """``https://api.binance.com/sapi/v1`` + ``http://127.0.0.1:8700`` -> ``http://127.0.0.1:8700/sapi/v1``."""
    if isinstance(urls, dict):
        return {k: _rebase_tree(v, base) for k, v in urls.items()}
    if isinstance(urls, str) and urls.startswith(("http://", "https://")):
        return base + urlsplit(urls).path
    return urls


def safe_options(recv_window_ms: int | None = DEFAULT_RECV_WINDOW_MS) -> dict:
    """The options of spec §1.3 that keep ccxt on the endpoints the system (and the simulator) use."""
    return {
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        "fetchCurrencies": False,
        "fetchMargins": False,
        "adjustForTimeDifference": False,
        "recvWindow": recv_window_ms,
        "warnOnFetchOpenOrdersWithoutSymbol": False,
        "fetchOpenOrders": {"warnWithoutSymbol": False},
        "createOrder": {"quoteOrderQty": False},
    }


def make_binance(base_url: str | None, api_key: str | None = None, secret: str | None = None,
                 timeout_seconds: float = 10.0, enable_rate_limit: bool = True,
                 extra_options: dict | None = None,
                 recv_window_ms: int = DEFAULT_RECV_WINDOW_MS) -> ccxt.binance:
    """A configured ``ccxt.binance``. ``base_url=None`` talks to the real exchange with the same safe options.
    ``recv_window_ms`` is sent as ``recvWindow`` with every signed request (Binance allows 1..60000)."""
    config: dict[str, Any] = {"enableRateLimit": bool(enable_rate_limit), "timeout": int(round(timeout_seconds * 1000))}
    if api_key:
        config["apiKey"] = api_key
    if secret:
        config["secret"] = secret
    exchange = ccxt.binance(config)
    _merge(exchange.options, copy.deepcopy(safe_options(int(recv_window_ms))))  # deep: createOrder/fetchOpenOrders keep other keys
    if extra_options:
        _merge(exchange.options, copy.deepcopy(extra_options))
    if base_url is not None:
        base = base_url.rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError(f"exchange base_url {base_url!r} must be scheme://host[:port] with no path")
        exchange.urls = copy.deepcopy(exchange.urls)
        exchange.urls["api"] = _rebase_tree(exchange.urls["api"], base)
        for key in ("test", "demo"):
            if key in exchange.urls:
                exchange.urls[key] = _rebase_tree(exchange.urls[key], base)
    return exchange
