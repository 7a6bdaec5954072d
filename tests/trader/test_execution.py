"""Execution against the exchange simulator over HTTP (the live code path: CcxtBroker via make_binance), with a real
journal file: ambiguous failures are looked up, never blindly resent; a resend only after the venue denies the order
once the request's timestamp + recvWindow + the status lag have passed (a late-arriving order is waited for); sells clamped to the free balance; balance reads retried; rejections journaled, cycle goes on."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import requests

from aura_common.adapters.broker.ccxt_broker import CcxtBroker
from aura_common.adapters.clock import SteppedClock
from aura_common.adapters.exchange import make_binance
from aura_common.adapters.journal import Journal
from aura_common.core.intents import Dust, Intent
from aura_common.core.synthetic import synthetic_panel
from aura_common.domain import OrderStatus, Side, Symbol
from aura_exchange_sim.app import DEFAULT_API_KEY, DEFAULT_API_SECRET, RunningServer, Simulator
from aura_exchange_sim.clock import SimClock
from aura_exchange_sim.market import MarketData
from aura_trader.execution import ExecPolicy, Executor

DAY = 86_400_000
START = 1_600_000_000_000 - 1_600_000_000_000 % DAY
NOW = START + 100 * DAY + 3_600_000
CYCLE = "2020-12-22T00:15Z"


class Waits:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, s: float) -> None:  # real sleeping: the status-lag fault runs on host time
        self.calls.append(s)
        time.sleep(s)


@pytest.fixture
def sim():
    panel = synthetic_panel(4, 130, 5, start_ms=START, late_listing_fraction=0.0)
    balances = {"USDT": Decimal(10_000), "BTC": Decimal("0.5")}
    srv = RunningServer(Simulator(MarketData(panel), SimClock(NOW, 0.0), balances, weight_limit=0)).start()
    yield srv
    srv.stop()


def admin(srv, path, body=None):
    if body is None:
        return requests.get(srv.url + path, timeout=5).json()
    r = requests.post(srv.url + path, json=body, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def journal(tmp_path):
    j = Journal.open(tmp_path / "j.sqlite", SteppedClock(NOW))
    j.begin_cycle(CYCLE, "plan")
    yield j
    j.close()


class RecordingBroker(CcxtBroker):
    """The real ccxt broker, remembering each order request it sent (timestamp and recvWindow included)."""

    def __init__(self, exchange) -> None:
        super().__init__(exchange)
        self.sent = []

    def place_order(self, request):
        self.sent.append(request)
        return super().place_order(request)


def executor(srv, journal, lag=0.4, attempts=6, recv_window_ms=1000, timeout=2.0):
    broker = RecordingBroker(make_binance(srv.url, DEFAULT_API_KEY, DEFAULT_API_SECRET, timeout_seconds=timeout,
                                          enable_rate_limit=False, recv_window_ms=recv_window_ms))
    waits = Waits()
    ex = Executor(broker, journal, None, policy=ExecPolicy(status_lag_seconds=lag, lookup_attempts=attempts,
                                                         first_backoff_seconds=0.05, recv_window_ms=recv_window_ms),
                  wait=waits)
    return ex, waits, broker


def intent(symbol, side, qty, leg=0, price="6000"):
    return Intent(CYCLE, "plan", leg, Symbol(symbol), side, Decimal(qty), Decimal(price))


def venue_orders(srv, cid=None):
    rows = admin(srv, "/admin/orders")["orders"]
    return [o for o in rows if cid is None or o["clientOrderId"] == cid]


def test_timeout_after_accept_is_found_by_lookup_and_never_resent(sim, journal):
    ex, waits, _ = executor(sim, journal, lag=2.0)  # our lag window must exceed the venue's (1 s here)
    admin(sim, "/admin/faults", {"faults": [
        {"kind": "timeout_after_accept", "endpoint": "POST /api/v3/order", "mode": "close"},
        {"kind": "status_lag", "endpoint": "GET /api/v3/order", "lag_ms": 1000, "count": 3}]})
    buy = intent("BTCUSDT", Side.BUY, "0.01")
    ex.record(CYCLE, [buy])
    summary = ex.run(CYCLE)
    assert summary.complete and summary.outcomes == {"FILLED": 1}
    (order,) = venue_orders(sim, buy.client_order_id)
    assert order["status"] == "FILLED"
    row = journal.order(buy.client_order_id)
    assert row.status is OrderStatus.FILLED and row.exchange_order_id == str(order["orderId"])
    assert sum(f.qty for f in journal.fills(client_order_id=buy.client_order_id)) == Decimal("0.01")
    assert journal.events("ORDER_RESEND") == []
    fired = {f["kind"]: f["fired"] for f in admin(sim, "/admin/faults")["faults"]}
    assert fired == {"drop_after_accept": 1, "status_lag": fired["status_lag"]} and fired["status_lag"] >= 1


def test_send_that_never_arrived_is_resent_once_after_the_lag_window(sim, journal):
    ex, waits, _ = executor(sim, journal, lag=0.3)
    admin(sim, "/admin/faults", {"faults": [{"kind": "reset", "endpoint": "POST /api/v3/order", "when": "before"}]})
    buy = intent("BTCUSDT", Side.BUY, "0.02")
    ex.record(CYCLE, [buy])
    started = time.monotonic()
    ex.run(CYCLE)
    assert len(venue_orders(sim, buy.client_order_id)) == 1
    assert journal.order(buy.client_order_id).status is OrderStatus.FILLED
    assert len(journal.events("ORDER_RESEND")) == 1
    assert time.monotonic() - started >= 0.3  # it waited out the lag window before concluding "not found"
    assert len(waits.calls) >= 2


def test_a_late_arriving_order_is_waited_for_and_never_resent_while_it_can_still_land(sim, journal):
    # every order reaches the matching engine 2.5 s after it was sent, inside its 5 s recvWindow; the client gives
    # up after 1 s, and the venue's lookups say "not found" until the order lands
    ex, _, broker = executor(sim, journal, lag=0.5, recv_window_ms=5000, timeout=1.0)
    admin(sim, "/admin/faults", {"faults": [{"kind": "arrival_delay", "endpoint": "POST /api/v3/order",
                                             "delay_ms": 2500, "count": 0}]})
    buy = intent("BTCUSDT", Side.BUY, "0.01")
    ex.record(CYCLE, [buy])
    summary = ex.run(CYCLE)
    assert summary.complete and summary.outcomes == {"FILLED": 1}
    (sent,) = broker.sent  # one request: "not found" was never taken as definitive while it could still land
    row = journal.order(buy.client_order_id)
    assert (row.request_ts_ms, row.recv_window_ms) == (sent.timestamp_ms, 5000)
    assert journal.events("ORDER_RESEND") == []
    # whatever else was in flight has landed or been refused by now: exactly one order on the venue
    time.sleep(max(0.0, (sent.timestamp_ms + 5000 + 1000) / 1000 - time.time()))
    (order,) = venue_orders(sim, buy.client_order_id)
    assert order["status"] == "FILLED"
    assert row.status is OrderStatus.FILLED and row.exchange_order_id == str(order["orderId"])
    assert sum(f.qty for f in journal.fills(client_order_id=buy.client_order_id)) == Decimal(order["executedQty"])


def test_an_order_that_never_lands_is_resent_only_after_timestamp_plus_recv_window_plus_lag(sim, journal):
    # the first request reaches the engine 3 s late, past its 1.5 s recvWindow: the venue refuses it (-1021)
    ex, _, broker = executor(sim, journal, lag=0.5, recv_window_ms=1500, timeout=1.0)
    admin(sim, "/admin/faults", {"faults": [{"kind": "arrival_delay", "endpoint": "POST /api/v3/order",
                                             "delay_ms": 3000, "count": 1}]})
    buy = intent("BTCUSDT", Side.BUY, "0.01")
    ex.record(CYCLE, [buy])
    assert ex.run(CYCLE).complete
    first, second = broker.sent  # sent once more, with the same id, and only once the first could not land
    assert first.client_order_id == second.client_order_id == buy.client_order_id
    assert second.timestamp_ms >= first.timestamp_ms + 1500 + 500
    assert len(journal.events("ORDER_RESEND")) == 1
    time.sleep(max(0.0, (first.timestamp_ms + 3000 + 2000) / 1000 - time.time()))  # the late one was refused
    (order,) = venue_orders(sim, buy.client_order_id)
    assert journal.order(buy.client_order_id).exchange_order_id == str(order["orderId"])


def test_no_definitive_answer_leaves_the_order_unknown_and_sends_nothing(sim, journal):
    ex, _, _ = executor(sim, journal, lag=0.2, attempts=3)
    admin(sim, "/admin/faults", {"faults": [
        {"kind": "reset", "endpoint": "POST /api/v3/order", "when": "before"},
        {"kind": "http_error", "endpoint": "GET /api/v3/order", "status": 503, "count": 0}]})
    buy = intent("BTCUSDT", Side.BUY, "0.01")
    ex.record(CYCLE, [buy])
    summary = ex.run(CYCLE)
    assert summary.unresolved == [buy.client_order_id]
    assert journal.order(buy.client_order_id).status is OrderStatus.UNKNOWN
    assert venue_orders(sim) == []
    admin(sim, "/admin/faults/clear", {})
    assert ex.run(CYCLE).complete  # the next tick: not found after the window -> resent once -> filled
    assert len(venue_orders(sim, buy.client_order_id)) == 1


def test_sell_is_clamped_to_the_free_balance_and_rounded_down(sim, journal):
    ex, _, broker = executor(sim, journal)
    step = broker.markets()[Symbol("BTCUSDT")].step_size
    sell = intent("BTCUSDT", Side.SELL, "0.7")  # holds 0.5
    ex.record(CYCLE, [sell])
    ex.run(CYCLE)
    (order,) = venue_orders(sim, sell.client_order_id)
    assert Decimal(order["origQty"]) == Decimal("0.5") and Decimal("0.5") % step == 0
    assert journal.order(sell.client_order_id).status is OrderStatus.FILLED
    assert journal.events("ORDER_CLAMPED")[0].fields["qty"] == "0.5"


def test_sell_of_dust_balance_is_skipped_not_sent(sim, journal):
    ex, _, _ = executor(sim, journal)
    admin(sim, "/admin/balances", {"BTC": "0.00000001"})
    sell = intent("BTCUSDT", Side.SELL, "0.3")
    ex.record(CYCLE, [sell])
    ex.run(CYCLE)
    assert journal.order(sell.client_order_id).status is OrderStatus.SKIPPED
    assert venue_orders(sim) == []


def test_one_empty_balance_read_never_drops_a_sell_the_journal_can_make(sim, journal):
    """The venue answers an empty account once right after our buy filled: the sell (an exit, say) is re-read
    and goes through; it is never SKIPPED as 'below the minimum order' on that one read."""
    ex, waits, _ = executor(sim, journal)
    buy = intent("BTCUSDT", Side.BUY, "0.2")
    ex.record(CYCLE, [buy])
    ex.run(CYCLE)
    admin(sim, "/admin/faults", {"faults": [{"kind": "empty_balances", "endpoint": "GET /api/v3/account",
                                             "count": 2}]})
    sell = intent("BTCUSDT", Side.SELL, "0.1", leg=1)
    ex.record(CYCLE, [sell])
    ex.run(CYCLE)
    assert journal.order(sell.client_order_id).status is OrderStatus.FILLED
    assert {f["kind"]: f["fired"] for f in admin(sim, "/admin/faults")["faults"]} == {"empty_balances": 2}


def test_a_sell_stays_pending_while_the_balance_disagrees_with_the_journal(sim, journal):
    """Every read empty for a while: the sell stays PENDING tick after tick (journaled ORDER_DEFERRED), is sent
    as soon as the account reads right, and is given up only once the small balance was confirmed over
    ``sell_confirm_ticks`` ticks."""
    ex, _, _ = executor(sim, journal)
    buy = intent("BTCUSDT", Side.BUY, "0.2")
    ex.record(CYCLE, [buy])
    ex.run(CYCLE)
    admin(sim, "/admin/faults", {"faults": [{"kind": "empty_balances", "endpoint": "GET /api/v3/account",
                                             "count": 0}]})
    sell = intent("BTCUSDT", Side.SELL, "0.1", leg=1)
    ex.record(CYCLE, [sell])
    for _ in range(2):
        summary = ex.run(CYCLE)
        assert journal.order(sell.client_order_id).status is OrderStatus.PENDING
        assert sell.client_order_id in summary.unresolved
    assert len(journal.events("ORDER_DEFERRED")) == 2
    admin(sim, "/admin/faults/clear", {})
    ex.run(CYCLE)
    assert journal.order(sell.client_order_id).status is OrderStatus.FILLED
    # the venue really holds nothing sellable (someone withdrew it): confirmed over the ticks, then skipped
    admin(sim, "/admin/balances", {"BTC": "0"})
    again = intent("BTCUSDT", Side.SELL, "0.05", leg=2)
    ex.record(CYCLE, [again])
    for _ in range(ex.policy.sell_confirm_ticks):
        ex.run(CYCLE)
        assert journal.order(again.client_order_id).status is OrderStatus.PENDING
    ex.run(CYCLE)
    assert journal.order(again.client_order_id).status is OrderStatus.SKIPPED
    assert venue_orders(sim, again.client_order_id) == []


def test_an_absurd_fill_price_in_the_answer_is_re_read_from_the_venue_s_trades(sim, journal):
    """The order answer says the fill cost 1e6 x the market; myTrades (venue truth) says otherwise: the journal
    records the venue's price, never the absurd one."""
    ex, _, _ = executor(sim, journal)
    admin(sim, "/admin/faults", {"faults": [{"kind": "bad_price", "endpoint": "POST /api/v3/order"}]})
    buy = intent("BTCUSDT", Side.BUY, "0.02", price="6000")
    ex.record(CYCLE, [buy])
    ex.run(CYCLE)
    (venue,) = venue_orders(sim, buy.client_order_id)
    [fill] = journal.fills(client_order_id=buy.client_order_id)
    assert fill.price == Decimal(venue["fills"][0]["price"]) < 100_000
    assert journal.order(buy.client_order_id).avg_price < 100_000
    assert journal.events("FILL_IMPLAUSIBLE") == []


