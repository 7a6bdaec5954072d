"""Pure pieces of the trader: the rebalance schedule and cycle key, lookback, average-cost lots (table tests and
properties), the crash-hook spec, and the venue clock (never ahead of a stepped venue, never backwards)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aura_common.core.params import StrategyParams
from aura_common.core.reconcile import Lot, open_lots, positions_from_fills
from aura_common.domain import Fill, Side, Symbol
from aura_trader.crash import CrashHook, CrashSpecError, parse
from aura_trader.rebalance import DAY_MS, due_cycle, lookback_days
from aura_trader.venue_clock import VenueClock

D = 1_700_006_400_000  # 2023-11-15T00:00Z, a day boundary
M = 60_000


@pytest.mark.parametrize("now, hour, delay, key, day", [
    (D + 15 * M, 0, 15, "2023-11-15T00:15Z", D),            # exactly due
    (D + 14 * M, 0, 15, "2023-11-14T00:15Z", D - DAY_MS),   # not yet: yesterday's cycle is the latest due
    (D + 23 * 60 * M, 0, 15, "2023-11-15T00:15Z", D),       # late in the day: still today's
    (D + 5 * 60 * M, 6, 30, "2023-11-14T06:30Z", D - DAY_MS),
    (D + 6 * 60 * M + 30 * M, 6, 30, "2023-11-15T06:30Z", D),
    (D + 60 * M, 23, 120, "2023-11-15T01:00Z", D),  # 23:00 + 2 h of delay: due at 01:00, after that day's close
    (D + 30 * M, 23, 120, "2023-11-14T01:00Z", D - DAY_MS),
])
def test_due_cycle_table(now, hour, delay, key, day):
    due = due_cycle(now, hour, delay)
    assert (due.key, due.day_ms) == (key, day)
    assert due.due_ms <= now < due.due_ms + DAY_MS


@pytest.mark.parametrize("now, hour, delay, key, day", [
    # hour + delay past midnight (11:00 + 781 min = 00:01 the next day): due at 00:01, deciding on that 00:00 close
    (D + M, 11, 781, "2023-11-15T00:01Z", D),            # exactly due
    (D + M - 1, 11, 781, "2023-11-14T00:01Z", D - DAY_MS),  # 1 ms before: yesterday's
    (D + 1, 11, 781, "2023-11-14T00:01Z", D - DAY_MS),      # just after the close, before the due time
    (D, 0, 0, "2023-11-15T00:00Z", D),                     # due at the close itself
    (D - 1, 0, 0, "2023-11-14T00:00Z", D - DAY_MS),
    (D + DAY_MS - 1, 23, 59, "2023-11-15T23:59Z", D),      # the last ms of the day
])
def test_due_cycle_at_the_boundaries(now, hour, delay, key, day):
    due = due_cycle(now, hour, delay)
    assert (due.key, due.day_ms) == (key, day)


@given(st.integers(min_value=D, max_value=D + 400 * DAY_MS), st.integers(0, 23), st.integers(0, 1439),
       st.integers(min_value=0, max_value=DAY_MS - 1))
@example(now=1_700_006_400_001, hour=11, delay=781, later=86_399_999)  # reported failing once (hour + delay > 24 h)
@example(now=D, hour=0, delay=0, later=DAY_MS - 1)
def test_a_restart_any_time_before_the_next_due_time_computes_the_same_cycle(now, hour, delay, later):
    first = due_cycle(now, hour, delay)
    again = due_cycle(min(now + later, first.due_ms + DAY_MS - 1), hour, delay)
    assert again == first


@given(st.integers(min_value=D, max_value=D + 400 * DAY_MS), st.integers(0, 23), st.integers(0, 1439))
@example(now=1_700_006_400_001, hour=11, delay=781)
def test_due_cycle_is_the_latest_due_time_at_or_before_now(now, hour, delay):
    due = due_cycle(now, hour, delay)
    offset = (hour * 60 + delay) * M % DAY_MS
    assert due.due_ms <= now < due.due_ms + DAY_MS
    assert due.due_ms % DAY_MS == offset  # at the configured time of day
    assert due.day_ms % DAY_MS == 0 and due.day_ms <= due.due_ms < due.day_ms + DAY_MS  # the latest close before it
    assert due_cycle(due.due_ms, hour, delay) == due  # exactly due at its due time
    before = due_cycle(due.due_ms - 1, hour, delay)  # and not a millisecond earlier
    assert before.due_ms == due.due_ms - DAY_MS and before.day_ms == due.day_ms - DAY_MS


def test_lookback_covers_every_window_of_the_strategy():
    params = StrategyParams()
    assert lookback_days(params, 30) >= params.regime.slow_sma_days + max(params.voting.offsets_days) + 30


def _fill(i, side, qty, price, fee="0", fee_asset="USDT", symbol="BTCUSDT"):
    return Fill(str(i), Symbol(symbol), side, Decimal(qty), Decimal(price), Decimal(fee), fee_asset, i)


BASE = {"BTCUSDT": "BTC", "ETHUSDT": "ETH"}


@pytest.mark.parametrize("fills, qty, entry", [
    ([_fill(1, Side.BUY, "1", "100")], "1", "100"),
    ([_fill(1, Side.BUY, "1", "100"), _fill(2, Side.BUY, "1", "200")], "2", "150"),
    ([_fill(1, Side.BUY, "2", "100"), _fill(2, Side.SELL, "1", "300")], "1", "100"),  # a sell keeps the entry
    ([_fill(1, Side.BUY, "1", "100"), _fill(2, Side.SELL, "1", "120"), _fill(3, Side.BUY, "1", "90")], "1", "90"),
    # a fee in the base asset (Binance's BUY) lowers the quantity, never moves the entry: the entry is the average
    # FILL price, whatever asset the fees are paid in (THE entry rule, shared by SL/TP, boot and the backtester)
    ([_fill(1, Side.BUY, "1", "100", fee="0.01", fee_asset="BTC")], "0.99", "100"),
    ([_fill(1, Side.BUY, "1", "100", fee="0.5", fee_asset="BTC")], "0.5", "100"),
    ([_fill(1, Side.BUY, "1", "100", fee="0.001", fee_asset="BTC"), _fill(2, Side.BUY, "1", "200", fee="0.001",
                                                                          fee_asset="BTC")], "1.998", "150"),
    ([_fill(1, Side.BUY, "2", "100", fee="0.002", fee_asset="BTC"), _fill(2, Side.SELL, "1", "300", fee="0.3")],
     "0.998", "100"),  # the sell's quote fee touches no position
    ([_fill(1, Side.BUY, "1", "100", fee="0.05", fee_asset="BNB")], "1", "100"),  # BNB fee: not this holding
    ([_fill(1, Side.BUY, "1", "100", fee="0.1", fee_asset="USDT")], "1", "100"),  # a quote fee: same entry
])
def test_open_lots_table(fills, qty, entry):
    lots = open_lots(fills, BASE)
    lot = lots["BTCUSDT"]
    assert lot.qty == Decimal(qty)
    if entry is not None:
        assert lot.entry_price == Decimal(entry)


def test_bnb_fees_lower_the_bnb_holding_at_its_entry():
    base = {**BASE, "BNBUSDT": "BNB"}
    fills = [_fill(1, Side.BUY, "10", "300", fee="0.01", fee_asset="BNB", symbol="BNBUSDT"),
             _fill(2, Side.BUY, "1", "100", fee="0.02", fee_asset="BNB"),
             _fill(3, Side.SELL, "1", "110", fee="0.03", fee_asset="BNB")]
    lots = open_lots(fills, base)
    assert lots["BNBUSDT"] == Lot("BNBUSDT", Decimal("9.94"), Decimal(300))
    assert "BTCUSDT" not in lots
    assert positions_from_fills(fills, base) == {"BNB": Decimal("9.94")}


@settings(deadline=None, max_examples=150)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 50), st.integers(1, 1000), st.integers(0, 30)),
                min_size=1, max_size=20))
def test_lots_agree_with_positions_and_fees_never_move_the_entry(trades):
    """The lot quantity is the fills' net position (fees in the base included) whenever the holding never went
    short; the entry stays inside the range of buy prices; and with buys only it is the average fill price
    weighted by what each buy received (a fee in the base is never priced into the entry)."""
    fills = []
    for i, (buy, q, p, fee_milli) in enumerate(trades):
        fee = Decimal(fee_milli) / 1000 if buy else Decimal(0)
        fills.append(_fill(i, Side.BUY if buy else Side.SELL, str(q), str(p), fee=str(fee), fee_asset="BTC"))
    lots = open_lots(fills, BASE)
    held, short = Decimal(0), False
    for f in fills:
        held += (f.quantity - f.fee) if f.side is Side.BUY else -f.quantity
        short = short or held < 0
    if not short:
        assert lots.get("BTCUSDT", Lot("BTCUSDT", Decimal(0), None)).qty == \
            positions_from_fills(fills, BASE).get("BTC", Decimal(0))
    if "BTCUSDT" in lots:
        buys = [f.price for f in fills if f.side is Side.BUY]
        assert min(buys) <= lots["BTCUSDT"].entry_price.quantize(Decimal("0.000001")) <= max(buys)
    if all(f.side is Side.BUY for f in fills):
        got = sum((f.quantity - f.fee for f in fills), Decimal(0))
        vwap = sum(((f.quantity - f.fee) * f.price for f in fills), Decimal(0)) / got
        assert abs(lots["BTCUSDT"].entry_price - vwap) <= vwap * Decimal("1e-20")


def test_a_flat_position_has_no_lot():
    assert open_lots([_fill(1, Side.BUY, "1", "100"), _fill(2, Side.SELL, "1", "90")], BASE) == {}


@settings(deadline=None, max_examples=80)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 50), st.integers(1, 1000)), min_size=1, max_size=30))
def test_lot_entry_stays_within_the_range_of_buy_prices(trades):
    fills = [_fill(i, Side.BUY if buy else Side.SELL, str(q), str(p)) for i, (buy, q, p) in enumerate(trades)]
    lots = open_lots(fills, BASE)
    buys = [Decimal(p) for buy, _, p in trades if buy]
    if "BTCUSDT" in lots:
        assert min(buys) <= lots["BTCUSDT"].entry_price <= max(buys)
        assert lots["BTCUSDT"].qty > 0
    assert open_lots(list(reversed(fills)), BASE) == lots  # order of the input does not matter (time does)


@pytest.mark.parametrize("spec, expected", [
    ("", {}), ("order_sent:2", {"order_sent": 2}), ("intent_written:1,fill_recording:3",
                                                    {"intent_written": 1, "fill_recording": 3}),
    ("order_in_flight:2", {"order_in_flight": 2}),
])
def test_crash_spec_parse(spec, expected):
    assert parse(spec) == expected


@pytest.mark.parametrize("spec", ["nowhere:1", "order_sent", "order_sent:0", "order_sent:x"])
def test_crash_spec_errors_name_the_variable(spec):
    with pytest.raises(CrashSpecError, match="AURA_CRASH_AT"):
        parse(spec)


def test_crash_hook_is_inert_unless_set():
    hook = CrashHook.from_env({})
    for _ in range(3):
        hook.reach("order_sent")  # would kill the test process if armed
    assert not hook.armed


class FakeTime:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_venue_clock_stands_still_with_a_stepped_venue_and_follows_its_steps():
    server = {"ms": D}
    mono = FakeTime()
    clock = VenueClock(lambda: server["ms"], monotonic=mono, wall_sleep=lambda s: None)
    mono.t += 5
    assert clock.now_ms() == D  # no extrapolation before the venue was seen moving twice
    server["ms"] += DAY_MS  # the test steps the simulator a day
    clock.refresh()
    mono.t += 5
    assert clock.now_ms() == D + DAY_MS  # one jump is not a moving clock
    server["ms"] -= 0
    clock.refresh()
    assert clock.now_ms() == D + DAY_MS


def test_venue_clock_follows_an_accelerated_venue_never_faster_than_real_time_nor_backwards():
    mono = FakeTime()
    server = {"ms": D}
    clock = VenueClock(lambda: server["ms"], monotonic=mono, wall_sleep=lambda s: None)
    seen = [clock.now_ms()]
    for _ in range(4):
        mono.t += 1
        server["ms"] += 3_600_000  # an hour per second
        seen.append(clock.refresh())
        mono.t += 0.5
        seen.append(clock.now_ms())
    assert seen == sorted(seen)
    assert seen[-1] - seen[-2] <= 500  # extrapolated at real speed at most
    assert clock.rate == pytest.approx(3600 / 1.5, rel=0.01)  # an hour per 1.5 s of wall time


def _proposal_inputs(seed: int):
    from aura_common.config.loader import parse_strategy
    from aura_common.core.synthetic import synthetic_panel
    from aura_common.domain import MarketSpec
    from harness.caches import START
    from harness.trader import STRATEGY
    panel = synthetic_panel(16, 420, 3, start_ms=START, late_listing_fraction=0.0)  # the harness's market
    row = 379 + seed % 8  # days on which the test strategy picks several coins
    prices = {Symbol(s): Decimal(repr(float(panel.close[row, j]))).quantize(Decimal("1e-6"))
              for j, s in enumerate(panel.symbols)}
    specs = {s: MarketSpec(s, s[:-4], "USDT", Decimal("1e-6"), Decimal("0.001"), Decimal("0.001"), Decimal(5))
             for s in prices}
    import random
    rng = random.Random(seed)
    holdings = {s: specs[s].floor_qty(Decimal(rng.randint(0, 900)) / prices[s]) for s in rng.sample(sorted(prices), 4)}
    return panel, row, parse_strategy(STRATEGY, "test"), prices, specs, holdings


@settings(deadline=None, max_examples=15)
@given(st.integers(0, 10_000), st.randoms(use_true_random=False))
def test_plan_intents_do_not_depend_on_the_order_of_mappings(seed, rnd):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    from aura_common.core.regime import RegimeState
    from aura_trader.rebalance import plan_intents
    panel, row, params, prices, specs, holdings = _proposal_inputs(seed)

    def shuffled(d):
        items = list(d.items())
        rnd.shuffle(items)
        return dict(items)

    def run(p, s, h):
        prop = plan_intents(panel=panel, row=row, params=params, regime=RegimeState(), prev_exposure=0.0,
                            cycle_key="k", holdings=h, free_quote=Decimal(5000), prices=p, specs=s,
                            fee_bps=10, slippage_bps=5)
        return prop.plan.hash, prop.batch
    assert run(prices, specs, holdings) == run(shuffled(prices), shuffled(specs), shuffled(holdings))
    _, batch = run(prices, specs, holdings)
    for it in batch.intents:  # sells never exceed what is held, nothing sent below the venue minimums
        if it.side is Side.SELL:
            assert it.quantity <= holdings[it.symbol]
        assert not specs[it.symbol].is_dust(it.quantity, prices[it.symbol])


def test_the_order_property_has_real_intents_to_compare():
    from aura_common.core.regime import RegimeState
    from aura_trader.rebalance import plan_intents
    panel, row, params, prices, specs, holdings = _proposal_inputs(0)
    prop = plan_intents(panel=panel, row=row, params=params, regime=RegimeState(), prev_exposure=0.0, cycle_key="k",
                        holdings=holdings, free_quote=Decimal(5000), prices=prices, specs=specs, fee_bps=10,
                        slippage_bps=5)
    assert len(prop.batch.intents) >= 2  # the property above is not vacuous
