"""promtool checks the Prometheus config and rules, and runs the alert unit tests (Debian's `prometheus` package)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from .contract import PROMETHEUS_DIR


def promtool() -> str:
    path = shutil.which("promtool") or ("/usr/bin/promtool" if shutil.os.path.exists("/usr/bin/promtool") else None)
    if path is None:
        pytest.fail("promtool not found: install Debian's `prometheus` package (scripts/test does it as root)")
    return path


def run(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([promtool(), *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"promtool {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def rule_files():
    return sorted(PROMETHEUS_DIR.glob("rules/*.yml"))


def test_check_config():
    out = run("check", "config", "prometheus.yml").stdout
    assert f"{len(rule_files())} rule files found" in out


def test_check_rules():
    assert rule_files(), "no rule files under prometheus/rules"
    run("check", "rules", *map(str, rule_files()))


def test_alert_unit_tests_pass():
    tests = sorted(PROMETHEUS_DIR.glob("tests/*.yml"))
    assert tests, "no promtool tests under prometheus/tests"
    run("test", "rules", *map(str, tests))


def alerts() -> set[str]:
    names = set()
    for f in rule_files():
        for group in yaml.safe_load(f.read_text())["groups"]:
            names |= {r["alert"] for r in group["rules"] if "alert" in r}
    return names


def test_every_alert_is_tested_firing_and_not_firing():
    firing, silent = set(), set()
    for f in PROMETHEUS_DIR.glob("tests/*.yml"):
        for case in yaml.safe_load(f.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    assert alerts() >= {"AuraKillSwitchActive", "AuraDrawdownNearThreshold", "AuraCycleOverdue", "AuraDataStale",
                        "AuraTraderDown", "AuraSyncGuardTripsPilingUp"}
    assert alerts() - firing == set(), "alerts never tested firing"
    assert alerts() - silent == set(), "alerts never tested silent"


def test_scrape_jobs_match_the_contract():
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
    assert jobs == {"trader": ["trader:9101"], "ingestor": ["ingestor:9102"]}
    assert config["rule_files"] == ["rules/*.yml"]
