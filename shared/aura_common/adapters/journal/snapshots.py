"""Consistent snapshot copies of the journal for readers (optimizer, ``aura status``).

Readers never open the live file. The writer copies it with SQLite's online backup API, which reads one
consistent state (whole transactions only) while writes continue, into a temp file in the destination
directory; the copy is switched to rollback-journal mode (so read-only openers need no -wal/-shm files),
checked with ``PRAGMA quick_check``, fsynced, and atomically renamed to ``latest.sqlite``. A reader therefore
sees the previous copy or the new one, never a half-written file. Optionally the last ``keep`` copies stay
beside it as ``journal-<UTC stamp>.sqlite`` (hard links where the filesystem has them).

From a thread other than the writer's, use ``snapshot_file(journal_path, ...)`` (its own connection).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from aura_common.adapters.files import PRIVATE_FILE_MODE, fsync_dir, private_dir, private_file
from aura_common.adapters.journal.errors import SnapshotError, SnapshotMissingError
from aura_common.adapters.logs import event

log = logging.getLogger(__name__)

LATEST = "latest.sqlite"
STAMPED_PREFIX = "journal-"
_TMP_PREFIX = ".latest.sqlite."
_STALE_TMP_MS = 3_600_000


def stamp(ts_ms: int) -> str:
    dt = datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y%m%dT%H%M%S") + f"{ts_ms % 1000:03d}Z"


def latest_snapshot(dest_dir: str | os.PathLike[str]) -> Path:
    """The newest snapshot copy in ``dest_dir``; SnapshotMissingError when there is none yet."""
    path = Path(dest_dir) / LATEST
    if not path.is_file():
        raise SnapshotMissingError(str(path), "no snapshot yet (the trader writes one on its snapshot schedule)")
    return path


def snapshot_connection(conn: sqlite3.Connection, dest_dir: str | os.PathLike[str], *, now_ms: int,
                        keep: int = 3, before_publish: Callable[[], None] | None = None) -> Path:
    """Copy the database behind ``conn`` to ``dest_dir/latest.sqlite``; return that path."""
    dest = Path(dest_dir)
    try:
        private_dir(dest)
    except OSError as exc:
        raise SnapshotError(str(dest), f"cannot create the snapshot directory: {exc.strerror}") from None
    _remove_stale_tmp(dest, now_ms)
    tmp = dest / f"{_TMP_PREFIX}{os.getpid()}.{now_ms}.tmp"
    target = dest / LATEST
    try:
        tmp.unlink(missing_ok=True)
        private_file(tmp)  # 0600: the copy is the whole journal
        copy = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            conn.backup(copy)  # all pages in one step: one consistent read transaction on the source
            mode = copy.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
            check = copy.execute("PRAGMA quick_check").fetchone()[0]
            pages = copy.execute("PRAGMA page_count").fetchone()[0]
        finally:
            copy.close()
        if mode != "delete" or check != "ok":
            raise SnapshotError(str(tmp), f"copy failed its check (journal_mode={mode}, quick_check={check})")
        _fsync_file(tmp)
        if before_publish is not None:
            before_publish()
        if keep > 0:
            stamped = dest / f"{STAMPED_PREFIX}{stamp(now_ms)}.sqlite"
            stamped.unlink(missing_ok=True)
            try:
                os.link(tmp, stamped)
            except OSError:  # a filesystem without hard links: a second full copy
                shutil.copyfile(tmp, stamped)
                os.chmod(stamped, PRIVATE_FILE_MODE)
                _fsync_file(stamped)
        os.replace(tmp, target)
        fsync_dir(dest)
    except SnapshotError:
        tmp.unlink(missing_ok=True)
        raise
    except (OSError, sqlite3.Error) as exc:
        tmp.unlink(missing_ok=True)
        raise SnapshotError(str(target), f"snapshot failed: {exc}") from None
    _prune(dest, keep)
    event(log, "JOURNAL_SNAPSHOT", path=str(target), pages=pages, keep=keep)
    return target


def snapshot_file(journal: str | os.PathLike[str], dest_dir: str | os.PathLike[str], *, now_ms: int,
                  keep: int = 3) -> Path:
    """Snapshot a journal through a separate query-only connection (e.g. from a scheduler thread)."""
    path = Path(journal)
    if not path.is_file():
        raise SnapshotError(str(path), "journal file not found")
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=10.0)
    try:
        conn.execute("PRAGMA query_only = ON")
        return snapshot_connection(conn, dest_dir, now_ms=now_ms, keep=keep)
    finally:
        conn.close()


def _prune(dest: Path, keep: int) -> None:
    stamped = sorted(dest.glob(f"{STAMPED_PREFIX}*.sqlite"))
    for old in stamped[:max(0, len(stamped) - keep)]:
        old.unlink(missing_ok=True)


def _remove_stale_tmp(dest: Path, now_ms: int) -> None:
    """Temp files left by a crash mid-snapshot; recent ones may belong to a snapshot in progress."""
    for tmp in dest.glob(f"{_TMP_PREFIX}*.tmp"):
        try:
            if now_ms - tmp.stat().st_mtime * 1000 > _STALE_TMP_MS:
                tmp.unlink(missing_ok=True)
        except OSError:
            pass


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
