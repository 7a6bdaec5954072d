"""The compose stack really starts: simulator, ingestor and trader with the sim overlay, every service healthy,
the ingestor's first pass done, the trader booted (reconciliation ok) and serving metrics; a crash of the trader
(SIGKILL from outside, which the engine treats as a failure, unlike `docker kill`) is undone by its restart
policy, and the trader boots and reconciles again. Everything is torn down, volumes included."""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import BuiltImage, ComposeProject, compose_project, container_ip, docker_run, run

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
    project: ComposeProject = compose_project(stack_image, tmp_path, extra_env={"AURA_SIM_SPEED": "60"})
    trader = f"{project.name}-trader"  # not the fixed `trader`: a stack running on this machine keeps its name
    overlay = tmp_path / "compose.test.yaml"
    overlay.write_text(f"services:\n  trader:\n    container_name: {trader}\n")
    project = ComposeProject(project.name, project.workdir, ("compose.yaml", "compose.sim.yaml", str(overlay)),
                             project.env_file, project.env)
    try:
        project("up", "-d", "--no-build", "--pull", "never", "--wait", "--wait-timeout", str(UP_TIMEOUT_S),
                "exchange-sim", "ingestor", "trader", timeout=UP_TIMEOUT_S + 60)
        ingestor = project("ps", "-q", "ingestor").stdout.strip()
        wait_until("the ingestor's first pass", lambda: INGEST_OK.search(logs(ingestor)), 120,
                   lambda: logs(ingestor))
        wait_until("[BOOT] reconcile=ok", lambda: BOOT_OK.search(logs(trader)), 60, lambda: logs(trader))
        with urllib.request.urlopen(f"http://{container_ip(trader)}:9101/metrics", timeout=5) as resp:  # noqa: S310
            metrics = resp.read().decode()
        assert re.search(r"^aura_\w+", metrics, re.M), "the trader serves no aura_* metric"
        assert "mode=testnet" in logs(trader)  # the overlay's broker, not paper and never live

        os.kill(int(inspect(trader, "{{.State.Pid}}")), signal.SIGKILL)
        wait_until("restart after a crash",
                   lambda: int(inspect(trader, "{{.RestartCount}}")) >= 1
                   and len(BOOT_OK.findall(logs(trader))) >= 2
                   and inspect(trader, "{{.State.Health.Status}}") == "healthy",
                   120, lambda: logs(trader))
    finally:
        project.down()
