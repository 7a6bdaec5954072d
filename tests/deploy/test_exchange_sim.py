"""The exchange simulator from the AURA image: started directly (testcontainers) and through compose with the
sim overlay, reached over the Docker network (nothing is published on the host), polled until healthy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import BuiltImage, compose_project, container_ip, docker_run, get_json, run, wait_http

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("docker")]

SIM_PORT = 8700
HEALTH_TIMEOUT_S = 90


@pytest.fixture(scope="module")
def sim_image(aura_image: BuiltImage) -> BuiltImage:
    proc = docker_run(aura_image.tag, "exchange-sim", "--help")
    if proc.returncode != 0:
        pytest.skip(f"`aura exchange-sim` is not built in this checkout: {proc.stderr.strip()}")
    return aura_image


def test_simulator_container_becomes_healthy_and_serves_the_binance_dialect(sim_image: BuiltImage) -> None:
    from testcontainers.core.config import testcontainers_config
    from testcontainers.core.container import DockerContainer

    testcontainers_config.ryuk_disabled = True  # the reaper image cannot be pulled here; `with` cleans up
    sim = DockerContainer(sim_image.tag).with_command(
        f"exchange-sim --host 0.0.0.0 --port {SIM_PORT} --speed 1 --synthetic-symbols 5")
    with sim:
        cid = sim.get_wrapped_container().id
        base = f"http://{container_ip(cid)}:{SIM_PORT}"
        health = wait_http(f"{base}/health", HEALTH_TIMEOUT_S)
        assert health.get("status") == "ok"
        info = get_json(f"{base}/api/v3/exchangeInfo")
        symbols = {s["symbol"] for s in info["symbols"]}
        # --synthetic-symbols 5: BTCUSDT and SYN000..SYN003 (a symbol whose listing day is still ahead is absent)
        assert "BTCUSDT" in symbols and symbols <= {"BTCUSDT", *(f"SYN{i:03d}USDT" for i in range(4))}
        user = run(["docker", "inspect", "-f", "{{.Config.User}}", cid]).stdout.strip()
        assert user and not user.startswith(("0", "root"))
    gone = run(["docker", "ps", "-aq", "--filter", f"id={cid}"]).stdout.strip()
    assert gone == ""


def test_compose_sim_overlay_starts_the_simulator_healthy_and_tears_down(sim_image: BuiltImage, compose_cli: str,
                                                                          tmp_path: Path) -> None:
    project = compose_project(sim_image, tmp_path, files=("compose.yaml", "compose.sim.yaml"))
    workdir = project.workdir  # a copy of the checkout: volumes/ are created there, not in the repo
    try:
        project("up", "-d", "--no-build", "--pull", "never", "--wait", "--wait-timeout", str(HEALTH_TIMEOUT_S),
                "exchange-sim", timeout=HEALTH_TIMEOUT_S + 60)
        ps = [json.loads(line) for line in project("ps", "-a", "--format", "json").stdout.splitlines() if line]
        state = {p["Service"]: (p["State"], p.get("Health", ""), p.get("ExitCode")) for p in ps}
        assert state["exchange-sim"][:2] == ("running", "healthy")
        assert state["volumes-init"][0] == "exited" and state["volumes-init"][2] == 0
        for d in ("data", "journal", "snapshots", "optimizer", "sim"):  # created and given to the service user
            assert (workdir / "volumes" / d).stat().st_uid == 10001, d
        cid = project("ps", "-q", "exchange-sim").stdout.strip()
        health = wait_http(f"http://{container_ip(cid)}:{SIM_PORT}/health", HEALTH_TIMEOUT_S)
        assert health.get("status") == "ok"
        assert (workdir / "volumes" / "sim" / "state.sqlite").exists()  # --state on the sim's rw volume
    finally:
        project.down()
