"""``aura risk reset`` as a real process: applied directly when no trader holds the journal; a request file the
running trader applies at its next tick when one does (here the test process holds the writer lock)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aura_common.adapters.clock import SystemClock
from aura_common.adapters.journal import Journal
from aura_common.core.params import RiskParams
from aura_trader import risk_reset
from aura_trader.risk import RiskTicker

from .conftest import REPO, tag_lines
from .test_risk_tick import view

AURA = str(Path(sys.executable).with_name("aura"))


def write_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "aura.yaml"
    cfg.write_text(f"paths:\n  journal: {tmp_path / 'journal' / 'aura.sqlite'}\n")
    return cfg


def aura(cfg: Path, *args: str, wait: bool = True, timeout: float = 60):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
    cmd = [AURA, "--config", str(cfg), "risk", "reset", *args]
    if not wait:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def tripped_journal(path: Path) -> None:
    with Journal.open(path, SystemClock()) as j:
        j.trip_kill_switch("drawdown 25 % reached the 20 % threshold")


def test_no_trader_running_applies_the_reset_directly(tmp_path):
    cfg = write_config(tmp_path)
    path = tmp_path / "journal" / "aura.sqlite"
    tripped_journal(path)
    proc = aura(cfg, "--reason", "post-mortem done")
    assert proc.returncode == 0, proc.stderr
    assert "applied directly" in proc.stdout and "re-armed" in proc.stdout
    with Journal.open(path, SystemClock()) as j:
        assert not j.kill_switch().tripped
        last = j.kill_switch_history()[-1]
        assert (last.action, last.reason) == ("reset", "post-mortem done")
        assert last.actor.startswith("aura risk reset (") and "@" in last.actor
        [ev] = j.events(tag="RISK_RESET")
        assert ev.fields["source"] == "direct" and ev.fields["result"] == "reset"
    # again: nothing to do, still exit 0, and it says so
    proc = aura(cfg)
    assert proc.returncode == 0 and "already armed" in proc.stdout
    assert not (tmp_path / "journal" / "control").exists()


def test_a_running_trader_gets_a_request_and_applies_it_at_its_next_tick(tmp_path, metrics, logger, caplog):
    cfg = write_config(tmp_path)
    path = tmp_path / "journal" / "aura.sqlite"
    tripped_journal(path)
    with Journal.open(path, SystemClock()) as j:  # the "trader" holds the writer lock
        proc = aura(cfg, "--reason", "resume after review")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("aura risk reset: requested:") and f"pid={os.getpid()}" in proc.stdout
        [req] = list((path.parent / "control").glob("risk-reset-*.json"))
        body = json.loads(req.read_text())
        assert body["reason"] == "resume after review" and body["kind"] == "risk_reset" and "@" in body["requester"]
        assert j.kill_switch().tripped  # nothing applied until the trader's tick

        ticker = RiskTicker(j, metrics, logger)
        out = ticker.tick(view(10_000), SystemClock().now_ms(), RiskParams(), "tick-1")
        assert out.resets == ("reset",) and not out.kill_switch_active
        last = j.kill_switch_history()[-1]
        assert (last.action, last.reason) == ("reset", "resume after review")
        assert not req.exists() and json.loads(risk_reset.done_path(req).read_text())["result"] == "reset"
        assert tag_lines(caplog, "RISK_RESET")[0]["file"] == str(req)


def test_wait_reports_what_the_trader_did(tmp_path, metrics, logger):
    cfg = write_config(tmp_path)
    path = tmp_path / "journal" / "aura.sqlite"
    tripped_journal(path)
    with Journal.open(path, SystemClock()) as j:
        proc = aura(cfg, "--reason", "waited", "--wait", "30", wait=False)
        try:
            ticker = RiskTicker(j, metrics, logger)
            control = path.parent / "control"
            for _ in range(300):  # the request appears, then one tick applies it
                if list(control.glob("risk-reset-*.json")):
                    break
                time.sleep(0.1)
            ticker.tick(view(10_000), SystemClock().now_ms(), RiskParams(), "tick-1")
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    assert "requested" in out and "the trader applied the request: reset" in out


def test_wait_times_out_when_no_tick_comes(tmp_path):
    cfg = write_config(tmp_path)
    path = tmp_path / "journal" / "aura.sqlite"
    tripped_journal(path)
    with Journal.open(path, SystemClock()):
        proc = aura(cfg, "--reason", "nobody home", "--wait", "0.5")
    assert proc.returncode == 1 and "stays pending" in proc.stderr
    assert len(list((path.parent / "control").glob("risk-reset-*.json"))) == 1


@pytest.mark.parametrize("setup, code, text", [
    ("missing_journal", 1, "no journal at"),
    ("bad_config", 2, "configuration error"),
])
def test_errors_are_one_line(tmp_path, setup, code, text):
    cfg = write_config(tmp_path)
    if setup == "bad_config":
        cfg.write_text("paths:\n  journl: x\n")
    proc = aura(cfg, "--reason", "x")
    assert proc.returncode == code and text in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
