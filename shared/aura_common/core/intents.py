"""From target weights to order intents, and the deterministic client order id of an intent.

Pure. The legs and their sizes are ``core.rebalance``'s (the kernels the backtester's day loop runs): sells come
first (they free cash), clamped to the free balance and rounded DOWN to the lot step; buys are sized from the cash
the plan will have, net of fees and slippage, so cash never goes negative. Orders below the minimum quantity or
notional are returned as dust (journaled, never sent).

A client order id is a pure function of the intent: ``aura-`` + 26 base32 characters of a SHA-256 over
(cycle key, symbol, side, quantity after rounding, plan hash, leg) — 31 characters, inside Binance's
``^[a-zA-Z0-9-_]{1,36}$``. The ``aura-`` prefix marks AURA's orders on the venue.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from aura_common.core.backtest.costs import LotRule
from aura_common.core.rebalance import (O_COL, O_FORCED, O_KEEP, O_SIDE, O_WHY, REASONS, SELL, WHY_CODE, WHY_STOP,
                                        leg_arrays, plan_legs, size_legs)
from aura_common.domain import ClientOrderId, MarketSpec, OrderType, Side, Symbol
from aura_common.domain.values import validate_client_order_id

CLIENT_ID_PREFIX = "aura-"


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


@dataclass(frozen=True)
class Legs:
    """Legs of one rebalance over ``symbols`` (sorted), as ``core.rebalance.plan_legs`` fills them; the caller may
    clear ``o_i[k, O_KEEP]`` (the cost-benefit gate) before ``sized``."""

    symbols: tuple[Symbol, ...]
    qty: np.ndarray  # FREE base quantity held, per symbol (float)
    weight: np.ndarray
    target: np.ndarray  # the effective targets after the policy (stops, kill switch)
    o_i: np.ndarray
    o_f: np.ndarray
    n: int
    weighable: bool

    def kept(self) -> list[int]:
        return [k for k in range(self.n) if self.o_i[k, O_KEEP]]

    def symbol(self, k: int) -> Symbol:
        return self.symbols[int(self.o_i[k, O_COL])]

    def side(self, k: int) -> Side:
        return Side.SELL if self.o_i[k, O_SIDE] == SELL else Side.BUY

    def forced(self, k: int) -> bool:
        return bool(self.o_i[k, O_FORCED])

    def reason(self, k: int) -> str:
        return REASONS[int(self.o_i[k, O_WHY])]


def _check(symbols: Sequence[Symbol], prices: Mapping[Symbol, Decimal], specs: Mapping[Symbol, MarketSpec]) -> None:
    for s in symbols:
        if s not in prices or prices[s] <= 0:
            raise ValueError(f"no positive price for {s}")
        if s not in specs:
            raise ValueError(f"no market spec for {s}")


def plan_legs_for(*, targets: Mapping[Symbol, float], holdings: Mapping[Symbol, Decimal],
                  prices: Mapping[Symbol, Decimal], specs: Mapping[Symbol, MarketSpec], free_quote: Decimal,
                  forced: Mapping[Symbol, str] | None = None, blocked: bool = False, liquidate: bool = False,
                  cut: bool = False, lift: bool = False) -> Legs:
    """``core.rebalance.plan_legs`` on the trader's mappings. ``holdings`` are FREE base balances; equity is the
    free quote plus the holdings at ``prices``; ``forced`` maps a symbol exited today to its reason (stop_loss,
    take_profit, kill_switch): no re-entry today; ``cut`` / ``lift``: the regime lowered / raised the exposure."""
    forced = forced or {}
    symbols = tuple(sorted(set(targets) | {s for s, q in holdings.items() if q > 0}))
    _check(symbols, prices, specs)
    equity = free_quote + sum((holdings.get(s, Decimal(0)) * prices[s] for s in symbols), Decimal(0))
    n = len(symbols)
    qty = np.array([float(holdings.get(s, Decimal(0))) for s in symbols], dtype=np.float64)
    weight = np.array([float(holdings.get(s, Decimal(0)) * prices[s] / equity) if equity > 0 else 0.0
                       for s in symbols], dtype=np.float64)
    target = np.array([float(targets.get(s, 0.0)) for s in symbols], dtype=np.float64)
    why = np.array([WHY_CODE.get(forced[s], WHY_STOP) if s in forced else 0 for s in symbols], dtype=np.int64)
    o_i, o_f = leg_arrays(n)
    min_notional = np.array([LotRule.from_spec(specs[s]).min_notional for s in symbols], dtype=np.float64)
    no, weighable = plan_legs(qty, weight, target, why, blocked, liquidate, cut, lift, float(equity), min_notional,
                              o_i, o_f)
    return Legs(symbols, qty, weight, target, o_i, o_f, int(no), bool(weighable))


def cost_rate(fee_bps: float, slippage_bps: float) -> float:
    """(fee + slippage) as a fraction, computed as the backtester's day loop computes it (bit for bit)."""
    return float(fee_bps) / 1e4 + float(slippage_bps) / 1e4


