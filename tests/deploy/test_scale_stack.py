"""End to end, the compose profile `scale` (issue 19): the PostgreSQL server (the pinned image, or scripts/docker-setup's
Debian stand-in) healthy with a generated password, `optimizer-scale --prepare` prints a run id, `up --scale
optimizer-worker=2` joins it, both workers exit 0 having searched, `optimizer-scale --resume` reports; the password
appears in no container log, no output and no file of the run; `down -v` and the bind-mounted state removed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import pytest

from .conftest import BuiltImage, _image_exists, compose_project, run, unavailable, wipe_state

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.xdist_group("docker")]

SCALE_IMAGE = os.environ.get("AURA_TEST_SCALE_IMAGE", "aura:postgres")
TRIALS, FOLDS, WORKERS = 20, 2, 2


def postgres_image() -> str:
    for ref in (os.environ.get("AURA_POSTGRES_IMAGE"), "postgres:15.8-bookworm", "aura-postgres:standin"):
        if ref and _image_exists(ref):
            return ref
    unavailable("no PostgreSQL image (postgres:15.8-bookworm or aura-postgres:standin); run ./scripts/docker-setup")
    raise AssertionError("unreachable")


def test_scale_profile_prepares_joins_with_two_workers_and_reports(aura_image: BuiltImage, compose_cli: str,
                                                                  tmp_path) -> None:
    from aura_common.adapters.parquet_store import write_panel
    from aura_common.core.synthetic import synthetic_panel

    project = compose_project(aura_image, tmp_path, extra_env={"AURA_POSTGRES_IMAGE": postgres_image(),
                                                               "AURA_SCALE_IMAGE": SCALE_IMAGE})
    project("--profile", "scale", "build", "--quiet", "optimizer-scale", timeout=1200)
    wipe_state(aura_image)
    write_panel(aura_image.context / "volumes" / "data", "1d", synthetic_panel(12, 1000, seed=3), "synthetic")
    try:
        prep = project("--profile", "scale", "run", "--rm", "-T", "optimizer-scale", "--prepare", "--folds",
                       str(FOLDS), "--trials", str(TRIALS), "--train-days", "200", "--test-days", "60",
                       "--step-days", "60", timeout=300)
        run_id = prep.stdout.strip()
        assert run_id and "\n" not in run_id, prep.stdout
        scaled = dataclasses.replace(project, env={**project.env, "AURA_SCALE_RUN": run_id})
        scaled("--profile", "scale", "up", "-d", "--scale", f"optimizer-worker={WORKERS}", "optimizer-worker",
               timeout=300)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            states = [json.loads(line) for line in
                      scaled("--profile", "scale", "ps", "-a", "--format", "json", "optimizer-worker").stdout.splitlines()
                      if line.strip()]
            if len(states) == WORKERS and all(s["State"] == "exited" for s in states):
                break
            time.sleep(2)
        assert [s["ExitCode"] for s in states] == [0] * WORKERS, states
        logs = scaled("--profile", "scale", "logs", "--no-color", "optimizer-worker", "postgres").stdout
        assert logs.count("[OPTIMIZE_JOIN]") == WORKERS and "trials_added=0 " not in logs, logs[-3000:]

        done = scaled("--profile", "scale", "run", "--rm", "-T", "optimizer-scale", "--resume", run_id, timeout=300)
        assert f"optimizer run {run_id} complete" in done.stdout, done.stdout + done.stderr
        run_dir = aura_image.context / "volumes" / "optimizer" / run_id
        results = json.loads((run_dir / "results.json").read_text())
        assert all(TRIALS <= f["trials"] <= TRIALS + WORKERS - 1 for f in results["folds"]), results["folds"]
        assert results["inputs"]["storage"] == "postgresql://aura:***@postgres:5432/optuna"

        password = run(["docker", "run", "--rm", "--network", "none", "--user", "0:0", "--entrypoint", "cat",
                        "-v", f"{aura_image.context / 'volumes' / 'pgsecret'}:/s:ro", aura_image.tag,
                        "/s/postgres_password"]).stdout.strip()
        assert len(password) >= 20
        everything = scaled("--profile", "scale", "logs", "--no-color").stdout + prep.stdout + prep.stderr \
            + done.stdout + done.stderr + "".join(p.read_text(errors="replace") for p in run_dir.iterdir()
                                                 if p.suffix in (".json", ".yaml", ".html") or p.name == "INCOMPLETE")
        assert password not in everything
    finally:
        project("--profile", "scale", "down", "-v", "--remove-orphans", "--timeout", "10", check=False)
        wipe_state(aura_image)
