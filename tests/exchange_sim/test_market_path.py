"""The replay price path and the klines cut from it (pure: a Panel in, numbers out)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core.panel import Panel
from aura_exchange_sim.market import MarketData, derive_spec

from .conftest import DAY, HOUR, START, make_market

T0 = START


def one_candle_market(o, h, l, c, n=3) -> MarketData:
    times = T0 + np.arange(n, dtype=np.int64) * DAY
    col = lambda v: np.full((n, 1), v, dtype=float)  # noqa: E731
    return MarketData(Panel.from_arrays(("BTCUSDT",), times, DAY, open=col(o), high=col(h), low=col(l),
                                        close=col(c), volume=col(24.0), quote_volume=col(2400.0)))


@pytest.mark.parametrize("o,h,l,c,first,second", [
    (100, 120, 90, 110, 90, 120),   # up candle: open -> low -> high -> close
    (100, 120, 90, 95, 120, 90),    # down candle: open -> high -> low -> close
])
def test_path_vertices(o, h, l, c, first, second):
    m = one_candle_market(o, h, l, c)
    assert m.price("BTCUSDT", T0) == o
    assert m.price("BTCUSDT", T0 + DAY // 3) == pytest.approx(first)
    assert m.price("BTCUSDT", T0 + 2 * DAY // 3) == pytest.approx(second)
    assert m.price("BTCUSDT", T0 + DAY - 1) == pytest.approx(c, rel=1e-6)
    assert m.extremes("BTCUSDT", T0, T0 + DAY - 1) == pytest.approx((l, h), rel=1e-6)


def test_gaps_and_edges_have_no_price_or_freeze():
    m = one_candle_market(100, 120, 90, 110)
    assert m.price("BTCUSDT", T0 - 1) is None
    assert m.price("BTCUSDT", T0 + 10 * DAY) == 110  # past the end: frozen at the last close
    assert m.price("NOPEUSDT", T0) is None


@settings(max_examples=60, deadline=None)
@given(a=st.integers(0, 30 * DAY), span=st.integers(1, 10 * DAY), probes=st.lists(st.floats(0, 1), max_size=8))
def test_extremes_bound_the_path(a, span, probes):
    m = make_market()
    t0 = START + 50 * DAY + a
    t1 = t0 + span
    lo, hi = m.extremes("BTCUSDT", t0, t1)
    for f in probes:
        p = m.price("BTCUSDT", int(t0 + f * span))
        assert lo - 1e-9 <= p <= hi + 1e-9


@pytest.mark.parametrize("interval,per_day", [("1h", 24), ("4h", 6), ("30m", 48)])
def test_smaller_klines_aggregate_back_to_the_panel_candle(interval, per_day):
    m = make_market()
    day = START + 40 * DAY
    rows = m.klines("BTCUSDT", interval, day + 5 * DAY, day, None, per_day)
    assert len(rows) == per_day
    j = m.panel.symbols.index("BTCUSDT")
    k = 40
    assert float(rows[0][1]) == pytest.approx(m.panel.open[k, j], rel=1e-6)
    assert float(rows[-1][4]) == pytest.approx(m.panel.close[k, j], rel=1e-6)
    assert max(float(r[2]) for r in rows) == pytest.approx(m.panel.high[k, j], rel=1e-6)
    assert min(float(r[3]) for r in rows) == pytest.approx(m.panel.low[k, j], rel=1e-6)
    assert sum(float(r[5]) for r in rows) == pytest.approx(m.panel.volume[k, j], rel=1e-6)


def test_larger_klines_and_forming_candle():
    m = make_market()
    now = START + 30 * DAY + 5 * HOUR
    rows = m.klines("BTCUSDT", "3d", now, None, None, 3)
    assert rows[-1][0] == now - now % (3 * DAY)
    forming = m.klines("BTCUSDT", "1d", now, None, None, 1)[0]
    assert forming[0] == START + 30 * DAY and forming[6] == START + 31 * DAY - 1
    assert float(forming[4]) == pytest.approx(m.price("BTCUSDT", now), rel=1e-6)  # close = price now
    j = m.panel.symbols.index("BTCUSDT")
    assert float(forming[5]) == pytest.approx(m.panel.volume[30, j] * (5 * HOUR + 1) / DAY, rel=1e-6)


def test_klines_start_end_limit():
    m = make_market()
    now = START + 60 * DAY
    rows = m.klines("BTCUSDT", "1d", now, START + 10 * DAY + 1, START + 20 * DAY, 1000)
    assert [r[0] for r in rows] == [START + d * DAY for d in range(11, 21)]
    assert len(m.klines("BTCUSDT", "1d", now, None, None, 1000)) == 61  # from listing to the forming candle


@pytest.mark.parametrize("price,tick,step", [(12345.6, "0.01", "0.000001"), (1.5, "0.000001", "0.01"),
                                             (0.05, "1E-8", "1"), (250.0, "0.0001", "0.0001"),
                                             (0.00001, "1E-8", "1")])
def test_derived_filters(price, tick, step):
    from decimal import Decimal
    spec = derive_spec("XUSDT", price, 0, Decimal(5))
    assert spec.tick == Decimal(tick) and spec.step == Decimal(step)
    assert spec.base == "X" and spec.quote == "USDT"


@pytest.mark.parametrize("price", [12345.6, 1.5, 0.05, 3_000_000.0])
def test_kline_strings_have_8_decimals_on_the_tick_grid(price):
    import re
    from decimal import Decimal
    m = one_candle_market(price, price * 1.1, price * 0.9, price * 1.05)
    spec = m.specs["BTCUSDT"]
    for row in m.klines("BTCUSDT", "4h", T0 + DAY + 1, None, None, 10):
        for x in row[1:5]:
            assert re.fullmatch(r"\d+\.\d{8}", x) and Decimal(x) % spec.tick == 0, x
