"""Fixtures for the deployment tests: a real Docker engine, the compose v2 CLI, and the AURA image.

Without an engine the tests skip with the reason — except in CI (``CI=true``), where they FAIL: CI runs
``scripts/docker-setup`` first, so a missing engine there is a broken pipeline, not an optional extra.
The image is built once per session from a copy of the checkout in which secrets are planted (``.env``,
``secrets/``, ``volumes/``), so the tests can prove none of them reaches the image. The build is cached by
the engine: an unchanged tree rebuilds in seconds.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
OFFICIAL_BASE = "python:3.11-slim-bookworm"
LOCAL_BASE = "aura-base:bookworm"
IMAGE_TAG = os.environ.get("AURA_TEST_IMAGE", "aura:local")
BUILD_TIMEOUT_S = 1200
_IGNORE_NAMES = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", ".pytest_cache", ".hypothesis",
                                      "*.egg-info", ".bench-out", ".env")


def copy_ignore(directory: str, names: list[str]) -> set[str]:
    """What the checkout copy leaves out: caches, the developer's .env, and any state under volumes/."""
    ignored = set(_IGNORE_NAMES(directory, names))
    if Path(directory) == REPO_ROOT / "volumes":
        ignored |= {n for n in names if n != "README.md"}
    return ignored


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def unavailable(reason: str) -> None:
    """Skip outside CI; fail in CI, where scripts/docker-setup must have provided everything."""
    if in_ci():
        pytest.fail(f"{reason} — CI=true, so the deployment tests must run (scripts/docker-setup prepares "
                    "the engine, compose and the base image)", pytrace=False)
    pytest.skip(reason)


def run(cmd: list[str], *, timeout: float = 120, check: bool = True, cwd: Path | None = None,
        env: dict[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env, input=input)
    except subprocess.TimeoutExpired:
        pytest.fail(f"timed out after {timeout}s: {' '.join(cmd)}", pytrace=False)
    if check and proc.returncode != 0:
        pytest.fail(f"exit {proc.returncode}: {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}",
                    pytrace=False)
    return proc


def wait_until(what: str, predicate, timeout_s: float, diagnostics=lambda: "") -> float:
    """Poll ``predicate()`` with back-off (0.2 s doubling to 1 s) until true; returns the seconds it took, or fails
    after ``timeout_s`` with the tail of ``diagnostics()`` (the one polling helper of the deployment tests)."""
    start = time.monotonic()
    delay = 0.2
    while time.monotonic() - start < timeout_s:
        if predicate():
            return time.monotonic() - start
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    pytest.fail(f"{what}: not within {timeout_s:.0f}s\n{diagnostics()[-5000:]}", pytrace=False)
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """A Docker engine that answers; returns its server version."""
    if shutil.which("docker") is None:
        unavailable("no docker client on PATH")
    try:
        proc = subprocess.run(["docker", "version", "-f", "{{.Server.Version}}"], capture_output=True, text=True,
                              timeout=30)
    except subprocess.TimeoutExpired:
        unavailable("the Docker engine did not answer within 30s")
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or [proc.stdout.strip()])[-1]
        unavailable(f"no Docker engine answers: {detail}")
    return proc.stdout.strip()


@pytest.fixture(scope="session")
def compose_cli() -> str:
    """The compose v2 CLI plugin (``docker compose``); returns its version."""
    if shutil.which("docker") is None:
        unavailable("no docker client on PATH")
    proc = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True, timeout=30)
    version = proc.stdout.strip().lstrip("v")
    if proc.returncode != 0 or not version.startswith("2."):
        detail = version or (proc.stderr.strip().splitlines() or ["no output"])[0]
        unavailable(f"docker compose v2 is not installed ({detail}); run ./scripts/docker-setup")
    return version


def _image_exists(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="session")
def base_image(docker_engine: str) -> str:
    """$AURA_BASE_IMAGE, else the official python image when present, else scripts/docker-setup's local base."""
    explicit = os.environ.get("AURA_BASE_IMAGE")
    candidates = [explicit] if explicit else [OFFICIAL_BASE, LOCAL_BASE]
    for ref in candidates:
        if _image_exists(ref):
            return ref
    unavailable(f"no base image ({' or '.join(candidates)}) in the engine; run ./scripts/docker-setup")
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    base: str
    canary: str            # a secret value planted in the build context (and the build's environment)
    context: Path          # the copy of the checkout the image was built from (has .env, secrets/, volumes/)


