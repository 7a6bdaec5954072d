"""A real Prometheus scrapes a metrics endpoint serving TraderMetrics and evaluates every dashboard panel's and
every alert's expression through its HTTP API.

The endpoint is ``standin_trader.py`` (TraderMetrics with plausible values) until the trader service exists;
then the ``trader_target`` fixture should start the real trader against the exchange simulator instead.
Prometheus is Debian's ``prometheus`` binary on its own port, with a temp storage path and a config derived from
prometheus/prometheus.yml (same jobs and rule files, 1 s scrapes, local targets).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.processes import free_port, http_get, stop_process
from harness.processes import wait_until as wait_for

from .contract import DASHBOARD, PROMETHEUS_DIR, REPO

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent


@pytest.fixture
def trader_target(tmp_path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(HERE / "standin_trader.py"), str(port), "120"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO)
    try:
        assert proc.stdout.readline().strip() == "READY", proc.stderr.read()
        yield f"127.0.0.1:{port}"
    finally:
        proc.stdin.close()
        stop_process(proc, sig=None)


@pytest.fixture
def prometheus(tmp_path, trader_target) -> Iterator[str]:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(binary).exists():
        pytest.fail("prometheus not found: install Debian's `prometheus` package (scripts/test does it as root)")
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS_DIR / r) for r in config["rule_files"]]
    targets = {"trader": trader_target, "ingestor": f"127.0.0.1:{free_port()}"}  # nothing listens: up == 0
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("prometheus ready", lambda: proc.poll() is None and http_get(f"{base}/-/ready")[0] == 200
                 or (proc.poll() is not None and pytest.fail((tmp_path / "prometheus.log").read_text()[-3000:])))
        yield base
    finally:
        stop_process(proc, timeout=15)
        log.close()


def query(base: str, expr: str) -> dict:
    status, body = http_get(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    payload = json.loads(body or b"{}")
    assert status == 200 and payload.get("status") == "success", f"{expr!r}: {status} {payload}"
    return payload["data"]


def series(base: str, expr: str) -> list:
    data = query(base, expr)
    return data["result"] if data["resultType"] == "vector" else [data["result"]]


SELECTOR = re.compile(r"\b(aura_[a-z0-9_]*[a-z0-9]|up)\b(\{[^}]*\})?")


def test_every_panel_and_alert_expression_returns_series(prometheus):
    base = prometheus
    # enough scrapes for rates over two samples or more, and the ingestor target seen as down
    wait_for("5 scrapes of the trader", lambda: any(float(s["value"][1]) >= 5 for s in series(
        base, 'count_over_time(up{job="trader"}[1m])')))
    assert [float(s["value"][1]) for s in series(base, 'up{job="trader"}')] == [1.0]
    assert [float(s["value"][1]) for s in series(base, 'up{job="ingestor"}')] == [0.0]

    rules = check_every_panel_and_alert(base)

    # with these plausible values, only the ingestor (nothing listening) is in trouble
    active = {r["name"] for r in rules if r["state"] != "inactive"}
    assert active <= {"AuraIngestorDown", "AuraSyncGuardTripsPilingUp"}, active


def check_every_panel_and_alert(base: str) -> list[dict]:
    """Every dashboard panel expression returns series; every declared alert is loaded, healthy and evaluated once,
    parses, and each selector it reads returns series. Returns the evaluated rules (for state checks)."""
    dashboard = json.loads(DASHBOARD.read_text())
    empty = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            if not series(base, target["expr"]):
                empty.append(f"{panel['title']}: {target['expr']}")
    assert not empty, "panel expressions without series:\n" + "\n".join(empty)

    def rules_evaluated():
        status, body = http_get(f"{base}/api/v1/rules")
        groups = json.loads(body)["data"]["groups"] if status == 200 else []
        rules = [r for g in groups for r in g["rules"]]
        return rules if rules and all(r["health"] == "ok" and r["lastEvaluation"][:4] != "0001"
                                      for r in rules) else None

    rules = wait_for("every rule evaluated once", rules_evaluated)
    declared = {r["alert"] for f in PROMETHEUS_DIR.glob("rules/*.yml")
                for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]}
    assert {r["name"] for r in rules} == declared
    missing = []
    for rule in rules:
        query(base, rule["query"])  # parses and evaluates
        for name, matchers in SELECTOR.findall(rule["query"]):
            if not series(base, name + matchers):
                missing.append(f"{rule['name']}: {name}{matchers}")
    assert not missing, "alert inputs without series:\n" + "\n".join(missing)
    return rules
