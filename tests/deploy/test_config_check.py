"""The compose `config-check` gate: `aura config check` runs on the mounted config/ before any service that
reads it, so a bad edit stops the start-up with one line naming file and key (exit 2), not a restart loop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import BuiltImage, ComposeProject, compose_project

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("docker")]


def test_a_bad_config_stops_compose_before_any_service_starts(aura_image: BuiltImage, compose_cli: str,
                                                             tmp_path: Path) -> None:
    workdir = tmp_path / "checkout"
    shutil.copytree(aura_image.context, workdir, ignore=shutil.ignore_patterns("volumes"))
    (workdir / "volumes").mkdir()
    config = workdir / "config" / "aura.yaml"
    config.write_text(config.read_text().replace("  fee_bps: 10\n", "  fee_bps: -3\n", 1))
    assert "fee_bps: -3" in config.read_text()
    project = compose_project(aura_image, tmp_path)
    project = ComposeProject(project.name, workdir, project.files, project.env_file, project.env)
    try:
        proc = project("up", "-d", "--no-build", "--pull", "never", "ingestor", check=False, timeout=180)
        assert proc.returncode != 0
        assert "config-check" in proc.stderr
        ps = [json.loads(line) for line in project("ps", "-a", "--format", "json").stdout.splitlines() if line]
        state = {p["Service"]: (p["State"], p.get("ExitCode")) for p in ps}
        assert state["config-check"] == ("exited", 2)
        assert "ingestor" not in state or state["ingestor"][0] == "created"  # never ran
        check_logs = project("logs", "config-check", check=False)
        assert "execution.fee_bps" in check_logs.stdout + check_logs.stderr
    finally:
        project.down()
