"""Universe selection: a fixed list from config, or the exchange's TRADING spot pairs quoted in USDT.

``select_universe`` is pure (markets in, symbols out). Exclusions: stablecoin bases, leveraged tokens and the
configured list. A leveraged token is a base ending in UP/DOWN/BULL/BEAR **whose stem is itself a listed base**
(BTCUP -> BTC is listed: excluded; JUP -> J is not: kept), so that real coins whose names happen to end that way
survive. When more pairs qualify than ``max_symbols``, the highest 24 h quote volumes win when volumes are given,
else the alphabetical first ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from aura_common.adapters.clock import Clock

from aura_common.adapters.logs import event
from aura_common.config.models import UniverseConfig

REFRESH_MS = 24 * 3_600_000

log = logging.getLogger("aura.ingestor")


def select_universe(markets: Iterable[Mapping], cfg: UniverseConfig,
                    quote_volumes: Mapping[str, float] | None = None) -> list[str]:
    """``markets``: ccxt market dicts (``id``, ``base``, ``quote``, ``spot``, ``active``, ``info.status``)."""
    spot = [m for m in markets if m.get("spot")]
    bases = {str(m.get("base", "")).upper() for m in spot}
    stable = {s.upper() for s in cfg.stablecoins}
    excluded = {s.upper() for s in cfg.exclusions}
    out = []
    for m in spot:
        base, quote = str(m.get("base", "")).upper(), str(m.get("quote", "")).upper()
        status = (m.get("info") or {}).get("status")
        active = status == "TRADING" if status is not None else bool(m.get("active"))
        symbol = f"{base}{quote}"
        if quote != cfg.quote_asset.upper() or not active or base in stable or symbol in excluded:
            continue
        if any(base.endswith(sfx) and base[: -len(sfx)] in bases for sfx in cfg.leveraged_suffixes):
            continue
        out.append(symbol)
    out = sorted(set(out))
    if len(out) > cfg.max_symbols:
        if quote_volumes:
            out = sorted(out, key=lambda s: (-float(quote_volumes.get(s) or 0.0), s))[: cfg.max_symbols]
            out.sort()
        else:
            out = out[: cfg.max_symbols]
    return out


def resolve_universe(cfg: UniverseConfig, exchange_factory=None) -> list[str]:
    """The symbols to keep cached. ``exchange`` source: one exchangeInfo request (plus one ticker request when
    more than ``max_symbols`` pairs qualify)."""
    if cfg.source == "fixed":
        return sorted(set(s for s in cfg.symbols if s not in set(cfg.exclusions)))
    exchange = exchange_factory()
    markets = list((exchange.load_markets() or {}).values())
    if not markets:  # ccxt turns an HTML page or truncated JSON into an empty table: not a real answer
        body = str(getattr(exchange, "last_http_response", "") or "").strip()[:40]
        raise RuntimeError(f"exchange info returned no markets (body starts {body!r})")
    chosen = select_universe(markets, cfg)
    n_all = len(select_universe(markets, cfg.model_copy(update={"max_symbols": 10**6})))
    if n_all > cfg.max_symbols:
        try:
            tickers = exchange.fetch_tickers()
            vols = {str(t.get("symbol", "")).replace("/", ""): t.get("quoteVolume") for t in tickers.values()}
            chosen = select_universe(markets, cfg, vols)
        except Exception as exc:  # noqa: BLE001 - volume ranking is a refinement; alphabetical is the fallback
            event(log, "UNIVERSE", logging.WARNING, note="ticker ranking failed, alphabetical cut",
                  error=type(exc).__name__)
    event(log, "UNIVERSE", source="exchange", qualifying=n_all, chosen=len(chosen))
    return chosen


class CachedUniverse:
    """The exchange universe re-read at most once a day, so that an hourly pass where every pair is fresh makes no
    request at all. A failed refresh keeps the last good list (and is retried at the next pass)."""

    def __init__(self, resolve: Callable[[], list[str]], clock: Clock, refresh_ms: int = REFRESH_MS) -> None:
        self.resolve, self.clock, self.refresh_ms = resolve, clock, refresh_ms
        self.symbols: list[str] | None = None
        self.at_ms = 0

    def __call__(self) -> list[str]:
        now = self.clock.now_ms()
        if self.symbols is None or now - self.at_ms >= self.refresh_ms:
            try:
                self.symbols, self.at_ms = self.resolve(), now
            except Exception as exc:  # noqa: BLE001 - keep the last good list when there is one
                if self.symbols is None:
                    raise
                event(log, "UNIVERSE", logging.WARNING, note="refresh failed, keeping the last list",
                      error=f"{type(exc).__name__}: {exc}"[:200])
        return self.symbols
