"""The CLI contract: names, --help, exit codes, no tracebacks, not-built commands say so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aura_cli.main import COMMANDS, main

REPO = Path(__file__).resolve().parents[2]


def aura(*args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("aura")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")} | (env or {})
    return subprocess.run([str(exe), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)


def test_contract_names_exist():
    assert set(COMMANDS) >= {"ingest", "trade", "backtest", "optimize", "exchange-sim", "status",
                             "config check", "risk reset"}


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_help_everywhere(cmd, capsys):
    assert main([*cmd.split(), "--help"]) == 0
    assert "usage: aura" in capsys.readouterr().out


def test_top_level_help_and_usage_errors(capsys):
    assert main(["--help"]) == 0
    assert main([]) == 2
    assert main(["no-such-command"]) == 2


def test_config_check_prints_redacted_config_and_version(tmp_path):
    proc = aura("config", "check", "config/aura.yaml", env={"AURA_API_KEY": "super-secret-key-value"})
    assert proc.returncode == 0, proc.stderr
    assert "# config version: " in proc.stdout
    assert "super-secret-key-value" not in proc.stdout + proc.stderr
    assert "api_key: <set>" in proc.stdout


def test_config_check_bad_file_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("execution:\n  mode: yolo\n")
    proc = aura("config", "check", str(bad))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr and "execution.mode" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