def test_an_absurd_fill_price_that_stands_is_recorded_flagged_and_never_fires_a_risk_exit(sim, journal):
    from aura_common.adapters.journal import Position
    from aura_common.core.params import RiskParams
    from aura_trader.account import AccountView
    from aura_trader.risk import RiskTicker
    ex, _, broker = executor(sim, journal)
    admin(sim, "/admin/faults", {"faults": [{"kind": "bad_price", "endpoint": "POST /api/v3/order"},
                                            {"kind": "bad_price", "endpoint": "GET /api/v3/myTrades"}]})
    buy = intent("BTCUSDT", Side.BUY, "0.02", price="6000")
    ex.record(CYCLE, [buy])
    ex.run(CYCLE)
    [fill] = journal.fills(client_order_id=buy.client_order_id)
    assert fill.price > 1_000_000  # what the venue insists on is recorded...
    [flag] = journal.events("FILL_IMPLAUSIBLE")  # ...and flagged
    assert flag.fields["symbol"] == "BTCUSDT" and flag.fields["client_order_id"] == buy.client_order_id
    # the risk tick: entry from that fill, a plausible mark -> no stop-loss on it
    journal.record_positions([Position("BTCUSDT", fill.qty - fill.fee, fill.price)], source="test")
    specs = broker.markets()
    mark = Decimal(str(sim.sim.market.price("BTCUSDT", sim.sim.clock.now_ms())))
    view = AccountView({}, {Symbol("BTCUSDT"): mark}, Decimal(10_000), {Symbol("BTCUSDT"): fill.qty - fill.fee},
                       True, "", Decimal(9_000), 0, specs)
    out = RiskTicker(journal, None_metrics(), None).tick(view, NOW, RiskParams(stop_loss_pct=10.0), "risk-x")
    assert out.exit_intents == ()


