"""The AURA image: builds from the Dockerfile, runs `aura` as a non-root user, validates configuration, and
carries no secret — neither in its metadata nor anywhere in its filesystem."""

from __future__ import annotations

import json
import subprocess
import tarfile

import pytest

from .conftest import BuiltImage, docker_run, run

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("docker")]


@pytest.fixture(scope="module")
def inspect(aura_image: BuiltImage) -> dict:
    return json.loads(run(["docker", "image", "inspect", aura_image.tag]).stdout)[0]


def test_image_runs_aura_as_a_non_root_user(aura_image: BuiltImage, inspect: dict) -> None:
    cfg = inspect["Config"]
    assert cfg["Entrypoint"] == ["aura"]
    assert cfg["User"] and not cfg["User"].startswith(("0", "root"))
    assert cfg["WorkingDir"] == "/app"
    assert cfg["Healthcheck"]["Test"][0] == "CMD"
    ids = docker_run(aura_image.tag, "-c", "import os; print(os.getuid(), os.getgid())", entrypoint="python3",
                     check=True)
    uid, gid = map(int, ids.stdout.split())
    assert uid != 0 and gid != 0


def test_aura_help_lists_every_role(aura_image: BuiltImage) -> None:
    proc = docker_run(aura_image.tag, "--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("ingest", "trade", "optimize", "exchange-sim", "status", "config"):
        assert command in proc.stdout


def test_the_default_image_has_no_postgres_driver_and_says_which_image_has(aura_image: BuiltImage) -> None:
    """Issue 19: the PostgreSQL driver is an extra (aura:postgres, AURA_EXTRAS=postgres); without it one line, exit 2,
    naming the extra, and the password redacted."""
    proc = docker_run(aura_image.tag, "optimize", "--storage", "postgresql://aura:Secret-Pw-99@db:5432/optuna")
    assert proc.returncode == 2, proc.stderr
    assert "pip install '.[postgres]'" in proc.stderr and "aura:***@db" in proc.stderr
    assert "Secret-Pw-99" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


def test_config_check_validates_the_shipped_configuration(aura_image: BuiltImage) -> None:
    proc = docker_run(aura_image.tag, "config", "check")
    assert proc.returncode == 0, proc.stderr
    assert "# config version: " in proc.stdout
    assert "mode: paper" in proc.stdout or '"mode": "paper"' in proc.stdout


def test_config_check_rejects_a_bad_override_with_one_line_and_exit_2(aura_image: BuiltImage) -> None:
    proc = docker_run(aura_image.tag, "config", "check", env={"AURA_EXECUTION__MODE": "yolo"})
    assert proc.returncode == 2
    assert "execution.mode" in proc.stderr and "Traceback" not in proc.stderr


def test_the_image_is_immutable_for_the_service_user(aura_image: BuiltImage) -> None:
    # Code and shipped config belong to root; only the state folders belong to the service user.
    script = ("import os\n"
              "for p in ('/opt/aura', '/opt/aura-app', '/app/config', '/app/config/aura.yaml'):\n"
              "    print(p, os.access(p, os.W_OK))\n"
              "for d in ('data', 'journal', 'snapshots', 'optimizer'):\n"
              "    print(d, os.access('/app/volumes/' + d, os.W_OK))\n")
    out = docker_run(aura_image.tag, "-c", script, entrypoint="python3", check=True).stdout.split("\n")
    access = dict(line.rsplit(" ", 1) for line in out if line)
    assert access == {"/opt/aura": "False", "/opt/aura-app": "False", "/app/config": "False",
                      "/app/config/aura.yaml": "False", "data": "True", "journal": "True", "snapshots": "True",
                      "optimizer": "True"}


def test_no_secret_in_image_metadata(aura_image: BuiltImage, inspect: dict) -> None:
    assert aura_image.canary not in json.dumps(inspect)
    history = run(["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", aura_image.tag]).stdout
    assert aura_image.canary not in history
    env = dict(e.split("=", 1) for e in inspect["Config"]["Env"])
    assert not {"AURA_API_KEY", "AURA_API_SECRET", "GF_SECURITY_ADMIN_PASSWORD"} & set(env)


def test_no_secret_in_image_filesystem(aura_image: BuiltImage) -> None:
    """Stream the whole filesystem out of a container and look for the planted value and secret-ish files."""
    cid = run(["docker", "create", aura_image.tag]).stdout.strip()
    leaks: list[str] = []
    names: list[str] = []
    try:
        with subprocess.Popen(["docker", "export", cid], stdout=subprocess.PIPE) as proc:
            assert proc.stdout is not None
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for member in tar:
                    names.append(member.name)
                    if member.isfile():
                        data = tar.extractfile(member).read()  # type: ignore[union-attr]
                        if aura_image.canary.encode() in data:
                            leaks.append(member.name)
            assert proc.wait(timeout=300) == 0
    finally:
        run(["docker", "rm", "-f", cid], check=False)
    assert len(names) > 1000, "export produced too few files to be the image"
    assert "app/config/aura.yaml" in names
    assert leaks == []
    planted = [n for n in names if n.endswith("/.env") or n == ".env" or "/secrets/" in f"/{n}"
               or n.endswith("aura.local.yaml") or n.endswith("leak.txt")]
    assert planted == []

