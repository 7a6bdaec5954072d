"""Issue 14, secrets: a credential inside a URL (``optimizer.storage: postgresql://user:PASSWORD@host/db``) is
redacted by one function (``core.redaction``) wherever it is shown or stored: `aura config check` (a real
process), the journal's ``config_versions`` and events (a real SQLite file), and log lines."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aura_common.adapters.journal import Journal
from aura_common.adapters.logs import RedactingFormatter, event
from aura_common.config import config_hash, load_config, redacted_dump
from aura_common.core.redaction import redact_url_credentials

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "Sup3r-Secret-pw"
URL = f"postgresql://aura:{PASSWORD}@db.internal:5432/optuna"


def _config(tmp_path: Path) -> Path:
    (tmp_path / "strategy.yaml").write_text((REPO / "config" / "strategy.yaml").read_text())  # a complete file
    cfg = tmp_path / "aura.yaml"
    cfg.write_text(yaml.safe_dump({"optimizer": {"storage": URL},
                                   "paths": {"strategy_file": str(tmp_path / "strategy.yaml")}}))
    return cfg


@pytest.mark.parametrize("text, shown", [
    (URL, "postgresql://aura:***@db.internal:5432/optuna"),
    ("mysql+pymysql://u:p@ss@h/db", "mysql+pymysql://u:***@h/db"),
    ("two: https://a:b@x.org/ and redis://:tok@r:6379/0", "two: https://a:***@x.org/ and redis://:***@r:6379/0"),
    ('{"storage":"postgresql://u:pw@h/db"}', '{"storage":"postgresql://u:***@h/db"}'),
    ("sqlite:////var/lib/study.sqlite3", "sqlite:////var/lib/study.sqlite3"),
    ("postgresql://user@host/db", "postgresql://user@host/db"),
    ("http://127.0.0.1:8700/api", "http://127.0.0.1:8700/api"),
])
def test_the_one_redaction_rule(text, shown):
    assert redact_url_credentials(text) == shown
    assert redact_url_credentials(shown) == shown  # idempotent


@pytest.mark.parametrize("as_json", [False, True])
def test_config_check_never_prints_a_url_password(tmp_path, as_json):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
    proc = subprocess.run([sys.executable, "-m", "aura_cli.main", "config", "check", str(_config(tmp_path)),
                           *(["--json"] if as_json else [])], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    assert "postgresql://aura:***@db.internal:5432/optuna" in proc.stdout


def test_the_journal_stores_config_versions_and_events_without_url_passwords(tmp_path, clock):
    config = load_config(_config(tmp_path), environ={})
    path = tmp_path / "journal" / "aura.sqlite"
    j = Journal.open(path, clock)
    try:
        assert j.record_config_version(config_hash(config, None), redacted_dump(config, None, {}))
        assert j.record_config_version("raw", {"optimizer": {"storage": URL}})  # even content not redacted first
        j.append_event("NOTE", {"storage": URL})
    finally:
        j.close()
    raw = path.read_bytes() + b"".join(p.read_bytes() for p in path.parent.glob("aura.sqlite-*"))
    assert PASSWORD.encode() not in raw
    import sqlite3
    conn = sqlite3.connect(path)
    contents = [json.loads(r[0]) for r in conn.execute("SELECT content FROM config_versions ORDER BY change_id")]
    conn.close()
    assert [c["optimizer"]["storage"] for c in contents] == ["postgresql://aura:***@db.internal:5432/optuna"] * 2


def test_log_lines_never_carry_a_url_password():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(message)s"))
    logger = logging.getLogger("aura.test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        event(logger, "OPTIMIZE_RUN", storage=URL)
        logger.info("connecting to %s", URL)
    finally:
        logger.removeHandler(handler)
    assert PASSWORD not in stream.getvalue() and stream.getvalue().count("aura:***@db.internal") == 2


def test_metrics_default_to_loopback_and_compose_sets_the_container_address():
    assert load_config(None, environ={"AURA_CONFIG": str(REPO / "config" / "aura.yaml")}).metrics.bind == "127.0.0.1"
    from aura_common.config.models import MetricsConfig
    assert MetricsConfig().bind == "127.0.0.1"
    services = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    for name in ("trader", "ingestor"):  # Prometheus scrapes them on the compose network
        assert services[name]["environment"]["AURA_METRICS__BIND"] == "0.0.0.0", name
