"""Processes and plain HTTP for whole-system tests: every wait is bounded in time, every process can be stopped."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
AURA = str(Path(sys.executable).with_name("aura"))  # the console script of the test environment


def aura(*args: str) -> list[str]:
    """The command line of `aura ARGS` in this environment."""
    return [AURA, *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what: str, check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2) -> Any:
    """Poll ``check()`` until it returns a truthy value (returned); bounded in time and count, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    last = None
    for _ in range(int(timeout / interval) + 2):
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            break
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")


def stop_process(proc: subprocess.Popen, *, sig: int | None = signal.SIGTERM, timeout: float = 10.0) -> int:
    """Ask a process to stop with ``sig`` (None: the caller already asked it, e.g. by closing its stdin) and
    wait; kill it when it has not exited within ``timeout``. Returns its exit code."""
    if proc.poll() is None:
        if sig is not None:
            proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """``(status, body)``; ``(0, "")`` when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - 127.0.0.1 only
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError:
        return 0, ""


class Proc:
    """A process whose output goes to a log file, started without the caller's ``AURA_*`` environment."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path = REPO) -> None:
        self.log = log
        self._fh = log.open("w")
        full = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
        full.update(env or {})
        self.popen = subprocess.Popen(args, cwd=cwd, env=full, stdout=self._fh, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def lines(self, tag: str) -> list[dict[str, str]]:
        """The ``[TAG] k=v ...`` lines of the log as field dicts."""
        out = []
        for line in self.text().splitlines():
            at = line.find(f"[{tag}] ")
            if at >= 0:
                try:
                    out.append(dict(p.split("=", 1) for p in shlex.split(line[at + len(tag) + 3:]) if "=" in p))
                except ValueError:
                    continue  # a line still being written
        return out

    def stop(self, timeout: float = 20.0) -> int:
        code = stop_process(self.popen, timeout=timeout)
        self._fh.close()
        return code
