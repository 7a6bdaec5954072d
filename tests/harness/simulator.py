"""The exchange simulator for whole-system tests: the one client of its admin API, and a simulator process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from harness.processes import Proc, aura, free_port, http_get, wait_until


class SimAdmin:
    """A client of the simulator's admin API (``/admin/*``: clock, faults, balances, orders, ledger) and its
    ``/health``. A simulator bound beyond loopback answers its admin API only with its ``--admin-token``."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url, self.s = url, requests.Session()
        if token:
            self.s.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params: Any) -> Any:
        r = self.s.get(self.url + path, params=params, timeout=10)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: Any = None) -> Any:
        r = self.s.post(self.url + path, json=body if body is not None else {}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def step(self, ms: int) -> Any:
        return self.post("/admin/clock", {"step_ms": ms})

    def set_time(self, ms: int) -> Any:
        return self.post("/admin/clock", {"set_ms": ms})

    def faults(self, *rules: dict) -> Any:
        return self.post("/admin/faults", {"faults": list(rules)})

    def fault_rules(self) -> Any:
        return self.get("/admin/faults")

    def clear_faults(self) -> Any:
        return self.post("/admin/faults/clear")

    def orders(self) -> list[dict]:
        return self.get("/admin/orders")["orders"]

    def balances(self) -> dict:
        return self.get("/admin/balances")["balances"]

    def ledger(self) -> list[dict]:
        return self.get("/admin/ledger")["entries"]


class Sim(SimAdmin):
    """An `aura exchange-sim` process and its admin client."""

    def __init__(self, url: str, proc: Proc) -> None:
        super().__init__(url)
        self.proc = proc

    @property
    def log(self) -> Path:
        return self.proc.log

    def stop(self) -> int:
        return self.proc.stop()


def start_sim(tmp: Path, data_dir: Path, start_ms: int, *, balances: str = "USDT=10000", speed: str = "step",
              log_level: str | None = "WARNING", extra: tuple[str, ...] = ()) -> Sim:
    """`aura exchange-sim` on a free port replaying the Parquet cache ``data_dir`` from ``start_ms``: stepped by
    the admin clock (``speed="step"``) or at N× wall time; weight limits off. Up and healthy when returned."""
    port = free_port()
    args = ["exchange-sim", "--port", str(port), "--data-dir", str(data_dir), "--speed", speed,
            "--start", str(start_ms), "--balances", balances, "--weight-limit", "0"]
    if log_level is not None:
        args += ["--log-level", log_level]
    proc = Proc(aura(*args, *extra), tmp / f"sim-{port}.log", cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    wait_until("the simulator", lambda: http_get(url + "/health")[0] == 200 or (not proc.alive() and proc.text()))
    assert proc.alive(), proc.text()[-2000:]
    return Sim(url, proc)
