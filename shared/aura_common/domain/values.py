"""Value types shared by every layer.

Prices, quantities and balances are ``Decimal``; floats live only inside vectorised research maths.
Bars are stamped by their **open** time in UTC epoch milliseconds everywhere in AURA.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import NewType

Symbol = NewType("Symbol", str)  # exchange-native spelling, e.g. "BTCUSDT"
ClientOrderId = NewType("ClientOrderId", str)

CLIENT_ORDER_ID_RE = re.compile(r"^[a-zA-Z0-9\-_]{1,36}$")
SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,30}$")


def parse_symbols(text: str) -> tuple[Symbol, ...]:
    """A comma-separated symbol list (``--symbols``) as upper-cased, de-duplicated symbols in the given order.
    Raises ValueError naming every entry that is not an exchange-native name (2-30 ASCII letters and digits,
    e.g. BTCUSDT): such a name is never silently dropped, and never reaches a file path."""
    out: list[Symbol] = []
    bad: list[str] = []
    for raw in text.split(","):
        s = raw.strip().upper()
        if not s:
            continue
        if not SYMBOL_RE.match(s):
            bad.append(raw.strip())
        elif s not in out:
            out.append(Symbol(s))
    if bad:
        raise ValueError(f"invalid symbol name(s) {', '.join(repr(b) for b in bad)}: expected exchange-native "
                         "names of 2-30 letters and digits (e.g. BTCUSDT)")
    return tuple(out)


def to_decimal(value: object) -> Decimal:
    """Convert a wire value (str, int, float, Decimal) to Decimal without float artefacts."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, float):
        value = repr(value)
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not out.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return out


class Side(str, enum.Enum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(str, enum.Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class OrderStatus(str, enum.Enum):
    """Binance's order statuses plus UNKNOWN: sent, but the outcome was never confirmed."""

    PENDING = "PENDING"  # intent journaled, nothing sent yet
    UNKNOWN = "UNKNOWN"  # sent; response lost (timeout, reset, 5xx): look it up, never resend blindly
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    SKIPPED = "SKIPPED"  # dust or a gate decided not to send; journaled, never sent

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED, OrderStatus.SKIPPED}
)


class Interval(str, enum.Enum):
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"

    @property
    def ms(self) -> int:
        return _INTERVAL_MS[self]


_INTERVAL_MS = {Interval.H1: 3_600_000, Interval.H4: 14_400_000, Interval.D1: 86_400_000}


class RoundingError(ValueError):
    """Rounding would turn a non-zero order into zero or break a filter."""


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """A symbol's trading rules; owns rounding so that no caller rounds by hand."""

    symbol: Symbol
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal
    max_qty: Decimal = Decimal("9000000000")

    def round_price(self, price: Decimal) -> Decimal:
        if self.tick_size <= 0:
            return price
        return (price / self.tick_size).to_integral_value(rounding=ROUND_HALF_EVEN) * self.tick_size

    def floor_qty(self, qty: Decimal) -> Decimal:
        """Round a quantity down to the lot step (never up: we must not exceed a balance)."""
        if qty <= 0:
            return Decimal(0)
        if self.step_size <= 0:
            return qty
        return ((qty / self.step_size).to_integral_value(rounding=ROUND_DOWN) * self.step_size).normalize()

    def make_qty(self, qty: Decimal) -> Decimal:
        """Floor to the step, refusing to turn a non-zero quantity into zero or below ``min_qty``."""
        out = self.floor_qty(qty)
        if qty > 0 and out <= 0:
            raise RoundingError(f"{self.symbol}: quantity {qty} rounds to zero at step {self.step_size}")
        if out < self.min_qty:
            raise RoundingError(f"{self.symbol}: quantity {out} below minimum {self.min_qty}")
        return out

    def is_dust(self, qty: Decimal, price: Decimal) -> bool:
        """True when the order cannot be sent: below min quantity or min notional after rounding."""
        q = self.floor_qty(qty)
        return q <= 0 or q < self.min_qty or q * price < self.min_notional


def validate_client_order_id(value: str) -> ClientOrderId:
    if not CLIENT_ORDER_ID_RE.match(value):
        raise ValueError(f"client order id {value!r} does not match {CLIENT_ORDER_ID_RE.pattern}")
    return ClientOrderId(value)
