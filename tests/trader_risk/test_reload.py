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
    ("risk:\n  stop_loss_pct: 150\n", "risk.stop_loss_pct", "must be in (0, 100)"),
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


def tuned(strategy_file, journal, metrics, logger):
    """A reloader running a tuned strategy (kill switch at 95 %, not the default 20 %), and the tuned file's text."""
    edit(strategy_file, risk__kill_switch_max_drawdown_pct=95.0)
    r = StrategyReloader(strategy_file, journal, metrics, logger)
    assert r.current().risk.kill_switch_max_drawdown_pct == 95.0
    return r, strategy_file.read_text()


def _cut_after_voting(text):
    return text[:text.index("regime:")]  # the screen, scoring and voting sections survive, intact


@pytest.mark.parametrize("cut, key, problem", [
    (_cut_after_voting, "regime", "missing; a strategy file states every key of every section"),
    (lambda t: t[:t.index("  stop_loss_pct:")], "risk.stop_loss_pct", "missing"),  # cut inside the last section
    (lambda t: t[:t.rindex("\n", 0, len(t) - 1) + 1], "risk.sync_guard_confirm_reads", "missing"),  # last line lost
    (lambda t: "", "", "the file is empty"),  # `> strategy.yaml`
    (lambda t: "# nothing but a comment\n", "", "the file is empty"),
], ids=["after-voting-section", "inside-risk", "last-line", "empty", "comment-only"])
def test_a_cut_short_or_emptied_file_never_swaps_the_tuned_strategy_for_defaults(
        strategy_file, journal, metrics, logger, caplog, cut, key, problem):
    r, text = tuned(strategy_file, journal, metrics, logger)
    good_version = r.version
    strategy_file.write_text(cut(text))
    for _ in range(3):
        assert r.current().risk.kill_switch_max_drawdown_pct == 95.0  # never the default 20 %
    assert r.version == good_version and journal.current_config_version().version == good_version
    assert metrics.value("aura_config_reload_failing") == 1 and metrics.value("aura_config_reload_errors_total") == 1
    assert r.failing.key == key and problem in r.failing.problem
    [line] = [x for x in tag_lines(caplog, "CONFIG_RELOAD") if x["status"] == "rejected"]
    assert line["file"] == str(strategy_file) and line["key"] == (key or "-") and line["kept_version"] == good_version
    assert [x for x in tag_lines(caplog, "CONFIG_RELOAD") if x["status"] == "applied"][-1]["version"] == good_version
    strategy_file.write_text(text)  # the editor saves the whole file again: applied, the gauge drops
    assert r.current().risk.kill_switch_max_drawdown_pct == 95.0
    assert metrics.value("aura_config_reload_failing") == 0


@pytest.mark.parametrize("old, new, key, problem", [
    ("w_momentum: 1.0", "w_momentum: .nan", "scoring.w_momentum", "finite number"),
    ("w_momentum: 1.0", "w_momentum: 1e308", "scoring.w_momentum", "must be in [-100, 100]"),
    ("w_trend: 0.5", "w_trend: -.inf", "scoring.w_trend", "finite number"),
    ("momentum_min_return: 0.0", "momentum_min_return: .nan", "screen.momentum_min_return", "finite number"),
    ("cost_benefit_bps_per_score: 100.0", "cost_benefit_bps_per_score: 1e308", "risk.cost_benefit_bps_per_score",
     "must be in [0, 1000000]"),
])
def test_an_absurd_number_is_rejected_naming_the_key_and_the_last_good_version_kept(
        strategy_file, journal, metrics, logger, old, new, key, problem):
    r, text = tuned(strategy_file, journal, metrics, logger)
    good = r.current()
    assert old in text
    strategy_file.write_text(text.replace(old, new))
    assert r.current() is good
    assert r.failing.source == str(strategy_file) and r.failing.key == key and problem in r.failing.problem
    assert metrics.value("aura_config_reload_failing") == 1


def test_all_selector_weights_zero_is_rejected(strategy_file, journal, metrics, logger):
    r, text = tuned(strategy_file, journal, metrics, logger)
    good = r.current()
    for w in ("w_momentum: 1.0", "w_volatility: -0.5", "w_trend: 0.5", "w_liquidity: 0.2"):
        text = text.replace(w, w.split(":")[0] + ": 0.0")
    strategy_file.write_text(text)
    assert r.current() is good
    assert r.failing.key == "scoring" and "all 0" in r.failing.problem


def test_a_legal_but_suspicious_strategy_is_applied_with_a_warning(strategy_file, journal, metrics, logger, caplog):
    r = StrategyReloader(strategy_file, journal, metrics, logger)
    edit(strategy_file, regime__exposure_bull=0.0, regime__exposure_sideways=0.0)
    assert r.current().regime.exposure_bull == 0.0 and metrics.value("aura_config_reload_failing") == 0
    [w] = [x for x in tag_lines(caplog, "CONFIG_RELOAD") if x["status"] == "warning"]
    assert w["key"] == "regime.exposure_bull" and "only cash" in w["problem"] and w["version"] == r.version


@pytest.mark.parametrize("kind", ["fifo", "directory", "dev-zero", "too-large"])
def test_a_file_that_is_not_a_small_regular_file_is_rejected_without_blocking(
        strategy_file, journal, metrics, logger, tmp_path, kind):
    r, _ = tuned(strategy_file, journal, metrics, logger)
    good = r.current()
    strategy_file.unlink()
    if kind == "fifo":
        os.mkfifo(strategy_file)  # nobody writes it: a blocking read would hang the trader's tick forever
    elif kind == "directory":
        strategy_file.mkdir()
    elif kind == "dev-zero":
        strategy_file.symlink_to("/dev/zero")
    else:
        strategy_file.write_text("# padding\n" * 40_000)  # 400 KB
    assert r.current() is good
    problem = "larger than the 256 KiB limit" if kind == "too-large" else "not a regular file"
    assert problem in r.failing.problem and metrics.value("aura_config_reload_failing") == 1


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
    assert err.value.source == str(strategy_file) and err.value.key == "risk.take_profit_pct"
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
