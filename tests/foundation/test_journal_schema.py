"""Migrations: a fresh file and every older version reach the newest with their data intact; each migration
is one transaction; files that are not journals, or are newer than the code, are refused."""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D

import pytest

from aura_common.adapters.journal import (
    MIGRATIONS, SCHEMA_VERSION, CycleStatus, Journal, JournalSchemaError, KillSwitchState, migrate,
)
from aura_common.domain import OrderStatus, Side


def _raw(path) -> sqlite3.Connection:
    return sqlite3.connect(str(path), isolation_level=None)


def _version(path) -> int:
    with sqlite3.connect(str(path)) as c:
        return c.execute("PRAGMA user_version").fetchone()[0]


def _fill_v1(c: sqlite3.Connection) -> None:
    """Rows as the v1 code wrote them (the oldest shape of every table)."""
    c.execute("BEGIN")
    c.execute("INSERT INTO cycles (cycle_key, status, plan_hash, started_ms, finished_ms, attempts, detail) "
              "VALUES ('2024-05-01T00:15Z', 'DONE', 'p1', 100, 200, 2, '{\"n\":1}')")
    c.execute("INSERT INTO intents VALUES ('c-1', '2024-05-01T00:15Z', 'BTCUSDT', 'BUY', 'MARKET', '0.5', NULL, "
              "'60000', 'rebalance', 110)")
    c.execute("INSERT INTO intents VALUES ('c-2', '2024-05-01T00:15Z', 'ETHUSDT', 'SELL', 'LIMIT', '2', '3000.1', "
              "NULL, '', 111)")
    c.execute("INSERT INTO orders VALUES ('c-1', 'FILLED', '77', '0.5', '60010', 120, 130, 125, NULL)")
    c.execute("INSERT INTO orders VALUES ('c-2', 'UNKNOWN', NULL, '0', NULL, 121, 121, NULL, 'timeout')")
    c.execute("INSERT INTO fills VALUES ('BTCUSDT', '9001', 'c-1', '77', 'BUY', '0.5', '60010', '0.0005', 'BTC', "
              "125, 131)")
    c.execute("INSERT INTO position_snapshots VALUES (1, 140, 'fills', '2024-05-01T00:15Z')")
    c.execute("INSERT INTO positions VALUES (1, 'BTCUSDT', '0.5', '60010', '60100')")
    c.execute("INSERT INTO equity_snapshots VALUES (1, 150, '9990.5', '0.5', '10000', '2024-05-01T00:15Z')")
    c.execute("INSERT INTO events VALUES (1, 160, 'RISK_GATE', '2024-05-01T00:15Z', '{\"gate\":\"dd\"}')")
    c.execute("UPDATE risk_state SET kill_switch = 'tripped', tripped_ms = 170, reason = 'drawdown', updated_ms = 170")
    c.execute("INSERT INTO kill_switch_history VALUES (1, 170, 'trip', 'drawdown', 'trader')")
    c.execute("COMMIT")


def _fill_v2(c: sqlite3.Connection) -> None:
    c.execute("INSERT INTO config_versions VALUES (1, 'abc123', 90, '{\"execution\":{\"mode\":\"paper\"}}')")
    c.execute("UPDATE cycles SET config_version = 'abc123'")


FILLERS = {1: _fill_v1, 2: _fill_v2, 3: lambda c: None}  # v3 added indexes only


def test_migration_list_is_ordered_and_complete():
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    assert SCHEMA_VERSION >= 3


def test_fresh_file_migrates_to_newest(journal_path, clock):
    with Journal.open(journal_path, clock) as j:
        assert j.kill_switch().state is KillSwitchState.ARMED
        assert j.last_cycle() is None
    assert _version(journal_path) == SCHEMA_VERSION
    with _raw(journal_path) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert c.execute("PRAGMA foreign_key_check").fetchall() == []


