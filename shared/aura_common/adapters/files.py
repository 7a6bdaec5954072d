"""Atomic file writes: the one place that knows how to replace a file so no reader ever sees half of it.

Temp file in the same directory → write → fsync → chmod → rename over the target → fsync the directory. On any
failure the temp file is removed and the target is left as it was.
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
