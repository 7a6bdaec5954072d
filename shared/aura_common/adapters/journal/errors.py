"""The journal's errors, named by what the caller must do.

    JournalError                 base: the journal cannot do what was asked
    ├── JournalLockedError       another process holds the writer lock: do not start a second writer
    ├── JournalSchemaError       the file is not an AURA journal, or its schema is newer than this code
    ├── JournalConflictError     a write contradicts a recorded fact (e.g. a fill re-recorded with other values)
    └── SnapshotError            a snapshot copy cannot be taken, or is corrupt or unreadable
        └── SnapshotMissingError no snapshot copy exists yet

Every message names the file (and the order or trade when there is one).
"""

from __future__ import annotations


class JournalError(Exception):
    """Base class for journal failures."""


class JournalLockedError(JournalError):
    """A second writer tried to open the journal: it fails at once instead of waiting or corrupting."""

    def __init__(self, journal: str, lock_file: str, holder: str) -> None:
        self.journal, self.lock_file, self.holder = journal, lock_file, holder
        super().__init__(
            f"journal {journal} is already open for writing by {holder} (lock file {lock_file}); "
            "only one writer (the trader) may run at a time")


class JournalSchemaError(JournalError):
    """Not an AURA journal, or written by newer code."""


class JournalConflictError(JournalError):
    """A write contradicts what the journal already holds; the journal keeps the recorded fact."""


class SnapshotError(JournalError):
    """A snapshot copy cannot be taken or read."""

    def __init__(self, path: str, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"journal snapshot {path}: {problem}")


class SnapshotMissingError(SnapshotError):
    """No snapshot copy has been written yet."""
