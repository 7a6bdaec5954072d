"""Market-data fixtures: the local fakes of marketdata_fakes.py (helpers such as ``synth_rows`` live there too,
under a module name no other area uses)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from marketdata_fakes import ArchiveFake, KlinesFake  # noqa: E402


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
