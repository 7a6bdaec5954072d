"""Snapshot copies: consistent while another process keeps writing (integrity_check, whole transactions only),
atomic replacement, pruning, and a read-only reader that refuses corrupt copies with one clear error."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal as D

import pytest

from aura_common.adapters.journal import (
    JournalReader, Position, SnapshotError, SnapshotMissingError, snapshot_file,
)
from aura_common.adapters.journal.snapshots import LATEST
from aura_common.domain import OrderStatus, Side

K = 7  # rows per writer transaction

WRITER = """
    import sys, os
    from pathlib import Path
    from aura_common.adapters.clock import SystemClock
    from aura_common.adapters.journal import Journal
    path, stop, k = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    with Journal.open(path, SystemClock()) as j:
        j.begin_cycle("load")
        for n in range(200_000):  # bounded; stops when the test says so
            with j.transaction():
                for i in range(k):
                    j.append_event("TXN", {"txn": n, "i": i}, cycle_key="load")
            if n == 20:
                print("writing", flush=True)
            if stop.exists():
                break
    print("done", n, flush=True)
"""


def _txn_counts(path) -> dict[int, int]:
    with sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = c.execute("SELECT json_extract(fields, '$.txn'), count(*) FROM events WHERE tag = 'TXN' "
                         "GROUP BY 1").fetchall()
    return dict(rows)


def test_snapshot_while_another_process_writes_holds_whole_transactions(journal_path, tmp_path, spawn):
    stop = tmp_path / "stop"
    writer = spawn(WRITER, str(journal_path), str(stop), str(K))
    try:
        assert writer.stdout.readline().strip() == "writing", writer.stderr.read()
        seen = []
        for i in range(8):
            assert writer.poll() is None, "the writer must still be writing while we snapshot"
            snap = snapshot_file(journal_path, tmp_path / "snaps", now_ms=1_714_521_600_000 + i * 1000, keep=2)
            counts = _txn_counts(snap)
            assert counts, "the copy holds the committed transactions"
            assert set(counts.values()) == {K}, "a transaction was copied in part"
            assert sorted(counts) == list(range(len(counts))), "the copy is a prefix of the history"
            seen.append(len(counts))
            time.sleep(0.05)
        assert writer.poll() is None
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert len(set(seen)) > 1, f"writes continued between snapshots: {seen}"
    assert int(out.split()[-1]) + 1 >= seen[-1]
    names = sorted(p.name for p in (tmp_path / "snaps").iterdir())
    assert names == ["journal-20240501T000006000Z.sqlite", "journal-20240501T000007000Z.sqlite", LATEST]


def _populate(j):
    j.begin_cycle("2024-05-01T00:15Z", plan_hash="h")
    j.record_intent("2024-05-01T00:15Z", "c-1", "BTCUSDT", Side.BUY, D("0.5"), ref_price=D("60000"))
    j.mark_order_sent("c-1")
    j.update_order("c-1", OrderStatus.FILLED, exchange_order_id="1", filled_qty=D("0.5"), avg_price=D("60030"))
    j.record_fill("BTCUSDT", "11", Side.BUY, D("0.2"), D("60000"), D("0.0002"), "BTC", 10, client_order_id="c-1")
    j.record_fill("BTCUSDT", "12", Side.BUY, D("0.3"), D("60050"), D("18"), "USDT", 11, client_order_id="c-1")
    j.record_intent("2024-05-01T00:15Z", "c-2", "ETHUSDT", Side.SELL, D("2"), ref_price=D("3000"))
    j.mark_order_sent("c-2")
    j.update_order("c-2", OrderStatus.PARTIALLY_FILLED, exchange_order_id="2", filled_qty=D("1"))
    j.record_fill("ETHUSDT", "5", Side.SELL, D("1"), D("2997"), D("3"), "USDT", 12, client_order_id="c-2")
    j.record_positions([Position("BTCUSDT", D("0.5"), D("60030"), D("61000"))], "fills")
    j.record_equity(D("10000"), D("10000"))
    j.record_equity(D("9500"), D("500"))
    j.record_config_version("cfg1", {"execution": {"mode": "paper"}})
    j.finish_cycle("2024-05-01T00:15Z", "DONE")


def test_reader_answers_from_the_copy_only(journal, tmp_path):
    _populate(journal)
    snap = journal.snapshot(tmp_path / "snaps", keep=0)
    journal.trip_kill_switch("after the snapshot")  # the live file moves on; the copy does not
    with JournalReader.latest(tmp_path / "snaps") as r:
        assert r.path == snap and r.integrity_check() == "ok"
        assert r.last_cycle().plan_hash == "h"
        assert not r.kill_switch().tripped
        assert r.latest_equity().drawdown_pct == D(5)
        assert [o.client_order_id for o in r.open_orders()] == ["c-2"]
        assert r.latest_positions().positions[0].mark_price == D("61000")
        assert r.current_config_version().version == "cfg1"
        assert [f.trade_id for f in r.fills("BTCUSDT")] == ["11", "12"]
        btc, eth = r.realised_costs()
        assert (btc.symbol, btc.fills, btc.fees) == ("BTCUSDT", 2, {"BTC": D("0.0002"), "USDT": D("18")})
        assert btc.slippage_quote == D("15.0")  # bought 0.3 at 50 above the reference
        assert btc.slippage_bps == D("15") / D("30000") * 10_000
        assert eth.slippage_quote == D("3")  # sold 1 at 3 below the reference
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            r._conn.execute("DELETE FROM fills")
    assert sorted(p.name for p in snap.parent.iterdir()) == [LATEST]  # keep=0: no stamped copies
    assert not (snap.parent / (LATEST + "-wal")).exists()


def test_a_new_snapshot_replaces_the_old_atomically(journal, tmp_path, clock):
    journal.begin_cycle("a")
    first = journal.snapshot(tmp_path / "snaps")
    reader = JournalReader.open(first)  # a reader holding the old copy keeps a consistent view
    clock.advance(1)
    journal.begin_cycle("b")
    second = journal.snapshot(tmp_path / "snaps")
    assert first == second
    assert reader.last_cycle().cycle_key == "a"
    reader.close()
    with JournalReader.open(second) as r:
        assert r.last_cycle().cycle_key == "b"
    assert not list((tmp_path / "snaps").glob(".*.tmp"))


def test_missing_snapshot_is_its_own_error(tmp_path):
    with pytest.raises(SnapshotMissingError, match="no snapshot yet"):
        JournalReader.latest(tmp_path / "empty")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "page_overwritten", "not_a_journal", "newer"])
def test_corrupt_snapshot_is_one_clear_error_naming_the_file(journal, tmp_path, damage):
    _populate(journal)
    for i in range(200):
        journal.append_event("PAD", {"i": i, "pad": "x" * 300})
    snap = journal.snapshot(tmp_path / "snaps")
    data = bytearray(snap.read_bytes())
    if damage == "garbage":
        snap.write_bytes(b"\x00garbage" * 1000)
    elif damage == "truncated":
        snap.write_bytes(data[: len(data) // 3])
    elif damage == "page_overwritten":
        page = int.from_bytes(data[16:18], "big")
        data[len(data) - 2 * page: len(data) - page] = b"\xff" * page  # a data page turned to noise
        snap.write_bytes(bytes(data))
    elif damage == "not_a_journal":
        snap.unlink()
        with sqlite3.connect(snap) as c:
            c.execute("CREATE TABLE x (y)")
    else:
        with sqlite3.connect(snap) as c:
            c.execute("PRAGMA user_version = 99")
    with pytest.raises(SnapshotError, match=str(snap)):
        JournalReader.open(snap)


def test_queries_on_a_copy_damaged_after_opening_raise_snapshot_error(journal, tmp_path):
    _populate(journal)
    snap = journal.snapshot(tmp_path / "snaps")
    reader = JournalReader.open(snap)
    snap.write_bytes(b"\x00" * snap.stat().st_size)  # overwritten in place under an open reader
    with pytest.raises(SnapshotError, match=str(snap)):
        reader.fills()
    reader.close()
