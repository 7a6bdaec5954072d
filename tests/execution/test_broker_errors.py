"""The one mapping from ccxt exceptions to errors named by what the caller must do."""

from __future__ import annotations

import ccxt
import pytest

from aura_common.adapters.broker.errors import (
    DuplicateClientOrderId,
    FatalBrokerError,
    InsufficientBalance,
    OrderNotFound,
    OutcomeUnknown,
    RateLimited,
    Rejected,
    TransientError,
    translate,
)

CASES = [
    # exception, sending -> class
    (ccxt.RequestTimeout("t"), True, OutcomeUnknown),
    (ccxt.RequestTimeout("t"), False, TransientError),
    (ccxt.NetworkError("reset"), True, OutcomeUnknown),
    (ccxt.ExchangeNotAvailable("502"), True, OutcomeUnknown),
    (ccxt.ExchangeNotAvailable("502"), False, TransientError),
    (ccxt.OperationFailed("-1001"), True, OutcomeUnknown),
    (ccxt.DDoSProtection("429"), False, RateLimited),
    (ccxt.DDoSProtection("429"), True, OutcomeUnknown),
    (ccxt.InvalidNonce("-1021"), False, TransientError),
    (ccxt.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}'), True, DuplicateClientOrderId),
    (ccxt.InvalidOrder("Filter failure: LOT_SIZE"), True, Rejected),
    (ccxt.BadRequest("Filter failure: NOTIONAL"), True, Rejected),
    (ccxt.InsufficientFunds("-2010"), True, InsufficientBalance),
    (ccxt.OrderNotFound("-2013"), False, OrderNotFound),
    (ccxt.AuthenticationError("-2015"), False, FatalBrokerError),
    (ccxt.MarketClosed("closed"), True, Rejected),
    (ccxt.ExchangeError("-1008 overloaded"), True, OutcomeUnknown),
    (ConnectionResetError("reset"), True, OutcomeUnknown),
]


@pytest.mark.parametrize(("exc", "sending", "cls"), CASES, ids=[f"{type(c[0]).__name__}-{c[1]}" for c in CASES])
def test_translate(exc, sending, cls):
    out = translate(exc, sending=sending)
    assert type(out) is cls


def test_insufficient_balance_is_a_rejection_and_send_failures_are_never_transient():
    assert isinstance(translate(ccxt.InsufficientFunds("x"), sending=True), Rejected)
    for exc, _, _ in CASES:
        if isinstance(exc, (ccxt.NetworkError, ccxt.OperationFailed, OSError)):
            assert not isinstance(translate(exc, sending=True), TransientError), "a lost send is never 'retry'"
