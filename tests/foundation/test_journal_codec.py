"""Decimal TEXT codec: canonical, exact, never REAL; event fields are JSON without secrets."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aura_common.adapters.journal.codec import dec_to_text, fields_to_json, json_to_fields, text_to_dec
from aura_common.adapters.logs import register_secret
from aura_common.domain import Side

# Amounts as the exchange sends them: up to 30 significant digits, exponents within the codec's range.
amounts = st.builds(lambda sign, digits, exp: Decimal((sign, tuple(int(c) for c in str(digits)), exp)),
                    st.integers(0, 1), st.integers(0, 10**30 - 1), st.integers(-30, 10))


@pytest.mark.parametrize("value, text", [
    (Decimal("1.500"), "1.5"),
    (Decimal("15E-1"), "1.5"),
    (Decimal("1E+2"), "100"),
    (Decimal("100"), "100"),
    (Decimal("0E-8"), "0"),
    (Decimal("-0"), "0"),
    (Decimal("-0.00010"), "-0.0001"),
    (Decimal("0.00000001"), "0.00000001"),
    (Decimal("123456789012345678901234567890.123456789"), "123456789012345678901234567890.123456789"),
])
def test_canonical_text(value, text):
    assert dec_to_text(value) == text
    assert text_to_dec(text) == value


@pytest.mark.parametrize("bad, err", [
    (1.5, TypeError), ("1.5", TypeError), (1, TypeError),
    (Decimal("NaN"), ValueError), (Decimal("Infinity"), ValueError), (Decimal("1E+60"), ValueError),
])
def test_refuses_non_decimal_and_non_finite(bad, err):
    with pytest.raises(err):
        dec_to_text(bad, "order X qty")


@given(amounts)
def test_round_trip_is_exact_and_canonical(value):
    text = dec_to_text(value)
    assert Decimal(text) == value
    assert "E" not in text and "e" not in text
    assert dec_to_text(Decimal(text)) == text  # idempotent: equal values, equal text
    sign, digits, exp = value.as_tuple()
    padded = Decimal((sign, digits + (0, 0, 0), exp - 3))  # the same value with another exponent
    assert padded == value and dec_to_text(padded) == text


def test_event_fields_json_has_decimals_as_text_enums_as_values_and_no_secrets():
    register_secret("sk-journal-secret-123")
    text = fields_to_json({"qty": Decimal("1.50"), "side": Side.BUY, "note": "key sk-journal-secret-123 leaked",
                           "b": (1, 2)})
    assert "sk-journal-secret-123" not in text
    assert json_to_fields(text) == {"qty": "1.5", "side": "BUY", "note": "key *** leaked", "b": [1, 2]}
    with pytest.raises(TypeError, match="object"):
        fields_to_json({"x": object()})
