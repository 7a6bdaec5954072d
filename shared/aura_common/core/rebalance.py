"""The one step after the plan: target weights → order legs → quantities. Shared by the trader and the backtester.

Two kernels, the only definition of what happens between ``decide()`` and the orders; the backtester's day loop
(``backtest/loop.py``) calls them compiled, the trader (``aura_trader.rebalance.plan_intents``, through
``core.intents``) calls them interpreted. Arrays are aligned by symbol (one column per symbol, sorted order).

``plan_legs`` — the policy:

1. **Stopped today, no re-entry.** A symbol with ``forced[j]`` set (a stop-loss / take-profit exit decided today,
   or a kill-switch liquidation) has target 0 for the rest of the day: the rebalance sells what is left and never
   buys it back the same day. (The trader's risk tick has usually sold it already; the rebalance of the same UTC
   day then finds weight 0 and target 0: no leg.)
2. **Kill switch tripped** (``blocked``): no new entries and no additions. With ``liquidate`` every holding is a
   forced ``kill_switch`` sell; otherwise held symbols keep *at most* their current weight (the plan's sells and
   exits still happen — a tripped switch never blocks risk reduction) and symbols not held get target 0.
3. **Legs**, in symbol order: ``target < weight`` is a SELL, ``target > weight`` a BUY, equal is no leg. A SELL is
   *forced* (never weighed by the cost-benefit gate) when the symbol is forced or the regime cut the exposure
   (``cut``); its reason is the forcing gate, else ``regime`` for a cut, ``exit`` for a target of 0, else
   ``rebalance``. A BUY is forced (reason ``regime``) when the regime raised the exposure (``lift``), else it is a
   weighed ``rebalance``. The notional is ``|target - weight| * equity``; a leg worth less than the symbol's minimum
   order value (``min_notional``: a dust leftover, a crumb of drift) is no leg at all, so the cost-benefit gate never
   weighs what could not be traded. Returns the number of legs and whether any leg is weighable (not forced).

   *Why regime moves are never weighed* (a deliberate choice, docs/risk.md): the cost-benefit gate estimates the
   benefit of a rebalance from the improvement of the weight-averaged cross-sectional score, with cash at 0 (the
   cross-section's mean). That is a measure of *rotation* between symbols. It cannot price the regime's decision to
   be invested at all: in a universe of two symbols both are picked and their z-scores sum to ~0, so every entry
   from cash had ~0 benefit and was denied for ever (BTC+ETH 2020-2022: 589 denials, 0 trades). The exposure the
   regime sets is therefore carried out in both directions - cuts sell, lifts buy - and the gate weighs the rest.

Between the two the caller weighs the unforced legs with the cost-benefit gate (``o_i[k, O_KEEP] = 0`` drops one).

``size_legs`` — the sizing rule (an estimate made before any fill, as a trader must):

- kept SELLs first, in leg order: the whole holding when the leg is forced or its notional covers the holding
  (to 1e-9), else ``notional / price``; floored to the lot step; a leg below the minimum quantity or notional is
  *dust* (quantity 0, not sent). Estimated proceeds ``q * price * (1 - fee - slippage)`` add to the cash;
- then kept BUYs in leg order: ``q = floor(min(notional, cash) / (price * (1 + fee + slippage)))``, dust as above;
  the estimated cash falls by ``q * price * (1 + fee + slippage)``, so the buys of a plan never spend more than the
  cash the plan expects, with a fee and slippage cushion, whatever asset the venue charges the fee in.

``price`` is the reference price the quantities are sized with (the trader's last price; the backtester's close).
How a sized leg *fills* (at which price, fee in which asset) is the venue's business: the simulator and the
backtester share one documented fill model (ARCHITECTURE.md, "Where each rule lives").
"""

from __future__ import annotations

import math

import numpy as np

from aura_common.core.jit import kernel

SELL, BUY = 0, 1
# why codes (a leg's reason) and forced codes share the first three
WHY_NONE, WHY_STOP, WHY_TAKE, WHY_KILL, WHY_REGIME, WHY_EXIT, WHY_REBALANCE = 0, 1, 2, 3, 4, 5, 6
REASONS = ("", "stop_loss", "take_profit", "kill_switch", "regime", "exit", "rebalance")
WHY_CODE = {name: code for code, name in enumerate(REASONS) if name}
# leg columns: o_i[k, ...] (ints) and o_f[k] (the notional)
O_COL, O_SIDE, O_FORCED, O_WHY, O_KEEP, O_SIZE = range(6)
FULL = 1e-9  # a sell whose notional covers the holding to this relative tolerance sells all of it


@kernel
def floor_qty(qty: float, step: float) -> float:
    """Round down to the step; never more than ``qty`` (in float it may be one step below the exact Decimal floor:
    0.999 at step 0.001 gives 0.998, as 0.999 / 0.001 is 998.9999999999999). The day loop's and the trader's rule;
    the trader re-floors its quantities in Decimal and sells a whole holding by the Decimal floor (size_intents)."""
    if qty <= 0:
        return 0.0
    if step <= 0:
        return qty
    out = math.floor(qty / step) * step
    return out if out <= qty else out - step


@kernel
def whole_qty(held: float, step: float) -> float:
    """A whole holding floored to the lot step, as Decimal floors it: a holding that is a whole number of steps
    in decimal (0.999 at 0.001) sells all of it although its float quotient falls a hair short (998.9999999999999);
    never more than ``held``."""
    if held <= 0:
        return 0.0
    if step <= 0:
        return held
    x = held / step
    k = math.floor(x + max(1e-9, 4e-16 * x))  # a few ulps of the quotient, never a real fraction of a step
    out = k * step
    return out if out <= held else held


