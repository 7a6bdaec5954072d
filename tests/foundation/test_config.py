"""Typed configuration: defaults, strictness, overrides, secrets, hashing, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.config import ConfigError, config_hash, load_config, load_secrets, load_strategy, redacted_dump
from aura_common.config.loader import parse_strategy, strategy_to_dict
from aura_common.core.params import StrategyParams

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "aura.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_repo_default_files_are_valid_and_match_code_defaults():
    cfg = load_config(REPO / "config" / "aura.yaml", environ={})
    assert cfg.execution.mode == "paper"
    assert cfg.paths.strategy_file == "config/strategy.yaml"
    strategy = load_strategy(REPO / "config" / "strategy.yaml")
    assert strategy == StrategyParams(), "config/strategy.yaml documents the code defaults"


def test_empty_file_gives_defaults(tmp_path):
    cfg = load_config(write(tmp_path, ""), environ={})
    assert cfg.metrics.trader_port == 9101


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("execution:\n  mode: yolo\n", "execution.mode", "Input should be"),
        ("execution:\n  fee_bps: -1\n", "execution.fee_bps", "greater than or equal"),
        ("execution:\n  feee_bps: 1\n", "execution.feee_bps", "unknown key"),
        ("nonsense: 1\n", "nonsense", "unknown key"),
        ("universe:\n  symbols: [BTC/USDT]\n", "universe.symbols", "alphanumeric"),
        ("data:\n  provider_order: [archive, archive]\n", "data", "must not repeat"),
        ("schedules:\n  rebalance_hour_utc: 24\n", "schedules.rebalance_hour_utc", "less than or equal"),
    ],
)
def test_bad_values_name_file_key_and_problem(tmp_path, text, key, problem):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert info.value.source == str(path)
    assert info.value.key == key
    assert problem in info.value.problem
    assert str(path) in str(info.value) and key in str(info.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("execution: [unclosed\n", "invalid YAML: line"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("execution:\n  mode: paper\n  mode: live\n", "duplicate key 'mode'"),
    ],
)
def test_unparseable_files(tmp_path, text, problem):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={})
    assert problem in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_aura_config_env_selects_the_file(tmp_path):
    path = write(tmp_path, "execution:\n  fee_bps: 7\n")
    assert load_config(None, environ={"AURA_CONFIG": str(path)}).execution.fee_bps == 7


def test_env_overrides_are_typed_and_validated(tmp_path):
    path = write(tmp_path, "execution:\n  fee_bps: 7\n")
    env = {"AURA_EXECUTION__FEE_BPS": "3.5", "AURA_UNIVERSE__SYMBOLS": "[btcusdt, ethusdt]",
           "AURA_REAL_DATA": "/ignored", "AURA_API_KEY": "ignored-here"}
    cfg = load_config(path, environ=env)
    assert cfg.execution.fee_bps == 3.5
    assert cfg.universe.symbols == ("BTCUSDT", "ETHUSDT")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={"AURA_EXECUTION__MODE": "yolo"})
    assert "AURA_EXECUTION__MODE" in str(info.value)
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(path, environ={"AURA_EXECUTION__NOPE": "1"})


def test_models_are_frozen():
    cfg = load_config(REPO / "config" / "aura.yaml", environ={})
    with pytest.raises(Exception):
        cfg.execution.mode = "live"  # type: ignore[misc]


def test_strategy_errors_name_the_key(tmp_path):
    bad = write(tmp_path, "voting:\n  top_k: 0\n", "s.yaml")
    with pytest.raises(ConfigError) as info:
        load_strategy(bad)
    assert "voting" in str(info.value) and "top_k" in str(info.value)
    unknown = write(tmp_path, "risk:\n  stop_loss: 3\n", "u.yaml")
    with pytest.raises(ConfigError) as info:
        load_strategy(unknown)
    assert info.value.key == "risk.stop_loss" and info.value.problem == "unknown key"


@settings(max_examples=50, deadline=None)
@given(top_k=st.integers(1, 20), sl=st.floats(0.5, 99.0), w=st.floats(-5, 5, allow_nan=False))
def test_strategy_round_trips_through_its_file_form(top_k, sl, w):
    params = parse_strategy({"voting": {"top_k": top_k}, "risk": {"stop_loss_pct": sl},
                             "scoring": {"w_trend": w}}, "<test>")
    text = yaml.safe_dump(strategy_to_dict(params))
    assert parse_strategy(yaml.safe_load(text), "<again>") == params


def test_hash_is_stable_and_sensitive():
    cfg = load_config(REPO / "config" / "aura.yaml", environ={})
    s = StrategyParams()
    assert config_hash(cfg, s) == config_hash(load_config(REPO / "config" / "aura.yaml", environ={}), StrategyParams())
    other = parse_strategy({"risk": {"stop_loss_pct": 11.0}}, "<t>")
    assert config_hash(cfg, s) != config_hash(cfg, other)


def test_secrets_from_env_file_and_run_secrets(tmp_path):
    f = tmp_path / "key.txt"
    f.write_text("file-key-123\n")
    run_secrets = tmp_path / "run"
    run_secrets.mkdir()
    (run_secrets / "aura_api_secret").write_text("dir-secret-456")
    s = load_secrets({"AURA_API_KEY_FILE": str(f), "GF_SECURITY_ADMIN_PASSWORD": "pw-789"}, secrets_dir=run_secrets)
    assert s.api_key.get() == "file-key-123"
    assert s.api_secret.get() == "dir-secret-456"
    assert s.grafana_password.get() == "pw-789"
    assert "file-key-123" not in repr(s) and "dir-secret-456" not in str(s)
    dump = redacted_dump(load_config(REPO / "config" / "aura.yaml", environ={}), None, s.present())
    assert dump["secrets"] == {"api_key": "<set>", "api_secret": "<set>", "grafana_password": "<set>"}
    assert "file-key-123" not in yaml.safe_dump(dump)


def test_missing_named_secret_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_secrets({"AURA_API_KEY_FILE": str(tmp_path / "missing")}, secrets_dir=tmp_path)
