"""The writer lock: exactly one process may open the journal for writing.

``fcntl.flock`` on a sibling ``<journal>.lock`` file, exclusive and non-blocking, held for the writer's
lifetime. The kernel releases it when the process dies (even by SIGKILL), so a crash never leaves a stale
lock. The holder writes ``pid=... host=...`` into the file so that the refused process can name it.
Works across containers that share the volume (same kernel); not on network filesystems without flock.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path

from aura_common.adapters.journal.errors import JournalError, JournalLockedError


def lock_path_for(journal: Path) -> Path:
    return journal.with_name(journal.name + ".lock")


class WriterLock:
    """Held from ``acquire`` to ``release`` (or process exit). Not re-entrant: a second acquire fails too."""

    def __init__(self, journal: Path) -> None:
        self.journal = Path(journal)
        self.path = lock_path_for(self.journal)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            raise JournalError(f"writer lock {self.path} is already held by this object")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)  # it holds pid and host
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot open writer lock {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise JournalLockedError(str(self.journal), str(self.path), holder) from None
            raise JournalError(f"cannot lock {self.path}: {exc.strerror}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid={os.getpid()} host={socket.gethostname()}\n".encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Unlock; the file stays (deleting it would race with a process that just opened it)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the descriptor drops the flock


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 256, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "another process (pid not yet written)"