class None_metrics:  # noqa: N801 - a do-nothing metrics port for the risk tick
    def __getattr__(self, name):
        return lambda *a, **k: None


def test_a_failing_balance_read_is_retried_and_the_sell_goes_through(sim, journal):
    ex, waits, _ = executor(sim, journal)
    admin(sim, "/admin/faults", {"faults": [{"kind": "http_error", "endpoint": "GET /api/v3/account",
                                             "status": 502, "count": 2}]})
    sell = intent("BTCUSDT", Side.SELL, "0.1")
    ex.record(CYCLE, [sell])
    ex.run(CYCLE)
    assert journal.order(sell.client_order_id).status is OrderStatus.FILLED
    assert len(waits.calls) >= 2


def test_rejection_is_journaled_with_its_reason_and_the_cycle_goes_on(sim, journal):
    ex, _, _ = executor(sim, journal)
    admin(sim, "/admin/faults", {"faults": [{"kind": "insufficient_balance", "endpoint": "POST /api/v3/order"}]})
    first, second = intent("BTCUSDT", Side.BUY, "0.01", leg=0), intent("BTCUSDT", Side.BUY, "0.02", leg=1)
    ex.record(CYCLE, [first, second])
    summary = ex.run(CYCLE)
    assert summary.complete
    statuses = {journal.order(i.client_order_id).status for i in (first, second)}
    assert statuses == {OrderStatus.REJECTED, OrderStatus.FILLED}
    rejected = next(journal.order(i.client_order_id) for i in (first, second)
                    if journal.order(i.client_order_id).status is OrderStatus.REJECTED)
    assert "insufficient balance" in rejected.reason


def test_dust_is_journaled_as_skipped_and_never_sent(sim, journal):
    ex, _, _ = executor(sim, journal)
    ex.record(CYCLE, [], [Dust(Symbol("BTCUSDT"), Side.BUY, Decimal("0.00001"), "below minimum")], "plan")
    (order,) = journal.orders_of_cycle(CYCLE)
    assert order.status is OrderStatus.SKIPPED and order.reason == "below minimum"
    assert ex.run(CYCLE).complete and venue_orders(sim) == []


def test_settled_orders_are_never_sent_again(sim, journal):
    ex, _, _ = executor(sim, journal)
    buy = intent("BTCUSDT", Side.BUY, "0.01")
    ex.record(CYCLE, [buy])
    ex.run(CYCLE)
    ex.record(CYCLE, [buy])  # re-recording after a restart is a no-op
    ex.run(CYCLE)
    ex.run(CYCLE)
    assert len(venue_orders(sim, buy.client_order_id)) == 1
