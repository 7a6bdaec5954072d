"""The sync guard: a pure state machine that keeps implausible account reads away from equity and the kill switch.

Each account sync gives an ``AccountObservation``. A read is *suspicious* when

- ``fetch_failed``: the fetch failed (no balances) or equity could not be computed from it;
- ``empty_balances``: no non-zero balance while the journal holds positions OR the last good account held value
  (an empty answer right after a flattening sell is not "flat": the sell's proceeds are cash);
- ``equity_jump``: equity fell by more than ``sync_guard_max_equity_drop_pct`` from the last good equity adjusted
  by what the fills since then explain BY THEIR OWN AMOUNTS AND PRICES (a fill converts cash and coins at its
  price: it explains its fee, never a jump), or rose by more than the inverse of that fall (``e * (1 - p) >
  ref``): a phantom spike would inflate the peak and cause a phantom drawdown on the next good read. A last good
  equity of 0 is no reference (a guard that once accepted an empty account recovers on the next real read);
- ``price_jump``: a held symbol's price moved by more than ``sync_guard_max_price_move_pct`` from its last
  accepted mark (a x1e6 ticker must never take a profit or trip the switch).

A plain read is accepted at once. A suspicious read is rejected as transient (the caller keeps the last good
snapshot, leaves equity and drawdown untouched, does not feed the kill switch, retries with backoff, logs
``[SYNC_GUARD]`` and counts ``aura_sync_guard_trips_total{reason}``) until ``sync_guard_confirm_reads`` (K)
consecutive *consistent* suspicious reads - same reason, and no jump between them - spread over at least
``sync_guard_confirm_min_seconds`` of host wall time (``now_ms``: independent reads, not a burst) make the change
real; that read is accepted. A plain read in between ends the streak; a failed fetch or an empty read neither
extends nor ends a streak of another reason (they are glitches of the read, not a view of the account).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import Enum

from aura_common.core.params import RiskParams
from aura_common.domain.values import to_decimal


class SyncReason(str, Enum):
    EMPTY_BALANCES = "empty_balances"
    EQUITY_JUMP = "equity_jump"
    PRICE_JUMP = "price_jump"
    FETCH_FAILED = "fetch_failed"


_GLITCHES = (SyncReason.FETCH_FAILED, SyncReason.EMPTY_BALANCES)


class SyncAction(str, Enum):
    """The [SYNC_GUARD] ``action`` field. The guard returns ACCEPT or KEEP_LAST_GOOD; the shell logs RETRY."""

    RETRY = "retry"
    KEEP_LAST_GOOD = "keep_last_good"
    ACCEPT = "accept"


@dataclass(frozen=True)
class AccountObservation:
    """One account read. ``balances`` is None when the fetch failed; ``equity`` (quote asset) is computed by the
    shell from balances and prices (None when it could not be). ``fills_delta``: the equity change that the fills
    journaled since the last good read explain by their own amounts and prices (minus their fees: <= 0).
    ``prices``: the marks of the held symbols in this read. ``now_ms``: host wall time of the read (monotonic)."""

    balances: Mapping[str, Decimal] | None
    equity: Decimal | None
    journal_has_positions: bool
    fills_delta: Decimal = Decimal(0)
    prices: Mapping[str, Decimal] = field(default_factory=dict)
    now_ms: int = 0


@dataclass(frozen=True)
class SyncGuardState:
    last_good_equity: Decimal | None = None
    pending_reason: SyncReason | None = None  # the suspicious streak being confirmed
    pending_equity: Decimal | None = None
    consecutive: int = 0  # consistent suspicious reads in a row
    failed_fetches: int = 0  # failed fetches in a row
    last_good_prices: Mapping[str, Decimal] = field(default_factory=dict)
    pending_prices: Mapping[str, Decimal] = field(default_factory=dict)
    pending_since_ms: int | None = None  # host time of the streak's first read


@dataclass(frozen=True)
class SyncVerdict:
    accepted: bool
    reason: SyncReason | None  # None: a plain read; else why it was suspicious (also on a confirmed acceptance)
    action: SyncAction
    seen_equity: Decimal | None
    last_good_equity: Decimal | None  # before this read
    consecutive: int  # the streak length (failed fetches in a row for fetch_failed)
    symbol: str = ""  # price_jump: the first symbol whose price jumped

    @property
    def is_trip(self) -> bool:
        """A rejected read: what ``aura_sync_guard_trips_total`` counts."""
        return not self.accepted


def _is_jump(value: Decimal, reference: Decimal, drop: Decimal) -> bool:
    return value < reference * (1 - drop) or value * (1 - drop) > reference


def _price_jumps(prices: Mapping[str, Decimal], reference: Mapping[str, Decimal], move: Decimal) -> list[str]:
    return sorted(s for s, p in prices.items()
                  if s in reference and reference[s] > 0 and _is_jump(to_decimal(p), to_decimal(reference[s]), move))


def classify(obs: AccountObservation, last_good: Decimal | None, params: RiskParams,
             last_prices: Mapping[str, Decimal] | None = None) -> SyncReason | None:
    """Why this read is suspicious, or None when it is plausible."""
    if obs.balances is None or obs.equity is None:
        return SyncReason.FETCH_FAILED
    held_value = last_good is not None and last_good > 0
    if (obs.journal_has_positions or held_value) and not any(to_decimal(v) > 0 for v in obs.balances.values()):
        return SyncReason.EMPTY_BALANCES
    if held_value:
        assert last_good is not None
        reference = max(Decimal(0), last_good + to_decimal(obs.fills_delta))
        if _is_jump(to_decimal(obs.equity), reference, to_decimal(params.sync_guard_max_equity_drop_pct) / 100):
            return SyncReason.EQUITY_JUMP
    if last_prices and _price_jumps(obs.prices, last_prices,
                                    to_decimal(params.sync_guard_max_price_move_pct) / 100):
        return SyncReason.PRICE_JUMP
    return None


def _accepted_prices(obs: AccountObservation, state: SyncGuardState) -> dict[str, Decimal]:
    out = dict(state.last_good_prices)
    out.update({s: to_decimal(p) for s, p in obs.prices.items() if to_decimal(p) > 0})
    return out


def sync_guard(
    obs: AccountObservation, state: SyncGuardState, params: RiskParams
) -> tuple[SyncVerdict, SyncGuardState, Decimal | None]:
    """(verdict, new state, the equity to use: this read's when accepted, else the last good one)."""
    last = state.last_good_equity
    reason = classify(obs, last, params, state.last_good_prices)
    if reason is SyncReason.FETCH_FAILED:
        new = replace(state, failed_fetches=state.failed_fetches + 1)
        seen = None if obs.equity is None else to_decimal(obs.equity)
        return (SyncVerdict(False, reason, SyncAction.KEEP_LAST_GOOD, seen, last, new.failed_fetches), new, last)

    equity = to_decimal(obs.equity)
    if equity < 0:
        raise ValueError(f"account equity is negative: {equity}")
    if reason is None:
        new = SyncGuardState(last_good_equity=equity, last_good_prices=_accepted_prices(obs, state))
        return SyncVerdict(True, None, SyncAction.ACCEPT, equity, last, 0), new, equity

    drop = to_decimal(params.sync_guard_max_equity_drop_pct) / 100
    move = to_decimal(params.sync_guard_max_price_move_pct) / 100
    jumped = _price_jumps(obs.prices, state.last_good_prices, move) if reason is SyncReason.PRICE_JUMP else []
    symbol = jumped[0] if jumped else ""
    if (reason is SyncReason.EMPTY_BALANCES and state.pending_reason is not None
            and state.pending_reason is not reason):
        # an empty read inside another streak is a glitch of the read: it neither extends nor ends that streak
        return (SyncVerdict(False, reason, SyncAction.KEEP_LAST_GOOD, equity, last, state.consecutive), state,
                last)
    consistent = (state.pending_reason is reason and state.pending_equity is not None
                  and not _is_jump(equity, state.pending_equity, drop)
                  and not _price_jumps(obs.prices, state.pending_prices, move))
    streak = state.consecutive + 1 if consistent else 1
    since = state.pending_since_ms if consistent and state.pending_since_ms is not None else obs.now_ms
    spread = obs.now_ms - since >= params.sync_guard_confirm_min_seconds * 1000
    if streak >= params.sync_guard_confirm_reads and (spread or params.sync_guard_confirm_reads == 1):
        new = SyncGuardState(last_good_equity=equity, last_good_prices=_accepted_prices(obs, state))
        return SyncVerdict(True, reason, SyncAction.ACCEPT, equity, last, streak, symbol), new, equity
    new = SyncGuardState(last_good_equity=last, pending_reason=reason, pending_equity=equity, consecutive=streak,
                         last_good_prices=state.last_good_prices,
                         pending_prices={s: to_decimal(p) for s, p in obs.prices.items()}, pending_since_ms=since)
    return SyncVerdict(False, reason, SyncAction.KEEP_LAST_GOOD, equity, last, streak, symbol), new, last
