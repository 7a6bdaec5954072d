"""The one mapping from ccxt exceptions to errors named by what the caller must do."""

from __future__ import annotations

import ccxt
import pytest

from aura_common.adapters.broker.errors import (
    TABLE,
    BrokerError,
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


def test_no_row_of_the_table_is_shadowed_by_an_earlier_one():
    """The table is walked in order: a row whose classes an earlier, unconditional row already catches is dead."""
    for j, later in enumerate(TABLE):
        for cls in later.catches:
            for earlier in TABLE[:j]:
                assert earlier.containing or not issubclass(cls, earlier.catches), (cls, earlier)
        assert issubclass(later.on_read, BrokerError) and issubclass(later.on_send, BrokerError)


def test_insufficient_balance_is_a_rejection_and_send_failures_are_never_transient():
    assert isinstance(translate(ccxt.InsufficientFunds("x"), sending=True), Rejected)
    for exc, _, _ in CASES:
        if isinstance(exc, (ccxt.NetworkError, ccxt.OperationFailed, OSError)):
            assert not isinstance(translate(exc, sending=True), TransientError), "a lost send is never 'retry'"


# --- the venue's answers are data to check: malformed answers and back-off orders, against the real simulator -----
from decimal import Decimal  # noqa: E402

from aura_common.adapters.broker.ccxt_broker import CcxtBroker  # noqa: E402
from aura_common.adapters.exchange import make_binance  # noqa: E402
from aura_common.core.synthetic import synthetic_panel  # noqa: E402
from aura_common.domain import OrderRequest, Side, Symbol  # noqa: E402
from aura_exchange_sim.app import DEFAULT_API_KEY, DEFAULT_API_SECRET, RunningServer, Simulator  # noqa: E402
from aura_exchange_sim.clock import SimClock  # noqa: E402
from aura_exchange_sim.market import MarketData  # noqa: E402

from harness.simulator import SimAdmin  # noqa: E402

DAY = 86_400_000
START = 1_600_000_000_000 - 1_600_000_000_000 % DAY


@pytest.fixture
def venue():
    panel = synthetic_panel(3, 130, 5, start_ms=START, late_listing_fraction=0.0)
    srv = RunningServer(Simulator(MarketData(panel), SimClock(START + 100 * DAY, 0.0),
                                  {"USDT": Decimal(10_000), "BTC": Decimal(1)}, weight_limit=6000)).start()
    yield srv, SimAdmin(srv.url)
    srv.stop()


def _broker(srv, clock=None):
    ex = make_binance(srv.url, DEFAULT_API_KEY, DEFAULT_API_SECRET, timeout_seconds=3, enable_rate_limit=False)
    return CcxtBroker(ex, **({"monotonic": clock} if clock else {}))


@pytest.mark.parametrize("endpoint, call, expected", [
    ("GET /api/v3/account", lambda b: b.balances(), TransientError),
    ("GET /api/v3/ticker/24hr", lambda b: b.prices([Symbol("BTCUSDT")]), TransientError),
    ("GET /api/v3/order", lambda b: b.get_order(Symbol("BTCUSDT"), "aura-x"), TransientError),
    ("GET /api/v3/openOrders", lambda b: b.open_orders(), TransientError),
    ("GET /api/v3/myTrades", lambda b: b.fills(Symbol("BTCUSDT")), TransientError),
    ("POST /api/v3/order", lambda b: b.place_order(OrderRequest("aura-h", Symbol("BTCUSDT"), Side.BUY,
                                                                Decimal("0.01"))), OutcomeUnknown),
])
def test_an_html_page_with_status_200_is_a_malformed_answer_naming_the_endpoint(venue, endpoint, call, expected):
    """A proxy's HTML page served as success: a transient read (or an unknown send), one line naming the
    endpoint, never AttributeError/TypeError as the interface."""
    srv, admin = venue
    broker = _broker(srv)
    broker.markets()
    admin.faults({"kind": "http_error", "endpoint": endpoint, "status": 200, "body": "html", "count": 1})
    with pytest.raises(expected) as info:
        call(broker)
    text = str(info.value)
    assert endpoint.split(" ")[-1] in text
    assert not any(name in text for name in ("AttributeError", "TypeError", "KeyError", "NoneType"))


def test_a_ban_holds_back_every_request_until_retry_after_expires(venue):
    """429 then 418: after the venue's back-off order the broker sends NOTHING (to any endpoint) until its
    Retry-After has passed; the simulator's request log proves it."""
    srv, admin = venue
    now = [1000.0]
    broker = _broker(srv, clock=lambda: now[0])
    broker.markets()
    admin.faults({"kind": "rate_limit", "endpoint": "GET /api/v3/account", "retry_after_s": 30, "count": 1})
    with pytest.raises(RateLimited) as first:
        broker.balances()
    assert first.value.retry_after == 30 and broker.held_back_seconds == 30
    served = srv.sim.limiter.used("127.0.0.1", srv.sim.clock.wall_ms())
    for call in (broker.balances, lambda: broker.prices([Symbol("BTCUSDT")]), broker.open_orders,
                 lambda: broker.place_order(OrderRequest("aura-b", Symbol("BTCUSDT"), Side.BUY, Decimal("0.01")))):
        with pytest.raises(RateLimited, match="back off"):
            call()
    assert srv.sim.limiter.used("127.0.0.1", srv.sim.clock.wall_ms()) == served  # not one request reached it
    assert [e for e in admin.ledger() if e["kind"] in ("order", "reject")] == []  # the send never left
    now[0] += 31  # the back-off is over (and so is the simulator's; it counts host time)
    srv.sim.limiter.reset()
    assert broker.held_back_seconds == 0
    assert "BTC" in broker.balances()
