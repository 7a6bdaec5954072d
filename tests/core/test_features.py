"""Features: hand-checked values, and point-in-time (a row never depends on a later candle)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core.features import compute_features
from aura_common.core.synthetic import synthetic_panel

from .conftest import panel_from_close

NAN = np.nan


@pytest.fixture(scope="module")
def tiny():
    close = np.array([[1.0, NAN], [2.0, NAN], [4.0, 10.0], [3.0, 12.0], [5.0, 6.0]])
    qv = np.array([[1.0, NAN], [3.0, NAN], [2.0, 5.0], [9.0, 7.0], [4.0, 6.0]])
    return compute_features(panel_from_close(close, ("AAAUSDT", "BBBUSDT"), qv))


@pytest.mark.parametrize(("kind", "window", "col", "expected"), [
    ("sma", 2, 0, [NAN, 1.5, 3.0, 3.5, 4.0]),
    ("sma", 2, 1, [NAN, NAN, NAN, 11.0, 9.0]),
    ("ret", 2, 0, [NAN, NAN, 3.0, 0.5, 0.25]),
    ("rolling_high", 3, 0, [NAN, NAN, 4.0, 4.0, 5.0]),
    ("rolling_high", 3, 1, [NAN, NAN, 10.0, 12.0, 12.0]),
    ("drawdown", 3, 1, [NAN, NAN, 0.0, 0.0, -0.5]),
    ("median_quote_volume", 3, 0, [NAN, NAN, 2.0, 3.0, 4.0]),
    ("median_quote_volume", 3, 1, [NAN, NAN, NAN, 6.0, 6.0]),  # [nan, 5, 7]: two of three days suffice
    ("trend", 2, 0, [NAN, 2.0 / 1.5 - 1, 4.0 / 3.0 - 1, 3.0 / 3.5 - 1, 0.25]),
])
def test_feature_values(tiny, kind, window, col, expected):
    np.testing.assert_allclose(getattr(tiny, kind)(window)[:, col], expected, equal_nan=True)


def test_history_counts_candles_since_listing(tiny):
    np.testing.assert_array_equal(tiny.history()[:, 1], [0, 0, 1, 2, 3])


def test_volatility_is_std_of_log_returns(tiny):
    lr = np.log(np.array([2.0, 4.0, 3.0, 5.0]) / np.array([1.0, 2.0, 4.0, 3.0]))
    assert tiny.volatility(2)[4, 0] == pytest.approx(np.std(lr[2:4]))
    assert np.isnan(tiny.volatility(2)[1, 0])


def test_memo_returns_the_same_read_only_array(tiny):
    a = tiny.sma(2)
    assert a is tiny.sma(2)
    assert not a.flags.writeable


FEATURES = [("ret", 5), ("sma", 10), ("rolling_high", 15), ("drawdown", 15), ("median_quote_volume", 7),
            ("volatility", 9), ("trend", 10), ("above_sma", 10), ("history", None), ("log_returns", None)]


@settings(max_examples=15, deadline=None)
@given(t=st.integers(0, 119), seed=st.integers(0, 3))
def test_point_in_time_truncation_changes_no_row(t, seed):
    panel = synthetic_panel(6, 120, seed=seed, late_listing_fraction=0.5)
    full, cut = compute_features(panel), compute_features(panel.rows(0, t + 1))
    for kind, window in FEATURES:
        a = getattr(full, kind)(*(() if window is None else (window,)))
        b = getattr(cut, kind)(*(() if window is None else (window,)))
        np.testing.assert_array_equal(a[: t + 1], b, err_msg=f"{kind}({window}) at t={t}")


TAIL_FEATURES = FEATURES + [("log_liquidity", 7), ("volatility", 2), ("sma", 1), ("median_quote_volume", 40)]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 50), n=st.integers(1, 9), days=st.integers(2, 90), first=st.integers(0, 95),
       gaps=st.floats(0.0, 0.2), parent_warm=st.booleans())
def test_tail_store_equals_the_full_computation_bit_for_bit(seed, n, days, first, gaps, parent_warm):
    """A store computing only rows >= first_row (the trader's single decision) gives the same bits there."""
    panel = synthetic_panel(n, days, seed=seed, late_listing_fraction=0.5)
    if gaps:  # holes in the middle of a listing: history and full-window features must still agree
        rng = np.random.default_rng(seed)
        fields = {f: np.array(getattr(panel, f)) for f in ("open", "high", "low", "close", "volume", "quote_volume")}
        holes = rng.random(fields["close"].shape) < gaps
        for arr in fields.values():
            arr[holes] = np.nan
        panel = type(panel).from_arrays(panel.symbols, panel.times, panel.interval_ms, **fields)
    full = compute_features(panel)
    base = compute_features(panel)
    if parent_warm:
        base.sma(10), base.volatility(9)  # the tail reuses a parent's arrays
    tail = base.tail(first)
    assert tail.first_row == first
    lo = min(first, days)
    for kind, window in TAIL_FEATURES:
        args = () if window is None else (window,)
        a, b = getattr(full, kind)(*args), getattr(tail, kind)(*args)
        np.testing.assert_array_equal(a[lo:], b[lo:], err_msg=f"{kind}({window}) first_row={first}")
    np.testing.assert_array_equal(full.proxy_sma(0, 7)[lo:], tail.proxy_sma(0, 7)[lo:])


def test_tail_reuses_only_rows_it_holds(tiny):
    assert tiny.tail(0) is tiny
    t = compute_features(tiny.panel).tail(3)
    assert t.first_row == 3 and t.tail(3) is t and t.tail(4).first_row == 4
    earlier = t.tail(1)  # rows this store never computed: a fresh store, right from row 1
    assert earlier.first_row == 1
    np.testing.assert_array_equal(earlier.sma(2)[1:], tiny.sma(2)[1:])
    assert np.isnan(t.sma(2)[:3]).all() and not np.isnan(earlier.sma(2)[1:3, 0]).any()


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0], 2.5),  # complete window: the plain median
        ([1.0, np.nan, 3.0, 5.0], 3.0),  # one missing day is ignored
        ([np.nan, np.nan, 3.0, 5.0], 4.0),  # exactly half present: still a median
        ([np.nan, np.nan, np.nan, 5.0], np.nan),  # mostly missing proves nothing
        ([np.nan] * 4, np.nan),
    ],
)
def test_median_quote_volume_tolerates_a_few_missing_days(window, expected):
    from aura_common.core.features import median_tolerating_gaps
    got = median_tolerating_gaps(np.array([window]))[0]
    assert (np.isnan(got) and np.isnan(expected)) or got == expected
