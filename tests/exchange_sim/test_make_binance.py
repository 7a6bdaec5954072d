"""THE ccxt factory: every URL key points at the base URL, the safe options are set, nothing leaves loopback."""

from __future__ import annotations

import ccxt
import pytest

from aura_common.adapters.exchange import make_binance


def _urls(tree):
    if isinstance(tree, dict):
        for v in tree.values():
            yield from _urls(v)
    elif isinstance(tree, str):
        yield tree


def test_every_api_url_is_rebased_keeping_its_suffix():
    real = ccxt.binance().urls["api"]
    ex = make_binance("http://127.0.0.1:8700/")
    assert set(ex.urls["api"]) == set(real)
    for key, url in ex.urls["api"].items():
        assert url == "http://127.0.0.1:8700" + real[key].split(".com", 1)[1], key
    assert all(u.startswith("http://127.0.0.1:8700/") for u in _urls(ex.urls["test"]))
    ex.set_sandbox_mode(True)  # even a stray sandbox switch stays on the simulator
    assert all(u.startswith("http://127.0.0.1:8700/") for u in _urls(ex.urls["api"]))


def test_safe_options_with_and_without_base_url():
    for ex in (make_binance(None), make_binance("http://sim:8700", "k", "s", timeout_seconds=2.5,
                                                enable_rate_limit=False)):
        o = ex.options
        assert o["defaultType"] == "spot" and o["fetchMarkets"]["types"] == ["spot"]
        assert o["fetchCurrencies"] is False and o["fetchMargins"] is False and o["adjustForTimeDifference"] is False
        assert o["createOrder"]["quoteOrderQty"] is False and o["createOrder"]["timeInForce"] == "GTC"
        assert o["fetchOpenOrders"]["warnWithoutSymbol"] is False and o["warnOnFetchOpenOrdersWithoutSymbol"] is False
        assert o["recvWindow"] == 5000
    real = make_binance(None)
    assert real.urls["api"]["public"] == "https://api.binance.com/api/v3" and real.enableRateLimit is True
    sim = make_binance("http://sim:8700", "k", "s", timeout_seconds=2.5, enable_rate_limit=False)
    assert sim.timeout == 2500 and sim.enableRateLimit is False and sim.apiKey == "k"


def test_extra_options_merge_deeply():
    ex = make_binance("http://127.0.0.1:1", extra_options={"createOrder": {"quoteOrderQty": True}, "recvWindow": 9})
    assert ex.options["createOrder"] == {**ccxt.binance().options["createOrder"], "quoteOrderQty": True}
    assert ex.options["recvWindow"] == 9


@pytest.mark.parametrize("bad", ["127.0.0.1:8700", "ftp://x", "http://host:1/api/v3", "http://"])
def test_bad_base_url(bad):
    with pytest.raises(ValueError) as info:
        make_binance(bad)
    assert bad in str(info.value)


def test_load_markets_and_orders_stay_on_loopback(server, monkeypatch):
    """Every connection ccxt opens goes to the simulator (spec appendix A); stray sapi calls hit its 404."""
    import urllib3.util.connection as uconn

    seen = []
    real = uconn.create_connection

    def record(address, *a, **kw):
        seen.append(address[0])
        return real(address, *a, **kw)

    monkeypatch.setattr(uconn, "create_connection", record)
    ex = make_binance(server.url, "aura-sim-key", "aura-sim-secret", enable_rate_limit=False)
    ex.load_markets()
    ex.fetch_balance()
    ex.create_order("BTC/USDT", "market", "buy", 0.01)
    ex.fetch_open_orders()
    with pytest.raises(ccxt.ExchangeNotAvailable):  # an endpoint the simulator does not have: 404, not internet
        ex.sapi_get_capital_config_getall()
    assert seen and set(seen) == {"127.0.0.1"}


def test_every_signed_request_carries_the_configured_recv_window_and_an_explicit_timestamp_wins():
    """ccxt 4.5's sign(): extend({'timestamp': nonce()}, params), then options['recvWindow'], then params'."""
    ex = make_binance("http://127.0.0.1:1", "k", "s", recv_window_ms=3000)
    read = ex.sign("account", ["private"], "GET", {})
    assert "recvWindow=3000" in read["url"]
    order = ex.sign("order", ["private"], "POST", {"symbol": "BTCUSDT", "newClientOrderId": "aura-1",
                                                   "timestamp": 1_700_000_000_123, "recvWindow": 4000})
    assert order["body"].startswith("timestamp=1700000000123&symbol=BTCUSDT&newClientOrderId=aura-1&recvWindow=4000"
                                    "&signature=")
