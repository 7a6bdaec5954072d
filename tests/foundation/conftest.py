"""Fixtures for the foundation tests: real journal files in tmp_path, a stepped clock, real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest




@pytest.fixture
def spawn():
    """``spawn(code, *args)`` starts ``python -c code args...`` as a real second process (text pipes);
    any process still running at teardown is killed."""
    procs: list[subprocess.Popen] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}

    def start(code: str, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.PIPE, text=True, env=env)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            pipe.close()
