"""Hot reload of the strategy file against real files and a real journal: content changes (not mtimes) are applied
all at once and journaled with their version; an invalid file keeps the last good strategy and raises the metric."""

from __future__ import annotations

import os

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.config import AuraConfig, ConfigError
from aura_common.config.loader import config_hash, load_strategy, strategy_hash
from aura_trader.reload import StrategyReloader, changed_keys

from .conftest import tag_lines


def edit(path, **changes):
    """Rewrite the YAML with section.key=value changes (a fresh file each time, like an operator's editor)."""
    data = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        data[section][key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def versions(journal):
    return journal.current_config_version()


def test_boot_applies_and_journals_the_file(strategy_file, journal, metrics, logger):
    r = StrategyReloader(strategy_file, journal, metrics, logger)
    assert r.current() == load_strategy(strategy_file)
    assert r.version == strategy_hash(load_strategy(strategy_file))
    cv = journal.current_config_version()
    assert cv.version == r.version and cv.content["strategy"]["risk"]["stop_loss_pct"] == 15.0
    assert metrics.value("aura_config_info", version=r.version) == 1
    assert metrics.value("aura_config_reload_failing") == 0


def test_version_is_the_full_config_hash_when_the_config_is_given(strategy_file, journal, metrics, tmp_path):
    config = AuraConfig()
    r = StrategyReloader(strategy_file, journal, metrics, config=config)
    assert r.version == config_hash(config, load_strategy(strategy_file))
    assert journal.current_config_version().content["strategy"]["risk"]["take_profit_pct"] == 60.0


@pytest.mark.parametrize("config", [AuraConfig(), None])
def test_every_journaled_version_says_which_secrets_are_set_never_their_values(strategy_file, journal, metrics,
                                                                               config):
    present = {"api_key": True, "api_secret": True, "grafana_password": False}
    r = StrategyReloader(strategy_file, journal, metrics, config=config, secrets_present=present)
    want = {"api_key": "<set>", "api_secret": "<set>", "grafana_password": "<unset>"}
    first = journal.current_config_version()
    assert first.version == r.version and first.content["secrets"] == want  # the first version too
    edit(strategy_file, risk__stop_loss_pct=11.0)
    r.current()
    second = journal.current_config_version()
    assert second.version != first.version and second.content["secrets"] == want


def test_a_content_change_is_applied_at_once_and_journaled(strategy_file, journal, metrics, logger, caplog):
    r = StrategyReloader(strategy_file, journal, metrics, logger)
    first = r.version
    assert r.current() is r.current()  # unchanged file: the same object, nothing re-parsed
    edit(strategy_file, scoring__w_momentum=2.5, risk__kill_switch_max_drawdown_pct=12.0)
    s = r.current()
    assert (s.scoring.w_momentum, s.risk.kill_switch_max_drawdown_pct) == (2.5, 12.0)
    assert r.version != first and journal.current_config_version().version == r.version
    assert metrics.value("aura_config_info", version=r.version) == 1
    assert metrics.value("aura_config_info", version=first) is None
    applied = [line for line in tag_lines(caplog, "CONFIG_RELOAD") if line["status"] == "applied"]
    assert applied[-1]["version"] == r.version and applied[-1]["previous"] == first
    assert applied[-1]["changed"] == "risk.kill_switch_max_drawdown_pct,scoring.w_momentum"


def test_a_change_is_seen_by_content_even_when_size_and_mtime_are_restored(strategy_file, journal, metrics):
    r = StrategyReloader(strategy_file, journal, metrics)
    st_before = os.stat(strategy_file)
    text = strategy_file.read_text()
    new = text.replace("stop_loss_pct: 15.0", "stop_loss_pct: 12.0")
    assert len(new) == len(text)
    strategy_file.write_text(new)
    os.utime(strategy_file, ns=(st_before.st_atime_ns, st_before.st_mtime_ns))
    assert r.current().risk.stop_loss_pct == 12.0


def test_a_comment_only_change_keeps_the_version_and_journals_nothing(strategy_file, journal, metrics):
    r = StrategyReloader(strategy_file, journal, metrics)
    first = journal.current_config_version()
    strategy_file.write_text(strategy_file.read_text() + "\n# tuned by hand\n")
    r.current()
    assert r.version == first.version and journal.current_config_version() == first


@pytest.mark.parametrize("bad_text, key, problem", [
    ("risk:\n  stop_loss_pct: 150\n", "risk", "stop_loss_pct must be in (0, 100)"),
    ("risk:\n  stop_los_pct: 10\n", "risk.stop_los_pct", "unknown key"),
    ("scoring:\n  w_momentum: lots\n", "scoring.w_momentum", "valid number"),
    ("risk: [1, 2\n", "", "invalid YAML"),
    ("risk:\n  stop_loss_pct: 10\nrisk:\n  stop_loss_pct: 12\n", "", "duplicate key"),
    (None, "", "file not found"),
])
def test_an_invalid_file_keeps_the_last_good_strategy(strategy_file, journal, metrics, logger, caplog,
                                                      bad_text, key, problem):
    r = StrategyReloader(strategy_file, journal, metrics, logger)
    good, good_version = r.current(), r.version
    good_text = strategy_file.read_text()
    if bad_text is None:
        strategy_file.unlink()
    else:
        strategy_file.write_text(bad_text)
    for _ in range(3):  # several ticks on the same bad content: counted once
        assert r.current() is good
    assert r.version == good_version and journal.current_config_version().version == good_version
    assert metrics.value("aura_config_reload_errors_total") == 1
    assert metrics.value("aura_config_reload_failing") == 1
    assert metrics.value("aura_config_info", version=good_version) == 1
    assert r.failing is not None and r.failing.key == key and problem in r.failing.problem
    [line] = [x for x in tag_lines(caplog, "CONFIG_RELOAD") if x["status"] == "rejected"]
    assert line["file"] == str(strategy_file) and line["key"] == (key or "-") and problem in line["problem"]
    assert line["kept_version"] == good_version
    [ev] = journal.events(tag="CONFIG_RELOAD")
    assert ev.fields["key"] == (key or "-") and ev.fields["kept_version"] == good_version

    # the operator fixes the file: applied again, the failure gauge drops
    strategy_file.write_text(good_text.replace("w_momentum: 1.0", "w_momentum: 1.5"))
    assert r.current().scoring.w_momentum == 1.5
    assert metrics.value("aura_config_reload_failing") == 0
    assert metrics.value("aura_config_reload_errors_total") == 1


def test_two_different_bad_contents_count_twice(strategy_file, journal, metrics):
    r = StrategyReloader(strategy_file, journal, metrics)
    strategy_file.write_text("risk:\n  stop_loss_pct: 150\n")
    r.current()
    strategy_file.write_text("risk:\n  stop_loss_pct: 0\n")
    r.current()
    assert metrics.value("aura_config_reload_errors_total") == 2


def test_an_invalid_file_at_start_is_a_config_error(strategy_file, journal, metrics):
    strategy_file.write_text("risk:\n  take_profit_pct: -1\n")
    with pytest.raises(ConfigError) as err:
        StrategyReloader(strategy_file, journal, metrics)
    assert err.value.source == str(strategy_file) and err.value.key == "risk"
    assert journal.current_config_version() is None


def test_every_applied_version_is_in_the_journal_in_order(strategy_file, journal, metrics, clock):
    r = StrategyReloader(strategy_file, journal, metrics)
    seen = [r.version]
    for pct in (11.0, 12.0, 11.0):
        clock.advance(60)
        edit(strategy_file, risk__stop_loss_pct=pct)
        r.current()
        seen.append(r.version)
    rows = journal._conn.execute("SELECT version FROM config_versions ORDER BY change_id").fetchall()
    assert [v for (v,) in rows] == seen and len(set(seen)) == 3


# --- changed_keys (pure) ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("old, new, expected", [
    ({"a": {"x": 1}}, {"a": {"x": 1}}, []),
    ({"a": {"x": 1}}, {"a": {"x": 2}}, ["a.x"]),
    ({"a": {"x": 1}}, {"a": {"x": 1, "y": 2}}, ["a.y"]),
    ({"a": {"x": [1, 2]}, "b": 1}, {"a": {"x": [1, 3]}, "b": 2}, ["a.x", "b"]),
    ({"a": None}, {}, ["a"]),
])
def test_changed_keys_table(old, new, expected):
    assert changed_keys(old, new) == expected


leaf = st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=3))
tree = st.recursive(st.dictionaries(st.text("abc", min_size=1, max_size=2), leaf, max_size=3),
                    lambda inner: st.dictionaries(st.text("abc", min_size=1, max_size=2), inner, max_size=3),
                    max_leaves=10)


@settings(deadline=None, max_examples=150)
@given(tree, tree)
def test_changed_keys_properties(a, b):
    assert changed_keys(a, a) == []
    assert changed_keys(a, b) == changed_keys(b, a)
    assert (changed_keys(a, b) == []) == (a == b)
