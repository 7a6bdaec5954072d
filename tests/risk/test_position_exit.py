"""Gate 2, per-position stop-loss / take-profit: table tests and properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core.params import RiskParams
from aura_common.core.risk import GateDecision, exit_prices, position_exit, sl_check_decision

P = RiskParams(stop_loss_pct=15.0, take_profit_pct=60.0)


@pytest.mark.parametrize(
    "entry, last, gate, decision",
    [
        (Decimal("100"), Decimal("100"), "stop_loss", GateDecision.PASS),
        (Decimal("100"), Decimal("85.01"), "stop_loss", GateDecision.PASS),
        (Decimal("100"), Decimal("85"), "stop_loss", GateDecision.DENY),  # exactly at the stop exits
        (Decimal("100"), Decimal("84.99"), "stop_loss", GateDecision.DENY),
        (Decimal("100"), Decimal("0"), "stop_loss", GateDecision.DENY),
        (Decimal("100"), Decimal("159.99"), "stop_loss", GateDecision.PASS),
        (Decimal("100"), Decimal("160"), "take_profit", GateDecision.DENY),  # exactly at the take exits
        (Decimal("100"), Decimal("1000"), "take_profit", GateDecision.DENY),
        (0.1, 0.085, "stop_loss", GateDecision.DENY),  # floats are read through their repr: no 0.0849999
        (0.1, 0.16, "take_profit", GateDecision.DENY),
        (30000, 25500.5, "stop_loss", GateDecision.PASS),
    ],
)
def test_exit_table(entry, last, gate, decision):
    result = position_exit("BTCUSDT", entry, last, P)
    assert (result.gate, result.decision) == (gate, decision)
    assert sl_check_decision(result) == (gate if decision is GateDecision.DENY else "hold")
    assert result.reason.startswith("BTCUSDT: ")
    assert result.figures["entry"] == float(entry) and result.figures["last"] == float(last)
    assert result.figures["stop"] == pytest.approx(float(entry) * 0.85)
    assert result.figures["take"] == pytest.approx(float(entry) * 1.6)


@pytest.mark.parametrize("entry", [None, 0, Decimal("0")])
def test_no_entry_price_holds(entry):
    result = position_exit("ETHUSDT", entry, Decimal("10"), P)
    assert result.decision is GateDecision.PASS
    assert "no entry price" in result.reason
    assert sl_check_decision(result) == "no_entry"


def test_no_last_price_holds():
    result = position_exit("ETHUSDT", Decimal("10"), None, P)
    assert result.decision is GateDecision.PASS and "no last price" in result.reason


@pytest.mark.parametrize("entry, last", [(-1, 10), (10, -1), (float("nan"), 10), (10, float("inf"))])
def test_bad_prices_name_the_symbol(entry, last):
    with pytest.raises(ValueError, match="SOLUSDT"):
        position_exit("SOLUSDT", entry, last, P)


prices = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1000000"), places=8)
params = st.builds(RiskParams, stop_loss_pct=st.floats(0.1, 99.9), take_profit_pct=st.floats(0.1, 1000))


@settings(max_examples=300, deadline=None)
@given(prices, prices, params)
def test_exit_iff_outside_the_band(entry, last, p):
    stop, take = exit_prices(entry, p)
    result = position_exit("X", entry, last, p)
    assert (result.decision is GateDecision.DENY) is (last <= stop or last >= take)
    if result.decision is GateDecision.DENY:
        assert result.gate == ("stop_loss" if last <= stop else "take_profit")
    assert position_exit("X", entry, last, p) == result  # deterministic, idempotent


@settings(max_examples=200, deadline=None)
@given(prices, prices, prices, params)
def test_monotone_in_last_price(entry, a, b, p):
    """A lower price never turns a stop-loss exit into a hold; a higher one never undoes a take-profit."""
    lo, hi = min(a, b), max(a, b)
    if position_exit("X", entry, hi, p).gate == "stop_loss" and position_exit("X", entry, hi, p).decision is GateDecision.DENY:
        assert position_exit("X", entry, lo, p).decision is GateDecision.DENY
    if position_exit("X", entry, lo, p).gate == "take_profit":
        assert position_exit("X", entry, hi, p).gate == "take_profit"
