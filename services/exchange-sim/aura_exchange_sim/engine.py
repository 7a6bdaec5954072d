"""The matching engine: order placement, resting limit orders, fills, fees, balance locks and the ledger.

One ``threading.RLock`` (``Engine.lock``) guards all state; every public method takes it, so each request sees and
leaves a consistent book. Time is a parameter (``now`` = simulated ms, ``wall`` = host ms): the engine never reads
a clock.

Pricing. MARKET orders (and the marketable part of LIMIT orders) walk the synthetic book of ``pricing`` around the
replay price; what its levels cannot fill EXPIREs (MARKET, IOC) or rests (GTC). Resting LIMIT orders fill at their
limit price as makers when the replay path crosses it (checked on every clock advance, lazily at the next request);
``partial_fill_ratio`` < 1 fills only that share of the original quantity per crossing.

Validation. Binance's filters (``filters``) in exchangeInfo's order; PERCENT_PRICE_BY_SIDE and a MARKET order's
NOTIONAL use the 5-minute average price (``MarketData.avg_price``), MARKET orders also MARKET_LOT_SIZE.
``first_fills`` counts orders that got their first fill: the simulator takes them off the unfilled-order count
(``ordercount``).

Fees, as Binance charges them (spec: "Commission is charged on the received asset"): a BUY pays ``qty * rate`` in
the BASE asset (a BUY of q credits q - commission), a SELL pays ``notional * rate`` in the QUOTE asset; with the BNB
discount on (``EngineConfig.bnb_discount``) a fill pays ``notional * rate * (1 - discount)`` worth of BNB (at the
BNB/quote replay price) while the free BNB balance covers it, else the received asset at the full rate. Rates are
per symbol (``EngineConfig.rates_bps``); every commission is rounded half-up onto the 1e-8 grid. Fills and
``myTrades`` carry ``commission`` and ``commissionAsset``.

Locks. An open LIMIT BUY locks ``price * qty`` quote (its fee is paid from what it receives); an open SELL locks
``qty`` base. MARKET orders lock nothing: they are checked against free balance and settle at once.
"""

from __future__ import annotations

import threading
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from aura_exchange_sim import errors
from aura_exchange_sim.filters import (
    AVG_PRICE_MINS,
    check_client_id,
    check_market_qty,
    check_notional,
    check_percent_price,
    check_price,
    check_qty,
    parse_decimal,
)
from aura_exchange_sim.ledger import ZERO, Book, q8
from aura_exchange_sim.market import MarketData, SymbolSpec
from aura_exchange_sim.orders import Order, Trade
from aura_exchange_sim.pricing import EngineConfig, walk_book

__all__ = ["Engine", "EngineConfig"]

TYPES = ("MARKET", "LIMIT", "LIMIT_MAKER")
MAX_OPEN_PER_SYMBOL = 200


