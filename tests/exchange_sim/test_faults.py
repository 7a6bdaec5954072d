"""One test per fault type, through real ccxt; the ledger shows what really happened on the exchange."""

from __future__ import annotations

import time

import ccxt
import pytest
import requests

from harness.simulator import SimAdmin

from .conftest import client

SYM = "BTC/USDT"
ORDER = "POST /api/v3/order"


def _orders(admin: SimAdmin) -> list[dict]:
    return [e for e in admin.ledger() if e["kind"] == "order"]


def test_latency_delays_only_the_targeted_call(server, admin):
    ex = client(server.url)
    admin.faults({"kind": "latency", "endpoint": "GET /api/v3/time", "delay_ms": 1500, "nth": 2})
    t0 = time.monotonic()
    ex.fetch_time()
    first = time.monotonic() - t0
    t0 = time.monotonic()
    ex.fetch_time()
    second = time.monotonic() - t0
    assert second >= 1.5 and first < second - 0.5
    short = client(server.url, timeout=0.2)
    admin.faults({"kind": "latency", "endpoint": "GET /api/v3/time", "delay_ms": 1000})
    with pytest.raises(ccxt.RequestTimeout):
        short.fetch_time()


@pytest.mark.parametrize("status,body,exc", [(500, "html", ccxt.ExchangeNotAvailable),
                                             (502, "html", ccxt.ExchangeNotAvailable),
                                             (503, "html", ccxt.ExchangeNotAvailable),
                                             (500, "json", ccxt.OperationFailed),
                                             (503, "timeout", ccxt.RequestTimeout)])
def test_http_errors_before_processing_book_nothing(server, admin, status, body, exc):
    ex = client(server.url)
    admin.faults({"kind": "http_error", "endpoint": ORDER, "status": status, "body": body})
    with pytest.raises(exc):
        ex.create_order(SYM, "market", "buy", 0.01, None, {"newClientOrderId": "e-1"})
    assert _orders(admin) == []
    ex.create_order(SYM, "market", "buy", 0.01, None, {"newClientOrderId": "e-1"})  # count 1: next one works
    assert len(_orders(admin)) == 1


def test_http_error_after_processing_is_ambiguous(server, admin):
    ex = client(server.url)
    admin.faults({"kind": "http_error", "endpoint": ORDER, "status": 503, "when": "after"})
    with pytest.raises(ccxt.ExchangeNotAvailable):
        ex.create_order(SYM, "market", "buy", 0.01, None, {"newClientOrderId": "amb-1"})
    (order,) = _orders(admin)
    assert order["client_order_id"] == "amb-1"
    assert ex.fetch_order(None, SYM, {"origClientOrderId": "amb-1"})["status"] == "closed"
    fills = admin.get("/admin/ledger", kind="fill", client_order_id="amb-1")["entries"]
    assert [f["order_id"] for f in fills] == [order["order_id"]]


def test_rate_limit_429_then_418_when_ignored(server, admin):
    ex = client(server.url)
    admin.faults({"kind": "rate_limit", "endpoint": "GET /api/v3/ticker/24hr", "retry_after_s": 30})
    r = requests.get(server.url + "/api/v3/ticker/24hr", params={"symbol": "BTCUSDT"}, timeout=5)
    assert r.status_code == 429 and r.json()["code"] == -1003 and r.headers["Retry-After"] == "30"
    with pytest.raises(ccxt.DDoSProtection):  # ignoring Retry-After -> 418 ban
        ex.fetch_ticker(SYM)
    r = requests.get(server.url + "/api/v3/time", timeout=5)
    assert r.status_code == 418 and r.json()["code"] == -1003 and int(r.headers["Retry-After"]) > 0


def test_connection_reset(server, admin):
    ex = client(server.url)
    admin.faults({"kind": "reset", "endpoint": "GET /api/v3/account"})
    with pytest.raises(ccxt.NetworkError):
        ex.fetch_balance()
    assert ex.fetch_balance()["USDT"]["total"] == 10_000


