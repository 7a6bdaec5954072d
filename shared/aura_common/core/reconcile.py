"""Boot reconciliation, decided purely: what the journal believes vs what the venue says.

The shell gathers the facts (journal orders that are not terminal, the venue's answer to a lookup by client order
id for each, the venue's open AURA orders, the venue's fills and balances) and this module decides the actions.
``now_ms`` is a parameter; nothing here talks to anything.

Policies (documented in docs/trader.md, "Boot"):
- PENDING (intent journaled, never marked as sent) and UNKNOWN (marked in flight, outcome never seen) orders are
  both looked up by client order id. Found → adopt the venue's status and fills. Not found → definitive (the venue
  never accepted it and never will: it is ``resendable`` with the same client order id) only once the venue's
  request clock has passed the request's ``timestamp + recvWindow`` (a later arrival is refused with -1021) plus
  the status lag (``definitive_not_found_at_ms``); else it stays UNKNOWN and must be looked up again later. Rows
  sent before the journal recorded the request's timestamp fall back to "the lag since it was marked sent".
  PENDING that was never sent is always resendable.
- Open orders on the venue with AURA's prefix that the journal does not know are cancelled (we cannot know the
  intent behind them; cancelling is the conservative choice). Non-AURA orders are never touched.
- Fills on the venue for journaled orders that the journal lacks are recorded (idempotent by trade id).
- Positions rebuilt from the journal's fills are checked against venue balances: the venue holding LESS than the
  journal (beyond dust tolerance) is a mismatch that makes reconciliation fail (the trader then refuses to trade);
  the venue holding MORE is reported as unmanaged balance and left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from aura_common.core.intents import is_aura_order
from aura_common.domain import ClientOrderId, Fill, OrderReport, OrderStatus, Side

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class JournalOrder:
    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    status: OrderStatus
    sent_at_ms: int | None  # when it was marked in flight; None = never sent
    request_ts_ms: int | None = None  # the last request's signed timestamp (None: journaled before it was kept)
    recv_window_ms: int | None = None


def definitive_not_found_at_ms(request_ts_ms: int | None, recv_window_ms: int | None, lag_ms: int) -> int | None:
    """From when (on the venue's request clock) a lookup that finds nothing proves the order will never exist.

    The venue refuses a request reaching its matching engine after ``timestamp + recvWindow`` (-1021), and an order
    it accepted may stay invisible to lookups for the status lag: a lookup *started* at or after
    ``timestamp + recvWindow + lag`` that finds nothing is definitive. None when the request's timestamp is unknown.
    """
    if request_ts_ms is None or recv_window_ms is None:
        return None
    return int(request_ts_ms) + int(recv_window_ms) + int(lag_ms)


@dataclass(frozen=True)
class ReconcilePlan:
    updates: tuple[OrderReport, ...] = ()  # journal orders whose venue state must be recorded
    still_unknown: tuple[str, ...] = ()  # not found yet, inside the lag window: look up again
    resendable: tuple[str, ...] = ()  # definitively never accepted: may be sent again with the same id
    cancel: tuple[OrderReport, ...] = ()  # AURA orders the journal does not know
    new_fills: tuple[Fill, ...] = ()
    mismatches: tuple[str, ...] = ()  # human sentences; non-empty = reconciliation failed
    unmanaged: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def plan_order_recovery(journal_orders: Sequence[JournalOrder], lookups: Mapping[str, OrderReport | None],
                        venue_open: Iterable[OrderReport], now_ms: int, lag_ms: int,
                        request_now_ms: int | None = None) -> ReconcilePlan:
    """``now_ms`` is the journal's clock (what ``sent_at_ms`` is in), ``request_now_ms`` the venue's request clock
    read BEFORE the lookups were made (what ``request_ts_ms`` is in; None = not known: such orders stay UNKNOWN)."""
    updates: list[OrderReport] = []
    unknown: list[str] = []
    resend: list[str] = []
    known = {o.client_order_id for o in journal_orders}
    for o in sorted(journal_orders, key=lambda x: x.client_order_id):
        if o.client_order_id not in lookups:
            raise ValueError(f"no lookup result for order {o.client_order_id}")
        found = lookups[o.client_order_id]
        if found is not None:
            if found.symbol != o.symbol or found.side is not o.side:
                raise ValueError(f"venue order {o.client_order_id} is {found.side.value} {found.symbol}, "
                                 f"journal says {o.side.value} {o.symbol}")
            updates.append(found)
        elif o.sent_at_ms is None:
            resend.append(o.client_order_id)
        elif (at := definitive_not_found_at_ms(o.request_ts_ms, o.recv_window_ms, lag_ms)) is not None:
            (resend if request_now_ms is not None and request_now_ms >= at else unknown).append(o.client_order_id)
        elif now_ms - o.sent_at_ms >= lag_ms:  # journaled before request timestamps were kept: the old rule
            resend.append(o.client_order_id)
        else:
            unknown.append(o.client_order_id)
    cancel = sorted((r for r in venue_open if is_aura_order(r.client_order_id) and r.client_order_id not in known
                     and not r.status.is_terminal), key=lambda r: r.client_order_id)
    return ReconcilePlan(updates=tuple(updates), still_unknown=tuple(unknown), resendable=tuple(resend),
                         cancel=tuple(cancel))


def missing_fills(venue_fills: Iterable[Fill], known_trade_ids: Iterable[tuple[str, str]],
                  order_ids: Mapping[str, str]) -> tuple[Fill, ...]:
    """Venue fills of journaled orders (matched by exchange order id → client order id) not yet journaled.

    ``known_trade_ids`` are (symbol, trade_id) pairs; ``order_ids`` maps exchange order id → client order id.
    """
    known = set(known_trade_ids)
    out = []
    for f in venue_fills:
        if (f.symbol, f.trade_id) in known:
            continue
        cid = f.client_order_id or (order_ids.get(f.exchange_order_id) if f.exchange_order_id else None)
        if cid is None:
            continue  # not an order of ours
        out.append(Fill(f.trade_id, f.symbol, f.side, f.quantity, f.price, f.fee, f.fee_asset, f.time_ms,
                        ClientOrderId(cid), f.exchange_order_id))
    return tuple(sorted(out, key=lambda f: (f.time_ms, f.symbol, f.trade_id)))


def _fee_lot(f: Fill, base_of: Mapping[str, str]) -> str | None:
    """The symbol whose holding pays ``f``'s fee: the fill's own symbol when the fee is in its base asset (a BUY on
    Binance), else the one managed symbol with the fee asset as base (BNB paying for another symbol's fill); None
    when the fee is paid in a quote or an unmanaged asset (it moves cash, not a position)."""
    if f.fee == 0:
        return None
    if base_of.get(f.symbol) == f.fee_asset:
        return f.symbol
    owners = [s for s, b in base_of.items() if b == f.fee_asset]
    return owners[0] if len(owners) == 1 else None


def positions_from_fills(fills: Iterable[Fill], base_of: Mapping[str, str]) -> dict[str, Decimal]:
    """Net base-asset quantity per asset from fills: bought - sold - every fee paid in that asset (a BUY's fee in
    its base, BNB fees in BNB), so it equals what the venue holds from these fills to the last unit."""
    pos: dict[str, Decimal] = {}
    bases = set(base_of.values())
    for f in fills:
        base = base_of[f.symbol]
        pos[base] = pos.get(base, ZERO) + (f.quantity if f.side is Side.BUY else -f.quantity)
        if f.fee and f.fee_asset in bases:
            pos[f.fee_asset] = pos.get(f.fee_asset, ZERO) - f.fee
    return {a: q for a, q in sorted(pos.items()) if q != 0}


def check_positions(journal_positions: Mapping[str, Decimal], venue_totals: Mapping[str, Decimal],
                    tolerance: Mapping[str, Decimal]) -> tuple[tuple[str, ...], dict[str, Decimal]]:
    """(mismatch sentences, unmanaged extra balance per asset). Tolerance is per asset (e.g. one lot step)."""
    mismatches, unmanaged = [], {}
    for asset in sorted(set(journal_positions) | set(venue_totals)):
        mine, venue = journal_positions.get(asset, ZERO), venue_totals.get(asset, ZERO)
        tol = tolerance.get(asset, ZERO)
        if venue < mine - tol:
            mismatches.append(f"{asset}: journal holds {mine} but the venue has only {venue}")
        elif venue > mine + tol:
            unmanaged[asset] = venue - mine
    return tuple(mismatches), unmanaged


@dataclass(frozen=True, slots=True)
class Lot:
    """The open position of one symbol rebuilt from fills: quantity held and average entry price.

    THE entry-price rule (the trader's stop-loss/take-profit, boot's ``[ENTRY_RECOVER]`` and the backtester agree):
    the entry is the average FILL price of the current holding's buys - fees never enter it, whatever asset they
    are paid in - and the quantity is what the fills leave on the venue (bought - sold - fees paid in the base)."""

    symbol: str
    qty: Decimal
    entry_price: Decimal | None


def open_lots(fills: Iterable[Fill], base_of: Mapping[str, str]) -> dict[str, Lot]:
    """Average-cost lots from fills in time order. A buy raises the quantity and re-averages the entry at its fill
    price; a BUY charged in its own base asset adds only what it received (q - fee) at its fill price (so it has the
    entry of one charged in quote); a sell, or a fee paid from another holding (BNB), lowers that quantity at the
    same entry; a position that goes flat (or
    short: sells of balance the fills do not explain) starts afresh."""
    qty: dict[str, Decimal] = {}
    cost: dict[str, Decimal] = {}

    def reduce(s: str, by: Decimal) -> None:
        q, c = qty.get(s, ZERO), cost.get(s, ZERO)
        if q > 0:
            c = c * max(ZERO, q - by) / q
        q -= by
        qty[s], cost[s] = (q, c) if q > 0 else (ZERO, ZERO)

    for f in sorted(fills, key=lambda x: (x.time_ms, x.symbol, x.trade_id)):
        s, payer = f.symbol, _fee_lot(f, base_of)
        if f.side is Side.BUY:
            got = f.quantity - (f.fee if payer == s else ZERO)  # a BUY charged in its base receives q - fee
            qty[s], cost[s] = qty.get(s, ZERO) + got, cost.get(s, ZERO) + got * f.price
            if qty[s] <= 0:
                qty[s], cost[s] = ZERO, ZERO
            if payer is not None and payer != s:
                reduce(payer, f.fee)
        else:
            reduce(s, f.quantity)
            if payer is not None:
                reduce(payer, f.fee)
    return {s: Lot(s, q, (cost[s] / q) if q > 0 else None) for s, q in sorted(qty.items()) if q > 0}
