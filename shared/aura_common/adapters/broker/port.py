"""The Broker port. The ccxt broker and the paper broker are peers behind it; the trader knows only this."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Protocol

from aura_common.domain import Balance, Fill, MarketSpec, OrderReport, OrderRequest, Symbol


class Broker(Protocol):
    """Every method raises only ``aura_common.adapters.broker.errors.BrokerError`` subclasses."""

    def markets(self, refresh: bool = False) -> Mapping[Symbol, MarketSpec]:
        """Trading rules per symbol (cached after the first call; ``refresh`` reads them again: new listings)."""

    def balances(self) -> Mapping[str, Balance]:
        """Free and locked balance per asset (assets with zero total may be omitted)."""

    def prices(self, symbols: Iterable[Symbol]) -> Mapping[Symbol, Decimal]:
        """Last traded price per symbol."""

    def place_order(self, request: OrderRequest) -> OrderReport:
        """Send one order. OutcomeUnknown when the response is lost; DuplicateClientOrderId when an open order
        already has the id; Rejected when the venue refuses it."""

    def get_order(self, symbol: Symbol, client_order_id: str) -> OrderReport | None:
        """Look an order up by client order id; None when the venue says it does not exist."""

    def cancel_order(self, symbol: Symbol, client_order_id: str) -> OrderReport | None:
        """Cancel by client order id; None when it does not exist (or is no longer open)."""

    def open_orders(self, symbol: Symbol | None = None) -> list[OrderReport]:
        """Currently open orders (all symbols when None)."""

    def fills(self, symbol: Symbol, since_ms: int | None = None,
              exchange_order_id: str | None = None) -> list[Fill]:
        """Own trades for a symbol (of one order when ``exchange_order_id`` is given), oldest first."""
