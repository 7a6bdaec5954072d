"""Suite-wide fixtures. Area fixtures live in each tests/<area>/conftest.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from aura_common.adapters.clock import SteppedClock
from aura_common.adapters.journal import Journal

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what: str, check, timeout: float = 60.0, interval: float = 0.2):
    """Poll ``check()`` until it returns a truthy value (returned); bounded in time and count, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    last = None
    for _ in range(int(timeout / interval) + 2):
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            break
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")


def stop_process(proc: subprocess.Popen, *, sig: int | None = signal.SIGTERM, timeout: float = 10.0) -> int:
    """Ask a process to stop with ``sig`` (None: the caller already asked it, e.g. by closing its stdin) and
    wait; kill it when it has not exited within ``timeout``. Returns its exit code."""
    if proc.poll() is None:
        if sig is not None:
            proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def metric_families(registry) -> dict[str, tuple[str, set[str]]]:
    """Every metric a prometheus_client registry exposes: name (counters with ``_total``) -> (type, label names)."""
    out = {}
    for family in registry.collect():
        labels: set[str] = set()
        for sample in family.samples:
            labels |= set(sample.labels) - {"le"}
        out[family.name + ("_total" if family.type == "counter" else "")] = (family.type, labels)
    return out


class Admin:
    """A client of the exchange simulator's admin API (faults, clock, ledger)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url, self.s = url, requests.Session()
        if token:  # a simulator bound beyond loopback answers its admin API only with its --admin-token
            self.s.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params):
        r = self.s.get(self.url + path, params=params, timeout=5)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body=None):
        r = self.s.post(self.url + path, json=body or {}, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()

    def faults(self, *rules):
        return self.post("/admin/faults", {"faults": list(rules)})

    def fault_rules(self):
        return self.get("/admin/faults")

    def step(self, ms: int):
        return self.post("/admin/clock", {"step_ms": ms})

    def set_time(self, ms: int):
        return self.post("/admin/clock", {"set_ms": ms})

    def ledger(self):
        return self.get("/admin/ledger")["entries"]


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
