"""clientOrderId exactly as Binance (spec §5): unique only among OPEN orders, so a blind retry double-fills."""

from __future__ import annotations

import ccxt
import pytest

from .conftest import client

SYM = "BTC/USDT"


def test_blind_retry_of_a_filled_market_order_double_fills(server, admin):
    ex = client(server.url)
    first = ex.create_order(SYM, "market", "buy", 0.01, None, {"newClientOrderId": "retry-1"})
    second = ex.create_order(SYM, "market", "buy", 0.01, None, {"newClientOrderId": "retry-1"})
    assert first["id"] != second["id"] and first["status"] == second["status"] == "closed"
    fills = [e for e in admin.ledger() if e["kind"] == "fill" and e["client_order_id"] == "retry-1"]
    assert len(fills) == 2
    # two fills of 0.01, each charged 0.1 % in the RECEIVED asset (BTC), as Binance does
    assert ex.fetch_balance()["BTC"]["total"] == pytest.approx(1 + 2 * (0.01 - 0.00001))
    # the id now names two orders; a lookup returns the MOST RECENT one (documented choice)
    assert ex.fetch_order(None, SYM, {"origClientOrderId": "retry-1"})["id"] == second["id"]
    assert ex.fetch_order(first["id"], SYM)["clientOrderId"] == "retry-1"


def test_duplicate_of_an_open_limit_order_is_rejected(server, admin):
    ex = client(server.url)
    ex.load_markets()
    price = float(ex.price_to_precision(SYM, ex.fetch_ticker(SYM)["last"] * 0.9))
    o = ex.create_order(SYM, "limit", "buy", 0.01, price, {"newClientOrderId": "lim-dup"})
    with pytest.raises(ccxt.InvalidOrder) as info:
        ex.create_order(SYM, "limit", "buy", 0.01, price, {"newClientOrderId": "lim-dup"})
    assert not isinstance(info.value, ccxt.DuplicateOrderId) and "Duplicate order sent." in str(info.value)
    # unique per account, not per symbol
    other = "SYN000/USDT"
    amount = float(ex.amount_to_precision(other, 20 / ex.fetch_ticker(other)["last"]))
    with pytest.raises(ccxt.InvalidOrder):
        ex.create_order(other, "market", "buy", amount, None, {"newClientOrderId": "lim-dup"})
    assert [x["id"] for x in ex.fetch_open_orders()] == [o["id"]]
    # once cancelled, the id is free again and creates a NEW order
    ex.cancel_order(None, SYM, {"origClientOrderId": "lim-dup"})
    again = ex.create_order(SYM, "limit", "buy", 0.01, price, {"newClientOrderId": "lim-dup"})
    assert again["id"] != o["id"] and again["status"] == "open"
    assert ex.fetch_order(o["id"], SYM)["status"] == "canceled"


def test_filled_orders_stay_queryable_by_client_id(server, admin):
    ex = client(server.url)
    o = ex.create_order(SYM, "market", "sell", 0.01, None, {"newClientOrderId": "keep-1"})
    admin.step(30 * 86_400_000)
    got = ex.fetch_order(None, SYM, {"origClientOrderId": "keep-1"})
    assert got["id"] == o["id"] and got["status"] == "closed" and got["filled"] == 0.01


@pytest.mark.parametrize("bad", ["has.dot", "has:colon", "x" * 37, "space here"])
def test_client_id_regex(server, bad):
    ex = client(server.url)
    with pytest.raises(ccxt.BadRequest):
        ex.create_order(SYM, "market", "buy", 0.01, None, {"newClientOrderId": bad})


def test_generated_ids_when_none_is_sent(server):
    ex = client(server.url)
    o = ex.create_order(SYM, "market", "buy", 0.01)
    assert o["clientOrderId"].startswith("x-TKT5PX2F") and len(o["clientOrderId"]) == 32
