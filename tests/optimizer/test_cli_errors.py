"""Bad input through the real console script: one clear line, the right exit code, nothing written."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from aura_common.core.synthetic import synthetic_panel

from optimizer_helpers import AURA, make_workspace


def _one_line(proc, code: int, *needles: str) -> None:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def _nothing_written(ws) -> None:
    assert ws.runs() == []


def test_empty_cache(tmp_path):
    ws = make_workspace(tmp_path, None)
    proc = ws.aura("--space", "space.yaml")
    _one_line(proc, 1, "empty candle cache", str(ws.data_dir))
    _nothing_written(ws)


def test_too_little_history(tmp_path):
    ws = make_workspace(tmp_path, synthetic_panel(6, 150, seed=2))
    proc = ws.aura("--space", "space.yaml")
    _one_line(proc, 1, "too little history", "150 days")
    _nothing_written(ws)


def test_corrupt_cache_file(tmp_path, panel):
    ws = make_workspace(tmp_path, panel)
    victim = ws.data_dir / "parquet" / "1d" / "BTCUSDT.parquet"
    victim.write_bytes(victim.read_bytes()[:200])
    proc = ws.aura("--space", "space.yaml")
    _one_line(proc, 1, str(victim))
    _nothing_written(ws)


def test_corrupt_snapshot(ws):
    ws.snapshots_dir.mkdir()
    (ws.snapshots_dir / "latest.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x17" * 3000)
    proc = ws.aura("--space", "space.yaml")
    _one_line(proc, 1, "journal snapshot", "latest.sqlite")
    _nothing_written(ws)


@pytest.mark.parametrize("space,needle", [
    ({"parameters": {"scoring.w_nothing": {"low": 0, "high": 1}}}, "parameters.scoring.w_nothing: no such"),
    ({"parameters": {"scoring.w_momentum": {"low": 2, "high": 1}}}, "must be below high"),
    ({"parameters": {"voting.top_k": {"low": 1.5, "high": 4}}}, "integer parameter"),
    ({"parameters": {"risk.stop_loss_pct": {"low": 5, "high": 150}}}, "stop_loss_pct: value 150.0 is not a valid strategy: must be in (0, 100)"),
    ({"parameters": {"voting.offsets_days": {"choices": [[0, 1, 2], [0, 0, 1]]}}}, "offsets_days: value [0, 0, 1] is not a valid strategy: must be distinct"),
    ({"parameters": {}}, "at least one parameter"),
    ({"objective": {"metric": "luck"}, "parameters": {"scoring.w_trend": {"low": 0, "high": 1}}}, "objective.metric"),
    ({"parameterz": {}}, "unknown key"),
])
def test_invalid_search_space(ws, space, needle):
    ws.space.write_text(yaml.safe_dump(space))
    proc = ws.aura("--space", "space.yaml")
    _one_line(proc, 2, "space.yaml", needle)
    _nothing_written(ws)


@pytest.mark.parametrize("args,code,needle", [
    (("--step-days", "90", "--test-days", "60"), 2, "untested gaps"),
    (("--trials", "0"), 2, "must be >= 1"),
    (("--resume", "nope"), 2, "no optimizer run"),
    (("--join", "nope"), 2, "no optimizer run"),
    (("--apply-run", "nope"), 2, "not complete"),
    (("--service", "--apply"), 2, "never applies"),
])
def test_usage_errors(ws, args, code, needle):
    proc = ws.aura("--space", "space.yaml", *args)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr and needle in proc.stderr
    _nothing_written(ws)


def test_an_existing_run_id_is_not_overwritten(ws):
    (ws.optimizer_dir / "r1").mkdir(parents=True)
    proc = ws.aura("--space", "space.yaml", "--run-id", "r1")
    _one_line(proc, 2, "already exists", "--resume r1")
    assert list((ws.optimizer_dir / "r1").iterdir()) == []


def test_a_run_on_an_explicit_storage_must_be_resumed_with_it(ws, tmp_path):
    url = f"sqlite:///{tmp_path / 'shared' / 'studies.sqlite3'}"
    prep = ws.aura("--space", "space.yaml", "--folds", "1", "--trials", "3", "--run-id", "x", "--storage", url,
                   "--prepare")
    assert prep.returncode == 0, prep.stderr
    assert (tmp_path / "shared" / "studies.sqlite3").is_file()
    assert not (ws.optimizer_dir / "x" / "study.sqlite3").exists()
    _one_line(ws.aura("--resume", "x"), 2, "used storage", "--storage")
    done = ws.aura("--resume", "x", "--storage", url)
    assert done.returncode == 0, done.stderr
    assert (ws.optimizer_dir / "x" / "results.json").is_file()


def test_a_postgres_storage_without_its_driver_exits_2_naming_the_extra_and_writes_nothing(ws):
    """Issue 14: was an ImportError after the run directory was created (left INCOMPLETE). The test venv has the
    driver (the postgres extra), so the real CLI runs in a Python where ``import psycopg`` fails the way an absent
    package does (``sys.modules[name] = None`` is Python's documented import block)."""
    password = "Pg-Secret-99"
    code = ("import sys; sys.modules['psycopg'] = None; sys.modules['psycopg2'] = None; "
            "from aura_cli.main import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([str(AURA.parent / "python"), "-c", code, "--config", str(ws.config), "optimize",
                           "--space", "space.yaml", "--storage", f"postgresql://aura:{password}@127.0.0.1:1/optuna"],
                          cwd=ws.root, capture_output=True, text=True, timeout=120, env=ws.env(None))
    _one_line(proc, 2, "postgres", "pip install '.[postgres]'", "postgresql://aura:***@127.0.0.1:1/optuna")
    assert "ImportError" not in proc.stderr and password not in proc.stdout + proc.stderr
    _nothing_written(ws)


def test_the_optimizer_config_storage_is_checked_the_same_way(tmp_path, panel):
    ws = make_workspace(tmp_path, panel)
    cfg = yaml.safe_load(ws.config.read_text())
    cfg.setdefault("optimizer", {})["storage"] = "nosuchdb://x:y@h/db"
    ws.config.write_text(yaml.safe_dump(cfg))
    proc = ws.aura("--space", "space.yaml")
    _one_line(proc, 2, "nosuchdb://x:***@h/db", "not a database URL")
    _nothing_written(ws)
