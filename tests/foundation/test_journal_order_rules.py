"""The order-state rules as a table: apply, ignore as stale, or refuse as a contradiction."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aura_common.adapters.journal.order_rules import Verdict, judge_update, rank
from aura_common.domain import OrderStatus as S

APPLY, STALE, CONFLICT = Verdict.APPLY, Verdict.STALE, "conflict"

CASES = [
    # old status, old filled, old exch id, new status, new filled, new exch id, expected
    (S.PENDING, "0", None, S.UNKNOWN, None, None, APPLY),
    (S.PENDING, "0", None, S.SKIPPED, None, None, APPLY),
    (S.PENDING, "0", None, S.REJECTED, None, None, APPLY),
    (S.UNKNOWN, "0", None, S.NEW, "0", "7", APPLY),
    (S.UNKNOWN, "0", None, S.FILLED, "1", "7", APPLY),
    (S.NEW, "0", "7", S.PARTIALLY_FILLED, "0.4", "7", APPLY),
    (S.PARTIALLY_FILLED, "0.4", "7", S.PARTIALLY_FILLED, "0.6", None, APPLY),
    (S.PARTIALLY_FILLED, "0.4", "7", S.CANCELED, "0.4", "7", APPLY),
    (S.FILLED, "1", "7", S.FILLED, "1", "7", APPLY),  # the same fact again
    (S.NEW, "0", "7", S.UNKNOWN, None, None, STALE),
    (S.PARTIALLY_FILLED, "0.4", "7", S.NEW, "0", "7", STALE),
    (S.PARTIALLY_FILLED, "0.6", "7", S.PARTIALLY_FILLED, "0.4", "7", STALE),
    (S.FILLED, "1", "7", S.NEW, "0", "7", STALE),
    (S.UNKNOWN, "0", None, S.PENDING, None, None, STALE),
    (S.FILLED, "1", "7", S.CANCELED, "1", "7", CONFLICT),
    (S.NEW, "0", "7", S.NEW, "0", "8", CONFLICT),
    (S.UNKNOWN, "0", None, S.SKIPPED, None, None, CONFLICT),
    (S.NEW, "0", "7", S.FILLED, "1.5", "7", CONFLICT),  # more than the order
    (S.PARTIALLY_FILLED, "0.6", "7", S.CANCELED, "0.4", "7", CONFLICT),
    (S.NEW, "0", "7", S.NEW, "-1", "7", CONFLICT),
]


@pytest.mark.parametrize("old, old_f, old_x, new, new_f, new_x, expected", CASES)
def test_rules(old, old_f, old_x, new, new_f, new_x, expected):
    kwargs = dict(client_order_id="c-1", order_qty=D("1"), old_status=old, old_filled=D(old_f),
                  old_exchange_id=old_x, new_status=new, new_filled=None if new_f is None else D(new_f),
                  new_exchange_id=new_x)
    if expected == CONFLICT:
        with pytest.raises(ValueError, match="order c-1"):
            judge_update(**kwargs)
    else:
        assert judge_update(**kwargs) is expected


@given(st.sampled_from(list(S)), st.sampled_from(list(S)))
def test_an_applied_update_never_moves_an_order_backwards(old, new):
    try:
        verdict = judge_update(client_order_id="c-1", order_qty=D(1), old_status=old, old_filled=D(0),
                               old_exchange_id=None, new_status=new, new_filled=None, new_exchange_id=None)
    except ValueError:
        return
    if verdict is APPLY:
        assert rank(new) >= rank(old)
        assert not old.is_terminal or new is old
