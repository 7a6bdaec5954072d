"""Market-data fixtures: local fakes (see marketdata_fakes.py) and seeded synthetic candle rows."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from marketdata_fakes import ArchiveFake, CoinGeckoFake, KlinesFake  # noqa: E402

DAY = 86_400_000
H4 = 14_400_000


def synth_rows(start_ms: int, n: int, step: int = DAY, seed: int = 0, price: float = 100.0) -> np.ndarray:
    """Seeded valid rows [t, o, h, l, c, v] on the grid."""
    rng = np.random.default_rng(seed)
    c = price * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    o = np.concatenate(([price], c[:-1]))
    h = np.maximum(o, c) * (1 + rng.random(n) * 0.01)
    lo = np.minimum(o, c) * (1 - rng.random(n) * 0.01)
    v = 1 + rng.random(n) * 100
    t = start_ms + step * np.arange(n)
    return np.column_stack([t, o, h, lo, c, v])


@pytest.fixture
def archive_fake():
    with ArchiveFake() as fake:
        yield fake


@pytest.fixture
def klines_fake():
    with KlinesFake() as fake:
        yield fake


@pytest.fixture
def klines_fake2():
    with KlinesFake() as fake:
        yield fake
