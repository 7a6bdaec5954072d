"""Like with like: one continuous out-of-sample run for the defaults and for buy-and-hold, the stitching identity,
the DSR/PBO figures a run reports, and the verdict that refuses a proposal."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from aura_common.core.backtest import CostModel
from aura_common.core.overfitting import deflated_sharpe, pbo_cscv, sharpe
from aura_common.core.synthetic import synthetic_panel
from aura_common.core.walkforward import split_folds, stitch
from aura_optimizer import runner, search, studies
from aura_optimizer.evaluate import Evaluator
from aura_optimizer.search import decode_returns, encode_returns
from aura_optimizer.verdict import DSR_MIN, PBO_MAX, verdict
from aura_optimizer.overfit import cscv_blocks

PANEL = synthetic_panel(6, 400, seed=9)
EV = Evaluator(PANEL, CostModel(10, 5), 10_000.0, ())


def _stitched_hold(ev: Evaluator, symbol: str, folds, continued: bool) -> np.ndarray:
    parts = [ev.buy_and_hold(symbol, f.test_lo, f.oos_hi, anchor=f.test_lo - 1 if continued and k else None)
             for k, f in enumerate(folds)]
    return stitch(parts, [ev.initial_cash] * len(parts), ev.initial_cash)


@settings(max_examples=30, deadline=None)
@given(start=st.integers(0, 100), train=st.integers(20, 120), test=st.integers(5, 60), data=st.data())
def test_stitched_buy_and_hold_equals_one_continuous_holding(start, train, test, data):
    step = data.draw(st.integers(1, test))
    folds = split_folds(PANEL.shape[0], start, train, test, step)
    if not folds:
        return
    lo, hi = folds[0].test_lo, folds[-1].oos_hi
    j = data.draw(st.integers(0, len(PANEL.symbols) - 1))
    assume(np.isfinite(PANEL.close[lo, j]))  # held from the first test day (the regime proxy always is)
    symbol = PANEL.symbols[j]
    continuous = EV.buy_and_hold(symbol, lo, hi)
    np.testing.assert_allclose(_stitched_hold(EV, symbol, folds, continued=True), continuous, rtol=1e-12)


def test_the_old_stitching_skipped_the_first_day_of_each_fold():
    """Starting each fold's segment at its own first close drops the move from the previous close: the error the
    outside team measured (+155.2 % stitched against +179.8 % held)."""
    folds = split_folds(PANEL.shape[0], 0, 100, 50, 50)
    symbol = PANEL.symbols[0]
    old = _stitched_hold(EV, symbol, folds, continued=False)
    continuous = EV.buy_and_hold(symbol, folds[0].test_lo, folds[-1].oos_hi)
    close = PANEL.close[:, 0]
    skipped = np.prod([close[f.test_lo] / close[f.test_lo - 1] for f in folds[1:]])
    assert old[-1] * skipped == pytest.approx(continuous[-1], rel=1e-12)
    assert abs(old[-1] - continuous[-1]) > 1e-6


def test_equal_weight_hold_is_the_mean_of_the_holdings():
    lo, hi = 50, 200
    each = [EV.buy_and_hold(s, lo, hi) for s in PANEL.symbols if PANEL.close[lo, PANEL.symbols.index(s)] > 0]
    np.testing.assert_allclose(EV.equal_weight_hold(lo, hi), np.mean(each, axis=0), rtol=1e-12)


def test_returns_round_trip_through_the_trial_attribute():
    equity = np.array([100.0, 101.0, 99.99, 99.99, 120.0])
    r = decode_returns(encode_returns(equity))
    np.testing.assert_allclose(r, equity[1:] / equity[:-1] - 1, rtol=1e-6)
    assert len(encode_returns(np.linspace(1, 2, 366))) == 4 * ((4 * 365 + 2) // 3)  # 4 bytes a day, base64


@pytest.mark.parametrize("rows, blocks", [(8, 2), (40, 10), (63, 14), (64, 16), (365, 16), (1000, 16)])
def test_cscv_blocks(rows, blocks):
    assert cscv_blocks(rows) == blocks


def _results(opt: float, dflt: float, pbo: float | None, dsr: float | None) -> dict:
    return {"stitched": {"optimized": {"sharpe": opt}, "default": {"sharpe": dflt}},
            "overfitting": {"proposal_pbo": pbo, "proposal_dsr": dsr}}


@pytest.mark.parametrize("opt, dflt, pbo, dsr, problems", [
    (1.2, 1.0, 0.2, 0.99, []),
    (0.9, 1.0, 0.2, 0.99, ["does not beat the default parameters"]),
    (1.0, 1.0, 0.2, 0.99, ["does not beat the default parameters"]),  # a tie is not an improvement
    (1.2, 1.0, PBO_MAX + 0.01, 0.99, ["probability of backtest overfitting is 0.51"]),
    (1.2, 1.0, PBO_MAX, DSR_MIN, []),  # the thresholds themselves pass
    (1.2, 1.0, 0.2, 0.5, ["deflated Sharpe ratio is 0.500"]),
    (0.5, 1.0, 0.9, 0.1, ["does not beat", "overfitting is 0.90", "deflated Sharpe ratio is 0.100"]),
    (1.2, 1.0, None, None, ["were not kept"]),
])
def test_verdict_table(opt, dflt, pbo, dsr, problems):
    v = verdict(_results(opt, dflt, pbo, dsr), "sharpe")
    assert v["ok"] == (not problems)
    assert len(v["problems"]) == len(problems)
    for got, want in zip(v["problems"], problems):
        assert want in got


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, panel):
    from optimizer_helpers import make_workspace
    ws = make_workspace(tmp_path_factory.mktemp("cmp"), panel)
    proc = ws.aura("--space", "space.yaml", "--folds", "3", "--trials", "8", "--run-id", "c1")
    assert proc.returncode == 0, proc.stderr
    run_dir = ws.optimizer_dir / "c1"
    return ws, json.loads((run_dir / "results.json").read_text()), json.loads((run_dir / "run.json").read_text())


def test_defaults_are_one_continuous_run_over_the_whole_window(finished_run, panel):
    """The default parameters' curve is a single backtest from the first test day to the last, not per-fold
    replays from flat (which re-arm the kill switch and re-buy at every fold start)."""
    ws, results, spec = finished_run
    ctx = runner.context(spec, panel, "c1", studies.default_storage_url(ws.optimizer_dir / "c1"))
    lo, hi = ctx.folds[0].test_lo, ctx.folds[-1].oos_hi
    one = ctx.evaluator.backtest(ctx.base, lo, hi)
    np.testing.assert_allclose(results["curves"]["default"], one.equity, rtol=1e-12)
    assert results["continuous"]["default"] is True
    assert results["stitched"]["default"]["trades"] == len(one.trades)
    # per-fold replays from flat are a different curve (what the report used to compare against)
    per_fold = [ctx.evaluator.backtest(ctx.base, f.test_lo, f.test_hi).equity[:f.oos_rows] for f in ctx.folds]
    stitched = stitch(per_fold, [ctx.evaluator.initial_cash] * len(per_fold), ctx.evaluator.initial_cash)
    assert not np.allclose(stitched, one.equity)
    np.testing.assert_allclose(results["curves"]["buy_and_hold"],
                               ctx.evaluator.buy_and_hold(spec["proxy_symbol"], lo, hi), rtol=1e-12)


def test_the_proposal_is_one_continuous_run_with_parameters_changing_at_fold_boundaries(finished_run, panel):
    ws, results, spec = finished_run
    ctx = runner.context(spec, panel, "c1", studies.default_storage_url(ws.optimizer_dir / "c1"))
    bests = search.best_of_folds(ctx, studies.make_storage(ctx.storage_url))
    ev = ctx.evaluator
    one = ev.backtest_segments([(b.params, f.test_lo, f.oos_hi) for f, b in zip(ctx.folds, bests)])
    np.testing.assert_allclose(results["curves"]["optimized"], one.equity, rtol=1e-12)
    assert results["continuous"]["optimized"] is True
    assert results["stitched"]["optimized"]["trades"] == len(one.trades)
    assert results["kill_switch"]["optimized"]["days_flat"] == one.days_flat


def test_segments_with_unchanged_parameters_are_the_plain_continuous_run(finished_run, panel):
    """What the comparison relies on: a fold boundary that does not change the parameters changes nothing."""
    ws, results, spec = finished_run
    ctx = runner.context(spec, panel, "c1", studies.default_storage_url(ws.optimizer_dir / "c1"))
    same = ctx.evaluator.backtest_segments([(ctx.base, f.test_lo, f.oos_hi) for f in ctx.folds])
    np.testing.assert_allclose(same.equity, results["curves"]["default"], rtol=1e-12)


def test_reported_dsr_and_pbo_are_those_of_the_stored_trials(finished_run, panel):
    ws, results, spec = finished_run
    ctx = runner.context(spec, panel, "c1", studies.default_storage_url(ws.optimizer_dir / "c1"))
    storage = studies.make_storage(ctx.storage_url)
    bests = search.best_of_folds(ctx, storage)
    for fold, best, row in zip(ctx.folds, bests, results["folds"]):
        _, complete, chosen = search.fold_trials(ctx, storage, fold.index)
        m, col = search.returns_matrix(complete, chosen)
        assert m is not None and m.shape == (fold.train_hi - fold.train_lo - 1, best.trials - best.invalid)
        # the best trial's column is its own in-sample backtest
        eq = ctx.evaluator.backtest(best.params, fold.train_lo, fold.train_hi).equity
        np.testing.assert_allclose(m[:, col], eq[1:] / eq[:-1] - 1, atol=1e-6)
        srs = [sharpe(m[:, j]) for j in range(m.shape[1])]
        of = row["overfitting"]
        assert of == best.overfitting
        assert of["dsr"] == pytest.approx(deflated_sharpe(m[:, col], srs).dsr)
        assert of["pbo"] == pytest.approx(pbo_cscv(m, cscv_blocks(m.shape[0])).pbo)
        assert 0 <= of["pbo"] <= 1 and 0 <= of["dsr"] <= 1 and of["trials"] == m.shape[1]
    assert results["overfitting"]["proposal_pbo"] == results["folds"][-1]["overfitting"]["pbo"]
    assert results["verdict"] == verdict(results, "sharpe")
