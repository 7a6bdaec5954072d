"""From target weights to order intents, and the deterministic client order id of an intent.

Pure. Sells come first (they free cash), clamped to the free balance and rounded DOWN to the lot step; buys are
sized from the cash the plan will have, net of fees and slippage, so cash never goes negative. Orders below the
minimum quantity or notional are returned as dust (journaled, never sent).

A client order id is a pure function of the intent: ``aura-`` + 26 base32 characters of a SHA-256 over
(cycle key, symbol, side, quantity after rounding, plan hash, leg) — 31 characters, inside Binance's
``^[a-zA-Z0-9-_]{1,36}$``. The ``aura-`` prefix marks AURA's orders on the venue.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from aura_common.domain import ClientOrderId, MarketSpec, OrderType, Side, Symbol
from aura_common.domain.values import validate_client_order_id

CLIENT_ID_PREFIX = "aura-"
BPS = Decimal("0.0001")


def canonical_decimal(value: Decimal) -> str:
    """One spelling per value: no exponent, no trailing zeros ("1.50" and "1.5" hash the same)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def client_order_id(cycle_key: str, symbol: str, side: Side, quantity: Decimal, plan_hash: str, leg: int) -> ClientOrderId:
    payload = "|".join([cycle_key, symbol, side.value, canonical_decimal(quantity), plan_hash, str(leg)])
    digest = hashlib.sha256(payload.encode()).digest()
    code = base64.b32encode(digest).decode().rstrip("=").lower()[:26]
    return validate_client_order_id(CLIENT_ID_PREFIX + code)


def is_aura_order(client_id: str) -> bool:
    return client_id.startswith(CLIENT_ID_PREFIX) and len(client_id) == len(CLIENT_ID_PREFIX) + 26


@dataclass(frozen=True, slots=True)
class Intent:
    cycle_key: str
    plan_hash: str
    leg: int
    symbol: Symbol
    side: Side
    quantity: Decimal  # after rounding to the lot step
    reference_price: Decimal  # the price the plan sized it with (for slippage measurement)
    order_type: OrderType = OrderType.MARKET

    @property
    def client_order_id(self) -> ClientOrderId:
        return client_order_id(self.cycle_key, self.symbol, self.side, self.quantity, self.plan_hash, self.leg)


@dataclass(frozen=True, slots=True)
class Dust:
    symbol: Symbol
    side: Side
    quantity: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class IntentBatch:
    intents: tuple[Intent, ...]
    dust: tuple[Dust, ...]


def build_intents(*, cycle_key: str, plan_hash: str, targets: Mapping[Symbol, float],
                  holdings: Mapping[Symbol, Decimal], prices: Mapping[Symbol, Decimal],
                  specs: Mapping[Symbol, MarketSpec], free_quote: Decimal, fee_bps: float,
                  slippage_bps: float) -> IntentBatch:
    """Turn target weights (fraction of equity per symbol; absent = 0) into sells then buys.

    ``holdings`` are FREE base balances (locked funds are not sellable). Equity = free quote + Σ holdings × price.
    """
    symbols = sorted(set(targets) | {s for s, q in holdings.items() if q > 0})
    for s in symbols:
        if s not in prices or prices[s] <= 0:
            raise ValueError(f"no positive price for {s}")
        if s not in specs:
            raise ValueError(f"no market spec for {s}")
    equity = free_quote + sum((holdings.get(s, Decimal(0)) * prices[s] for s in symbols), Decimal(0))
    cost_rate = (Decimal(str(fee_bps)) + Decimal(str(slippage_bps))) * BPS
    sells: list[tuple[Symbol, Decimal]] = []
    buys: list[tuple[Symbol, Decimal]] = []
    dust: list[Dust] = []
    for s in symbols:
        held = holdings.get(s, Decimal(0))
        target_value = equity * Decimal(repr(float(targets.get(s, 0.0))))
        delta_value = target_value - held * prices[s]
        if delta_value < 0:
            full_exit = targets.get(s, 0.0) <= 0
            qty = held if full_exit else min(held, -delta_value / prices[s])
            sells.append((s, qty))
        elif delta_value > 0:
            buys.append((s, delta_value))

    intents: list[Intent] = []
    leg = 0
    cash = free_quote
    for s, qty in sells:
        spec = specs[s]
        q = spec.floor_qty(qty)
        if spec.is_dust(q, prices[s]):
            dust.append(Dust(s, Side.SELL, qty, f"below minimum (min_qty {spec.min_qty}, min_notional {spec.min_notional})"))
            continue
        intents.append(Intent(cycle_key, plan_hash, leg, s, Side.SELL, q, prices[s]))
        leg += 1
        cash += q * prices[s] * (1 - cost_rate)
    for s, value in buys:  # sorted by symbol: deterministic, and cash is allocated in a fixed order
        spec = specs[s]
        spend = min(value, cash)
        qty = (spend / (prices[s] * (1 + cost_rate))).quantize(Decimal("1e-18"), rounding=ROUND_DOWN)
        q = spec.floor_qty(qty)
        if spec.is_dust(q, prices[s]):
            dust.append(Dust(s, Side.BUY, qty, f"below minimum (min_qty {spec.min_qty}, min_notional {spec.min_notional})"))
            continue
        intents.append(Intent(cycle_key, plan_hash, leg, s, Side.BUY, q, prices[s]))
        leg += 1
        cash -= q * prices[s] * (1 + cost_rate)
    return IntentBatch(tuple(intents), tuple(dust))
