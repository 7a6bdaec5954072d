"""Which order-state updates the journal applies, ignores as stale, or refuses as contradictions (pure).

An order moves forward only: PENDING (journaled, never sent) → UNKNOWN (sent, outcome not confirmed) →
NEW → PARTIALLY_FILLED → a terminal status. The exchange's view can arrive late (status lag), so an update
that would move an order backwards is *stale*: ignored, the newer fact is kept. An update that contradicts a
recorded fact (a different terminal status, another exchange order id, a fill larger than the order, less
filled at a later stage, "skipped" after sending) is a *conflict*: refused with an error naming the order.
"""

from __future__ import annotations

import enum
from decimal import Decimal

from aura_common.domain import OrderStatus

_RANK = {OrderStatus.PENDING: 0, OrderStatus.UNKNOWN: 1, OrderStatus.NEW: 2, OrderStatus.PARTIALLY_FILLED: 3}
TERMINAL_RANK = 4


def rank(status: OrderStatus) -> int:
    return TERMINAL_RANK if status.is_terminal else _RANK[status]


class Verdict(str, enum.Enum):
    APPLY = "apply"
    STALE = "stale"


def judge_update(*, client_order_id: str, order_qty: Decimal, old_status: OrderStatus, old_filled: Decimal,
                 old_exchange_id: str | None, new_status: OrderStatus, new_filled: Decimal | None,
                 new_exchange_id: str | None) -> Verdict:
    """APPLY or STALE, or raise ValueError (the journal turns it into JournalConflictError)."""
    who = f"order {client_order_id}"
    if new_filled is not None:
        if new_filled < 0:
            raise ValueError(f"{who}: filled quantity {new_filled} is negative")
        if new_filled > order_qty:
            raise ValueError(f"{who}: filled quantity {new_filled} exceeds the order quantity {order_qty}")
    if new_exchange_id is not None and old_exchange_id is not None and new_exchange_id != old_exchange_id:
        raise ValueError(f"{who}: exchange order id {new_exchange_id} differs from the recorded {old_exchange_id}")
    if new_status is OrderStatus.SKIPPED and old_status not in (OrderStatus.PENDING, OrderStatus.SKIPPED):
        raise ValueError(f"{who}: cannot be SKIPPED, it was already sent (status {old_status.value})")
    if new_status is OrderStatus.PENDING and old_status is not OrderStatus.PENDING:
        return Verdict.STALE
    if old_status.is_terminal and new_status is not old_status:
        if new_status.is_terminal:
            raise ValueError(f"{who}: status {new_status.value} contradicts the recorded terminal {old_status.value}")
        return Verdict.STALE
    old_rank, new_rank = rank(old_status), rank(new_status)
    if new_rank < old_rank:
        return Verdict.STALE
    if new_filled is not None and new_filled < old_filled:
        if new_rank == old_rank:
            return Verdict.STALE
        raise ValueError(f"{who}: filled quantity {new_filled} at {new_status.value} is below the recorded "
                         f"{old_filled} at {old_status.value}")
    return Verdict.APPLY
