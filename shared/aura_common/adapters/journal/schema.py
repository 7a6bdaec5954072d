"""The journal's schema: ordered migrations tracked in ``PRAGMA user_version``.

Rules for changing the schema: never edit a shipped migration; append a new one. Each migration runs in one
transaction together with the ``user_version`` bump, so a crash leaves the file at the old or the new version,
never between. A fresh file and every older version migrate to ``SCHEMA_VERSION`` on the writer's open.

Column conventions: amounts are canonical Decimal TEXT (see codec.py), never REAL; times are INTEGER UTC epoch
ms, ``*_ms`` local and ``venue_*_ms`` exchange time; tables are STRICT so a wrongly typed value is an error.
Status lists are spelled out here (not generated from the enums) so that a shipped migration never changes.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from aura_common.adapters.journal.errors import JournalSchemaError

APPLICATION_ID = 0x41555241  # "AURA" in the SQLite header: tells our journals from any other SQLite file


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


_V1 = Migration(1, "core tables: cycles, events, intents, orders, fills, positions, equity, risk state", (
    f"PRAGMA application_id = {APPLICATION_ID}",
    """CREATE TABLE cycles (
        cycle_key   TEXT PRIMARY KEY,
        status      TEXT NOT NULL CHECK (status IN ('RUNNING', 'DONE', 'FAILED', 'SKIPPED')),
        plan_hash   TEXT,
        started_ms  INTEGER NOT NULL,
        finished_ms INTEGER,
        attempts    INTEGER NOT NULL DEFAULT 1,
        detail      TEXT NOT NULL DEFAULT '{}'
    ) STRICT""",
    """CREATE TABLE events (
        event_id  INTEGER PRIMARY KEY,
        ts_ms     INTEGER NOT NULL,
        tag       TEXT NOT NULL,
        cycle_key TEXT REFERENCES cycles (cycle_key),
        fields    TEXT NOT NULL
    ) STRICT""",
    """CREATE TABLE intents (
        client_order_id TEXT PRIMARY KEY,
        cycle_key       TEXT NOT NULL REFERENCES cycles (cycle_key),
        symbol          TEXT NOT NULL,
        side            TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
        order_type      TEXT NOT NULL CHECK (order_type IN ('MARKET', 'LIMIT')),
        qty             TEXT NOT NULL,
        limit_price     TEXT,
        ref_price       TEXT,
        reason          TEXT NOT NULL DEFAULT '',
        created_ms      INTEGER NOT NULL
    ) STRICT""",
    """CREATE TABLE orders (
        client_order_id   TEXT PRIMARY KEY REFERENCES intents (client_order_id),
        status            TEXT NOT NULL CHECK (status IN ('PENDING', 'UNKNOWN', 'NEW', 'PARTIALLY_FILLED',
                              'FILLED', 'CANCELED', 'REJECTED', 'EXPIRED', 'SKIPPED')),
        exchange_order_id TEXT,
        filled_qty        TEXT NOT NULL DEFAULT '0',
        avg_price         TEXT,
        sent_ms           INTEGER,
        updated_ms        INTEGER NOT NULL,
        venue_update_ms   INTEGER,
        reason            TEXT
    ) STRICT""",
    """CREATE TABLE fills (
        symbol            TEXT NOT NULL,
        trade_id          TEXT NOT NULL,
        client_order_id   TEXT REFERENCES orders (client_order_id),
        exchange_order_id TEXT,
        side              TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
        qty               TEXT NOT NULL,
        price             TEXT NOT NULL,
        fee               TEXT NOT NULL,
        fee_asset         TEXT NOT NULL,
        venue_ms          INTEGER NOT NULL,
        recorded_ms       INTEGER NOT NULL,
        PRIMARY KEY (symbol, trade_id)
    ) STRICT""",
    """CREATE TABLE position_snapshots (
        snapshot_id INTEGER PRIMARY KEY,
        ts_ms       INTEGER NOT NULL,
        source      TEXT NOT NULL,
        cycle_key   TEXT REFERENCES cycles (cycle_key)
    ) STRICT""",
    """CREATE TABLE positions (
        snapshot_id INTEGER NOT NULL REFERENCES position_snapshots (snapshot_id),
        symbol      TEXT NOT NULL,
        qty         TEXT NOT NULL,
        entry_price TEXT,
        mark_price  TEXT,
        PRIMARY KEY (snapshot_id, symbol)
    ) STRICT""",
    """CREATE TABLE equity_snapshots (
        snapshot_id INTEGER PRIMARY KEY,
        ts_ms       INTEGER NOT NULL,
        equity      TEXT NOT NULL,
        cash        TEXT NOT NULL,
        peak        TEXT NOT NULL,
        cycle_key   TEXT REFERENCES cycles (cycle_key)
    ) STRICT""",
    """CREATE TABLE risk_state (
        singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
        kill_switch TEXT NOT NULL CHECK (kill_switch IN ('armed', 'tripped')),
        tripped_ms  INTEGER,
        reason      TEXT,
        updated_ms  INTEGER NOT NULL
    ) STRICT""",
    "INSERT INTO risk_state (singleton, kill_switch, updated_ms) VALUES (1, 'armed', 0)",
    """CREATE TABLE kill_switch_history (
        change_id INTEGER PRIMARY KEY,
        ts_ms     INTEGER NOT NULL,
        action    TEXT NOT NULL CHECK (action IN ('trip', 'reset')),
        reason    TEXT NOT NULL,
        actor     TEXT NOT NULL
    ) STRICT""",
))

_V2 = Migration(2, "config versions, and the config version each cycle ran with", (
    """CREATE TABLE config_versions (
        change_id  INTEGER PRIMARY KEY,
        version    TEXT NOT NULL,
        applied_ms INTEGER NOT NULL,
        content    TEXT NOT NULL
    ) STRICT""",
    "ALTER TABLE cycles ADD COLUMN config_version TEXT",
))

_V3 = Migration(3, "indexes for boot recovery and the readers", (
    "CREATE INDEX orders_by_status ON orders (status)",
    "CREATE INDEX intents_by_cycle ON intents (cycle_key)",
    "CREATE INDEX fills_by_order ON fills (client_order_id)",
    "CREATE INDEX fills_by_symbol_time ON fills (symbol, venue_ms)",
    "CREATE INDEX events_by_tag_time ON events (tag, ts_ms)",
    "CREATE INDEX equity_by_time ON equity_snapshots (ts_ms)",
))

_V4 = Migration(4, "each sent order's request timestamp and recvWindow (when a 'not found' becomes definitive)", (
    "ALTER TABLE orders ADD COLUMN request_ts_ms INTEGER",  # the signed request's timestamp (venue request clock)
    "ALTER TABLE orders ADD COLUMN recv_window_ms INTEGER",  # its recvWindow; NULL on rows sent before version 4
))

MIGRATIONS: tuple[Migration, ...] = (_V1, _V2, _V3, _V4)
SCHEMA_VERSION = MIGRATIONS[-1].version
assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1)), "migrations must be 1..N in order"


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_journal(conn: sqlite3.Connection, source: str) -> int:
    """Refuse a file that is not an AURA journal or was written by newer code; return its version."""
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    version = schema_version(conn)
    if app_id not in (0, APPLICATION_ID) or (app_id == 0 and version != 0):
        raise JournalSchemaError(f"{source} is not an AURA journal (application_id={app_id:#x})")
    if version == 0:
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchone()[0]
        if tables:
            raise JournalSchemaError(f"{source} is not an AURA journal (it has tables but no schema version)")
    if version > SCHEMA_VERSION:
        raise JournalSchemaError(
            f"{source} has journal schema version {version}, newer than this code's {SCHEMA_VERSION}: "
            "run the newer AURA version (never downgrade a journal)")
    return version


def migrate(conn: sqlite3.Connection, source: str, target: int = SCHEMA_VERSION) -> tuple[int, int]:
    """Apply the pending migrations up to ``target``, each in its own transaction. Returns (from, to).

    ``conn`` must be in autocommit mode (``isolation_level=None``). ``target`` below the newest exists for the
    tests that build every older version with this very list.
    """
    if not 0 <= target <= SCHEMA_VERSION:
        raise ValueError(f"target schema version {target} outside 0..{SCHEMA_VERSION}")
    start = check_journal(conn, source)
    for m in MIGRATIONS:
        if start < m.version <= target:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if schema_version(conn) >= m.version:  # another connection migrated meanwhile
                    conn.execute("ROLLBACK")
                    continue
                for stmt in m.statements:
                    conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {m.version}")
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise JournalSchemaError(f"{source}: migration {m.version} ({m.name}) failed: {exc}") from exc
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    return start, max(start, schema_version(conn))
