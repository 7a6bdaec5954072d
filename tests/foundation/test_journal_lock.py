"""Exactly one writer: a second process fails at once naming the file and the holder; a killed holder's lock
is released by the kernel; the refused process never touches the file."""

from __future__ import annotations

import os
import signal

import pytest

from aura_common.adapters.journal import Journal, JournalLockedError

HOLDER = """
    import sys, os
    from aura_common.adapters.clock import SystemClock
    from aura_common.adapters.journal import Journal
    j = Journal.open(sys.argv[1], SystemClock())
    j.begin_cycle("held")
    print("locked", os.getpid(), flush=True)
    sys.stdin.read()  # hold until the test closes stdin (or kills us)
    j.close()
"""

SECOND = """
    import sys
    from aura_common.adapters.clock import SystemClock
    from aura_common.adapters.journal import Journal, JournalLockedError
    try:
        Journal.open(sys.argv[1], SystemClock())
    except JournalLockedError as exc:
        print(exc)
        sys.exit(3)
    print("opened")
"""


def _start_holder(spawn, path):
    proc = spawn(HOLDER, str(path))
    line = proc.stdout.readline().split()
    assert line[:1] == ["locked"], proc.stderr.read()
    return proc, int(line[1])


def test_second_writer_process_fails_at_once_naming_file_and_holder(journal_path, spawn):
    holder, pid = _start_holder(spawn, journal_path)
    try:
        size_before = journal_path.stat().st_size
        second = spawn(SECOND, str(journal_path))
        out, err = second.communicate(timeout=60)  # it must not wait for the holder (the holder never lets go)
        assert holder.poll() is None, "the holder is still running and still holds the lock"
        assert second.returncode == 3, err
        assert str(journal_path) in out and f"pid={pid}" in out and "only one writer" in out
        assert journal_path.stat().st_size == size_before
    finally:
        holder.communicate(input="", timeout=60)  # closing its stdin lets it finish normally
    assert holder.returncode == 0


def test_same_process_second_open_is_refused_too(journal, journal_path, clock):
    with pytest.raises(JournalLockedError, match=f"pid={os.getpid()}"):
        Journal.open(journal_path, clock)
    journal.append_event("STILL_WRITABLE")  # the refused open did not disturb the holder


def test_lock_is_released_when_the_holder_is_sigkilled(journal_path, clock, spawn):
    holder, pid = _start_holder(spawn, journal_path)
    with pytest.raises(JournalLockedError):
        Journal.open(journal_path, clock)
    os.kill(pid, signal.SIGKILL)
    holder.wait(timeout=30)
    with Journal.open(journal_path, clock) as j:  # no stale lock after a crash
        assert j.cycle("held") is not None  # the killed writer's committed data survived
        lock_text = (journal_path.parent / (journal_path.name + ".lock")).read_text()
        assert f"pid={os.getpid()}" in lock_text


def test_closing_releases_the_lock_for_another_process(journal_path, clock, spawn):
    Journal.open(journal_path, clock).close()
    proc = spawn(SECOND, str(journal_path))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.strip() == "opened", err