@pytest.mark.parametrize("mode,hold_ms", [("hold", 2000), ("close", 0)])
def test_timeout_after_the_order_was_booked(server, admin, mode, hold_ms):
    ex = client(server.url, timeout=0.5)
    admin.faults({"kind": "drop_after_accept", "endpoint": ORDER, "symbol": "BTCUSDT", "mode": mode,
                  "hold_ms": hold_ms})
    with pytest.raises(ccxt.NetworkError) as info:
        ex.create_order(SYM, "market", "buy", 0.01, None, {"newClientOrderId": "lost-1"})
    if mode == "hold":
        assert isinstance(info.value, ccxt.RequestTimeout)
    (order,) = _orders(admin)  # the order IS on the exchange
    assert order["client_order_id"] == "lost-1"
    found = client(server.url).fetch_order(None, SYM, {"origClientOrderId": "lost-1"})
    assert found["status"] == "closed" and found["filled"] == 0.01


def test_timestamp_fault(server, admin):
    ex = client(server.url)
    admin.faults({"kind": "timestamp", "endpoint": "GET /api/v3/account", "count": 2})
    for _ in range(2):
        with pytest.raises(ccxt.InvalidNonce):
            ex.fetch_balance()
    assert ex.fetch_balance()["USDT"]["total"] == 10_000


def test_empty_balances_for_n_calls(server, admin):
    ex = client(server.url)
    admin.faults({"kind": "empty_balances", "count": 3})
    totals = [ex.fetch_balance()["total"] for _ in range(4)]
    assert totals[:3] == [{}, {}, {}] and totals[3]["USDT"] == 10_000


def test_order_status_lag(server, admin):
    ex = client(server.url)
    admin.faults({"kind": "status_lag", "lag_ms": 1500, "count": 0})
    o = ex.create_order(SYM, "market", "buy", 0.01, None, {"newClientOrderId": "lag-1"})
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order(None, SYM, {"origClientOrderId": "lag-1"})
    time.sleep(1.6)
    assert ex.fetch_order(o["id"], SYM)["status"] == "closed"


def test_forced_partial_fill_market_expires_rest(server, admin):
    ex = client(server.url)
    admin.faults({"kind": "partial_fill", "endpoint": ORDER, "ratio": 0.4})
    o = ex.create_order(SYM, "market", "buy", 0.01, None, {"newClientOrderId": "part-1"})
    assert o["status"] == "expired" and o["filled"] == pytest.approx(0.004) and o["amount"] == 0.01
    assert ex.fetch_balance()["BTC"]["total"] == pytest.approx(1.004 - 0.000004)  # fee in the received BTC


def test_forced_partial_fill_limit_keeps_resting(server, admin):
    ex = client(server.url)
    ex.load_markets()
    last = ex.fetch_ticker(SYM)["last"]
    admin.faults({"kind": "partial_fill", "endpoint": ORDER, "ratio": 0.5})
    price = float(ex.price_to_precision(SYM, last * 1.01))  # marketable buy
    o = ex.create_order(SYM, "limit", "buy", 0.02, price, {"newClientOrderId": "part-2"})
    assert o["status"] == "open" and o["filled"] == pytest.approx(0.01) and o["info"]["status"] == "PARTIALLY_FILLED"
    assert [x["id"] for x in ex.fetch_open_orders(SYM)] == [o["id"]]


def test_insufficient_balance_fault(server, admin):
    ex = client(server.url)
    admin.faults({"kind": "insufficient_balance", "endpoint": ORDER, "nth": 2})
    ex.create_order(SYM, "market", "buy", 0.01)
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order(SYM, "market", "buy", 0.01)
    assert len(_orders(admin)) == 1


def test_targeting_by_symbol_and_nth_call_is_deterministic(server, admin):
    ex = client(server.url)
    admin.faults({"kind": "http_error", "endpoint": ORDER, "symbol": "SYN000USDT", "nth": 2, "count": 2})
    outcomes = []
    for sym in ["BTC/USDT", "SYN000/USDT", "BTC/USDT", "SYN000/USDT", "SYN000/USDT", "SYN000/USDT"]:
        amount = 0.01 if sym == SYM else float(ex.amount_to_precision(sym, 20 / ex.fetch_ticker(sym)["last"]))
        try:
            ex.create_order(sym, "market", "buy", amount)
            outcomes.append("ok")
        except ccxt.ExchangeNotAvailable:
            outcomes.append("503")
    assert outcomes == ["ok", "ok", "ok", "503", "503", "ok"]
    (rule,) = admin.get("/admin/faults")["faults"]
    assert rule["calls"] == 3 and rule["fired"] == 2  # a spent rule stops counting


