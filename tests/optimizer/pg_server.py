"""A real PostgreSQL server for the optimizer's scale-out tests: Debian's binaries (``scripts/test`` installs the
``postgresql`` package) in a throw-away cluster on a free loopback port, password authentication (scram), no Unix
socket. initdb and postgres refuse to run as root, so as root the cluster belongs to ``nobody`` and every server
command runs through ``runuser``. Nothing is mocked: the tests stop and restart this server under running workers.

Absent binaries: the tests skip with the reason, except with ``CI=true``, where they FAIL (like tests/deploy).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SERVER_USER = "nobody"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def pg_bin() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres (PATH first, then Debian's versioned directories)."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def require_pg_bin() -> Path:
    found = pg_bin()
    if found is None:
        reason = "PostgreSQL server binaries not found (Debian: apt-get install postgresql; scripts/test does it)"
        if in_ci():
            pytest.fail(f"{reason} - CI=true, so the PostgreSQL scale-out tests must run", pytrace=False)
        pytest.skip(reason)
    return found


class PgServer:
    """One cluster: ``start()``, ``stop()``, ``url(db)``; ``password`` is random per cluster."""

    def __init__(self, bindir: Path, port: int) -> None:
        self.bindir, self.port = bindir, port
        self.user, self.password = "aura", "pw-" + secrets.token_hex(12)
        self.root = Path(tempfile.mkdtemp(prefix="aura-pg-"))
        self.data, self.log = self.root / "data", self.root / "server.log"
        self._as_root = os.geteuid() == 0
        if self._as_root:  # the server user must own its directory (and reach it: /tmp is world-traversable)
            pw = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.root.chmod(0o700)

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} exited {proc.returncode}: {proc.stderr[-2000:]}\n"
                               f"{self.server_log()[-2000:]}")
        return proc

    def init(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._as_root:
            pw = pwd.getpwnam(SERVER_USER)
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        pwfile.chmod(0o600)
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--pwfile", str(pwfile), "--auth=scram-sha-256",
                  "--encoding=UTF8", "--no-sync", "--no-instructions")
        pwfile.unlink()
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = ''\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n"
                       "log_min_messages = warning\n")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: the server ends every session (workers see SQLSTATE 57P01 or a dropped connection)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        cmd = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"]
        if self._as_root:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0

    def url(self, db: str = "postgres", password: bool = True) -> str:
        cred = f"{self.user}:{self.password}" if password else self.user
        return f"postgresql://{cred}@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str) -> None:
        import psycopg
        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, password=self.password,
                             dbname="postgres", autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def destroy(self) -> None:
        if self.running():
            try:
                self.stop("immediate")
            except RuntimeError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)
