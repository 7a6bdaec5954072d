"""The risk keys added for the gates and the sync guard: defaults, validation, and the strategy file's errors."""

from __future__ import annotations

import pytest

from aura_common.config import ConfigError
from aura_common.config.loader import parse_strategy
from aura_common.core.params import RiskParams


def test_defaults():
    p = RiskParams()
    assert (p.cost_benefit_action, p.cost_benefit_bps_per_score) == ("skip", 100.0)
    assert (p.sync_guard_max_equity_drop_pct, p.sync_guard_confirm_reads) == (10.0, 3)


@pytest.mark.parametrize(
    "key, value",
    [
        ("cost_benefit_action", "shrug"),
        ("cost_benefit_bps_per_score", -1.0),
        ("sync_guard_max_equity_drop_pct", 0.0),
        ("sync_guard_max_equity_drop_pct", 100.0),
        ("sync_guard_confirm_reads", 0),
    ],
)
def test_invalid_values_are_rejected_naming_the_key(key, value):
    with pytest.raises(ValueError, match=key):
        RiskParams(**{key: value})
    with pytest.raises(ConfigError) as info:
        parse_strategy({"risk": {key: value}}, "strategy.yaml")
    assert key in str(info.value) and "strategy.yaml" in str(info.value)


def test_strategy_file_reads_the_new_keys():
    params = parse_strategy({"risk": {"cost_benefit_action": "trim", "sync_guard_confirm_reads": 5}}, "<t>")
    assert params.risk.cost_benefit_action == "trim" and params.risk.sync_guard_confirm_reads == 5