def _on_step(q: float, spec: MarketSpec) -> Decimal:
    """The kernel's quantity in Decimal. It is a whole number of steps in float (k × step, e.g. 366336 × 1e-6 =
    0.36633599999999997), so k is recovered by rounding, never by re-flooring its float spelling a step lower."""
    if spec.step_size <= 0:
        return spec.floor_qty(Decimal(repr(q)))
    k = round(q / float(spec.step_size))
    return (spec.step_size * k).normalize() if k > 0 else Decimal(0)


def size_intents(legs: Legs, *, cycle_key: str, plan_hash: str, holdings: Mapping[Symbol, Decimal],
                 prices: Mapping[Symbol, Decimal], specs: Mapping[Symbol, MarketSpec], free_quote: Decimal,
                 fee_bps: float, slippage_bps: float) -> IntentBatch:
    """``core.rebalance.size_legs`` on the kept legs → intents (sells, then buys; legs numbered in that order) and
    dust. A quantity is the kernel's, on the lot step in Decimal (``_on_step``) and never above the free holding."""
    rules = [LotRule.from_spec(specs[s]) for s in legs.symbols]
    step = np.array([r.step for r in rules], dtype=np.float64)
    min_qty = np.array([r.min_qty for r in rules], dtype=np.float64)
    min_notional = np.array([r.min_notional for r in rules], dtype=np.float64)
    price = np.array([float(prices[s]) for s in legs.symbols], dtype=np.float64)
    out_q = np.zeros(max(legs.n, 1))
    size_legs(legs.o_i, legs.o_f, legs.n, legs.qty, price, step, min_qty, min_notional, float(free_quote),
              cost_rate(fee_bps, slippage_bps), out_q)
    intents: list[Intent] = []
    dust: list[Dust] = []
    for side in (Side.SELL, Side.BUY):
        for k in legs.kept():
            if legs.side(k) is not side:
                continue
            s = legs.symbol(k)
            spec = specs[s]
            q = _on_step(float(out_q[k]), spec) if out_q[k] > 0 else Decimal(0)
            if side is Side.SELL:  # within a step of the whole holding (float's floor may fall one short): all of it
                whole = spec.floor_qty(holdings.get(s, Decimal(0)))
                q = whole if q > 0 and q + spec.step_size >= whole else min(q, whole)
            if q <= 0 or spec.is_dust(q, prices[s]):
                want = Decimal(repr(round(float(legs.o_f[k]) / float(prices[s]), 12)))
                if side is Side.SELL:
                    want = min(want, holdings.get(s, Decimal(0)))
                why = (f"below minimum (min_qty {spec.min_qty}, min_notional {spec.min_notional})"
                       if spec.is_dust(want, prices[s]) else "no cash left for it after the plan's other orders")
                dust.append(Dust(s, side, want if spec.is_dust(want, prices[s]) else Decimal(0), why))
                continue
            intents.append(Intent(cycle_key, plan_hash, len(intents), s, side, q, prices[s]))
    return IntentBatch(tuple(intents), tuple(dust))


def build_intents(*, cycle_key: str, plan_hash: str, targets: Mapping[Symbol, float],
                  holdings: Mapping[Symbol, Decimal], prices: Mapping[Symbol, Decimal],
                  specs: Mapping[Symbol, MarketSpec], free_quote: Decimal, fee_bps: float,
                  slippage_bps: float) -> IntentBatch:
    """Turn target weights (fraction of equity per symbol; absent = 0) into sells then buys, by the one post-plan
    step (``core.rebalance``: ``plan_legs`` without stops, kill switch or regime cut, then ``size_legs``).

    ``holdings`` are FREE base balances (locked funds are not sellable). Equity = free quote + Σ holdings × price.
    """
    legs = plan_legs_for(targets=targets, holdings=holdings, prices=prices, specs=specs, free_quote=free_quote)
    return size_intents(legs, cycle_key=cycle_key, plan_hash=plan_hash, holdings=holdings, prices=prices,
                        specs=specs, free_quote=free_quote, fee_bps=fee_bps, slippage_bps=slippage_bps)
