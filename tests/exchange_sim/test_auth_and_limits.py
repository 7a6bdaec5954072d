"""Signing (spec §2 test vectors), timestamp windows, and request weights (429 then 418)."""

from __future__ import annotations

import ccxt
import pytest
import requests

from aura_exchange_sim import auth
from aura_exchange_sim.errors import ApiError
from aura_exchange_sim.ratelimit import RateLimiter

from .conftest import client

KEYS = {"k": "sim-secret-123"}
NOW = 1_700_000_000_000


@pytest.mark.parametrize("payload,sig", [
    ("timestamp=1700000000000&symbol=BTCUSDT&side=BUY&newClientOrderId=lim-1&newOrderRespType=FULL&type=LIMIT"
     "&quantity=0.001&price=40000&timeInForce=GTC&recvWindow=5000",
     "2cdbf0b70d415e4983d041ac78cda00f1adf8e80097978ce00b7d94fce447110"),
    ("timestamp=1700000000000&recvWindow=5000", "0302585cfc96f3e55493455f4a44f7eb699295c6ee20fefcc02982ec41e54a82"),
])
def test_spec_signature_vectors(payload, sig):
    assert auth.sign("sim-secret-123", payload) == sig
    params = dict(p.split("=", 1) for p in payload.split("&"))
    # the same payload verifies whether it arrives in the query (GET) or the body (POST), in any case of hex
    assert auth.verify(payload + "&signature=" + sig, "", params, "k", KEYS, (NOW,)) == "k"
    assert auth.verify("", payload + "&signature=" + sig.upper(), params, "k", KEYS, (NOW,)) == "k"


def _verify(query: str, key: str | None = "k", clocks=(NOW,)):
    params = dict(p.split("=", 1) for p in query.split("&") if p)
    signed = query + "&signature=" + auth.sign("sim-secret-123", query)
    return auth.verify(signed, "", params, key, KEYS, clocks)


@pytest.mark.parametrize("query,key,clocks,code", [
    ("timestamp=1700000000000", None, (NOW,), -2014),
    ("timestamp=1700000000000", "bad key", (NOW,), -2014),
    ("timestamp=1700000000000", "unknown", (NOW,), -2015),
    ("recvWindow=5000", "k", (NOW,), -1102),
    ("timestamp=1700000000000&recvWindow=70000", "k", (NOW,), -1131),
    ("timestamp=1700000001000", "k", (NOW,), -1021),  # 1000 ms ahead
    ("timestamp=1699999994999", "k", (NOW,), -1021),  # older than the 5000 ms default window
    ("timestamp=1699999994999&recvWindow=6000", "k", (NOW,), None),
    ("timestamp=1699999994999", "k", (NOW, NOW - 6000), None),  # valid against the other clock
])
def test_request_checks(query, key, clocks, code):
    if code is None:
        assert _verify(query, key, clocks) == "k"
        return
    with pytest.raises(ApiError) as info:
        _verify(query, key, clocks)
    assert info.value.code == code
    assert info.value.status == (401 if code in (-2014, -2015) else 400)


def test_tampered_body_fails_signature():
    q = "timestamp=1700000000000&symbol=BTCUSDT"
    sig = auth.sign("sim-secret-123", q)
    with pytest.raises(ApiError) as info:
        auth.verify(q.replace("BTC", "ETH") + "&signature=" + sig, "", {"timestamp": "1700000000000"}, "k", KEYS,
                    (NOW,))
    assert info.value.code == -1022


def test_rate_limiter_window_429_and_ban():
    rl = RateLimiter(limit=10, ban_seconds=120)
    t = 60_000 * 1000 + 50_000
    assert rl.charge("a", 6, t) == 6
    with pytest.raises(ApiError) as info:
        rl.charge("a", 6, t + 1)
    assert info.value.status == 429 and info.value.headers["Retry-After"] == "10"
    with pytest.raises(ApiError) as info:  # ignored Retry-After
        rl.charge("a", 1, t + 2)
    assert info.value.status == 418
    with pytest.raises(ApiError):
        rl.charge("a", 1, t + 60_000)  # still banned in the next minute
    assert rl.charge("b", 1, t + 2) == 1  # per IP
    assert rl.charge("a", 1, t + 121_000) == 1


def test_weight_limit_through_ccxt(sim_factory):
    srv = sim_factory(weight_limit=100)
    ex = client(srv.url)
    with pytest.raises(ccxt.DDoSProtection):
        for _ in range(20):  # 20 calls: at least 6 fall into one minute window even across a boundary
            ex.fetch_balance()  # weight 20 each
    r = requests.get(srv.url + "/api/v3/time", timeout=5)
    assert r.status_code == 418 and r.json()["code"] == -1003