@pytest.fixture(scope="session")
def aura_image(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    canary = f"aura-canary-{secrets.token_hex(12)}"
    ctx = tmp_path_factory.mktemp("build") / "aura"
    shutil.copytree(REPO_ROOT, ctx, ignore=copy_ignore, symlinks=True)
    (ctx / ".env").write_text(f"GF_SECURITY_ADMIN_PASSWORD={canary}\nAURA_API_SECRET={canary}\n")
    (ctx / "secrets").mkdir(exist_ok=True)
    (ctx / "secrets" / "aura_api_secret").write_text(canary)
    (ctx / "volumes" / "journal").mkdir(parents=True, exist_ok=True)
    (ctx / "volumes" / "journal" / "leak.txt").write_text(canary)
    (ctx / "config" / "aura.local.yaml").write_text(f"# {canary}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "AURA_"))}
    env.update(AURA_API_SECRET=canary, GF_SECURITY_ADMIN_PASSWORD=canary, AURA_IMAGE=IMAGE_TAG,
               AURA_BASE_IMAGE=base_image)
    # Built the way `docker compose up` builds it (compose's `build:`, the engine's BuildKit), so the tests run
    # what users get and share its build cache with the compose runs below.
    cmd = ["docker", "compose", "-p", "aura-deploytest-build", "--project-directory", str(ctx), "--env-file",
           os.devnull, "-f", str(ctx / "compose.yaml"), "build", "--quiet", "config-check"]
    run(cmd, timeout=BUILD_TIMEOUT_S, env=env, cwd=ctx)
    return BuiltImage(tag=IMAGE_TAG, base=base_image, canary=canary, context=ctx)


def docker_run(image: str, *args: str, entrypoint: str | None = None, env: dict[str, str] | None = None,
               timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = ["docker", "run", "--rm", "--network", "none"]
    for k, v in (env or {}).items():
        cmd += ["-e", f"{k}={v}"]
    if entrypoint is not None:
        cmd += ["--entrypoint", entrypoint]
    return run([*cmd, image, *args], timeout=timeout, check=check)


def prometheus_image() -> str | None:
    """The pinned Prometheus image when present, else scripts/docker-setup's Debian stand-in, else None."""
    for ref in (os.environ.get("AURA_PROMETHEUS_IMAGE"), "prom/prometheus:v2.53.2", "aura-prometheus:standin"):
        if ref and _image_exists(ref):
            return ref
    return None


@dataclass(frozen=True)
class ComposeProject:
    """`docker compose` on a copy of the checkout, under a throw-away project name, with a test .env."""

    name: str
    workdir: Path
    files: tuple[str, ...]
    env_file: Path
    env: dict[str, str]

    def cmd(self, *args: str) -> list[str]:
        base = ["docker", "compose", "-p", self.name, "--project-directory", str(self.workdir),
                "--env-file", str(self.env_file)]
        for f in self.files:
            base += ["-f", str(self.workdir / f)]
        return [*base, *args]

    def __call__(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(self.cmd(*args), env=self.env, cwd=self.workdir, timeout=timeout, check=check)

    def down(self) -> None:
        self("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
        left = run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.name}"]).stdout
        assert left.strip() == "", f"containers of {self.name} left behind"


def compose_project(image: BuiltImage, tmp_path: Path, files: tuple[str, ...] = ("compose.yaml",),
                    extra_env: dict[str, str] | None = None, env_text: str = "") -> ComposeProject:
    """A project on the built image's context; ``env_text`` is its .env (empty: the fresh-clone case)."""
    env_file = tmp_path / ".env"
    env_file.write_text(env_text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "AURA_"))}
    env.update({"AURA_IMAGE": image.tag, "AURA_BASE_IMAGE": image.base, **(extra_env or {})})
    return ComposeProject(name=f"aura-deploytest-{secrets.token_hex(4)}", workdir=image.context, files=files,
                          env_file=env_file, env=env)


def wipe_state(image: BuiltImage) -> None:
    """Remove what the stack left under the context's volumes/ (owned by the container users): the bind-mounted
    half of "tear everything down, volumes included" (`down -v` removes only the named volumes)."""
    run(["docker", "run", "--rm", "--network", "none", "--user", "0:0", "--entrypoint", "/bin/sh",
         "-v", f"{image.context / 'volumes'}:/v", image.tag, "-c",
         "find /v -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +"])
    left = sorted(p.name for p in (image.context / "volumes").iterdir())
    assert left in ([], ["README.md"]), left


def container_ip(container_id: str) -> str:
    """The container's address on its network: the host reaches it directly, nothing is published."""
    nets = json.loads(run(["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", container_id]).stdout)
    ips = [n["IPAddress"] for n in nets.values() if n.get("IPAddress")]
    assert ips, f"container {container_id} has no IP address"
    return ips[0]


def get_json(url: str, timeout: float = 5, headers: dict[str, str] | None = None) -> dict:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - a local container URL
        assert resp.status == 200
        return json.loads(resp.read())


def wait_http(url: str, timeout_s: float = 90) -> dict:
    """Poll until the URL answers 200 with JSON (bounded in time; short back-off, never a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    delay, last = 0.1, ""
    while time.monotonic() < deadline:
        try:
            return get_json(url, timeout=3)
        except (urllib.error.URLError, ConnectionError, OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    pytest.fail(f"{url} did not answer within {timeout_s}s (last error: {last})", pytrace=False)
