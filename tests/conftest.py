"""Suite-wide fixtures. Area fixtures live in each tests/<area>/conftest.py; the whole-system helpers (processes,
the simulator and its admin client, caches, the trader, journal readers) in the ``harness`` package (tests/harness)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import harness`, for every test and conftest

from aura_common.adapters.clock import SteppedClock  # noqa: E402
from aura_common.adapters.journal import Journal  # noqa: E402
from harness.processes import free_port  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
T0_MS = 1_714_521_600_000  # 2024-05-01T00:00:00Z: the stepped clock's start in journal tests


def real_data_dir() -> Path | None:
    """../shared/data/binance_spot_usdt_2017_2023 beside the checkout, or $AURA_REAL_DATA."""
    env = os.environ.get("AURA_REAL_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data" / "binance_spot_usdt_2017_2023")
    for c in candidates:
        if (c / "1d").is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def real_data() -> Path:
    path = real_data_dir()
    if path is None:
        pytest.skip("real Binance candles not found: set AURA_REAL_DATA or place ../shared/data beside the checkout")
    return path


def metric_families(registry) -> dict[str, tuple[str, set[str]]]:
    """Every metric a prometheus_client registry exposes: name (counters with ``_total``) -> (type, label names)."""
    out = {}
    for family in registry.collect():
        labels: set[str] = set()
        for sample in family.samples:
            labels |= set(sample.labels) - {"le"}
        out[family.name + ("_total" if family.type == "counter" else "")] = (family.type, labels)
    return out


@pytest.fixture
def port() -> int:
    return free_port()


# -- a real journal file in tmp_path on a stepped clock (foundation, trader risk side) -----------------------------

@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock(T0_MS)


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "journal" / "aura.sqlite"


@pytest.fixture
def journal(journal_path: Path, clock: SteppedClock):
    j = Journal.open(journal_path, clock)
    try:
        yield j
    finally:
        j.close()
