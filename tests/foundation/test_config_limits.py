"""Issue 14, config and strategy: every number finite and inside documented bounds, a strategy file states every
key of every section, meaningless combinations are errors (suspicious ones warnings), the reader refuses what is
not a small regular file, environment errors name the variable, and `aura config check --explain` documents it."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import typing
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from aura_common.config import AuraConfig, ConfigError, load_config, load_strategy
from aura_common.config.loader import parse_strategy, strategy_to_dict
from aura_common.core.params import StrategyParams

REPO = Path(__file__).resolve().parents[2]
SHIPPED = (REPO / "config" / "strategy.yaml").read_text()
MAX_FILE_BYTES, MAX_DEPTH = 256 * 1024, 20  # the reader's documented limits (loader.py)


def bounds_table():
    from aura_common.core.params import bounds_table
    return bounds_table()


def config_bounds():
    from aura_common.config.explain import config_bounds
    return config_bounds()


def explain_text():
    from aura_common.config.explain import explain_text
    return explain_text()


def aura(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("aura")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")} | (env or {})
    return subprocess.run([str(exe), *args], cwd=REPO, env=full_env, capture_output=True, text=True, timeout=120)


def one_line_exit_2(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1, err[-2000:]
    assert "Traceback" not in err and "Error:" not in err.split(": ", 1)[1]  # no Python exception names
    for n in needles:
        assert n in err, err
    return err


def config_with(tmp_path: Path, main: str = "", strategy: str | None = SHIPPED) -> Path:
    """aura.yaml (+ its strategy file) in tmp_path; ``main`` is extra YAML for aura.yaml."""
    s = tmp_path / "strategy.yaml"
    if strategy is not None:
        s.write_text(strategy)
    data = yaml.safe_load(main) or {}
    data.setdefault("paths", {})["strategy_file"] = str(s)
    cfg = tmp_path / "aura.yaml"
    cfg.write_text(yaml.safe_dump(data))
    return cfg


# --- 1. absurd numbers: finite and inside documented bounds ------------------------------------------------------
@pytest.mark.parametrize("text, key, problem", [
    ("schedules:\n  tick_seconds: 1e308\n", "schedules.tick_seconds", "less than or equal to 3600"),
    ("schedules:\n  tick_seconds: .inf\n", "schedules.tick_seconds", "finite number"),
    ("schedules:\n  tick_seconds: .nan\n", "schedules.tick_seconds", "finite number"),
    ("execution:\n  fee_bps: 1e308\n", "execution.fee_bps", "less than or equal to 100"),
    ("execution:\n  slippage_bps: -.inf\n", "execution.slippage_bps", "finite number"),
    ("data:\n  max_stale_hours: 1e308\n", "data.max_stale_hours", "less than or equal to 720"),
    ("optimizer:\n  trials: 1000000000\n", "optimizer.trials", "less than or equal to 100000"),
])
def test_absurd_numbers_in_the_main_config_name_file_and_key(tmp_path, text, key, problem):
    path = tmp_path / "aura.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert (info.value.source, info.value.key) == (str(path), key) and problem in info.value.problem


@pytest.mark.parametrize("old, new, key, problem", [
    ("w_momentum: 1.0", "w_momentum: .nan", "scoring.w_momentum", "finite number"),
    ("w_momentum: 1.0", "w_momentum: 1e308", "scoring.w_momentum", "must be in [-100, 100], got 1e+308"),
    ("momentum_min_return: 0.0", "momentum_min_return: .nan", "screen.momentum_min_return", "finite number"),
    ("stop_loss_pct: 15.0", "stop_loss_pct: 150", "risk.stop_loss_pct", "must be in (0, 100)"),
    ("offsets_days: [0, 1, 2, 3]", "offsets_days: [0, 1, 2, 1000]", "voting.offsets_days", "items must be in [0, 365]"),
])
def test_absurd_numbers_in_the_strategy_file_name_file_and_key(tmp_path, old, new, key, problem):
    path = tmp_path / "strategy.yaml"
    path.write_text(SHIPPED.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_strategy(path)
    assert (info.value.source, info.value.key) == (str(path), key) and problem in info.value.problem


def test_config_check_and_trade_refuse_absurd_numbers_with_one_line_and_exit_2(tmp_path):
    cfg = config_with(tmp_path, "schedules:\n  tick_seconds: 1e308\n")
    one_line_exit_2(aura("config", "check", str(cfg)), str(cfg), "schedules.tick_seconds")
    one_line_exit_2(aura("--config", str(cfg), "trade", "--once"), str(cfg), "schedules.tick_seconds")
    s = tmp_path / "strategy.yaml"
    cfg = config_with(tmp_path, strategy=SHIPPED.replace("w_momentum: 1.0", "w_momentum: .nan"))
    one_line_exit_2(aura("config", "check", str(cfg)), str(s), "scoring.w_momentum", "finite number")
    # a restart refuses at once, naming the file and key (no crash at the next rebalance)
    one_line_exit_2(aura("--config", str(cfg), "trade", "--once"), str(s), "scoring.w_momentum")


def _numeric(annotation) -> bool:
    return annotation in (int, float, "int", "float") or (
        typing.get_origin(annotation) is tuple and typing.get_args(annotation)[0] in (int, float))


def _model_numeric_fields(model: type[BaseModel], prefix: str = ""):
    for name, info in model.model_fields.items():
        ann = info.annotation
        subs = [a for a in (ann, *typing.get_args(ann)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if subs:
            yield from _model_numeric_fields(subs[0], f"{prefix}{name}{'[]' if typing.get_origin(ann) is tuple else ''}.")
        elif _numeric(ann):
            yield f"{prefix}{name}"


def test_every_numeric_field_of_both_schemas_has_two_finite_bounds():
    declared = {k: r for k, r, _ in config_bounds()}
    assert set(_model_numeric_fields(AuraConfig)) == set(declared)
    assert all(r.startswith(("[", "(")) for r in declared.values()), declared  # both ends, never half-open
    hints = {}
    for sec in fields(StrategyParams):
        for f in fields(sec.default_factory):
            hints[f"{sec.name}.{f.name}"] = typing.get_type_hints(sec.default_factory)[f.name]
    numeric = {k for k, t in hints.items() if t is not bool and _numeric(t)}
    assert numeric == {k for k, _, _ in bounds_table()}


@settings(max_examples=300, deadline=None)
@given(st.deferred(lambda: st.sampled_from([(k, r) for k, r, _ in bounds_table() if not r.startswith("items")])),
       st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308]),
    st.floats(allow_nan=False, allow_infinity=False)))
def test_no_value_outside_a_strategy_bound_is_ever_accepted(field_range, value):
    """Property: a strategy accepts a number only when it is finite and inside the field's documented range."""
    key, rng = field_range
    section, name = key.split(".")
    data = strategy_to_dict(StrategyParams())
    data[section][name] = value
    lo, hi = (float(x) for x in rng[1:-1].split(", "))
    inside = math.isfinite(value) and (lo < value if rng[0] == "(" else lo <= value) and (
        value < hi if rng[-1] == ")" else value <= hi)
    try:
        parse_strategy(data, "s.yaml", complete=True)
    except ConfigError as exc:
        assert exc.key.startswith(section)
        if not inside:
            assert exc.key == key
    else:
        assert inside, (key, value)