def test_probability_is_seeded(sim_factory):
    def run() -> list[bool]:
        srv = sim_factory()
        SimAdmin(srv.url).faults({"kind": "http_error", "endpoint": "GET /api/v3/time", "probability": 0.5,
                               "count": 0})
        return [requests.get(srv.url + "/api/v3/time", timeout=5).status_code == 503 for _ in range(20)]

    first, second = run(), run()
    assert first == second and 0 < sum(first) < 20


def test_duration_limits_a_rule(server, admin):
    admin.faults({"kind": "http_error", "endpoint": "GET /api/v3/time", "count": 0, "duration_ms": 1500})
    assert requests.get(server.url + "/api/v3/time", timeout=5).status_code == 503
    time.sleep(1.6)
    assert requests.get(server.url + "/api/v3/time", timeout=5).status_code == 200


def test_bad_fault_spec_is_a_clear_400(server):
    r = requests.post(server.url + "/admin/faults", json={"faults": [{"kind": "meteor"}]}, timeout=5)
    assert r.status_code == 400 and "faults[0].kind" in r.json()["error"]
    r = requests.post(server.url + "/admin/faults", json={"faults": [{"kind": "latency", "dealy_ms": 5}]},
                      timeout=5)
    assert r.status_code == 400 and "dealy_ms" in r.json()["error"]
    assert requests.get(server.url + "/admin/faults", timeout=5).json() == {"faults": []}


def test_clear_faults(server, admin):
    admin.faults({"kind": "http_error", "count": 0})
    assert requests.get(server.url + "/api/v3/time", timeout=5).status_code == 503
    assert requests.delete(server.url + "/admin/faults", timeout=5).json() == {"faults": []}
    assert requests.get(server.url + "/api/v3/time", timeout=5).status_code == 200


def test_the_example_faults_file_covers_every_kind_and_loads(tmp_path):
    from pathlib import Path

    import aura_exchange_sim
    from aura_exchange_sim.faults import KINDS, FaultBook, load_faults_file
    path = Path(aura_exchange_sim.__file__).with_name("faults.example.yaml")
    seed, rules = load_faults_file(path)
    assert seed == 7 and {r["kind"] for r in rules} == set(KINDS)
    assert len(FaultBook(seed).add(rules, 0)) == len(rules)


def _wait_for(fn, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.05)
    return fn()


def test_arrival_delay_inside_the_recv_window_lands_late_even_after_the_client_gave_up(server, admin):
    admin.faults({"kind": "arrival_delay", "endpoint": ORDER, "delay_ms": 1500})
    impatient = client(server.url, timeout=0.4)  # gives up long before the request reaches the engine
    t0 = time.monotonic()
    with pytest.raises(ccxt.RequestTimeout):
        impatient.create_order(SYM, "market", "buy", 0.01, None, {"newClientOrderId": "late-1", "recvWindow": 5000})
    assert _orders(admin) == []  # not yet: it is on its way to the matching engine
    (order,) = _wait_for(lambda: _orders(admin))
    assert order["client_order_id"] == "late-1" and time.monotonic() - t0 >= 1.5
    assert client(server.url).fetch_order(None, SYM, {"origClientOrderId": "late-1"})["status"] == "closed"


def test_arrival_delay_past_timestamp_plus_recv_window_is_rejected_with_1021(server, admin):
    admin.faults({"kind": "arrival_delay", "endpoint": ORDER, "delay_ms": 2000, "count": 2})
    ex = client(server.url, timeout=10)
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):  # accepted on receipt, refused before the engine
        ex.create_order(SYM, "market", "buy", 0.01, None, {"newClientOrderId": "stale-1", "recvWindow": 1000})
    impatient = client(server.url, timeout=0.4)  # the client gone does not change the venue's verdict
    with pytest.raises(ccxt.RequestTimeout):
        impatient.create_order(SYM, "market", "buy", 0.01, None, {"newClientOrderId": "stale-2", "recvWindow": 1000})
    time.sleep(2.5)
    assert _orders(admin) == []
    fired = admin.get("/admin/faults")["faults"]
    assert [f["fired"] for f in fired] == [2]
    ex.create_order(SYM, "market", "buy", 0.01, None, {"newClientOrderId": "stale-1", "recvWindow": 1000})
    assert [o["client_order_id"] for o in _orders(admin)] == ["stale-1"]  # no delay any more: booked at once
