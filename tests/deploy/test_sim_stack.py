"""The compose stack really starts: simulator, ingestor, trader (sim overlay) and Prometheus, every service
healthy, the ingestor's first pass done, the trader booted (reconciliation ok), `aura status` answering inside the
trader, Prometheus scraping the trader; `docker compose run --rm optimizer` with a tiny search writes its report; a
crash of the trader (SIGKILL from outside, which the engine treats as a failure, unlike `docker kill`) is undone
by its restart policy, and the trader boots and reconciles again. Everything is torn down, volumes included.
Grafana is not started: its image cannot be pulled or built here."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import (
    BuiltImage,
    ComposeProject,
    compose_project,
    container_ip,
    docker_run,
    get_json,
    prometheus_image,
    run,
    unavailable,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.xdist_group("docker")]

UP_TIMEOUT_S = 240
BOOT_OK = re.compile(r"\[BOOT\] .*reconcile=ok")
INGEST_OK = re.compile(r"\[INGEST\] status=ok")


@pytest.fixture(scope="module")
def stack_image(aura_image: BuiltImage) -> BuiltImage:
    for command in ("exchange-sim", "ingest", "trade"):
        proc = docker_run(aura_image.tag, command, "--help")
        if proc.returncode != 0:
            pytest.skip(f"`aura {command}` is not built in this checkout: {proc.stderr.strip()}")
    return aura_image


def logs(container: str) -> str:
    proc = run(["docker", "logs", container], check=False)
    return proc.stdout + proc.stderr


def wait_until(what: str, predicate, timeout_s: float, diagnostics=lambda: "") -> None:
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
    pytest.fail(f"{what}: not within {timeout_s}s\n{diagnostics()[-4000:]}", pytrace=False)


def inspect(container: str, fmt: str) -> str:
    return run(["docker", "inspect", "-f", fmt, container]).stdout.strip()


def test_sim_stack_starts_healthy_boots_and_recovers_from_a_crash(stack_image: BuiltImage, compose_cli: str,
                                                                   tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("simulating a crash needs SIGKILL on the container's process (root)")
    prometheus = prometheus_image()
    if prometheus is None:
        unavailable("no Prometheus image (prom/prometheus:v2.53.2 or aura-prometheus:standin); "
                    "run ./scripts/docker-setup")
    project: ComposeProject = compose_project(stack_image, tmp_path, extra_env={
        "AURA_SIM_SPEED": "60", "AURA_PROMETHEUS_IMAGE": str(prometheus)})
    trader = f"{project.name}-trader"  # not the fixed `trader`: a stack running on this machine keeps its name
    overlay = tmp_path / "compose.test.yaml"
    overlay.write_text(f"services:\n  trader:\n    container_name: {trader}\n")
    project = ComposeProject(project.name, project.workdir, ("compose.yaml", "compose.sim.yaml", str(overlay)),
                             project.env_file, project.env)
    try:
        project("up", "-d", "--no-build", "--pull", "never", "--wait", "--wait-timeout", str(UP_TIMEOUT_S),
                "exchange-sim", "ingestor", "trader", "prometheus", timeout=UP_TIMEOUT_S + 60)
        ingestor = project("ps", "-q", "ingestor").stdout.strip()
        wait_until("the ingestor's first pass", lambda: INGEST_OK.search(logs(ingestor)), 120,
                   lambda: logs(ingestor))
        wait_until("[BOOT] reconcile=ok", lambda: BOOT_OK.search(logs(trader)), 60, lambda: logs(trader))
        with urllib.request.urlopen(f"http://{container_ip(trader)}:9101/metrics", timeout=5) as resp:  # noqa: S310
            metrics = resp.read().decode()
        assert re.search(r"^aura_\w+", metrics, re.M), "the trader serves no aura_* metric"
        assert "mode=testnet" in logs(trader)  # the overlay's broker, not paper and never live
        # `docker logs trader | grep BOOT` as operators type it: the pipe sees the container's stdout only.
        assert BOOT_OK.search(run(["docker", "logs", trader]).stdout)
        status = json.loads(run(["docker", "exec", trader, "aura", "status", "--json"]).stdout)
        assert status["mode"] == "testnet" and status["kill_switch"]["state"] == "armed"

        prom = f"http://{container_ip(project('ps', '-q', 'prometheus').stdout.strip())}:9090/api/v1"

        def trader_scraped() -> bool:
            result = get_json(f"{prom}/query?query=up%7Bjob%3D%22trader%22%7D")["data"]["result"]
            return bool(result) and result[0]["value"][1] == "1"
        wait_until("Prometheus scraping the trader", trader_scraped, 90)

        project("run", "--rm", "optimizer", "--trials", "2", "--folds", "1", "--workers", "1", timeout=300)
        reports = list((project.workdir / "volumes" / "optimizer").glob("*/report.html"))
        assert len(reports) == 1, reports

        os.kill(int(inspect(trader, "{{.State.Pid}}")), signal.SIGKILL)
        wait_until("restart after a crash",
                   lambda: int(inspect(trader, "{{.RestartCount}}")) >= 1
                   and len(BOOT_OK.findall(logs(trader))) >= 2
                   and inspect(trader, "{{.State.Health.Status}}") == "healthy",
                   120, lambda: logs(trader))
    finally:
        project.down()