# --- 2. a strategy file states every key of every section -------------------------------------------------------
def test_every_prefix_of_the_shipped_strategy_file_is_refused(tmp_path):
    """An editor crash can leave any prefix of the file: none of them may run (on defaults or otherwise)."""
    path = tmp_path / "strategy.yaml"
    raw = SHIPPED.encode()
    complete = len(SHIPPED.rstrip())
    for cut in range(0, complete):
        path.write_bytes(raw[:cut])
        with pytest.raises(ConfigError):
            load_strategy(path)
    path.write_bytes(raw[:complete])
    assert load_strategy(path) == StrategyParams()


@pytest.mark.parametrize("text, key, problem", [
    ("", "", "the file is empty"),
    (SHIPPED[:SHIPPED.index("regime:")], "regime", "missing; a strategy file states every key of every section"),
    (SHIPPED.replace("  w_liquidity: 0.2\n", ""), "scoring.w_liquidity", "missing"),
])
def test_a_partial_strategy_file_is_refused_by_config_check(tmp_path, text, key, problem):
    cfg = config_with(tmp_path, strategy=text)
    err = one_line_exit_2(aura("config", "check", str(cfg)), str(tmp_path / "strategy.yaml"), problem)
    assert f"strategy.yaml: {key}: " in err if key else True


def test_files_the_optimizer_and_tests_write_are_complete():
    """strategy_to_dict (the optimizer's proposed.yaml) writes every key; an in-memory change need not."""
    params = parse_strategy({"risk": {"stop_loss_pct": 11.0}}, "<changes>")
    assert parse_strategy(yaml.safe_load(yaml.safe_dump(strategy_to_dict(params))), "f", complete=True) == params
    with pytest.raises(ConfigError, match="missing"):
        parse_strategy({"risk": {"stop_loss_pct": 11.0}}, "f", complete=True)


# --- 3. meaningless combinations ---------------------------------------------------------------------------------
@pytest.mark.parametrize("changes, key, problem", [
    ({"scoring": {"w_momentum": 0, "w_volatility": 0, "w_trend": 0, "w_liquidity": 0}}, "scoring", "all 0"),
    ({"portfolio": {"max_weight": 0.05, "min_trade_weight": 0.1}}, "portfolio.min_trade_weight",
     "no position could ever be opened"),
    ({"regime": {"fast_sma_days": 200, "slow_sma_days": 50}}, "regime.fast_sma_days", "below slow_sma_days"),
])
def test_meaningless_combinations_are_errors(changes, key, problem):
    with pytest.raises(ConfigError) as info:
        parse_strategy(changes, "s.yaml")
    assert info.value.key == key and problem in info.value.problem


