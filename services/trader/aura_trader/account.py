"""The account sync behind the sync guard: balances and prices from the broker, judged before anyone trusts them.

``AccountSync.sync()`` reads balances, the markets and the last prices of every held or journaled symbol, values the
account in the quote asset and runs the pure guard (``core/sync_guard.py``) on the read:

- a plain read is accepted: it becomes the last good ``AccountView`` (``accepted=True``);
- a suspicious read - a failed fetch (``fetch_failed``), no balance while the journal holds positions or the last
  good account held value (``empty_balances``), equity moving by more than ``risk.sync_guard_max_equity_drop_pct``
  from the last good equity less the fees of the fills journaled since (``equity_jump``: fills explain their fees,
  never a jump), or a held symbol's price moving more than ``risk.sync_guard_max_price_move_pct`` from its last
  accepted mark (``price_jump``) - is retried within the sync with exponential backoff
  (``attempts`` reads in all, bounded); each rejected read logs ``[SYNC_GUARD] ... action=retry`` and counts
  ``aura_sync_guard_trips_total{reason}``. A plain retry is accepted as usual. When every attempt was suspicious
  the last good view is returned (``accepted=False``, ``action=keep_last_good``): equity, drawdown and the kill
  switch never see the read.
- Confirmation: the guard's streak advances by at most ONE per sync (the retries inside one sync are a burst, not
  independent evidence), so a change is accepted only after ``risk.sync_guard_confirm_reads`` consecutive syncs
  (ticks) saw it consistently over at least ``risk.sync_guard_confirm_min_seconds`` of host wall time
  (``action=accept``). A fault shorter than K ticks, or than that time, never reaches equity.

The guard starts from the journal's last equity snapshot, so an implausible first read after a restart is caught
too. Reads only; nothing here writes the journal (the risk tick records accepted equity).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from aura_common.adapters.broker.errors import BrokerError, FatalBrokerError, RateLimited
from aura_common.adapters.clock import Clock
from aura_common.adapters.logs import event
from aura_common.core.params import RiskParams
from aura_common.core.sync_guard import (
    AccountObservation,
    SyncAction,
    SyncGuardState,
    SyncReason,
    SyncVerdict,
    sync_guard,
)
from aura_common.domain import Balance, MarketSpec, Symbol

TAG = "SYNC_GUARD"
ZERO = Decimal(0)
FILL_MARK_LAG_MS = 86_400_000


@dataclass(frozen=True)
class AccountView:
    """One judged account state. When ``accepted`` is False this is the last good view (or an empty one before
    the first good read): do not trade on it; ``reason`` says why the current read was rejected."""

    balances: Mapping[str, Balance]
    prices: Mapping[Symbol, Decimal]
    equity: Decimal
    positions: Mapping[Symbol, Decimal]  # base quantity (free + locked) of every held managed symbol
    accepted: bool
    reason: str  # "" for a plain accepted read, else a SyncReason value
    cash: Decimal = ZERO  # free quote asset
    synced_ms: int | None = None  # local time of the read this view comes from (None: never synced)
    specs: Mapping[Symbol, MarketSpec] = field(default_factory=dict)

    @property
    def invested(self) -> Decimal:
        return sum((q * self.prices[s] for s, q in self.positions.items() if s in self.prices), ZERO)

    @property
    def exposure(self) -> Decimal:
        return self.invested / self.equity if self.equity > 0 else ZERO


class AccountBroker(Protocol):
    def markets(self, refresh: bool = False) -> Mapping[Symbol, MarketSpec]: ...

    def balances(self) -> Mapping[str, Balance]: ...

    def prices(self, symbols) -> Mapping[Symbol, Decimal]: ...


class AccountJournal(Protocol):
    def latest_positions(self): ...

    def latest_equity(self): ...

    def fills(self, symbol=None, since_ms=None, client_order_id=None): ...


class GuardMetrics(Protocol):
    def sync_guard_trip(self, reason: str) -> None: ...


def _plain(d: Decimal) -> Decimal:
    """The same value without trailing zeros (and without an exponent for integers)."""
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()


def risk_params(params: object) -> RiskParams:
    """The risk thresholds of a strategy (or the RiskParams themselves)."""
    return params if isinstance(params, RiskParams) else params.risk  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Read:
    balances: Mapping[str, Balance] | None
    prices: Mapping[Symbol, Decimal]
    equity: Decimal | None
    positions: Mapping[Symbol, Decimal]
    cash: Decimal
    specs: Mapping[Symbol, MarketSpec]
    error: str = ""


class AccountSync:
    def __init__(self, broker: AccountBroker, journal: AccountJournal, params_provider: Callable[[], object],
                 metrics: GuardMetrics, clock: Clock, quote_asset: str = "USDT", *,
                 logger: logging.Logger | None = None, attempts: int = 3, backoff_seconds: float = 1.0,
                 max_backoff_seconds: float = 10.0,
                 managed_symbols: Callable[[], Iterable[str]] | None = None,
                 wall_ms: Callable[[], int] = lambda: int(time.monotonic() * 1000)) -> None:
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self._broker, self._journal, self._params = broker, journal, params_provider
        self._metrics, self._clock, self.quote = metrics, clock, quote_asset.upper()
        self._log = logger or logging.getLogger(__name__)
        self.attempts, self.backoff, self.max_backoff = attempts, backoff_seconds, max_backoff_seconds
        self._managed = managed_symbols  # None: every held asset with a market is a position
        self._wall_ms = wall_ms  # host time: confirmations must be spread over real time, whatever the venue's clock
        last = journal.latest_equity()
        snap = journal.latest_positions()
        marks = {p.symbol: p.mark_price for p in snap.positions if p.mark_price} if snap is not None else {}
        self.state = SyncGuardState(last_good_equity=last.equity if last is not None else None,
                                    last_good_prices=marks)
        self._last_good: AccountView | None = None
        self.last_error = ""  # why the latest venue read failed ("" when it answered): the trader's health reads it
        self._fill_mark: int | None = None  # venue time from which journaled fills are compared (None: all)
        self._fills_at_last_good = self._move_fill_mark()

    @property
    def last_good(self) -> AccountView | None:
        return self._last_good

    # --- the one public call ----------------------------------------------------------------------------------
    def sync(self) -> AccountView:
        params = risk_params(self._params())
        # the journal's side, read once per sync (the attempts below re-read only the venue)
        journaled = self._journal_positions()
        symbols = {Symbol(p.symbol) for p in journaled}
        managed = None if self._managed is None else {Symbol(s) for s in self._managed()} | symbols
        fills_now = self._fill_ids()
        delta = self._fills_delta(fills_now - self._fills_at_last_good)  # what fills since the last good explain
        start = self.state
        suspicious: tuple[SyncVerdict, SyncGuardState] | None = None
        for attempt in range(1, self.attempts + 1):
            read = self._read(symbols, managed)
            self.last_error = read.error if read.balances is None else ""
            totals = None if read.balances is None else {a: b.total for a, b in read.balances.items()}
            obs = AccountObservation(totals, read.equity, bool(journaled), delta,
                                     {str(s): p for s, p in read.prices.items() if s in read.positions},
                                     self._wall_ms())
            # every attempt is judged from the state at the start of the sync: one streak step per sync
            verdict, new_state, _ = sync_guard(obs, start, params)
            if verdict.accepted:
                self.state = new_state
                return self._accept(read, verdict, attempt, fills_now)
            if verdict.reason is not SyncReason.FETCH_FAILED or suspicious is None:
                suspicious = (verdict, new_state)  # a failed fetch neither extends nor ends a streak
            last_attempt = attempt == self.attempts
            self._trip(verdict, attempt, SyncAction.KEEP_LAST_GOOD if last_attempt else SyncAction.RETRY, read)
            if not last_attempt:
                self._clock.sleep(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))
        assert suspicious is not None
        verdict, self.state = suspicious
        return self._stale(verdict, journaled)

    # --- reads ----------------------------------------------------------------------------------------------
    def _read(self, journaled: set[Symbol], managed: set[Symbol] | None) -> _Read:
        """One venue read: balances and the prices of every held asset with a market plus the ``journaled``
        positions; the positions are the ``managed`` part of the holdings (None: all of them; equity counts every
        holding, SL/TP, liquidation and the position gauges see only these)."""
        try:
            specs = self._broker.markets()
            balances = dict(self._broker.balances())
            held = {Symbol(a + self.quote): b.total for a, b in balances.items()
                    if a != self.quote and b.total > 0 and Symbol(a + self.quote) in specs}
            wanted = set(held) | {s for s in journaled if s in specs}
            prices = dict(self._broker.prices(sorted(wanted))) if wanted else {}
        except FatalBrokerError:
            raise  # auth/config: not transient, the operator must act
        except BrokerError as exc:
            if isinstance(exc, RateLimited) and exc.retry_after:
                self._clock.sleep(min(self.max_backoff, exc.retry_after))
            return _Read(None, {}, None, {}, ZERO, {}, f"{type(exc).__name__}: {exc}")
        missing = sorted(s for s in held if s not in prices or prices[s] <= 0)
        quote = balances.get(self.quote)
        cash = quote.free if quote is not None else ZERO
        if missing:
            return _Read(balances, prices, None, held, cash, specs, f"no price for {','.join(missing)}")
        equity = (quote.total if quote is not None else ZERO) + sum((q * prices[s] for s, q in held.items()), ZERO)
        positions = dict(held) if managed is None else {s: q for s, q in held.items() if s in managed}
        return _Read(balances, prices, _plain(equity), positions, cash, specs)

    def _journal_positions(self):
        snap = self._journal.latest_positions()
        return () if snap is None else tuple(p for p in snap.positions if p.qty > 0)

    def _fill_ids(self) -> frozenset[tuple[str, str]]:
        """Ids of the journaled fills from the mark on (venue time; the mark trails the newest fill by a day, so
        each sync reads about a day of fills, not the whole history). A fill journaled late with a venue time more
        than a day older than the newest one is not seen: the move then needs K syncs (the conservative side)."""
        return frozenset((f.symbol, f.trade_id) for f in self._journal.fills(since_ms=self._fill_mark))

    def _fills_delta(self, new_ids: frozenset[tuple[str, str]]) -> Decimal:
        """The equity change the fills journaled since the last good read explain by their own amounts and
        prices: a fill swaps cash and coins at its price, so only its fee (quote, or base at the fill price; BNB
        has no price here and counts 0). Never a jump."""
        if not new_ids:
            return ZERO
        fees = ZERO
        for f in self._journal.fills(since_ms=self._fill_mark):
            if (f.symbol, f.trade_id) not in new_ids or not f.fee:
                continue
            if f.fee_asset == self.quote:
                fees += f.fee
            elif f.symbol == f.fee_asset + self.quote:
                fees += f.fee * f.price
        return -fees

    def _move_fill_mark(self) -> frozenset[tuple[str, str]]:
        fills = self._journal.fills(since_ms=self._fill_mark)
        if fills:
            self._fill_mark = max(f.venue_ms for f in fills) - FILL_MARK_LAG_MS
        return self._fill_ids()

    # --- outcomes -------------------------------------------------------------------------------------------
    def _accept(self, read: _Read, verdict: SyncVerdict, attempt: int,
                fills_now: frozenset[tuple[str, str]]) -> AccountView:
        assert read.balances is not None and read.equity is not None
        view = AccountView(read.balances, read.prices, read.equity, read.positions, True,
                           verdict.reason.value if verdict.reason is not None else "", read.cash,
                           self._clock.now_ms(), read.specs)
        self._last_good = view
        self._fills_at_last_good = self._move_fill_mark() if fills_now - self._fills_at_last_good else fills_now
        if verdict.reason is not None:  # a suspicious change confirmed by K consistent syncs
            self._line(verdict, attempt, SyncAction.ACCEPT, read)
        return view

    def _trip(self, verdict: SyncVerdict, attempt: int, action: SyncAction, read: _Read) -> None:
        assert verdict.reason is not None
        self._metrics.sync_guard_trip(verdict.reason.value)
        self._line(verdict, attempt, action, read)

    def _line(self, verdict: SyncVerdict, attempt: int, action: SyncAction, read: _Read) -> None:
        fields = dict(reason=verdict.reason.value if verdict.reason else "-", attempt=attempt, action=action.value,
                      last_good_equity=verdict.last_good_equity, seen_equity=verdict.seen_equity,
                      consecutive=verdict.consecutive)
        if verdict.symbol:
            fields["symbol"] = verdict.symbol
        if read.error:
            fields["error"] = read.error
        event(self._log, TAG, logging.WARNING if action is not SyncAction.ACCEPT else logging.INFO, **fields)

    def _stale(self, verdict: SyncVerdict, journaled) -> AccountView:
        reason = verdict.reason.value if verdict.reason is not None else ""
        last = self._last_good
        if last is not None:
            return AccountView(last.balances, last.prices, last.equity, last.positions, False, reason, last.cash,
                               last.synced_ms, last.specs)
        positions = {Symbol(p.symbol): p.qty for p in journaled}
        equity = self.state.last_good_equity if self.state.last_good_equity is not None else ZERO
        return AccountView({}, {}, equity, positions, False, reason)
