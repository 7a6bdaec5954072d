"""Universe selection (pure) — table cases — and the exchange source through real ccxt against a local fake."""

from __future__ import annotations

import pytest
from marketdata_fakes import DAY, synth_rows

from aura_common.adapters.providers.ccxt_tail import make_exchange
from aura_common.config.models import UniverseConfig
from aura_ingestor.universe import resolve_universe, select_universe


def m(base, quote="USDT", status="TRADING", spot=True):
    return {"id": base + quote, "base": base, "quote": quote, "spot": spot, "active": status == "TRADING",
            "info": {"status": status}}


@pytest.mark.parametrize("markets, cfg, expected", [
    ([m("BTC"), m("ETH")], {}, ["BTCUSDT", "ETHUSDT"]),
    ([m("BTC"), m("ETH", quote="BTC")], {}, ["BTCUSDT"]),                      # quote must be USDT
    ([m("BTC"), m("LUNA", status="BREAK")], {}, ["BTCUSDT"]),                 # not TRADING
    ([m("BTC"), m("USDC"), m("FDUSD"), m("WBTC")], {}, ["BTCUSDT"]),          # stablecoins / wrapped
    ([m("BTC"), m("BTCUP"), m("BTCDOWN"), m("ETH"), m("ETHBULL"), m("ETHBEAR")], {}, ["BTCUSDT", "ETHUSDT"]),
    ([m("BTC"), m("JUP"), m("SUPER")], {}, ["BTCUSDT", "JUPUSDT", "SUPERUSDT"]),  # names that merely end in UP
    ([m("BTC"), m("DOGE")], {"exclusions": ["DOGEUSDT"]}, ["BTCUSDT"]),
    ([m("BTC"), m("ETH", spot=False)], {}, ["BTCUSDT"]),
    ([m("C"), m("A"), m("B")], {"max_symbols": 2}, ["AUSDT", "BUSDT"]),
])
def test_select_universe(markets, cfg, expected):
    assert select_universe(markets, UniverseConfig(**cfg)) == expected


def test_max_symbols_prefers_volume_when_known():
    cfg = UniverseConfig(max_symbols=2)
    vols = {"AUSDT": 1.0, "BUSDT": 50.0, "CUSDT": 20.0}
    assert select_universe([m("A"), m("B"), m("C")], cfg, vols) == ["BUSDT", "CUSDT"]


def test_fixed_universe_needs_no_exchange():
    cfg = UniverseConfig(source="fixed", symbols=("ETHUSDT", "BTCUSDT", "DOGEUSDT"), exclusions=("DOGEUSDT",))
    assert resolve_universe(cfg, None) == ["BTCUSDT", "ETHUSDT"]


def test_exchange_universe_through_ccxt(klines_fake):
    for s in ("BTCUSDT", "ETHUSDT", "USDCUSDT", "BTCUPUSDT"):
        klines_fake.data[(s, "1d")] = synth_rows(0, 2, DAY)
    cfg = UniverseConfig(source="exchange")
    assert resolve_universe(cfg, lambda: make_exchange("binance", klines_fake.url, 2)) == ["BTCUSDT", "ETHUSDT"]
    assert klines_fake.count("/api/v3/exchangeInfo") == 1


def test_cached_universe_refreshes_daily_and_keeps_the_last_good_list(klines_fake):
    from aura_common.adapters.clock import SteppedClock
    from aura_ingestor.universe import CachedUniverse
    klines_fake.data[("BTCUSDT", "1d")] = synth_rows(0, 2, DAY)
    clock = SteppedClock(1_700_000_000_000)
    u = CachedUniverse(lambda: resolve_universe(UniverseConfig(source="exchange"),
                                                lambda: make_exchange("binance", klines_fake.url, 2)), clock)
    assert u() == ["BTCUSDT"] and u() == ["BTCUSDT"]
    assert klines_fake.count("/api/v3/exchangeInfo") == 1  # cached within the day
    klines_fake.faults["/api/v3/exchangeInfo"] = "500"
    clock.advance(25 * 3600)
    assert u() == ["BTCUSDT"]  # refresh failed: last good list
    assert klines_fake.count("/api/v3/exchangeInfo") == 2


def test_garbage_exchange_info_is_not_an_empty_universe(klines_fake):
    klines_fake.data[("BTCUSDT", "1d")] = synth_rows(0, 2, DAY)
    klines_fake.faults["/api/v3/exchangeInfo"] = "html"
    with pytest.raises(RuntimeError, match="no markets"):
        resolve_universe(UniverseConfig(source="exchange"), lambda: make_exchange("binance", klines_fake.url, 2))