@pytest.mark.parametrize("older", range(0, SCHEMA_VERSION))
def test_every_older_version_migrates_and_keeps_its_data(journal_path, clock, older):
    journal_path.parent.mkdir(parents=True)
    c = _raw(journal_path)
    assert migrate(c, str(journal_path), target=older) == (0, older)
    for v in range(1, older + 1):
        FILLERS[v](c)
    c.close()
    assert _version(journal_path) == older

    with Journal.open(journal_path, clock) as j:
        assert _version(journal_path) == SCHEMA_VERSION
        if older == 0:
            return
        cyc = j.cycle("2024-05-01T00:15Z")
        assert (cyc.status, cyc.plan_hash, cyc.attempts, cyc.detail) == (CycleStatus.DONE, "p1", 2, {"n": 1})
        assert cyc.config_version == ("abc123" if older >= 2 else None)
        filled = j.order("c-1")
        assert (filled.status, filled.filled_qty, filled.avg_price, filled.exchange_order_id) == (
            OrderStatus.FILLED, D("0.5"), D("60010"), "77")
        assert [o.client_order_id for o in j.open_orders()] == ["c-2"]
        assert j.open_orders()[0].status is OrderStatus.UNKNOWN
        # sent before version 4: no request timestamp (the executor falls back to the old lag rule for it)
        assert (j.order("c-2").request_ts_ms, j.order("c-2").recv_window_ms) == (None, None)
        (fill,) = j.fills("BTCUSDT")
        assert (fill.trade_id, fill.side, fill.qty, fill.price, fill.fee) == ("9001", Side.BUY, D("0.5"),
                                                                             D("60010"), D("0.0005"))
        assert j.latest_positions().positions[0].mark_price == D("60100")
        assert j.latest_equity().drawdown_pct == D("0.095")
        ks = j.kill_switch()
        assert (ks.state, ks.tripped_ms, ks.reason) == (KillSwitchState.TRIPPED, 170, "drawdown")
        assert [e.fields for e in j.events("RISK_GATE")] == [{"gate": "dd"}]
        assert (j.current_config_version() is not None) == (older >= 2)
        # the migrated file keeps working for new writes
        assert j.record_fill("BTCUSDT", "9002", Side.BUY, D("0.1"), D("60020"), D("0.0001"), "BTC", 300,
                             client_order_id="c-1")


def test_failed_migration_rolls_back_whole(journal_path, clock):
    """A v2 migration that fails half-way leaves the file at v1 with its data and no v2 leftovers."""
    journal_path.parent.mkdir(parents=True)
    c = _raw(journal_path)
    migrate(c, str(journal_path), target=1)
    _fill_v1(c)
    # sabotage: a column v2 adds already exists, so v2's second statement fails after its first succeeded
    c.execute("ALTER TABLE cycles ADD COLUMN config_version TEXT")
    c.close()
    with pytest.raises(JournalSchemaError, match=r"migration 2 .* failed: duplicate column"):
        Journal.open(journal_path, clock)
    with _raw(journal_path) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == 1
        assert c.execute("SELECT count(*) FROM sqlite_master WHERE name = 'config_versions'").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM fills").fetchone()[0] == 1
        c.execute("ALTER TABLE cycles DROP COLUMN config_version")  # the operator repairs the file
    # the refused open released the writer lock, and the repaired file migrates
    Journal.open(journal_path, clock).close()
    assert _version(journal_path) == SCHEMA_VERSION


def test_newer_schema_is_refused(journal_path, clock):
    with Journal.open(journal_path, clock):
        pass
    with _raw(journal_path) as c:
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(JournalSchemaError, match=rf"{journal_path}.*version {SCHEMA_VERSION + 1}.*newer"):
        Journal.open(journal_path, clock)


@pytest.mark.parametrize("setup", [
    "CREATE TABLE someone_elses (x)",
    "PRAGMA application_id = 1234",
])
def test_other_sqlite_files_are_refused(journal_path, clock, setup):
    journal_path.parent.mkdir(parents=True)
    with _raw(journal_path) as c:
        c.execute(setup)
    with pytest.raises(JournalSchemaError, match="not an AURA journal"):
        Journal.open(journal_path, clock)


def test_garbage_file_is_refused_with_its_name(journal_path, clock):
    journal_path.parent.mkdir(parents=True)
    journal_path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(JournalSchemaError, match=str(journal_path)):
        Journal.open(journal_path, clock)


def test_tables_are_strict_and_no_column_is_real(journal):
    """STRICT tables refuse a wrongly typed value; no column is REAL (the API refuses floats, see codec)."""
    journal.begin_cycle("k")
    with pytest.raises(sqlite3.IntegrityError):
        journal._conn.execute("INSERT INTO equity_snapshots (ts_ms, equity, cash, peak) VALUES (1, 'x', 'y', ?)",
                              (b"\x00",))
    cols = journal._conn.execute(
        "SELECT m.name, p.name, p.type FROM sqlite_master m JOIN pragma_table_info(m.name) p "
        "WHERE m.type = 'table'").fetchall()
    assert cols and not [c for c in cols if c[2].upper() in ("REAL", "FLOAT", "DOUBLE", "NUMERIC")]
