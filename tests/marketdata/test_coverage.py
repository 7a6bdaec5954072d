"""Coverage planning (pure): table cases and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core.coverage import (
    candle_count, inner_gaps, is_fresh, last_closed_open, normalize, plan_missing, requested_range, runs, split,
    subtract)

D = 86_400_000
H4 = 14_400_000


@pytest.mark.parametrize("covered, start, end, now, padding, settled, expected", [
    # empty cache: the whole request, clipped to closed candles (the candle opened at 10D is still forming at 10.5D)
    ([], 0, 20 * D, 10 * D + D // 2, 0, [], [(0, 10 * D)]),
    # fully covered: nothing
    ([(0, 10 * D)], 0, 20 * D, 10 * D + 1, 0, [], []),
    # tail missing
    ([(0, 8 * D)], 0, 20 * D, 10 * D + 1, 0, [], [(8 * D, 10 * D)]),
    # hole in the middle and head before the first candle
    ([(3 * D, 5 * D), (6 * D, 10 * D)], 0, 10 * D, 11 * D, 0, [], [(0, 3 * D), (5 * D, 6 * D)]),
    # padding extends the request backwards, snapped onto the grid
    ([(5 * D, 10 * D)], 5 * D, 10 * D, 10 * D, 2 * D + 5, [], [(2 * D, 5 * D)]),
    # settled ranges (asked before, nobody had them) are not asked again
    ([(3 * D, 10 * D)], 0, 10 * D, 10 * D, 0, [(0, 3 * D)], []),
    # unaligned bounds snap outward; now before the start: nothing
    ([], D + 5, 3 * D - 5, 2 * D - 1, 0, [], []),
    ([], D + 5, 3 * D - 5, 10 * D, 0, [], [(D, 3 * D)]),
])
def test_plan_missing_table(covered, start, end, now, padding, settled, expected):
    assert plan_missing(covered, start, end, D, now, padding, settled) == tuple(expected)


@pytest.mark.parametrize("last, now, fresh", [
    (None, 10 * D, False),
    (9 * D, 10 * D, True),          # the candle opened at 9D closed exactly at 10D
    (8 * D, 10 * D, False),
    (8 * D, 10 * D - 1, True),      # at 10D-1ms the 9D candle is still forming
    (9 * D, 10 * D + 5, True),
])
def test_is_fresh(last, now, fresh):
    assert is_fresh(last, now, D) is fresh


def test_runs_inner_gaps_and_helpers():
    t = [0, D, 2 * D, 5 * D, 6 * D]
    assert runs(t, D) == ((0, 3 * D), (5 * D, 7 * D))
    assert runs([], D) == ()
    assert inner_gaps(runs(t, D), 8 * D + 1, D) == ((3 * D, 5 * D), (7 * D, 8 * D))
    assert inner_gaps((), 8 * D, D) == ()
    assert last_closed_open(10 * D + 3, D) == 9 * D
    assert requested_range(5 * D + 7, 10 * D + 3, D, D) == (4 * D, 10 * D)
    assert split([(0, 10 * H4)], 4, H4) == ((0, 4 * H4), (4 * H4, 8 * H4), (8 * H4, 10 * H4))
    assert normalize([(5, 6), (0, 2), (2, 3), (4, 4)]) == ((0, 3), (5, 6))
    assert candle_count([(0, 3 * D), (2 * D, 4 * D)], D) == 4


grid_ranges = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=6).map(
    lambda xs: [(min(a, b) * D, max(a, b) * D) for a, b in xs])


@settings(max_examples=300, deadline=None)
@given(covered=grid_ranges, settled=grid_ranges, start=st.integers(0, 70), length=st.integers(0, 70),
       now=st.integers(0, 80 * D), padding=st.integers(0, 10 * D))
def test_planned_plus_existing_exactly_cover_the_request(covered, settled, start, length, now, padding):
    s, e = start * D, (start + length) * D
    plan = plan_missing(covered, s, e, D, now, padding, settled)
    lo = (s - padding) - (s - padding) % D
    hi = min(e, now - now % D)
    request = normalize([(lo, hi)])
    have = normalize([*covered, *settled])
    # exact cover: plan ∪ (have ∩ request) == request, and plan ∩ have == ∅
    assert subtract(request, [*plan, *have]) == ()
    assert subtract(plan, request) == ()
    assert subtract(plan, subtract(plan, have)) == ()  # plan ∩ have is empty
    assert all(a % D == 0 and b % D == 0 and a < b for a, b in plan)
    assert list(plan) == sorted(plan)
    # asking again after filling the plan yields nothing
    assert plan_missing([*covered, *plan], s, e, D, now, padding, settled) == ()