@kernel
def on_tick(price: float, tick: float, up: bool) -> float:
    """A fill price on the symbol's price grid, against the taker (a BUY rounds up, a SELL down), as the venue
    fills; a price within 1e-9 of a grid point is that point (float noise). ``tick`` 0: no grid."""
    if tick <= 0:
        return price
    k = price / tick
    near = math.floor(k + 0.5)
    if abs(k - near) <= 1e-9 * max(1.0, abs(k)):
        return near * tick
    return (math.ceil(k) if up else math.floor(k)) * tick


@kernel
def placeable(qty: float, price: float, min_qty: float, min_notional: float) -> bool:
    return qty >= min_qty and qty * price >= min_notional and qty > 0


@kernel
def plan_legs(qty: np.ndarray, weight: np.ndarray, target: np.ndarray, forced: np.ndarray, blocked: bool,
              liquidate: bool, cut: bool, lift: bool, equity: float, min_notional: np.ndarray, o_i: np.ndarray,
              o_f: np.ndarray) -> tuple[int, bool]:
    """Targets → legs (module docstring). Mutates ``target`` (the day's effective targets) and ``forced``
    (liquidation); fills ``o_i[:n]`` / ``o_f[:n]``; returns ``(n, weighable)``."""
    n = qty.shape[0]
    held_w = equity > 0
    for j in range(n):
        if forced[j] != 0:
            target[j] = 0.0
    if blocked:
        if liquidate:
            for j in range(n):
                if qty[j] > 0 and forced[j] == 0:
                    forced[j] = WHY_KILL
            target[:] = 0.0
        else:
            for j in range(n):
                target[j] = min(target[j], weight[j]) if held_w and qty[j] > 0 and target[j] > 0 else 0.0
    no = 0
    weighable = False
    for j in range(n):
        if not (qty[j] > 0 or target[j] > 0):
            continue
        cur = weight[j]
        tgt = target[j]
        if tgt < cur:
            o_i[no, O_COL], o_i[no, O_SIDE] = j, SELL
            o_i[no, O_FORCED] = 1 if (forced[j] != 0 or cut) else 0
            if forced[j] != 0:
                o_i[no, O_WHY] = forced[j]
            elif cut:
                o_i[no, O_WHY] = WHY_REGIME
            elif tgt == 0:
                o_i[no, O_WHY] = WHY_EXIT
            else:
                o_i[no, O_WHY] = WHY_REBALANCE
            o_f[no] = (cur - tgt) * equity
        elif tgt > cur:
            o_i[no, O_COL], o_i[no, O_SIDE] = j, BUY
            o_i[no, O_FORCED], o_i[no, O_WHY] = (1, WHY_REGIME) if lift else (0, WHY_REBALANCE)
            o_f[no] = (tgt - cur) * equity
        else:
            continue
        if o_f[no] < min_notional[j]:
            continue  # below the venue's minimum order value (a dust leftover, a crumb of drift): never an order
        o_i[no, O_KEEP] = 1
        weighable = weighable or o_i[no, O_FORCED] == 0
        no += 1
    return no, weighable


@kernel
def size_legs(o_i: np.ndarray, o_f: np.ndarray, no: int, qty: np.ndarray, price: np.ndarray, step: np.ndarray,
              min_qty: np.ndarray, min_notional: np.ndarray, cash: float, cost_rate: float,
              out_q: np.ndarray) -> float:
    """Quantities of the kept legs into ``out_q[:no]`` (0 = not sent: dropped, dust or no cash); returns the
    estimated cash after them. ``cost_rate`` is (fee + slippage) as a fraction."""
    for k in range(no):
        out_q[k] = 0.0
    for k in range(no):
        if o_i[k, O_KEEP] == 0 or o_i[k, O_SIDE] != SELL:
            continue
        j = o_i[k, O_COL]
        held = qty[j]
        px = price[j]
        if held <= 0 or not px > 0:
            continue
        if WHY_STOP <= o_i[k, O_WHY] <= WHY_KILL or o_f[k] >= held * px * (1 - FULL):
            q = whole_qty(held, step[j])
        else:
            q = floor_qty(min(o_f[k] / px, held), step[j])
        if q <= 0 or not placeable(q, px, min_qty[j], min_notional[j]):
            continue
        out_q[k] = q
        cash += q * px * (1 - cost_rate)
    for k in range(no):
        if o_i[k, O_KEEP] == 0 or o_i[k, O_SIDE] != BUY:
            continue
        j = o_i[k, O_COL]
        px = price[j]
        if cash <= 0 or not px > 0:
            continue
        spend = min(o_f[k], cash)
        q = floor_qty(spend / (px * (1 + cost_rate)), step[j])
        if q <= 0 or not placeable(q, px, min_qty[j], min_notional[j]):
            continue
        if q * px * (1 + cost_rate) > cash:  # float rounding of the quotient: never a hair more than the cash
            q = floor_qty(q - step[j], step[j]) if step[j] > 0 else q * (1 - 1e-12)
            if q <= 0 or not placeable(q, px, min_qty[j], min_notional[j]):
                continue
        out_q[k] = q
        cash -= q * px * (1 + cost_rate)
    return cash


def leg_arrays(capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Empty leg buffers for ``capacity`` symbols."""
    return np.zeros((max(capacity, 1), O_SIZE), dtype=np.int64), np.zeros(max(capacity, 1))


__all__ = ["BUY", "O_COL", "O_FORCED", "O_KEEP", "O_SIDE", "O_SIZE", "O_WHY", "REASONS", "SELL", "WHY_CODE",
           "WHY_EXIT", "WHY_KILL", "WHY_NONE", "WHY_REBALANCE", "WHY_REGIME", "WHY_STOP", "WHY_TAKE", "floor_qty",
           "leg_arrays", "on_tick", "placeable", "whole_qty", "plan_legs", "size_legs"]
