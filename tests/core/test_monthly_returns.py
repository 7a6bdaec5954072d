"""Monthly returns of a daily curve (calendar months, UTC): hand-computed table and a property."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core.backtest.metrics import monthly_returns

DAY = 86_400_000


def _ms(y: int, m: int, d: int) -> int:
    return int(datetime(y, m, d, tzinfo=timezone.utc).timestamp() * 1000)


def test_by_hand_across_a_year_end_and_a_leap_february():
    times = np.array([_ms(2023, 12, 30), _ms(2023, 12, 31), _ms(2024, 1, 1), _ms(2024, 1, 31), _ms(2024, 2, 29),
                      _ms(2024, 3, 1)])
    equity = np.array([100.0, 110.0, 99.0, 121.0, 60.5, 60.5])
    assert monthly_returns(times, equity) == [
        (2023, 12, pytest.approx(0.10)),  # 110 / 100 (the first month against the first mark)
        (2024, 1, pytest.approx(0.10)),  # 121 / 110
        (2024, 2, pytest.approx(-0.5)),  # 60.5 / 121
        (2024, 3, pytest.approx(0.0)),
    ]
    assert monthly_returns(np.empty(0), np.empty(0)) == []


@settings(max_examples=40, deadline=None)
@given(start=st.integers(0, 20_000), n=st.integers(1, 900), seed=st.integers(0, 1000))
def test_months_compound_to_the_whole_and_match_the_calendar(start, n, seed):
    times = (start + np.arange(n)) * DAY
    equity = 100 * np.cumprod(1 + np.random.default_rng(seed).normal(0, 0.02, n))
    months = monthly_returns(times, equity)
    assert np.prod([1 + r for _, _, r in months]) == pytest.approx(equity[-1] / equity[0], rel=1e-9)
    want = sorted({(d.year, d.month) for d in (datetime.fromtimestamp(t / 1000, tz=timezone.utc) for t in times)})
    assert [(y, m) for y, m, _ in months] == want
