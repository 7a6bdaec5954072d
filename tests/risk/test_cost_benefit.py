"""Gate 3, the portfolio cost-benefit check: table tests and properties."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core.params import RiskParams
from aura_common.core.risk import GateDecision, TradeEstimate, cost_benefit, rebalance_benefit_bps, trades_cost_bps
from aura_common.domain.values import Side

SKIP = RiskParams(cost_benefit_margin_bps=10.0, cost_benefit_action="skip")
TRIM = replace(SKIP, cost_benefit_action="trim")
EQ = Decimal("10000")


def T(symbol, side, notional, forced=False):
    return TradeEstimate(symbol, Side(side), Decimal(notional), forced)


SWAP = (T("AAA", "SELL", "2000"), T("BBB", "BUY", "2000"), T("CCC", "BUY", "100"), T("DDD", "SELL", "50"))
# fee 10 + slippage 5 = 15 bps of notional; SWAP notional 4150 -> cost 6.225 bps of equity


@pytest.mark.parametrize(
    "params, benefit, decision, kept",
    [
        (SKIP, 30.0, GateDecision.PASS, ("AAA", "BBB", "CCC", "DDD")),
        (SKIP, 16.225, GateDecision.DENY, ()),  # benefit == cost + margin is not enough (strict)
        (SKIP, 16.2251, GateDecision.PASS, ("AAA", "BBB", "CCC", "DDD")),
        (SKIP, 5.0, GateDecision.DENY, ()),
        (TRIM, 16.225, GateDecision.CLIP, ("AAA", "BBB", "CCC")),  # dropping DDD (50) is enough: 16.15 < 16.225
        (TRIM, 16.1, GateDecision.CLIP, ("AAA", "BBB")),  # drop DDD and CCC: cost 6.0 + 10 = 16.0 < 16.1
        (TRIM, 13.1, GateDecision.CLIP, ("BBB",)),  # ties by notional drop AAA before BBB (symbol order)
        (TRIM, 13.0, GateDecision.DENY, ()),  # not even the largest trade alone (3.0 + 10) is covered
        (TRIM, -5.0, GateDecision.DENY, ()),
    ],
)
def test_cost_benefit_table(params, benefit, decision, kept):
    result, out = cost_benefit(SWAP, benefit, EQ, params, fee_bps=10, slippage_bps=5)
    assert result.gate == "cost_benefit"
    assert result.decision is decision
    assert tuple(t.symbol for t in out) == kept
    assert result.figures["cost_bps"] == pytest.approx(6.225)
    assert result.figures["benefit_bps"] == benefit
    assert f"expected benefit {benefit:.2f} bps vs cost 6.22 bps of 4 trades" in result.reason


def test_forced_trades_are_always_kept_and_never_weighed():
    trades = (T("AAA", "SELL", "5000", forced=True), T("BBB", "BUY", "100"))
    result, out = cost_benefit(trades, 0.0, EQ, SKIP, 10, 5)
    assert result.decision is GateDecision.DENY
    assert [t.symbol for t in out] == ["AAA"]
    assert result.figures["cost_bps"] == pytest.approx(0.15)  # only BBB's 100 is weighed
    result, out = cost_benefit(trades[:1], 0.0, EQ, SKIP, 10, 5)
    assert result.decision is GateDecision.PASS and out == trades[:1]


def test_nothing_to_trade_passes():
    result, out = cost_benefit((), 0.0, 0, SKIP, 10, 5)
    assert result.decision is GateDecision.PASS and out == ()


@pytest.mark.parametrize("equity, fee, slip", [(0, 10, 5), (-1, 10, 5), (100, -1, 5), (100, 10, float("nan"))])
def test_bad_inputs_are_errors(equity, fee, slip):
    with pytest.raises(ValueError):
        cost_benefit(SWAP, 50.0, equity, SKIP, fee, slip)


def test_trade_estimate_validates_and_converts():
    t = TradeEstimate("BTCUSDT", "BUY", 12.5)
    assert t.notional == Decimal("12.5") and t.side is Side.BUY
    with pytest.raises(ValueError, match="BTCUSDT"):
        TradeEstimate("BTCUSDT", Side.BUY, Decimal("-1"))


@pytest.mark.parametrize(
    "current, target, scores, expected",
    [
        ({"A": 0.5, "B": 0.5}, {"A": 0.5, "B": 0.5}, {"A": 1.0, "B": 2.0}, 0.0),  # same selection: no benefit
        ({"A": 0.5}, {"B": 0.5}, {"A": 1.0, "B": 2.0}, 50.0),  # swap 0.5 of equity up one score unit
        ({"Z": 0.2}, {"A": 0.2}, {"A": 1.0, "B": -1.0}, 40.0),  # unscored Z counts as the floor (-1)
        ({}, {"A": 1.0}, {"A": 0.5}, 50.0),  # cash scores 0
    ],
)
def test_rebalance_benefit_table(current, target, scores, expected):
    assert rebalance_benefit_bps(current, target, scores, 100.0) == pytest.approx(expected)


symbols = st.sampled_from(["AAA", "BBB", "CCC", "DDD", "EEE"])
trades_st = st.lists(
    st.builds(T, symbols, st.sampled_from(["BUY", "SELL"]),
              st.decimals(min_value=0, max_value=100000, places=2).map(str), st.booleans()),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(trades_st, st.floats(-100, 200), st.sampled_from([SKIP, TRIM]), st.floats(0, 50), st.floats(0, 50))
def test_properties(trades, benefit, params, fee, slip):
    result, kept = cost_benefit(trades, benefit, EQ, params, fee, slip)
    unit = Decimal(repr(fee)) + Decimal(repr(slip))
    # kept is a sub-sequence of the input: never adds, never reorders
    it = iter(trades)
    assert all(any(k is t for t in it) for k in kept)
    # never increases total cost; forced trades are always kept
    assert trades_cost_bps(kept, EQ, unit) <= trades_cost_bps(trades, EQ, unit)
    assert Counter(id(t) for t in trades if t.forced) <= Counter(id(t) for t in kept)
    # PASS keeps everything; CLIP only when trimming; DENY keeps only the forced trades
    if result.decision is GateDecision.PASS:
        assert kept == tuple(trades)
    if result.decision is GateDecision.CLIP:
        assert params.cost_benefit_action == "trim" and 0 < len(kept) < len(trades)
    if result.decision is GateDecision.DENY:
        assert all(t.forced for t in kept)
    # idempotent: what was kept goes ahead unchanged the second time
    again, kept2 = cost_benefit(kept, benefit, EQ, params, fee, slip)
    assert again.decision is GateDecision.PASS and kept2 == kept


@settings(max_examples=200, deadline=None)
@given(trades_st, st.floats(-100, 200), st.sampled_from([SKIP, TRIM]), st.randoms(use_true_random=False))
def test_kept_set_does_not_depend_on_input_order(trades, benefit, params, rnd):
    shuffled = list(trades)
    rnd.shuffle(shuffled)
    r1, k1 = cost_benefit(trades, benefit, EQ, params, 10, 5)
    r2, k2 = cost_benefit(shuffled, benefit, EQ, params, 10, 5)
    assert r1.decision is r2.decision
    key = lambda t: (t.symbol, t.side.value, t.notional, t.forced)  # noqa: E731
    assert sorted(map(key, k1)) == sorted(map(key, k2))
