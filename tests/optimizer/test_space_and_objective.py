"""The declared search space (validation, sampling) and the robust objective: table tests and properties."""

from __future__ import annotations

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.config import ConfigError
from aura_common.core.params import StrategyParams
from aura_optimizer.evaluate import NO_TRADES_FLOOR, score
from aura_optimizer.space import DEFAULT_SPACE, Objective, apply, load_space, parse_space

BASE = StrategyParams()


def test_the_default_space_is_valid_and_covers_every_group():
    space = load_space(None, BASE)
    sections = {d.path.split(".")[0] for d in space.dimensions}
    assert {"scoring", "screen", "voting", "regime", "risk"} <= sections
    assert space.source == str(DEFAULT_SPACE)


@pytest.mark.parametrize("params,key,problem", [
    ({"nope.x": {"low": 0, "high": 1}}, "parameters.nope.x", "no such strategy parameter"),
    ({"scoring.w_trend": {"low": 1, "high": 1}}, "parameters.scoring.w_trend", "must be below high"),
    ({"scoring.w_trend": {"low": 0}}, "parameters.scoring.w_trend", "needs low and high"),
    ({"scoring.w_trend": {"low": 0, "high": 1, "spread": 2}}, "parameters.scoring.w_trend.spread", "unknown key"),
    ({"scoring.w_trend": {"low": "a", "high": 1}}, "parameters.scoring.w_trend.low", "finite number"),
    ({"scoring.w_trend": {"low": 0, "high": 1, "log": True}}, "parameters.scoring.w_trend.low", "> 0 with log"),
    ({"scoring.w_trend": {"low": 1, "high": 2, "log": True, "step": 0.5}}, "parameters.scoring.w_trend",
     "cannot be combined"),
    ({"voting.top_k": {"low": 1, "high": 5, "step": 0.5}}, "parameters.voting.top_k.step", "integer parameter"),
    ({"voting.method": {"low": 0, "high": 1}}, "parameters.voting.method", "declare choices"),
    ({"voting.method": {"choices": ["borda"]}}, "parameters.voting.method.choices", "at least 2"),
    ({"voting.method": {"choices": ["borda", "mean"]}}, "parameters.voting.method", "not a valid strategy"),
    ({"regime.fast_sma_days": {"low": 10, "high": 300}}, "parameters.regime.fast_sma_days", "must be below slow_sma_days"),
    ({"scoring.w_trend": [0, 1]}, "parameters.scoring.w_trend", "must be a mapping"),
])
def test_invalid_spaces_name_the_key(params, key, problem):
    with pytest.raises(ConfigError) as err:
        parse_space({"parameters": params}, "space.yaml", BASE)
    assert err.value.source == "space.yaml" and err.value.key == key
    assert problem in err.value.problem


@pytest.mark.parametrize("objective,key", [
    ({"metric": "luck"}, "objective.metric"),
    ({"turnover_penalty": -1}, "objective.turnover_penalty"),
    ({"min_trades": 1.5}, "objective.min_trades"),
    ({"minimum": 3}, "objective.minimum"),
])
def test_invalid_objectives(objective, key):
    with pytest.raises(ConfigError) as err:
        parse_space({"objective": objective, "parameters": {"scoring.w_trend": {"low": 0, "high": 1}}}, "s", BASE)
    assert err.value.key == key


@settings(deadline=None, max_examples=60)
@given(st.integers(0, 2**31 - 1))
def test_sampled_points_stay_in_range_and_make_valid_strategies(seed):
    """The default space's ranges are independent of each other, so every sampled point is a valid strategy."""
    space = load_space(None, BASE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    values = space.suggest(study.ask())
    params = apply(BASE, values)
    for d in space.dimensions:
        section, name = d.path.split(".")
        got = getattr(getattr(params, section), name)
        assert (list(got) if isinstance(got, tuple) else got) == values[d.path]
        assert 0.0 <= d.normalise(values[d.path]) <= 1.0
    # and the values read back from optuna's record are the same values
    trial = study.ask()
    again = space.suggest(trial)
    assert space.from_optuna(trial.params) == again


@pytest.mark.parametrize("metrics,objective,expected", [
    ({"trades": 20, "sharpe": 1.5, "turnover_annual": 10}, Objective("sharpe", 0.02, 10), 1.3),
    ({"trades": 20, "calmar": 3.0, "turnover_annual": 0}, Objective("calmar", 0.5, 10), 3.0),
    ({"trades": 20, "sharpe": 80.0, "turnover_annual": 0}, Objective("sharpe", 0.0, 10), 20.0),  # clipped
    ({"trades": 20, "sharpe": float("nan"), "turnover_annual": 0}, Objective("sharpe", 0.0, 10), -20.0),
    ({"trades": 5, "sharpe": 9.0, "turnover_annual": 0}, Objective("sharpe", 0.0, 10), NO_TRADES_FLOOR + 0.5),
    ({"trades": 0, "sharpe": 0.0, "turnover_annual": 0}, Objective("sharpe", 0.0, 0), 0.0),
])
def test_score_table(metrics, objective, expected):
    assert score(metrics, objective) == pytest.approx(expected)


@settings(deadline=None, max_examples=200)
@given(st.integers(0, 50), st.integers(0, 50), st.floats(-30, 30), st.floats(0, 200), st.floats(0, 1))
def test_score_bounds_and_turnover_monotonicity(trades, min_trades, sharpe, turnover, penalty):
    obj = Objective("sharpe", penalty, min_trades)
    s = score({"trades": trades, "sharpe": sharpe, "turnover_annual": turnover}, obj)
    if trades < min_trades:
        assert NO_TRADES_FLOOR <= s < NO_TRADES_FLOOR + 1
    else:
        assert s >= -20 - penalty * turnover and s <= 20
        # more turnover never scores higher
        assert score({"trades": trades, "sharpe": sharpe, "turnover_annual": turnover + 1}, obj) <= s
