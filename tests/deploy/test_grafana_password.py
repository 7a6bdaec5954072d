"""The fresh-clone start: `up` with no .env and no image builds the image, and `volumes-init` generates Grafana's
admin password into volumes/secrets/grafana_admin_password (0400, Grafana's uid 472, kept across starts), or takes
the operator's GF_SECURITY_ADMIN_PASSWORD from .env; the value is never printed and never in a container's
environment. Grafana itself is not started (its image cannot be pulled here): what it reads is checked in
test_compose.py."""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path

import pytest

from .conftest import BuiltImage, compose_project, run, wipe_state

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("docker")]

GRAFANA_UID = 472


def _password_file(image: BuiltImage) -> Path:
    return image.context / "volumes" / "secrets" / "grafana_admin_password"


def _init_output(project, container_name: str) -> str:
    proc = run(["docker", "logs", container_name], check=False)
    return proc.stdout + proc.stderr + project("logs", "--no-color", "volumes-init", check=False).stdout


def test_up_on_a_fresh_clone_builds_the_image_and_generates_the_grafana_password(
        aura_image: BuiltImage, compose_cli: str, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("reading a file owned by Grafana's uid 472 needs root")
    fresh_tag = f"aura:deploytest-{secrets.token_hex(4)}"   # absent: `up` must build it (compose `build:`)
    wipe_state(aura_image)
    project = compose_project(aura_image, tmp_path, extra_env={"AURA_IMAGE": fresh_tag})
    try:
        project("up", "--pull", "never", "--exit-code-from", "volumes-init", "volumes-init", timeout=900)
        run(["docker", "image", "inspect", fresh_tag])
        pw_file = _password_file(aura_image)
        st = pw_file.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (GRAFANA_UID, 0, 0o400)
        assert stat.S_IMODE(pw_file.parent.stat().st_mode) == 0o700 and pw_file.parent.stat().st_uid == GRAFANA_UID
        generated = pw_file.read_text()
        assert len(generated) >= 24 and generated.strip() == generated and generated not in ("admin", "aura")
        init_id = project("ps", "-aq", "volumes-init").stdout.strip()
        assert generated not in _init_output(project, init_id)
        assert generated not in run(["docker", "inspect", init_id]).stdout

        # a second start keeps it (Grafana applied it when its data volume was created)
        project("up", "--no-build", "--pull", "never", "--force-recreate", "--exit-code-from", "volumes-init",
                "volumes-init", timeout=300)
        assert pw_file.read_text() == generated
    finally:
        project.down()
        run(["docker", "image", "rm", "-f", fresh_tag], check=False)
        wipe_state(aura_image)


def test_the_operators_password_from_env_is_used_and_never_reaches_a_container_environment(
        aura_image: BuiltImage, compose_cli: str, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("reading a file owned by Grafana's uid 472 needs root")
    chosen = f"operator-{secrets.token_hex(10)}"
    wipe_state(aura_image)
    project = compose_project(aura_image, tmp_path, env_text=f"GF_SECURITY_ADMIN_PASSWORD={chosen}\n")
    try:
        for one_shot in ("volumes-init", "config-check"):   # the root one-shot, then an AURA container
            project("up", "--no-build", "--pull", "never", "--exit-code-from", one_shot, one_shot, timeout=300)
        assert _password_file(aura_image).read_text() == chosen
        ids = project("ps", "-aq").stdout.split()
        assert len(ids) == 2, ids   # volumes-init and config-check (an AURA container)
        for cid in ids:
            env = json.loads(run(["docker", "inspect", "-f", "{{json .Config.Env}}", cid]).stdout)
            assert not [e for e in env if chosen in e], cid
            assert chosen not in _init_output(project, cid)
    finally:
        project.down()
        wipe_state(aura_image)
