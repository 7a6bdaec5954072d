"""Walk-forward folds and stitching (pure): table tests and Hypothesis properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core.walkforward import Fold, required_rows, split_folds, stitch


@pytest.mark.parametrize("n_rows,start,train,test,step,anchored,expected", [
    # rolling, step == test: back-to-back test windows
    (100, 0, 40, 20, 20, False, [Fold(0, 0, 40, 40, 60, 60), Fold(1, 20, 60, 60, 80, 80),
                                 Fold(2, 40, 80, 80, 100, 100)]),
    # anchored: training always starts at `start`
    (100, 10, 40, 20, 20, True, [Fold(0, 10, 50, 50, 70, 70), Fold(1, 10, 70, 70, 90, 90)]),
    # step < test: overlapping test windows, the stitched share stops at the next test start
    (100, 0, 50, 30, 10, False, [Fold(0, 0, 50, 50, 80, 60), Fold(1, 10, 60, 60, 90, 70),
                                 Fold(2, 20, 70, 70, 100, 100)]),
    # a partial last test window is not a fold
    (99, 0, 40, 20, 20, False, [Fold(0, 0, 40, 40, 60, 60), Fold(1, 20, 60, 60, 80, 80)]),
    # too little history: no fold
    (59, 0, 40, 20, 20, False, []),
    (60, 0, 40, 20, 20, False, [Fold(0, 0, 40, 40, 60, 60)]),
])
def test_split_table(n_rows, start, train, test, step, anchored, expected):
    assert list(split_folds(n_rows, start, train, test, step, anchored)) == expected


def test_max_folds_keeps_the_most_recent():
    folds = split_folds(100, 0, 40, 20, 20, max_folds=2)
    assert [(f.index, f.test_lo) for f in folds] == [(0, 60), (1, 80)]


@pytest.mark.parametrize("args,message", [
    ((100, 0, 40, 20, 30), "untested gaps"),
    ((100, 0, 0, 20, 20), "at least 1"),
    ((100, -1, 40, 20, 20), ">= 0"),
])
def test_split_rejects(args, message):
    with pytest.raises(ValueError, match=message):
        split_folds(*args)


def test_required_rows_is_the_one_fold_threshold():
    assert len(split_folds(required_rows(7, 30, 10), 7, 30, 10, 10)) == 1
    assert len(split_folds(required_rows(7, 30, 10) - 1, 7, 30, 10, 10)) == 0


windows = st.tuples(st.integers(0, 400), st.integers(0, 50), st.integers(1, 120), st.integers(1, 60),
                    st.integers(1, 60), st.booleans(), st.one_of(st.none(), st.integers(1, 6)))


@settings(deadline=None, max_examples=300)
@given(windows)
def test_fold_properties(w):
    n_rows, start, train, test, step, anchored, max_folds = w
    step = min(step, test)
    folds = split_folds(n_rows, start, train, test, step, anchored, max_folds)
    for k, f in enumerate(folds):
        assert f.index == k
        assert start <= f.train_lo < f.train_hi == f.test_lo < f.test_hi <= n_rows
        assert f.test_hi - f.test_lo == test
        assert f.train_hi - f.train_lo == (f.train_hi - start if anchored else train)
        # no test day is seen in its own training window
        assert not set(range(f.train_lo, f.train_hi)) & set(range(f.test_lo, f.test_hi))
        assert f.test_lo < f.oos_hi <= f.test_hi
    for a, b in zip(folds, folds[1:]):
        assert b.test_lo - a.test_lo == step  # ordered, evenly stepped
        assert a.oos_hi == b.test_lo  # stitched segments are contiguous and never overlap
    if folds:
        assert folds[-1].oos_hi == folds[-1].test_hi
        # no further fold would have fitted
        assert folds[-1].test_lo + step + test > n_rows
        if max_folds is None:
            assert folds[0].test_lo == start + train


def test_stitch_table():
    out = stitch([[100.0, 110.0], [100.0, 50.0, 60.0]], [100.0, 100.0], start_value=1.0)
    assert out.tolist() == pytest.approx([1.0, 1.1, 1.1, 0.55, 0.66])
    assert stitch([], []).size == 0
    with pytest.raises(ValueError):
        stitch([[1.0]], [0.0])


positive = st.floats(0.01, 1000.0, allow_nan=False)


@settings(deadline=None, max_examples=200)
@given(st.lists(st.lists(positive, min_size=1, max_size=8), min_size=1, max_size=5), positive)
def test_stitch_properties(segments, start):
    bases = [s[0] for s in segments]
    out = stitch(segments, bases, start)
    assert len(out) == sum(len(s) for s in segments)
    assert out[0] == pytest.approx(start)
    growth = np.prod([s[-1] / b for s, b in zip(segments, bases)])
    assert out[-1] == pytest.approx(start * growth, rel=1e-9)
    # every segment keeps its own step returns
    i = 0
    for s in segments:
        seg = out[i:i + len(s)]
        assert np.allclose(seg[1:] / seg[:-1], np.asarray(s[1:]) / np.asarray(s[:-1]), rtol=1e-9)
        i += len(s)