def test_config_check_warns_loudly_about_a_strategy_that_never_invests(tmp_path):
    text = SHIPPED.replace("exposure_bull: 1.0", "exposure_bull: 0.0").replace(
        "exposure_sideways: 0.5", "exposure_sideways: 0.0")
    proc = aura("config", "check", str(config_with(tmp_path, strategy=text)))
    assert proc.returncode == 0, proc.stderr
    assert "aura: configuration warning: " in proc.stderr and "regime.exposure_bull" in proc.stderr
    assert "only cash" in proc.stderr


# --- 4. the reader's limits ---------------------------------------------------------------------------------------
def _fifo(tmp_path):
    p = tmp_path / "fifo.yaml"
    os.mkfifo(p)
    return p


@pytest.mark.parametrize("make, problem", [
    (lambda tmp: Path("/dev/zero"), "not a regular file (a character device)"),
    (_fifo, "not a regular file (a FIFO)"),
    (lambda tmp: tmp, "not a regular file (a directory)"),
    (lambda tmp: (tmp / "big.yaml", (tmp / "big.yaml").write_text("# x\n" * (MAX_FILE_BYTES // 4 + 1)))[0],
     "larger than the 256 KiB limit"),
    (lambda tmp: (tmp / "deep.yaml", (tmp / "deep.yaml").write_text("a: " + "[" * 100_000))[0],
     f"nested deeper than {MAX_DEPTH} levels"),
    (lambda tmp: (tmp / "alias.yaml", (tmp / "alias.yaml").write_text("a: &x [1]\nb: *x\n"))[0],
     "aliases (*name) are not allowed"),
])
def test_config_check_refuses_what_is_not_a_small_plain_file_in_one_line(tmp_path, make, problem):
    path = make(tmp_path)
    one_line_exit_2(aura("config", "check", str(path)), str(path), problem)


def test_a_large_file_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "big.yaml"
    with big.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # 50 MB (sparse): refused from its size, in well under a second
    with pytest.raises(ConfigError, match="larger than the 256 KiB limit"):
        load_config(big, environ={})
    strategy = config_with(tmp_path, strategy=None)
    os.symlink("/dev/zero", tmp_path / "strategy.yaml")
    one_line_exit_2(aura("config", "check", str(strategy)), "strategy.yaml", "not a regular file")


# --- 5. environment overrides name the variable --------------------------------------------------------------------
@pytest.mark.parametrize("env, key, problem", [
    ({"AURA_NOPE__X": "1"}, "nope", "unknown key"),
    ({"AURA_EXECUTION__NOPE": "1"}, "execution.nope", "unknown key"),
    ({"AURA_SCHEDULES__TICK_SECONDS": "1e308"}, "schedules.tick_seconds", "less than or equal to 3600"),
    ({"AURA_EXECUTION__FEE_BPS": ".nan"}, "execution.fee_bps", "finite number"),
    ({"AURA_EXECUTION__FEE_BPS": "[" * 100_000}, "", f"nested deeper than {MAX_DEPTH} levels"),
])
def test_an_environment_override_error_names_the_variable(tmp_path, env, key, problem):
    path = tmp_path / "aura.yaml"
    path.write_text("")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=env)
    [var] = env
    assert info.value.source == f"environment variable {var}" and info.value.key == key
    assert problem in info.value.problem


def test_config_check_names_the_variable(tmp_path):
    cfg = config_with(tmp_path)
    err = one_line_exit_2(aura("config", "check", str(cfg), env={"AURA_NOPE__X": "1"}), "AURA_NOPE__X", "nope")
    assert err.startswith("aura: configuration error: environment variable AURA_NOPE__X: nope: unknown key")


# --- 6. the bounds are documented, from the same source ------------------------------------------------------------
def test_explain_prints_every_bound_and_the_readme_carries_the_same_text():
    proc = aura("config", "check", "--explain")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == explain_text()
    for key, rng, _ in config_bounds():
        assert f"| aura.yaml | `{key}` | {rng} |" in proc.stdout
    for key, rng, _ in bounds_table():
        assert f"| strategy.yaml | `{key}` | {rng} |" in proc.stdout
    assert "| strategy.yaml | `scoring.w_momentum` | [-100, 100] | 1 |" in proc.stdout
    assert "| aura.yaml | `schedules.tick_seconds` | [0.1, 3600] | 60 |" in proc.stdout
    readme = (REPO / "README.md").read_text()
    assert explain_text() in readme, "README's configuration section: paste `aura config check --explain`"
