"""``aura parity``'s comparison (pure): matched / only one side / a quantity beyond one lot step / a price beyond
one tick / kill-switch days / the first divergence, as table cases."""

from __future__ import annotations

import pytest

from aura_cli.parity_compare import Order, aggregate, compare, day_of

STEPS = {"BTCUSDT": 0.00001, "ETHUSDT": 0.0001}
TICKS = {"BTCUSDT": 0.01, "ETHUSDT": 0.01}


def o(day: str, symbol: str = "BTCUSDT", side: str = "BUY", qty: float = 1.0, price: float = 100.0,
      reason: str = "rebalance") -> Order:
    return Order(day, symbol, side, qty, price, reason=reason)


def run(trader, backtest, **kw):
    return compare(trader, backtest, steps=STEPS, ticks=TICKS, trader_equity=kw.pop("te", 1000.0),
                   backtest_equity=kw.pop("be", 1000.0), days=3, **kw)


@pytest.mark.parametrize("trader,backtest,want", [
    # identical orders: a full match
    ([o("2021-01-02")], [o("2021-01-02")],
     dict(matched=1, only_trader=0, only_backtest=0, qty_mismatches=0, price_mismatches=0, full_match=True)),
    # within one lot step and one tick: still a match
    ([o("2021-01-02", qty=1.00001, price=100.01)], [o("2021-01-02")],
     dict(matched=1, qty_mismatches=0, price_mismatches=0, full_match=True)),
    # a quantity two lot steps off
    ([o("2021-01-02", qty=1.00002)], [o("2021-01-02")], dict(matched=1, qty_mismatches=1, full_match=False)),
    # a price two ticks off
    ([o("2021-01-02", price=100.02)], [o("2021-01-02")], dict(matched=1, price_mismatches=1, full_match=False)),
    # the trader only / the backtest only / another side is another order
    ([o("2021-01-02"), o("2021-01-03", "ETHUSDT")], [o("2021-01-02")], dict(matched=1, only_trader=1)),
    ([o("2021-01-02")], [o("2021-01-02"), o("2021-01-02", side="SELL")], dict(matched=1, only_backtest=1)),
    ([o("2021-01-02", side="SELL")], [o("2021-01-02")], dict(matched=0, only_trader=1, only_backtest=1)),
    # the same order on another day is two divergences
    ([o("2021-01-02")], [o("2021-01-03")], dict(matched=0, only_trader=1, only_backtest=1)),
])
def test_counts(trader, backtest, want):
    got = run(trader, backtest)
    assert {k: got[k] for k in want} == want
    assert got["trader_orders"] == len(aggregate(trader)) and got["backtest_orders"] == len(aggregate(backtest))


def test_first_divergence_is_the_earliest_with_both_sides_reasons():
    got = run([o("2021-01-05", "ETHUSDT"), o("2021-01-03", qty=2.0, reason="stop_loss")],
              [o("2021-01-03", qty=1.0, reason="rebalance"), o("2021-01-04", "ETHUSDT", side="SELL")])
    first = got["first_divergence"]
    assert (first["day"], first["symbol"], first["kind"]) == ("2021-01-03", "BTCUSDT", "qty")
    assert first["trader"]["reason"] == "stop_loss" and first["backtest"]["reason"] == "rebalance"
    assert first["qty_diff"] == pytest.approx(1.0)
    assert [d["day"] for d in got["divergences"]] == ["2021-01-03", "2021-01-04", "2021-01-05"]
    assert {k: d["day"] for k, d in got["first_of_kind"].items()} == {
        "qty": "2021-01-03", "only_backtest": "2021-01-04", "only_trader": "2021-01-05"}


def test_kill_switch_days_and_equity():
    got = run([o("2021-01-02")], [o("2021-01-02")], trader_trips=["2021-01-04"], backtest_trips=["2021-01-05"],
              te=1001.0, be=1000.0)
    assert got["kill_switch_trips"]["trader"] == 1 and got["kill_switch_trips"]["backtest"] == 1
    assert [(d["day"], d["kind"]) for d in got["divergences"]] == [("2021-01-04", "kill_switch"),
                                                                  ("2021-01-05", "kill_switch")]
    assert got["equity_diff_pct"] == pytest.approx(0.1)
    assert not got["full_match"]


def test_equity_beyond_the_threshold_is_not_a_full_match():
    assert run([], [], te=1000.0, be=1000.0)["full_match"]
    assert not run([], [], te=1002.0, be=1000.0)["full_match"]
    assert run([], [], te=1002.0, be=1000.0, max_equity_diff_pct=0.5)["full_match"]


def test_fills_of_one_key_are_summed_and_a_note_is_attached():
    fills = [o("2021-01-02", qty=1.0, price=100.0), o("2021-01-02", qty=3.0, price=104.0, reason="exit")]
    (one,) = aggregate(fills).values()
    assert one.qty == 4.0 and one.price == pytest.approx(103.0) and one.reason == "rebalance+exit"
    got = run([], [o("2021-01-02")], trader_notes={("2021-01-02", "BTCUSDT"): "BUY 1 REJECTED: -2010"})
    assert got["first_divergence"]["trader_note"] == "BUY 1 REJECTED: -2010"


def test_day_of_floors_to_the_utc_day():
    assert day_of(1_609_545_600_000) == "2021-01-02"
    assert day_of(1_609_545_600_000 + 86_399_999) == "2021-01-02"
