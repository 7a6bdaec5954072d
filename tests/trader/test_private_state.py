"""Issue 14 in the `aura trade` process: the journal, its lock, snapshots and the paper broker's books are
owner-only whatever the umask; the metrics listen on loopback unless told otherwise."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_journal_lock_snapshots_and_paper_books_are_private_under_umask_022(trader_env):
    old = os.umask(0o022)  # the trader process inherits it: files would be 0644, directories 0755
    try:
        r = trader_env.trade(AURA_EXECUTION__MODE="paper", AURA_API_KEY="", AURA_API_SECRET="")
    finally:
        os.umask(old)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    journal_dir = trader_env.journal.parent
    assert _mode(journal_dir) == 0o700
    made = [p for p in journal_dir.iterdir()]
    names = {p.name for p in made}
    assert {"aura.sqlite", "paper-broker.sqlite"} <= names and any(n.endswith(".lock") for n in names), names
    for p in made:
        assert _mode(p) == 0o600, (p, oct(_mode(p)))
    assert _mode(trader_env.snapshots) == 0o700
    snaps = list(trader_env.snapshots.iterdir())
    assert snaps, "the trader wrote no snapshot"
    for p in snaps:
        assert _mode(p) == 0o600, (p, oct(_mode(p)))


def _listening(port: int) -> set[str]:
    """Local IPv4 addresses with a LISTEN socket on ``port`` (from /proc/net/tcp)."""
    out = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, p = local.split(":")
        if state == "0A" and int(p, 16) == port:
            out.add(".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return out


def test_the_trader_s_metrics_listen_on_loopback_by_default(trader_env):
    import subprocess
    import time

    import yaml
    from harness.processes import aura, free_port
    cfg = yaml.safe_load(trader_env.config.read_text())
    port = free_port()
    cfg["metrics"] = {"trader_port": port}  # no bind: the default
    trader_env.config.write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen(aura("trade"), env=trader_env.env(), cwd=trader_env.tmp, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline, seen = time.monotonic() + 60, set()
        while time.monotonic() < deadline and not seen and proc.poll() is None:
            seen = _listening(port)
            time.sleep(0.2)
        assert seen == {"127.0.0.1"}, seen  # was 0.0.0.0: every interface of the host
    finally:
        proc.terminate()
        proc.wait(30)
