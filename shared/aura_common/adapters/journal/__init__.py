"""The SQLite journal: the trader's single source of truth, and snapshot copies for everyone else.

    Journal.open(path, clock)       the one writer (lock, WAL, migrations, the writer API)   writer.py
    Journal.snapshot(dir)           consistent copy -> dir/latest.sqlite                      snapshots.py
    JournalReader.latest(dir)       read-only queries over a snapshot copy                    reader.py
    MIGRATIONS / SCHEMA_VERSION     the ordered schema history                                schema.py
"""

from aura_common.adapters.journal import records
from aura_common.adapters.journal.errors import (
    JournalConflictError,
    JournalError,
    JournalLockedError,
    JournalSchemaError,
    SnapshotError,
    SnapshotMissingError,
)
from aura_common.adapters.journal.reader import JournalReader
from aura_common.adapters.journal.records import *  # noqa: F403 - the record types, listed once in records.__all__
from aura_common.adapters.journal.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from aura_common.adapters.journal.snapshots import latest_snapshot, snapshot_file
from aura_common.adapters.journal.writer import Journal

__all__ = [
    "MIGRATIONS", "SCHEMA_VERSION", "Journal", "JournalConflictError", "JournalError", "JournalLockedError",
    "JournalReader", "JournalSchemaError", "SnapshotError", "SnapshotMissingError", "latest_snapshot", "migrate",
    "snapshot_file", *records.__all__,
]
