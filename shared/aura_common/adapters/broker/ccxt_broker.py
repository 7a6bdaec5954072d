"""The ccxt broker: Binance Spot (or the exchange simulator, or the testnet) through a configured ccxt client.

Build the client with ``aura_common.adapters.exchange.make_binance``. Amounts travel as strings and come back from
the venue's raw ``info`` fields, so no float ever touches a quantity or a price.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from aura_common.adapters.broker import wire
from aura_common.adapters.broker.errors import OrderNotFound, OutcomeUnknown, RateLimited, translate
from aura_common.domain import Balance, Fill, MarketSpec, OrderReport, OrderRequest, OrderType, Symbol

T = TypeVar("T")


ACCOUNT, ORDER, OPEN_ORDERS, MY_TRADES = ("GET /api/v3/account", "/api/v3/order", "GET /api/v3/openOrders",
                                         "GET /api/v3/myTrades")
BAN_DEFAULT_S = {418: 120.0, 429: 30.0}  # when the venue sends no Retry-After


class CcxtBroker:
    """The Binance broker. Every call goes through ``_call``: one translation of errors (malformed answers
    included), and one hold-back: after a 429 or 418 the venue's ``Retry-After`` holds back EVERY request until it
    expires (Binance escalates bans for clients that keep sending), raising ``RateLimited`` without sending."""

    def __init__(self, exchange: Any, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ex = exchange
        self._specs: dict[Symbol, MarketSpec] | None = None
        self._unified: dict[Symbol, str] = {}
        self._mono = monotonic
        self._hold_until = 0.0
        self.hold_reason = ""

    @property
    def held_back_seconds(self) -> float:
        """Seconds left of the venue's back-off order (0: none)."""
        return max(0.0, self._hold_until - self._mono())

    # -- helpers ------------------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T], what: str, *, sending: bool = False) -> T:
        left = self.held_back_seconds
        if left > 0:
            raise RateLimited(f"{what} not sent: the venue asked us to back off ({self.hold_reason}); "
                              f"{left:.0f} s left", retry_after=left)
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - the one translation point
            err = translate(exc, sending=sending, what=what)
            status = _status_of(exc)  # ccxt's binance: "binance 429 Too Many Requests {...}"
            if status in BAN_DEFAULT_S and _is_rate_limit(exc):
                wait = _retry_after(getattr(self._ex, "last_response_headers", None), BAN_DEFAULT_S[status])
                self._hold_until = max(self._hold_until, self._mono() + wait)
                self.hold_reason = f"HTTP {status} on {what}, Retry-After {wait:.0f} s"
                if isinstance(err, RateLimited):
                    err.retry_after = wait
            raise err from exc

    def _sym(self, symbol: Symbol) -> str:
        self.markets()
        try:
            return self._unified[symbol]
        except KeyError:
            from aura_common.adapters.broker.errors import Rejected
            raise Rejected(f"unknown symbol {symbol}") from None

    # -- Broker port ----------------------------------------------------------------------------------
    def markets(self, refresh: bool = False) -> Mapping[Symbol, MarketSpec]:
        if self._specs is None or refresh:
            def load() -> tuple[dict[Symbol, MarketSpec], dict[Symbol, str]]:
                specs: dict[Symbol, MarketSpec] = {}
                unified_of: dict[Symbol, str] = {}
                for unified, market in self._ex.load_markets(reload=refresh).items():
                    if not market.get("spot"):
                        continue
                    spec = wire.market_spec(market)
                    specs[spec.symbol] = spec
                    unified_of[spec.symbol] = unified
                return specs, unified_of
            specs, unified_of = self._call(load, "GET /api/v3/exchangeInfo")
            self._unified.update(unified_of)
            self._specs = specs
        return self._specs

    def balances(self) -> Mapping[str, Balance]:
        return self._call(lambda: wire.balances(self._ex.fetch_balance()["info"]), ACCOUNT)

    def prices(self, symbols: Iterable[Symbol]) -> Mapping[Symbol, Decimal]:
        wanted = sorted(set(symbols))
        if not wanted:
            return {}
        ids = {self._sym(s): s for s in wanted}

        def read() -> dict[Symbol, Decimal]:
            tickers = self._ex.fetch_tickers(list(ids))
            return {ids[u]: wire.ticker_price(t) for u, t in tickers.items() if u in ids}
        return self._call(read, "GET /api/v3/ticker/24hr")

    def place_order(self, request: OrderRequest) -> OrderReport:
        sym = self._sym(request.symbol)
        params: dict[str, Any] = {"newClientOrderId": request.client_order_id}
        if request.timestamp_ms is not None:  # ccxt's sign() lets an explicit timestamp override its nonce()
            params["timestamp"] = int(request.timestamp_ms)
        if request.recv_window_ms is not None:  # ... and an explicit recvWindow override options['recvWindow']
            params["recvWindow"] = int(request.recv_window_ms)
        price = str(request.limit_price) if request.order_type is OrderType.LIMIT else None

        def send() -> OrderReport:
            raw = self._ex.create_order(sym, request.order_type.value.lower(), request.side.value.lower(),
                                        str(request.quantity), price, params)
            info = raw.get("info") if isinstance(raw, dict) else None
            if not info or not isinstance(info, dict) or "orderId" not in info:
                # ccxt returns an order with id None for an empty/non-JSON 200 body: the outcome is unknown
                raise OutcomeUnknown(f"malformed answer from POST {ORDER} to order {request.client_order_id}")
            return wire.order_report(info, request.symbol)
        return self._call(send, "POST " + ORDER, sending=True)

    def get_order(self, symbol: Symbol, client_order_id: str) -> OrderReport | None:
        sym = self._sym(symbol)
        try:
            return self._call(lambda: wire.order_report(
                self._ex.fetch_order(None, sym, {"origClientOrderId": client_order_id})["info"], symbol),
                "GET " + ORDER)
        except OrderNotFound:
            return None

    def cancel_order(self, symbol: Symbol, client_order_id: str) -> OrderReport | None:
        sym = self._sym(symbol)

        def cancel() -> OrderReport:
            info = dict(self._ex.cancel_order(None, sym, {"origClientOrderId": client_order_id})["info"])
            info["clientOrderId"] = info.get("origClientOrderId", client_order_id)  # spec: the cancel's own id is here
            return wire.order_report(info, symbol)
        try:
            return self._call(cancel, "DELETE " + ORDER)
        except OrderNotFound:
            return None

    def open_orders(self, symbol: Symbol | None = None) -> list[OrderReport]:
        sym = self._sym(symbol) if symbol else None
        by_id = {v: k for k, v in self._unified.items()}
        return self._call(lambda: [wire.order_report(o["info"], by_id.get(o["symbol"], Symbol(o["info"]["symbol"])))
                                   for o in self._ex.fetch_open_orders(sym)], OPEN_ORDERS)

    def fills(self, symbol: Symbol, since_ms: int | None = None,
              exchange_order_id: str | None = None) -> list[Fill]:
        sym = self._sym(symbol)
        params = {"orderId": exchange_order_id} if exchange_order_id else {}
        out = self._call(lambda: [wire.fill(t["info"], symbol) for t in self._ex.fetch_my_trades(
            sym, None if exchange_order_id else since_ms, None, params)], MY_TRADES)
        return sorted(out, key=lambda f: (f.time_ms, f.trade_id))


def _is_rate_limit(exc: BaseException) -> bool:
    import ccxt
    return isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded))


def _status_of(exc: BaseException) -> int | None:
    text = str(exc)
    for code in BAN_DEFAULT_S:
        if f" {code} " in text or text.startswith(f"{code} "):
            return code
    return None


def _retry_after(headers: Any, default: float) -> float:
    """The ``Retry-After`` header in seconds (Binance sends seconds), capped at a day; ``default`` without it."""
    value = None
    if isinstance(headers, Mapping):
        value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    try:
        wait = float(value) if value is not None else default
    except (TypeError, ValueError):
        wait = default
    return min(max(wait, 1.0), 86_400.0) if wait == wait else default
