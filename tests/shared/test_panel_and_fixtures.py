"""The Panel shape, the seeded synthetic market and the real-candle fixture reader."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.adapters.json_candles import load_json_panel
from aura_common.core.panel import FIELDS, Panel
from aura_common.core.synthetic import DAY_MS, synthetic_panel


def test_panel_rejects_bad_shapes_and_order():
    t = np.array([0, DAY_MS], dtype=np.int64)
    with pytest.raises(ValueError, match="sorted"):
        Panel(("B", "A"), t, DAY_MS, *(np.zeros((2, 2)) for _ in FIELDS))
    with pytest.raises(ValueError, match="shape"):
        Panel(("A",), t, DAY_MS, *(np.zeros((3, 1)) for _ in FIELDS))
    with pytest.raises(ValueError, match="increasing"):
        Panel(("A",), t[::-1].copy(), DAY_MS, *(np.zeros((2, 1)) for _ in FIELDS))


def test_panel_is_read_only():
    p = synthetic_panel(3, 10, seed=1)
    with pytest.raises(ValueError):
        p.close[0, 0] = 1.0


@settings(max_examples=30, deadline=None)
@given(cut=st.integers(0, 40))
def test_closed_by_is_point_in_time(cut):
    p = synthetic_panel(4, 40, seed=3)
    t = int(p.times[0]) + cut * DAY_MS
    view = p.closed_by(t)
    assert len(view.times) == cut  # a candle opened at t-1d closes exactly at t
    assert all(int(x) + DAY_MS <= t for x in view.times)


def test_from_arrays_sorts_columns_consistently():
    p = Panel.from_arrays(["ETH", "BTC"], [0, DAY_MS], DAY_MS, close=np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert p.symbols == ("BTC", "ETH")
    assert p.close.tolist() == [[2.0, 1.0], [4.0, 3.0]]


def test_synthetic_is_deterministic_and_sane():
    a, b = synthetic_panel(20, 300, seed=11), synthetic_panel(20, 300, seed=11)
    for f in FIELDS:
        assert np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True)
    assert not np.array_equal(a.close, synthetic_panel(20, 300, seed=12).close, equal_nan=True)
    assert a.symbols[0] == "BTCUSDT" and not np.isnan(a.close[:, 0]).any()
    ok = ~np.isnan(a.close)
    assert (a.high[ok] >= np.maximum(a.open[ok], a.close[ok])).all()
    assert (a.low[ok] <= np.minimum(a.open[ok], a.close[ok])).all()
    assert (a.low[ok] > 0).all() and (a.volume[ok] >= 0).all()
    # late listings: NaN strictly before the first candle, never after
    for j in range(a.shape[1]):
        col = ok[:, j]
        first = int(np.argmax(col))
        assert col[first:].all()


def test_real_fixture_reader(real_data):
    p = load_json_panel(real_data, "1d", symbols=["BTCUSDT", "SOLUSDT"])
    assert p.symbols == ("BTCUSDT", "SOLUSDT")
    btc, sol = p.close[:, 0], p.close[:, 1]
    assert not np.isnan(btc).any(), "1d BTC has no gaps"
    assert np.isnan(sol[0]) and not np.isnan(sol[-1]), "SOL listed in 2020"
    assert p.times[0] % DAY_MS == 0
    with pytest.raises(KeyError, match="NOPEUSDT"):
        load_json_panel(real_data, "1d", symbols=["NOPEUSDT"])
