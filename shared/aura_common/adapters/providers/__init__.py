"""Candle providers behind one port (``base.Provider``): the Binance public archive, ccxt exchange tails, CoinGecko.

Each provider only fetches and parses; validation, merge and caching belong to the caller (the ingestor's chain),
which uses ``aura_common.core.candles`` and ``aura_common.core.coverage``.
"""

from aura_common.adapters.providers.base import Batch, FetchResult, Provider, ProviderError

__all__ = ["Batch", "FetchResult", "Provider", "ProviderError"]
