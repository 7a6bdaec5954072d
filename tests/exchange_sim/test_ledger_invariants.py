"""The ledger is complete: balances equal the sums of its changes, never go negative, and no order is overfilled.

The crash tests rely on these properties to prove that nothing was double-filled."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import ccxt

from .conftest import HOUR, client

SYM = "BTC/USDT"


def check_ledger(entries: list[dict], balances: dict) -> None:
    free: dict[str, Decimal] = defaultdict(Decimal)
    locked: dict[str, Decimal] = defaultdict(Decimal)
    qty: dict[int, Decimal] = {}
    filled: dict[int, Decimal] = defaultdict(Decimal)
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    for e in entries:
        if e["kind"] == "balance":
            free[e["asset"]] += Decimal(e["free"])
            locked[e["asset"]] += Decimal(e["locked"])
            assert free[e["asset"]] >= 0 and locked[e["asset"]] >= 0, e
        elif e["kind"] == "order":
            qty[e["order_id"]] = Decimal(e["quantity"])
        elif e["kind"] == "fill":
            filled[e["order_id"]] += Decimal(e["qty"])
            assert filled[e["order_id"]] <= qty[e["order_id"]] or qty[e["order_id"]] == 0, e
    for asset, b in balances.items():
        assert Decimal(b["free"]) == free[asset] and Decimal(b["locked"]) == locked[asset], asset


def test_ledger_matches_balances_after_a_busy_session(server, admin):
    ex = client(server.url)
    ex.load_markets()
    last = ex.fetch_ticker(SYM)["last"]
    ex.create_order(SYM, "market", "buy", 0.05)
    ex.create_order(SYM, "market", "sell", 0.03)
    rest = [ex.create_order(SYM, "limit", side, 0.01, float(ex.price_to_precision(SYM, last * f)))
            for side, f in (("buy", 0.98), ("buy", 0.95), ("sell", 1.02), ("sell", 1.05))]
    admin.faults({"kind": "partial_fill", "endpoint": "POST /api/v3/order", "ratio": 0.3})
    ex.create_order(SYM, "market", "buy", 0.02)
    try:
        ex.create_order(SYM, "market", "buy", 50)
    except ccxt.InsufficientFunds:
        pass
    ex.cancel_order(rest[1]["id"], SYM)
    for _ in range(40):
        admin.step(6 * HOUR)
    check_ledger(admin.ledger(), admin.get("/admin/balances")["balances"])
    orders = admin.get("/admin/orders")["orders"]
    for o in orders:
        total = sum(Decimal(f["qty"]) for f in o["fills"])
        assert total == Decimal(o["executedQty"]) <= Decimal(o["origQty"])
    trades = ex.fetch_my_trades(SYM)
    assert len(trades) == sum(len(o["fills"]) for o in orders)


def test_admin_balances_and_reset_are_in_the_ledger(server, admin):
    admin.post("/admin/balances", {"USDT": "123.45", "ETH": "2"})
    bal = admin.get("/admin/balances")["balances"]
    assert bal["USDT"]["free"] == "123.45000000" and bal["ETH"]["free"] == "2.00000000"
    check_ledger(admin.ledger(), bal)
    admin.post("/admin/reset", {"balances": {"USDT": "500"}})
    entries = admin.ledger()
    assert [e["reason"] for e in entries] == ["initial"]
    check_ledger(entries, admin.get("/admin/balances")["balances"])


def test_same_requests_on_a_stepped_clock_give_the_same_ledger(sim_factory):
    from harness.simulator import SimAdmin

    def session() -> list[dict]:
        srv = sim_factory()
        admin = SimAdmin(srv.url)
        ex = client(srv.url)
        ex.load_markets()
        last = ex.fetch_ticker(SYM)["last"]
        admin.faults({"kind": "partial_fill", "endpoint": "POST /api/v3/order", "ratio": 0.5, "nth": 2})
        ex.create_order(SYM, "market", "buy", 0.05, None, {"newClientOrderId": "a"})
        ex.create_order(SYM, "market", "sell", 0.02, None, {"newClientOrderId": "b"})
        ex.create_order(SYM, "limit", "buy", 0.01, float(ex.price_to_precision(SYM, last * 0.99)),
                        {"newClientOrderId": "c"})
        for _ in range(10):
            admin.step(6 * HOUR)
        return admin.ledger()

    first, second = session(), session()
    assert first == second and any(e["kind"] == "fill" for e in first)


def test_concurrent_clients_keep_the_books_consistent(sim_factory):
    import threading

    from harness.simulator import SimAdmin
    srv = sim_factory(balances={"USDT": 1_000_000, "BTC": 100})
    admin = SimAdmin(srv.url)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        ex = client(srv.url, timeout=10)
        try:
            ex.load_markets()
            last = ex.fetch_ticker(SYM)["last"]
            for i in range(25):
                side = "buy" if (i + n) % 2 else "sell"
                ex.create_order(SYM, "market", side, 0.01, None, {"newClientOrderId": f"w{n}-{i}"})
                if i % 5 == 0:
                    price = float(ex.price_to_precision(SYM, last * (0.99 if side == "buy" else 1.01)))
                    o = ex.create_order(SYM, "limit", side, 0.01, price, {"newClientOrderId": f"l{n}-{i}"})
                    if i % 10 == 0:
                        try:
                            ex.cancel_order(o["id"], SYM)
                        except ccxt.OrderNotFound:  # a clock step filled it first
                            assert ex.fetch_order(o["id"], SYM)["status"] == "closed"
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for _ in range(5):
        admin.step(2 * HOUR)
    for t in threads:
        t.join(timeout=60)
    assert not errors and not any(t.is_alive() for t in threads)
    entries = admin.ledger()
    check_ledger(entries, admin.get("/admin/balances")["balances"])
    orders = [e for e in entries if e["kind"] == "order"]
    assert len(orders) == 4 * (25 + 5) and len({e["order_id"] for e in orders}) == len(orders)