class Engine:
    def __init__(self, market: MarketData, config: EngineConfig, balances: dict[str, Decimal], now: int) -> None:
        self.market, self.config = market, config
        self.lock = threading.RLock()
        self._initial = dict(balances)
        self.reset(balances, now)

    def reset(self, balances: dict[str, Decimal], now: int) -> None:
        with self.lock:
            self.book = Book()
            self.orders: dict[int, Order] = {}
            self.by_symbol: dict[str, list[Order]] = {}
            self.trades_by_symbol: dict[str, list[Trade]] = {}
            self.open: dict[int, Order] = {}
            self.open_by_cid: dict[str, int] = {}
            self.latest_by_cid: dict[tuple[str, str], int] = {}
            self.next_order_id, self.next_trade_id = 1, 1
            self.first_fills = 0  # orders that got their first fill (the unfilled-order count's decrements)
            self.last_sync = now
            for asset, amount in sorted(balances.items()):
                self.book.move(asset, q8(Decimal(amount)), ZERO, "initial", now)

    # ---- placement -------------------------------------------------------------------------------------------
    def spec(self, symbol: str | None, now: int) -> SymbolSpec:
        if not symbol:
            raise errors.missing("symbol")
        if not self.market.listed(symbol, now):
            raise errors.invalid_symbol()
        return self.market.specs[symbol]

    def place(self, p: dict[str, str], now: int, wall: int, partial_ratio: Decimal | None = None) -> Order:
        with self.lock:
            self.sync(now)
            try:
                return self._place(p, now, wall, partial_ratio)
            except errors.ApiError as exc:
                self.book.append("reject", now, symbol=p.get("symbol"), client_order_id=p.get("newClientOrderId"),
                                 side=p.get("side"), type=p.get("type"), code=exc.code, msg=exc.msg)
                raise

    def _place(self, p: dict[str, str], now: int, wall: int, partial_ratio: Decimal | None) -> Order:
        spec = self.spec(p.get("symbol"), now)
        side, otype = p.get("side"), p.get("type")
        if not side:
            raise errors.missing("side")
        if side not in ("BUY", "SELL"):
            raise errors.ApiError(400, -1117, "Invalid side.")
        if not otype:
            raise errors.missing("type")
        if otype not in TYPES:
            raise errors.ApiError(400, -1116, "Invalid orderType.")
        cid = p.get("newClientOrderId")
        check_client_id(cid)
        qty = parse_decimal(p, "quantity")
        qoq = parse_decimal(p, "quoteOrderQty")
        price = parse_decimal(p, "price")
        tif = p.get("timeInForce")
        if otype == "MARKET":
            if price is not None:
                raise errors.not_allowed("Parameter 'price' sent when not required.")
            if qty is None and qoq is None:
                raise errors.ApiError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both "
                                      "were empty/null!")
            if qty is not None and qoq is not None:
                raise errors.not_allowed("Parameter 'quoteOrderQty' sent when not required.")
            tif = "GTC"
        else:
            if qoq is not None:
                raise errors.not_allowed("Parameter 'quoteOrderQty' sent when not required.")
            if qty is None:
                raise errors.missing("quantity")
            if price is None:
                raise errors.missing("price")
            if otype == "LIMIT":
                if not tif:
                    raise errors.missing("timeInForce")
                if tif not in ("GTC", "IOC", "FOK"):
                    raise errors.ApiError(400, -1115, "Invalid timeInForce.")
            else:
                if tif:
                    raise errors.not_allowed("Parameter 'timeInForce' sent when not required.")
                tif = "GTC"
            check_price(spec, price)
        if qty is not None:
            if qty <= 0:
                raise errors.rejected("Price * QTY is zero or less.")
            check_qty(spec, qty)
            if otype == "MARKET":
                check_market_qty(spec, qty)
        mid = self.market.price(spec.symbol, now)
        if mid is None:
            raise errors.rejected("Market is closed.")
        avg = self.market.avg_price(spec.symbol, now, AVG_PRICE_MINS)
        if otype == "MARKET":
            check_notional(spec, qoq if qoq is not None else qty * avg, True)
        else:
            check_percent_price(side, price, avg)
            check_notional(spec, price * qty, False)
        if cid is not None and cid in self.open_by_cid:
            raise errors.duplicate_order()
        if cid is None:
            cid = f"sim-{self.next_order_id:08d}-{now % 100_000_000:08d}"

        limit = price if otype != "MARKET" else None
        fills = walk_book(self.config, spec, side, mid, qty, qoq, limit, partial_ratio)
        if otype == "LIMIT_MAKER" and fills:
            raise errors.rejected("Order would immediately match and take.")
        if otype == "MARKET" and not fills:
            raise errors.rejected("Order book liquidity is less than LOT_SIZE filter minimum quantity.")
        filled = sum((q for _, q in fills), ZERO)
        if otype == "MARKET" and qoq is not None:
            check_market_qty(spec, filled)  # the quantity a quoteOrderQty buys or sells
        if otype == "LIMIT" and tif == "FOK" and filled < qty:
            fills, filled = [], ZERO
        rests = otype != "MARKET" and tif == "GTC" and filled < qty
        if rests and sum(1 for o in self.open.values() if o.symbol == spec.symbol) >= MAX_OPEN_PER_SYMBOL:
            raise errors.filter_failure("MAX_NUM_ORDERS")
        # balance check: the whole order must be affordable before anything happens (a BUY's fee is paid from
        # what it receives, a SELL's from the quote it receives: neither needs more than the notional / quantity)
        if side == "BUY":
            if otype == "MARKET":
                need = sum((q8(px * q, ROUND_HALF_UP) for px, q in fills), ZERO)
            else:
                need = self._lock_for(price, qty)
            if need > self.book.available(spec.quote):
                raise errors.insufficient_balance()
        else:
            need = filled if otype == "MARKET" else qty
            if need > self.book.available(spec.base):
                raise errors.insufficient_balance()

        if qty is None:  # quoteOrderQty: origQty is what the quote amount buys at the first fill price
            qty = filled if partial_ratio is None else max(filled, spec.floor_qty(qoq / fills[0][0]))
        oid = self.next_order_id
        self.next_order_id += 1
        order = Order(oid, spec.symbol, side, otype, tif, price or ZERO, qty, qoq or ZERO, cid, now, wall,
                      update_time=now,
                      # a forced partial fill not used up at placement applies to the first crossing
                      partial_ratio=float(partial_ratio) if partial_ratio is not None and rests and not fills
                      else None)
        self.orders[oid] = order
        self.by_symbol.setdefault(spec.symbol, []).append(order)
        self.latest_by_cid[(spec.symbol, cid)] = oid
        self.book.append("order", now, status="NEW", **order.ledger_fields())
        if otype != "MARKET":
            if side == "BUY":
                order.locked = self._lock_for(price, qty)
                self.book.move(spec.quote, -order.locked, order.locked, "lock", now, oid)
            else:
                order.locked = qty
                self.book.move(spec.base, -qty, qty, "lock", now, oid)
        for px, q in fills:
            self._fill(order, spec, px, q, False, now)
        if fills:
            self.first_fills += 1
        if order.executed_qty >= order.orig_qty:
            self._close(order, "FILLED", now)
        elif rests:
            order.status = "PARTIALLY_FILLED" if order.executed_qty > 0 else "NEW"
            self.open[oid] = order
            self.open_by_cid[cid] = oid
        else:
            self._close(order, "EXPIRED", now)
        return order

    @staticmethod
    def _lock_for(price: Decimal, qty: Decimal) -> Decimal:
        return q8(price * qty, ROUND_CEILING)

    def commission(self, spec: SymbolSpec, side: str, px: Decimal, q: Decimal, maker: bool,
                   now: int) -> tuple[Decimal, str]:
        """(commission, asset) of one fill: BNB at the discounted rate while the free BNB balance covers it, else
        the received asset (BUY: base, ``q * rate``; SELL: quote, ``notional * rate``)."""
        taker_bps, maker_bps = self.config.rates_bps(spec.symbol)
        rate = (maker_bps if maker else taker_bps) / Decimal(10_000)
        notional = q8(px * q, ROUND_HALF_UP)
        if self.config.bnb_discount and rate > 0:
            bnb_px = self._bnb_price(spec.quote, now)
            if bnb_px is not None:
                share = 1 - self.config.bnb_discount_pct / Decimal(100)
                fee = q8(notional * rate * share / bnb_px, ROUND_HALF_UP)
                if fee > 0 and fee <= self.book.available("BNB"):
                    return fee, "BNB"
        if side == "BUY":
            return q8(q * rate, ROUND_HALF_UP), spec.base
        return q8(notional * rate, ROUND_HALF_UP), spec.quote

    def _bnb_price(self, quote: str, now: int) -> Decimal | None:
        if quote == "BNB":
            return Decimal(1)
        symbol = "BNB" + quote
        if symbol not in self.market.specs or not self.market.listed(symbol, now):
            return None
        mid = self.market.price(symbol, now)
        return Decimal(repr(mid)) if mid is not None and mid > 0 else None

    def _fill(self, order: Order, spec: SymbolSpec, px: Decimal, q: Decimal, maker: bool, now: int) -> None:
        notional = q8(px * q, ROUND_HALF_UP)
        fee, fee_asset = self.commission(spec, order.side, px, q, maker, now)
        tid = self.next_trade_id
        self.next_trade_id += 1
        trade = Trade(tid, order.order_id, spec.symbol, px, q, notional, fee, fee_asset, now,
                      order.side == "BUY", maker)
        order.trades.append(trade)
        self.trades_by_symbol.setdefault(spec.symbol, []).append(trade)
        order.executed_qty += q
        order.cum_quote += notional
        order.update_time = now
        self.book.append("fill", now, trade_id=tid, order_id=order.order_id, client_order_id=order.client_order_id,
                         symbol=spec.symbol, side=order.side, price=format(px, "f"), qty=format(q, "f"),
                         quote_qty=format(notional, "f"), commission=format(fee, "f"),
                         commission_asset=fee_asset, is_maker=maker)
        oid = order.order_id
        if order.side == "BUY":
            self.book.move(spec.base, q - (fee if fee_asset == spec.base else ZERO), ZERO, "trade", now, oid)
            if order.type == "MARKET":
                self.book.move(spec.quote, -notional, ZERO, "trade", now, oid)
            else:
                rem = order.remaining
                new_lock = min(order.locked, self._lock_for(order.price, rem)) if rem > 0 else ZERO
                d_locked = new_lock - order.locked
                self.book.move(spec.quote, -notional - d_locked, d_locked, "trade", now, oid)
                order.locked = new_lock
        else:
            if order.type == "MARKET":
                self.book.move(spec.base, -q, ZERO, "trade", now, oid)
            else:
                self.book.move(spec.base, ZERO, -q, "trade", now, oid)
                order.locked -= q
            self.book.move(spec.quote, notional - (fee if fee_asset == spec.quote else ZERO), ZERO, "trade", now,
                           oid)
        if fee_asset not in (spec.base, spec.quote) and fee > 0:
            self.book.move(fee_asset, -fee, ZERO, "commission", now, oid)

    def _close(self, order: Order, status: str, now: int) -> None:
        spec = self.market.specs[order.symbol]
        if order.locked > 0:
            asset = spec.quote if order.side == "BUY" else spec.base
            self.book.move(asset, order.locked, -order.locked, "unlock", now, order.order_id)
            order.locked = ZERO
        order.status, order.update_time = status, now
        self.open.pop(order.order_id, None)
        if self.open_by_cid.get(order.client_order_id) == order.order_id:
            del self.open_by_cid[order.client_order_id]
        self.book.append("status", now, order_id=order.order_id, client_order_id=order.client_order_id,
                         symbol=order.symbol, status=status, executed_qty=format(order.executed_qty, "f"))

    # ---- time ------------------------------------------------------------------------------------------------
    def sync(self, now: int) -> None:
        """Match resting LIMIT orders against the replay path over (last_sync, now]."""
        with self.lock:
            if now <= self.last_sync:
                return
            t0, self.last_sync = self.last_sync, now
            if not self.open:
                return
            ranges: dict[str, tuple[float, float] | None] = {}
            for order in sorted(self.open.values(), key=lambda o: o.order_id):
                sym = order.symbol
                if sym not in ranges:
                    ranges[sym] = self.market.extremes(sym, t0 + 1, now)
                ext = ranges[sym]
                if ext is None:
                    continue
                lo, hi = ext
                if (order.side == "BUY" and lo <= order.price) or (order.side == "SELL" and hi >= order.price):
                    spec = self.market.specs[sym]
                    ratio = Decimal(repr(order.partial_ratio)) if order.partial_ratio is not None \
                        else self.config.partial_fill_ratio
                    order.partial_ratio = None
                    q = order.remaining
                    if order.executed_qty == 0:
                        self.first_fills += 1
                    if ratio < 1:
                        q = min(q, max(spec.step, spec.floor_qty(order.orig_qty * ratio)))
                    self._fill(order, spec, order.price, q, True, now)
                    if order.remaining <= 0:
                        self._close(order, "FILLED", now)
                    else:
                        order.status = "PARTIALLY_FILLED"

    # ---- queries and cancels ---------------------------------------------------------------------------------
    def find(self, symbol: str | None, order_id: int | None, cid: str | None, now: int) -> Order:
        """By orderId, or by origClientOrderId (the MOST RECENT order with that id on the symbol)."""
        with self.lock:
            spec = self.spec(symbol, now)
            if order_id is None and cid is None:
                raise errors.ApiError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both "
                                      "were empty/null!")
            if order_id is not None:
                order = self.orders.get(order_id)
                if order is None or order.symbol != spec.symbol:
                    raise errors.order_not_found()
                if cid is not None and order.client_order_id != cid:
                    raise errors.client_id_mismatch()
                return order
            oid = self.latest_by_cid.get((spec.symbol, cid))
            if oid is None:
                raise errors.order_not_found()
            return self.orders[oid]

    def cancel(self, symbol: str | None, order_id: int | None, cid: str | None, now: int) -> Order:
        with self.lock:
            self.sync(now)
            try:
                order = self.find(symbol, order_id, cid, now)
            except errors.ApiError as exc:
                if exc.code == -2013:
                    raise errors.unknown_order() from None
                raise
            if not order.is_open:
                raise errors.unknown_order()
            self._close(order, "CANCELED", now)
            return order

    def open_orders(self, symbol: str | None, now: int) -> list[Order]:
        with self.lock:
            self.sync(now)
            if symbol is not None:
                self.spec(symbol, now)
            return sorted((o for o in self.open.values() if symbol is None or o.symbol == symbol),
                          key=lambda o: o.order_id)

    def all_orders(self, symbol: str | None, now: int, order_id: int | None = None, start: int | None = None,
                   end: int | None = None, limit: int = 500) -> list[Order]:
        with self.lock:
            self.sync(now)
            spec = self.spec(symbol, now)
            rows = [o for o in self.by_symbol.get(spec.symbol, ())
                    if (order_id is None or o.order_id >= order_id) and (start is None or o.time >= start)
                    and (end is None or o.time <= end)]
            return rows[:limit] if (order_id is not None or start is not None) else rows[-limit:]

    def my_trades(self, symbol: str | None, now: int, order_id: int | None = None, start: int | None = None,
                  end: int | None = None, from_id: int | None = None, limit: int = 500) -> list[Trade]:
        with self.lock:
            self.sync(now)
            spec = self.spec(symbol, now)
            rows = [t for t in self.trades_by_symbol.get(spec.symbol, ())
                    if (order_id is None or t.order_id == order_id) and (from_id is None or t.id >= from_id)
                    and (start is None or t.time >= start) and (end is None or t.time <= end)]
            return rows[:limit] if (from_id is not None or start is not None) else rows[-limit:]

    def balances(self) -> list[tuple[str, Decimal, Decimal]]:
        with self.lock:
            return [(a, self.book.free.get(a, ZERO), self.book.locked.get(a, ZERO)) for a in self.book.assets()]

    def set_balances(self, amounts: dict[str, Decimal], now: int) -> None:
        """Admin: set FREE balances (locked amounts stay with their orders); recorded in the ledger."""
        with self.lock:
            for asset, amount in sorted(amounts.items()):
                target = q8(Decimal(amount), ROUND_FLOOR)
                if target < 0:
                    raise ValueError(f"balance of {asset} must be >= 0, got {amount}")
                self.book.move(asset, target - self.book.available(asset), ZERO, "admin", now)
