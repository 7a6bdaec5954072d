"""The exchange simulator from the AURA image: started directly (testcontainers) and through compose with the
sim overlay, reached over the Docker network (nothing is published on the host), polled until healthy."""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .conftest import BuiltImage, docker_run, run

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("docker")]

SIM_PORT = 8700
HEALTH_TIMEOUT_S = 90


@pytest.fixture(scope="module")
def sim_image(aura_image: BuiltImage) -> BuiltImage:
    proc = docker_run(aura_image.tag, "exchange-sim", "--help")
    if proc.returncode != 0:
        pytest.skip(f"`aura exchange-sim` is not built in this checkout: {proc.stderr.strip()}")
    return aura_image


def get_json(url: str, timeout: float = 5) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local container URL
        assert resp.status == 200
        return json.loads(resp.read())


def wait_healthy(url: str, timeout_s: float = HEALTH_TIMEOUT_S) -> dict:
    """Poll until the endpoint answers 200 (bounded in time; short back-off, no fixed sleep as synchronisation)."""
    deadline = time.monotonic() + timeout_s
    delay, last = 0.1, ""
    while time.monotonic() < deadline:
        try:
            return get_json(url, timeout=3)
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            last = str(exc)
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    pytest.fail(f"{url} not healthy within {timeout_s}s (last error: {last})", pytrace=False)


def container_ip(container_id: str) -> str:
    nets = json.loads(run(["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", container_id]).stdout)
    ips = [n["IPAddress"] for n in nets.values() if n.get("IPAddress")]
    assert ips, f"container {container_id} has no IP address"
    return ips[0]


def test_simulator_container_becomes_healthy_and_serves_the_binance_dialect(sim_image: BuiltImage) -> None:
    from testcontainers.core.config import testcontainers_config
    from testcontainers.core.container import DockerContainer

    testcontainers_config.ryuk_disabled = True  # the reaper image cannot be pulled here; `with` cleans up
    sim = DockerContainer(sim_image.tag).with_command(
        f"exchange-sim --host 0.0.0.0 --port {SIM_PORT} --speed 1 --synthetic-symbols 5")
    with sim:
        cid = sim.get_wrapped_container().id
        base = f"http://{container_ip(cid)}:{SIM_PORT}"
        health = wait_healthy(f"{base}/health")
        assert health.get("status") == "ok"
        info = get_json(f"{base}/api/v3/exchangeInfo")
        symbols = {s["symbol"] for s in info["symbols"]}
        assert "BTCUSDT" in symbols and len(symbols) == 5
        user = run(["docker", "inspect", "-f", "{{.Config.User}}", cid]).stdout.strip()
        assert user and not user.startswith(("0", "root"))
    gone = run(["docker", "ps", "-aq", "--filter", f"id={cid}"]).stdout.strip()
    assert gone == ""


def test_compose_sim_overlay_starts_the_simulator_healthy_and_tears_down(sim_image: BuiltImage, compose_cli: str,
                                                                          tmp_path: Path) -> None:
    project = f"aura-deploytest-{secrets.token_hex(4)}"
    workdir = sim_image.context  # a copy of the checkout: volumes/ are created there, not in the repo
    env_file = tmp_path / ".env"
    env_file.write_text("GF_SECURITY_ADMIN_PASSWORD=test-only\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "AURA_"))}
    env.update(AURA_IMAGE=sim_image.tag, AURA_BASE_IMAGE=sim_image.base)
    base = ["docker", "compose", "-p", project, "--project-directory", str(workdir), "--env-file", str(env_file),
            "-f", str(workdir / "compose.yaml"), "-f", str(workdir / "compose.sim.yaml")]
    try:
        run([*base, "up", "-d", "--no-build", "--pull", "never", "--wait", "--wait-timeout", str(HEALTH_TIMEOUT_S),
             "exchange-sim"], env=env, cwd=workdir, timeout=HEALTH_TIMEOUT_S + 60)
        ps = [json.loads(line) for line in
              run([*base, "ps", "-a", "--format", "json"], env=env, cwd=workdir).stdout.splitlines() if line]
        state = {p["Service"]: (p["State"], p.get("Health", ""), p.get("ExitCode")) for p in ps}
        assert state["exchange-sim"][:2] == ("running", "healthy")
        assert state["volumes-init"][0] == "exited" and state["volumes-init"][2] == 0
        for d in ("data", "journal", "snapshots", "optimizer", "sim"):  # created and given to the service user
            assert (workdir / "volumes" / d).stat().st_uid == 10001, d
        cid = run([*base, "ps", "-q", "exchange-sim"], env=env, cwd=workdir).stdout.strip()
        health = wait_healthy(f"http://{container_ip(cid)}:{SIM_PORT}/health")
        assert health.get("status") == "ok"
        assert (workdir / "volumes" / "sim" / "state.sqlite").exists()  # --state on the sim's rw volume
    finally:
        run([*base, "down", "-v", "--remove-orphans", "--timeout", "10"], env=env, cwd=workdir, check=False,
            timeout=120)
    left = run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"]).stdout.strip()
    assert left == ""
