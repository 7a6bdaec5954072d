"""Lint and types are checked by tools in the suite, as the layering rule is (configuration in pyproject.toml):
ruff over the code, the tests and the benchmarks; mypy over every package, strict on the domain and the pure core."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_ruff_finds_nothing():
    proc = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "shared", "services", "tests", "bench"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_finds_nothing(tmp_path):
    # a cache of its own: two test runs (xdist, another worktree) never share one half-written
    proc = subprocess.run([str(BIN / "mypy"), "--cache-dir", str(tmp_path / "mypy-cache")], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found" in proc.stdout, proc.stdout
