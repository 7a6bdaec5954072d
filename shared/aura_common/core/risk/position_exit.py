"""Gate 2: per-position stop-loss / take-profit, checked at every risk tick against the last price.

``position_exit`` returns DENY when the position must be exited now (gate ``stop_loss`` or ``take_profit``) and
PASS to hold (gate ``stop_loss``, the [SL_CHECK] gate). Prices are Decimal, int or float and compared in Decimal:

- stop price = entry * (1 - stop_loss_pct / 100); ``last <= stop`` exits (exactly at the stop exits);
- take price = entry * (1 + take_profit_pct / 100); ``last >= take`` exits (exactly at the take exits);
- no entry price (None or 0: e.g. an adopted position whose cost is unknown) or no last price: PASS, with the
  reason saying so ([SL_CHECK] decision ``no_entry``); a negative or non-finite price is a ValueError naming the
  symbol.
"""

from __future__ import annotations

from decimal import Decimal

from aura_common.core.params import RiskParams
from aura_common.core.risk.gate import GateDecision, GateResult, as_decimal

STOP_LOSS = "stop_loss"
TAKE_PROFIT = "take_profit"


def _price(symbol: str, what: str, value: object) -> Decimal | None:
    if value is None:
        return None
    price = as_decimal(value, f"{symbol} {what} price")
    if price < 0:
        raise ValueError(f"{symbol} {what} price is negative: {price}")
    return price


def exit_prices(entry: Decimal, params: RiskParams) -> tuple[Decimal, Decimal]:
    """(stop, take) prices for an entry price."""
    stop = entry * (1 - as_decimal(params.stop_loss_pct, "stop_loss_pct") / 100)
    take = entry * (1 + as_decimal(params.take_profit_pct, "take_profit_pct") / 100)
    return stop, take


def position_exit(
    symbol: str,
    entry_price: float | Decimal | None,
    last_price: float | Decimal | None,
    params: RiskParams,
) -> GateResult:
    entry = _price(symbol, "entry", entry_price)
    last = _price(symbol, "last", last_price)
    if entry is None or entry == 0:
        figures = {} if last is None else {"last": float(last)}
        return GateResult(STOP_LOSS, GateDecision.PASS, f"{symbol}: no entry price, so no stop-loss or "
                          f"take-profit applies (last {last if last is not None else '-'}).", figures)
    stop, take = exit_prices(entry, params)
    figures = {"entry": float(entry), "stop": float(stop), "take": float(take)}
    if last is None:
        return GateResult(STOP_LOSS, GateDecision.PASS,
                          f"{symbol}: no last price; holding (entry {entry}, stop {stop}, take {take}).", figures)
    change_pct = (last - entry) / entry * 100
    figures.update(last=float(last), change_pct=float(change_pct))
    change = f"{float(change_pct):+.2f}%"
    if last <= stop:
        return GateResult(STOP_LOSS, GateDecision.DENY, f"{symbol}: last {last} is at or below the stop {stop} "
                          f"({change} from entry {entry}, stop-loss {params.stop_loss_pct}%); exit now.", figures)
    if last >= take:
        return GateResult(TAKE_PROFIT, GateDecision.DENY, f"{symbol}: last {last} is at or above the take "
                          f"{take} ({change} from entry {entry}, take-profit {params.take_profit_pct}%); exit now.",
                          figures)
    return GateResult(STOP_LOSS, GateDecision.PASS, f"{symbol}: last {last} is between the stop {stop} and the "
                      f"take {take} ({change} from entry {entry}); holding.", figures)


def sl_check_decision(result: GateResult) -> str:
    """The [SL_CHECK] ``decision`` field for a ``position_exit`` result: hold / stop_loss / take_profit / no_entry."""
    if result.decision is GateDecision.DENY:
        return result.gate
    return "hold" if "entry" in result.figures else "no_entry"
