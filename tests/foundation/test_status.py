"""``aura status`` through the real console script against a real journal snapshot in tmp_path."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

from aura_common.adapters.journal import CycleStatus, Position
from aura_common.domain import OrderStatus, Side

REPO = Path(__file__).resolve().parents[2]
KEY = "2024-05-01T00:15Z"


def aura(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("aura")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
    return subprocess.run([str(exe), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def cfg(tmp_path, journal_path) -> Path:
    path = tmp_path / "aura.yaml"
    path.write_text(f"execution:\n  mode: testnet\npaths:\n  journal: {journal_path}\n"
                    f"  snapshots_dir: {tmp_path / 'snaps'}\n")
    return path


def _trade_a_cycle(j, clock):
    j.record_config_version("0123456789ab", {"execution": {"mode": "paper"}})
    j.begin_cycle(KEY, plan_hash="plan-1", config_version="0123456789ab")
    j.record_intent(KEY, "aura-btc-1", "BTCUSDT", Side.BUY, D("0.5"), ref_price=D("60000"))
    j.mark_order_sent("aura-btc-1")
    j.update_order("aura-btc-1", OrderStatus.FILLED, exchange_order_id="11", filled_qty=D("0.5"))
    j.record_intent(KEY, "aura-eth-1", "ETHUSDT", Side.SELL, D("2"), ref_price=D("3000"))
    j.mark_order_sent("aura-eth-1")
    j.update_order("aura-eth-1", OrderStatus.PARTIALLY_FILLED, exchange_order_id="12", filled_qty=D("0.75"))
    j.record_positions([Position("BTCUSDT", D("0.5"), D("60000"), D("61000.5")), Position("ETHUSDT", D("1.25"))],
                       "sync", KEY)
    j.record_equity(D("10000"), D("10000"))
    clock.advance(60)
    j.record_equity(D("9000.50"), D("1500"))
    j.finish_cycle(KEY, CycleStatus.DONE)


def _one_line_error(proc, *needles):
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for n in needles:
        assert n in proc.stderr


def test_no_snapshot_yet_is_one_line_exit_1(cfg, tmp_path):
    proc = aura("status", "--config", str(cfg))
    _one_line_error(proc, str(tmp_path / "snaps" / "latest.sqlite"), "no snapshot yet")


def test_text_status_from_the_latest_snapshot(cfg, journal, clock, tmp_path):
    _trade_a_cycle(journal, clock)
    journal.snapshot(tmp_path / "snaps")
    proc = aura("--config", str(cfg), "status")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "mode         paper (from the journal, config version 0123456789ab)" in out
    assert f"last cycle   {KEY} DONE" in out
    assert "equity       9000.5 USDT (cash 1500)" in out
    assert "drawdown     9.995% from peak 10000 USDT" in out
    assert "kill switch  armed" in out
    assert "positions    2 at" in out and "61000.5" in out
    assert "open orders  1" in out and "aura-eth-1" in out and "PARTIALLY_FILLED" in out
    assert "aura-btc-1" not in out  # filled: not open


def test_json_status_for_machines(cfg, journal, clock, tmp_path):
    _trade_a_cycle(journal, clock)
    journal.trip_kill_switch("drawdown 21% > 20%")
    journal.snapshot(tmp_path / "snaps")
    journal.reset_kill_switch("after the snapshot", "ops")  # the live file moved on; status reads the copy
    proc = aura("status", "--json", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert (r["mode"], r["mode_source"], r["config_version"]) == ("paper", "journal", "0123456789ab")
    assert r["snapshot"]["path"] == str(tmp_path / "snaps" / "latest.sqlite")
    assert r["last_cycle"] == {"key": KEY, "status": "DONE", "plan_hash": "plan-1", "attempts": 1,
                               "started_at": "2024-05-01T00:00:00Z", "finished_at": "2024-05-01T00:01:00Z"}
    assert r["equity"] == {"equity": "9000.5", "cash": "1500", "peak": "10000", "drawdown_pct": "9.995",
                           "at": "2024-05-01T00:01:00Z"}
    assert r["kill_switch"] == {"state": "tripped", "tripped_at": "2024-05-01T00:01:00Z",
                                "reason": "drawdown 21% > 20%"}
    assert [(p["symbol"], p["qty"], p["mark_price"]) for p in r["positions"]["items"]] == [
        ("BTCUSDT", "0.5", "61000.5"), ("ETHUSDT", "1.25", None)]
    assert [(o["client_order_id"], o["status"], o["filled_qty"], o["exchange_order_id"]) for o in r["open_orders"]] == [
        ("aura-eth-1", "PARTIALLY_FILLED", "0.75", "12")]


def test_empty_journal_status_says_none_yet_and_mode_from_config(cfg, journal, tmp_path):
    journal.snapshot(tmp_path / "snaps")
    proc = aura("status", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    assert "mode         testnet (from the config)" in proc.stdout
    for line in ("last cycle   none yet", "equity       none recorded yet", "positions    none recorded yet",
                 "open orders  none"):
        assert line in proc.stdout


@pytest.mark.parametrize("damage", ["garbage", "newer_schema"])
def test_corrupt_snapshot_is_one_line_naming_the_file_exit_1(cfg, journal, clock, tmp_path, damage):
    _trade_a_cycle(journal, clock)
    snap = journal.snapshot(tmp_path / "snaps")
    if damage == "garbage":
        snap.write_bytes(b"\x13not a database" * 500)
    else:
        with sqlite3.connect(snap) as c:
            c.execute("PRAGMA user_version = 999")
    _one_line_error(aura("status", "--config", str(cfg)), str(snap))


def test_explicit_snapshot_file_and_bad_config(cfg, journal, clock, tmp_path):
    _trade_a_cycle(journal, clock)
    journal.snapshot(tmp_path / "snaps", keep=1)
    (stamped,) = (tmp_path / "snaps").glob("journal-*.sqlite")
    proc = aura("status", "--json", "--config", str(cfg), "--snapshot", str(stamped))
    assert proc.returncode == 0 and json.loads(proc.stdout)["snapshot"]["path"] == str(stamped)
    bad = tmp_path / "bad.yaml"
    bad.write_text("paths:\n  snapshot_dir: x\n")
    proc = aura("status", "--config", str(bad))
    assert proc.returncode == 2 and "paths.snapshot_dir" in proc.stderr and "Traceback" not in proc.stderr
