"""Atomic file writes: the one place that knows how to replace a file so no reader ever sees half of it.

Temp file in the same directory → write → fsync → chmod → rename over the target → fsync the directory. On any
failure the temp file is removed and the target is left as it was.

Private state (the journal, its lock file, snapshots, the paper broker's books) is created owner-only whatever
the umask: ``private_dir`` (0700 for every directory it creates) and ``private_file`` (0600).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def fsync_dir(path: Path | str) -> None:
    """Make a rename in ``path`` durable. Best effort: a filesystem that cannot fsync a directory (some network
    and overlay filesystems refuse) still got an atomic rename, only not a guaranteed-durable one."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path | str) -> Path:
    """Create ``path`` and any missing parent, each new one 0700 (an existing directory is left as it is: it
    may be shared, e.g. a mounted volume)."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(d, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a directory")
    return path


def private_file(path: Path | str) -> Path:
    """Make ``path`` exist and be 0600 (created so, or tightened if it was created before). SQLite gives a
    database's -wal and -shm files the database file's mode, so creating it first keeps them private too."""
    path = Path(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    return path


def atomic_write_via(target: Path | str, writer: Callable[[str], None], mode: int = 0o644) -> None:
    """Call ``writer(tmp_path)`` to fill a temp file beside ``target``, then publish it atomically."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.close(fd)
        writer(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def atomic_write_bytes(target: Path | str, data: bytes, mode: int = 0o644) -> None:
    """Replace ``target`` with ``data`` atomically."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)
    atomic_write_via(target, write, mode)
