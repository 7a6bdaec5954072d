"""Candle validation and precedence merge (pure): table cases and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core.candles import REJECT_REASONS, Candles, closed_only, merge, source_rank, validate, within

D = 86_400_000


def one(t=0, o=10.0, h=12.0, lo=9.0, c=11.0, v=1.0, qv=None, source="archive"):
    return (t, o, h, lo, c, v, qv, source)


def batch(*rows):
    cols = list(zip(*rows)) if rows else [[]] * 8
    t, o, h, lo, c, v, qv, src = cols
    qv = [math.nan if x is None else x for x in qv]
    return Candles.build(t, o, h, lo, c, v, qv, list(src))


@pytest.mark.parametrize("row, reason", [
    (one(t=D + 1), "misaligned"),
    (one(o=math.nan), "non_finite"),
    (one(c=math.inf, h=math.inf), "non_finite"),
    (one(o=-1.0, lo=-2.0), "non_positive_price"),
    (one(lo=0.0), "non_positive_price"),
    (one(h=10.5), "ohlc_inconsistent"),  # high below close
    (one(lo=10.5), "ohlc_inconsistent"),  # low above open
    (one(v=-0.1), "negative_volume"),
    (one(v=math.inf), "negative_volume"),
    (one(qv=-3.0), "negative_volume"),
    (one(t=568_971_820_800_000 - 2 * D), "time_out_of_range"),  # year 20000 (issue 14: readers allocated GBs)
    (one(t=-472_425_955_200_000 - 2 * D), "time_out_of_range"),  # year -13000
])
def test_each_bad_row_is_rejected_with_its_reason(row, reason):
    good_before, good_after = one(t=0), one(t=5 * D)
    bad = list(row)
    bad[0] = bad[0] + 2 * D
    out = validate(batch(good_before, tuple(bad), good_after), D)
    assert out.rejected == {reason: 1}
    assert list(out.accepted.open_time) == [0, 5 * D]


def test_out_of_order_and_duplicates_are_rejected_keeping_the_first():
    out = validate(batch(one(t=0), one(t=2 * D), one(t=D), one(t=2 * D, c=11.5), one(t=3 * D)), D)
    assert out.rejected == {"out_of_order": 2}
    assert list(out.accepted.open_time) == [0, 2 * D, 3 * D]
    assert out.accepted.close[1] == 11.0
    assert out.first_reject_open_time == {"out_of_order": D}


def test_missing_volume_is_allowed_and_stays_unknown():
    out = validate(batch(one(v=math.nan, source="coingecko")), D)
    assert out.rejected == {} and math.isnan(out.accepted.volume[0])


def test_closed_only_and_within():
    b = batch(one(t=0), one(t=D), one(t=2 * D))
    assert list(closed_only(b, D, 2 * D).open_time) == [0, D]
    assert list(closed_only(b, D, 3 * D).open_time) == [0, D, 2 * D]
    assert list(within(b, D, 2 * D).open_time) == [D]


@pytest.mark.parametrize("sources, winner", [
    (("coingecko", "exchange:binance", "archive"), "archive"),
    (("archive", "coingecko"), "archive"),
    (("exchange:okx", "coingecko"), "exchange:okx"),
    (("exchange:binance", "exchange:okx"), "exchange:okx"),  # equal rank: the later batch wins
])
def test_merge_precedence(sources, winner):
    batches = [batch(one(t=D, c=10.0 + k, h=20.0, source=s)) for k, s in enumerate(sources)]
    out = merge(*batches)
    assert list(out.source) == [winner]
    assert out.close[0] == 10.0 + sources.index(winner)


SOURCES = ["archive", "exchange:binance", "exchange:okx", "coingecko"]
row_st = st.tuples(st.integers(0, 30), st.sampled_from(SOURCES), st.floats(1, 100))


def _mk(rows):
    if not rows:
        return Candles.empty()
    t = [r[0] * D for r in rows]
    c = [r[2] for r in rows]
    return Candles.build(t, c, [x + 1 for x in c], [x - 0.5 for x in c], c, [1.0] * len(rows), None,
                         [r[1] for r in rows])


def _rows(c):
    return list(zip(c.open_time.tolist(), c.close.tolist(), c.source.tolist()))


@settings(max_examples=200, deadline=None)
@given(a=st.lists(row_st, max_size=20), b=st.lists(row_st, max_size=20))
def test_merge_is_idempotent_sorted_unique_and_respects_precedence(a, b):
    ca, cb = _mk(a), _mk(b)
    m = merge(ca, cb)
    t = m.open_time.tolist()
    assert t == sorted(set(t))
    assert set(t) == {r[0] * D for r in a + b}
    assert _rows(merge(m, cb)) == _rows(m)
    assert _rows(merge(m, m)) == _rows(m)
    best = {}
    for r in a + b:
        best[r[0] * D] = min(best.get(r[0] * D, 9), source_rank(r[1]))
    assert all(source_rank(s) == best[tt] for tt, s in zip(t, m.source.tolist()))


finite = st.floats(allow_nan=True, allow_infinity=True, width=64)
raw_row = st.tuples(st.integers(-3, 40).map(lambda k: k * D // 2), finite, finite, finite, finite, finite)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(raw_row, max_size=30))
def test_validation_never_lets_a_bad_row_through(rows):
    c = Candles.build([r[0] for r in rows], *([r[i] for r in rows] for i in range(1, 6)), source="archive") \
        if rows else Candles.empty()
    out = validate(c, D)
    a = out.accepted
    assert len(a) + out.rejected_total == len(rows)
    assert set(out.rejected) <= set(REJECT_REASONS)
    assert np.all(a.open_time % D == 0)
    assert np.all(np.diff(a.open_time) > 0)
    for f in ("open", "high", "low", "close"):
        assert np.all(np.isfinite(getattr(a, f))) and np.all(getattr(a, f) > 0)
    assert np.all(a.high >= np.maximum(a.open, a.close)) and np.all(a.low <= np.minimum(a.open, a.close))
    assert not np.any(a.volume < 0) and not np.any(np.isinf(a.volume))


def test_readers_apply_the_same_rule_to_the_columns_they_have():
    """``first_invalid_row`` is the readers' side of ``validate``: the first refused row and its reason."""
    from aura_common.core.candles import first_invalid_row
    t = np.array([0, D, 2 * D, 3 * D])
    close = np.array([1.0, 2.0, -3.0, 4.0])
    assert first_invalid_row(t, D, close=close) == (2, "non_positive_price")
    assert first_invalid_row(t, D, close=np.abs(close)) is None
    assert first_invalid_row(np.array([0, 2 * D, D]), D, close=np.ones(3)) == (2, "out_of_order")
    assert first_invalid_row(t, D, high=np.ones(4), low=np.array([1.0, 2.0, 1.0, 1.0])) == (1, "ohlc_inconsistent")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 12), st.one_of(st.floats(-5, 50), st.just(math.nan)), st.floats(0, 3)),
                max_size=12))
def test_a_reader_refuses_exactly_what_the_writer_would_reject(rows):
    from aura_common.core.candles import first_invalid_row
    b = batch(*(one(t=k * D, o=c, h=c + w if c == c else c, lo=c - w / 2 if c == c else c, c=c)
                for k, c, w in rows))
    refused = first_invalid_row(b.open_time, D, open=b.open, high=b.high, low=b.low, close=b.close,
                                volume=b.volume, quote_volume=b.quote_volume)
    assert (refused is None) == (validate(b, D).rejected_total == 0)
