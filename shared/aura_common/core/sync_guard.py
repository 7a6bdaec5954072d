"""The sync guard: a pure state machine that keeps implausible account reads away from equity and the kill switch.

Each account sync gives an ``AccountObservation``. A read is *suspicious* when

- ``fetch_failed``: the fetch failed (no balances) or equity could not be computed from it;
- ``empty_balances``: no non-zero balance while the journal holds positions;
- ``equity_jump``: with no fills to explain it, equity fell by more than ``sync_guard_max_equity_drop_pct``
  from the last good equity, or rose by more than the inverse of that fall (``e * (1 - p) > last``): a phantom
  spike would inflate the peak and cause a phantom drawdown on the next good read.

A plain read is accepted at once. A suspicious read is rejected as transient (the caller keeps the last good
snapshot, leaves equity and drawdown untouched, does not feed the kill switch, retries with backoff, logs
``[SYNC_GUARD]`` and counts ``aura_sync_guard_trips_total{reason}``) until ``sync_guard_confirm_reads`` (K)
consecutive *consistent* suspicious reads - same reason, and no jump between them - make the change real; the
K-th is accepted. A plain read in between ends the streak; a failed fetch neither extends nor ends it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import Enum

from aura_common.core.params import RiskParams
from aura_common.domain.values import to_decimal


class SyncReason(str, Enum):
    EMPTY_BALANCES = "empty_balances"
    EQUITY_JUMP = "equity_jump"
    FETCH_FAILED = "fetch_failed"


class SyncAction(str, Enum):
    """The [SYNC_GUARD] ``action`` field. The guard returns ACCEPT or KEEP_LAST_GOOD; the shell logs RETRY."""

    RETRY = "retry"
    KEEP_LAST_GOOD = "keep_last_good"
    ACCEPT = "accept"


@dataclass(frozen=True)
class AccountObservation:
    """One account read. ``balances`` is None when the fetch failed; ``equity`` (quote asset) is computed by the
    shell from balances and prices (None when it could not be). ``fills_explain_change``: fills recorded since
    the last good read account for the change (then a large move is real)."""

    balances: Mapping[str, Decimal] | None
    equity: Decimal | None
    journal_has_positions: bool
    fills_explain_change: bool = False


@dataclass(frozen=True)
class SyncGuardState:
    last_good_equity: Decimal | None = None
    pending_reason: SyncReason | None = None  # the suspicious streak being confirmed
    pending_equity: Decimal | None = None
    consecutive: int = 0  # consistent suspicious reads in a row
    failed_fetches: int = 0  # failed fetches in a row


@dataclass(frozen=True)
class SyncVerdict:
    accepted: bool
    reason: SyncReason | None  # None: a plain read; else why it was suspicious (also on a confirmed acceptance)
    action: SyncAction
    seen_equity: Decimal | None
    last_good_equity: Decimal | None  # before this read
    consecutive: int  # the streak length (failed fetches in a row for fetch_failed)

    @property
    def is_trip(self) -> bool:
        """A rejected read: what ``aura_sync_guard_trips_total`` counts."""
        return not self.accepted


def _is_jump(equity: Decimal, reference: Decimal, drop: Decimal) -> bool:
    return equity < reference * (1 - drop) or equity * (1 - drop) > reference


def classify(obs: AccountObservation, last_good: Decimal | None, params: RiskParams) -> SyncReason | None:
    """Why this read is suspicious, or None when it is plausible."""
    if obs.balances is None or obs.equity is None:
        return SyncReason.FETCH_FAILED
    if obs.journal_has_positions and not any(to_decimal(v) > 0 for v in obs.balances.values()):
        return SyncReason.EMPTY_BALANCES
    if last_good is not None and not obs.fills_explain_change:
        if _is_jump(to_decimal(obs.equity), last_good, to_decimal(params.sync_guard_max_equity_drop_pct) / 100):
            return SyncReason.EQUITY_JUMP
    return None


def sync_guard(
    obs: AccountObservation, state: SyncGuardState, params: RiskParams
) -> tuple[SyncVerdict, SyncGuardState, Decimal | None]:
    """(verdict, new state, the equity to use: this read's when accepted, else the last good one)."""
    last = state.last_good_equity
    reason = classify(obs, last, params)
    if reason is SyncReason.FETCH_FAILED:
        new = replace(state, failed_fetches=state.failed_fetches + 1)
        seen = None if obs.equity is None else to_decimal(obs.equity)
        return (SyncVerdict(False, reason, SyncAction.KEEP_LAST_GOOD, seen, last, new.failed_fetches), new, last)

    equity = to_decimal(obs.equity)
    if equity < 0:
        raise ValueError(f"account equity is negative: {equity}")
    if reason is None:
        new = SyncGuardState(last_good_equity=equity)
        return SyncVerdict(True, None, SyncAction.ACCEPT, equity, last, 0), new, equity

    drop = to_decimal(params.sync_guard_max_equity_drop_pct) / 100
    consistent = (state.pending_reason is reason and state.pending_equity is not None
                  and not _is_jump(equity, state.pending_equity, drop))
    streak = state.consecutive + 1 if consistent else 1
    if streak >= params.sync_guard_confirm_reads:
        new = SyncGuardState(last_good_equity=equity)
        return SyncVerdict(True, reason, SyncAction.ACCEPT, equity, last, streak), new, equity
    new = SyncGuardState(last_good_equity=last, pending_reason=reason, pending_equity=equity, consecutive=streak)
    return SyncVerdict(False, reason, SyncAction.KEEP_LAST_GOOD, equity, last, streak), new, last
