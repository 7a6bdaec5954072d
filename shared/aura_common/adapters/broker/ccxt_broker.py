"""The ccxt broker: Binance Spot (or the exchange simulator, or the testnet) through a configured ccxt client.

Build the client with ``aura_common.adapters.exchange.make_binance``. Amounts travel as strings and come back from
the venue's raw ``info`` fields, so no float ever touches a quantity or a price.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from aura_common.adapters.broker import wire
from aura_common.adapters.broker.errors import OrderNotFound, OutcomeUnknown, translate
from aura_common.domain import Balance, Fill, MarketSpec, OrderReport, OrderRequest, OrderType, Symbol

T = TypeVar("T")


class CcxtBroker:
    def __init__(self, exchange: Any) -> None:
        self._ex = exchange
        self._specs: dict[Symbol, MarketSpec] | None = None
        self._unified: dict[Symbol, str] = {}

    # -- helpers ------------------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T], *, sending: bool = False) -> T:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - the one translation point
            raise translate(exc, sending=sending) from exc

    def _sym(self, symbol: Symbol) -> str:
        self.markets()
        try:
            return self._unified[symbol]
        except KeyError:
            from aura_common.adapters.broker.errors import Rejected
            raise Rejected(f"unknown symbol {symbol}") from None

    # -- Broker port ----------------------------------------------------------------------------------
    def markets(self) -> Mapping[Symbol, MarketSpec]:
        if self._specs is None:
            loaded = self._call(lambda: self._ex.load_markets())
            specs: dict[Symbol, MarketSpec] = {}
            for unified, market in loaded.items():
                if not market.get("spot"):
                    continue
                spec = wire.market_spec(market)
                specs[spec.symbol] = spec
                self._unified[spec.symbol] = unified
            self._specs = specs
        return self._specs

    def balances(self) -> Mapping[str, Balance]:
        raw = self._call(lambda: self._ex.fetch_balance())
        return wire.balances(raw.get("info", {}))

    def prices(self, symbols: Iterable[Symbol]) -> Mapping[Symbol, Decimal]:
        wanted = sorted(set(symbols))
        if not wanted:
            return {}
        ids = {self._sym(s): s for s in wanted}
        tickers = self._call(lambda: self._ex.fetch_tickers(list(ids)))
        out: dict[Symbol, Decimal] = {}
        for unified, ticker in tickers.items():
            if unified in ids:
                out[ids[unified]] = wire.ticker_price(ticker)
        return out

    def place_order(self, request: OrderRequest) -> OrderReport:
        sym = self._sym(request.symbol)
        params: dict[str, Any] = {"newClientOrderId": request.client_order_id}
        if request.timestamp_ms is not None:  # ccxt's sign() lets an explicit timestamp override its nonce()
            params["timestamp"] = int(request.timestamp_ms)
        if request.recv_window_ms is not None:  # ... and an explicit recvWindow override options['recvWindow']
            params["recvWindow"] = int(request.recv_window_ms)
        price = str(request.limit_price) if request.order_type is OrderType.LIMIT else None
        raw = self._call(lambda: self._ex.create_order(sym, request.order_type.value.lower(),
                                                       request.side.value.lower(), str(request.quantity),
                                                       price, params), sending=True)
        info = raw.get("info") if isinstance(raw, dict) else None
        if not info or not isinstance(info, dict) or "orderId" not in info:
            # ccxt returns an order with id None for an empty/non-JSON 200 body: the outcome is unknown
            raise OutcomeUnknown(f"empty or unparseable response to order {request.client_order_id}")
        return wire.order_report(info, request.symbol)

    def get_order(self, symbol: Symbol, client_order_id: str) -> OrderReport | None:
        sym = self._sym(symbol)
        try:
            raw = self._call(lambda: self._ex.fetch_order(None, sym, {"origClientOrderId": client_order_id}))
        except OrderNotFound:
            return None
        return wire.order_report(raw["info"], symbol)

    def cancel_order(self, symbol: Symbol, client_order_id: str) -> OrderReport | None:
        sym = self._sym(symbol)
        try:
            raw = self._call(lambda: self._ex.cancel_order(None, sym, {"origClientOrderId": client_order_id}))
        except OrderNotFound:
            return None
        info = dict(raw["info"])
        info["clientOrderId"] = info.get("origClientOrderId", client_order_id)  # spec: the cancel's own id is here
        return wire.order_report(info, symbol)

    def open_orders(self, symbol: Symbol | None = None) -> list[OrderReport]:
        sym = self._sym(symbol) if symbol else None
        raw = self._call(lambda: self._ex.fetch_open_orders(sym))
        by_id = {v: k for k, v in self._unified.items()}
        return [wire.order_report(o["info"], by_id.get(o["symbol"], Symbol(o["info"]["symbol"]))) for o in raw]

    def fills(self, symbol: Symbol, since_ms: int | None = None,
              exchange_order_id: str | None = None) -> list[Fill]:
        sym = self._sym(symbol)
        params = {"orderId": exchange_order_id} if exchange_order_id else {}
        raw = self._call(lambda: self._ex.fetch_my_trades(sym, None if exchange_order_id else since_ms, None,
                                                          params))
        out = [wire.fill(t["info"], symbol) for t in raw]
        return sorted(out, key=lambda f: (f.time_ms, f.trade_id))
