"""Optimizer fixtures (helpers live in optimizer_helpers.py, a module name no other area uses)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from optimizer_helpers import Workspace, make_workspace  # noqa: E402

from aura_common.core.panel import Panel  # noqa: E402
from aura_common.core.synthetic import synthetic_panel  # noqa: E402


@pytest.fixture(scope="session")
def panel() -> Panel:
    return synthetic_panel(10, 600, seed=5)


@pytest.fixture
def ws(tmp_path: Path, panel: Panel) -> Workspace:
    return make_workspace(tmp_path, panel)
