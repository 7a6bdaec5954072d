"""The compose `prometheus` service starts healthy with the repository's prometheus.yml and alert rules mounted.

Uses the pinned prom/prometheus image when the engine has it, else scripts/docker-setup's stand-in built from
Debian's prometheus package (no registry is reachable here). Grafana has no such stand-in: its service is only
checked as configuration (test_compose.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import BuiltImage, compose_project, container_ip, prometheus_image, unavailable, wait_http

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("docker")]


def test_prometheus_service_loads_the_scrape_config_and_rules(aura_image: BuiltImage, compose_cli: str,
                                                              tmp_path: Path) -> None:
    image = prometheus_image()
    if image is None:
        unavailable("no Prometheus image (prom/prometheus:v2.53.2 or aura-prometheus:standin); "
                    "run ./scripts/docker-setup")
    project = compose_project(aura_image, tmp_path, extra_env={"AURA_PROMETHEUS_IMAGE": str(image)})
    try:
        project("up", "-d", "--no-build", "--pull", "never", "--no-deps", "--wait", "--wait-timeout", "90",
                "prometheus", timeout=150)
        cid = project("ps", "-q", "prometheus").stdout.strip()
        api = f"http://{container_ip(cid)}:9090/api/v1"
        targets = wait_http(f"{api}/targets")["data"]["activeTargets"]
        assert {t["labels"]["job"] for t in targets} >= {"trader", "ingestor"}
        assert {t["scrapeUrl"] for t in targets} >= {"http://trader:9101/metrics", "http://ingestor:9102/metrics"}
        groups = wait_http(f"{api}/rules")["data"]["groups"]
        assert groups and all(g["file"].startswith("/etc/prometheus/rules/") for g in groups)
    finally:
        project.down()
