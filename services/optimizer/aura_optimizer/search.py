"""The in-sample searches: one TPE study per fold, spread over worker processes (every core, not threads).

``search_folds`` hands whole folds to a pool of forked processes, one at least (each fold is searched by exactly one
process, so the result is reproducible); the panel and its feature memo are inherited copy-on-write. ``join_run`` is the
scale-out path: another process or container adds trials to whichever fold studies are not full yet.
Progress (one tick per finished trial) flows back to the parent through a queue.
"""

from __future__ import annotations

import base64
import multiprocessing as mp
import queue as queue_mod
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import optuna

from aura_common.config import ConfigError
from aura_common.core.params import StrategyParams
from aura_common.core.walkforward import Fold

from aura_optimizer import stop, studies
from aura_optimizer.evaluate import Evaluator, score
from aura_optimizer.overfit import fold_overfitting
from aura_optimizer.space import SearchSpace, apply

KEPT_METRICS = ("sharpe", "calmar", "sortino", "total_return", "cagr", "max_drawdown", "turnover_annual",
                "trades", "exposure")


RETURNS_ATTR = "r"  # the trial's daily in-sample returns, float32 little-endian, base64 (for DSR and PBO)


def encode_returns(equity: np.ndarray) -> str:
    """Daily returns of an equity curve as base64 float32: 4 bytes a day (~1.9 KB a trial for a year's window,
    ~6 MB for 8 folds x 400 trials), kept in the study so that workers on other machines keep them too."""
    e = np.asarray(equity, dtype=np.float64)
    r = e[1:] / e[:-1] - 1.0 if len(e) > 1 else np.empty(0)
    return base64.b64encode(np.nan_to_num(r, nan=0.0).astype("<f4").tobytes()).decode("ascii")


def decode_returns(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float64)


class SearchError(RuntimeError):
    """A fold's search produced nothing usable."""


class WorkerDied(RuntimeError):
    """A worker process of the pool was killed from outside; the run is left incomplete and resumable."""


@dataclass(frozen=True)
class SearchContext:
    evaluator: Evaluator
    space: SearchSpace
    base: StrategyParams
    folds: tuple[Fold, ...]
    run_id: str
    storage_url: str
    seed: int
    trials: int


@dataclass(frozen=True)
class FoldBest:
    fold: int
    value: float
    values: dict[str, Any]  # section.field -> value
    params: StrategyParams
    metrics: dict[str, float]  # in-sample
    trials: int
    invalid: int
    # DSR and PBO of the fold (``overfit.fold_overfitting``); None when the trials did not keep their returns
    overfitting: dict[str, Any] | None = None


def make_objective(ctx: SearchContext, fold: Fold) -> Callable[[optuna.Trial], float]:
    def objective(trial: optuna.Trial) -> float:
        values = ctx.space.suggest(trial)
        try:
            params = apply(ctx.base, values)
        except ConfigError as exc:
            trial.set_user_attr("invalid", exc.problem)
            raise optuna.TrialPruned() from None
        result = ctx.evaluator.backtest(params, fold.train_lo, fold.train_hi)
        metrics = {k: float(result.metrics[k]) for k in KEPT_METRICS}
        trial.set_user_attr("m", {**metrics, "worker": studies.worker_id()})
        trial.set_user_attr(RETURNS_ATTR, encode_returns(result.equity))
        return score(metrics, ctx.space.objective)
    return objective


def fold_seed(ctx: SearchContext, fold: int) -> int:
    return ctx.seed * 1000 + fold


def search_fold(ctx: SearchContext, fold: int, storage=None, shared: bool = False,
                on_trial: Callable[[], None] | None = None) -> int:
    storage = storage or studies.make_storage(ctx.storage_url)
    study = studies.fold_study(storage, ctx.run_id, fold, None)
    return studies.run_study(study, make_objective(ctx, ctx.folds[fold]), ctx.trials,
                             None if shared else fold_seed(ctx, fold), ctx.space.distributions(), on_trial)


def pending(ctx: SearchContext, storage) -> dict[int, int]:
    """Finished trials per fold (folds without a study yet count 0)."""
    out = {}
    for f in ctx.folds:
        study = studies.fold_study(storage, ctx.run_id, f.index, None)
        out[f.index] = studies.done_trials(study)
    return out


# ------------------------------------------------------------------------------------------ worker processes

_CTX: SearchContext | None = None
_QUEUE: Any = None


def _init_worker(q: Any) -> None:
    global _QUEUE
    _QUEUE = q
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it terminates the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _pool_task(fold: int) -> int:
    assert _CTX is not None
    return search_fold(_CTX, fold, on_trial=lambda: _QUEUE.put(1))


def search_folds(ctx: SearchContext, storage, workers: int, tick: Callable[[int], None]) -> None:
    """Bring every fold study to ``ctx.trials`` finished trials, ``workers`` processes at a time."""
    done = pending(ctx, storage)
    todo = [k for k, n in done.items() if n < ctx.trials]
    if not todo:
        return
    # longest first is no use (all folds cost about the same); fold order keeps the progress readable. Even one
    # worker is a forked process: a stop request terminates it at once, also in the middle of a trial - the first
    # one compiles the backtest kernels when the on-disk cache lacks them (a minute on a loaded machine), far too
    # late for a flag checked between trials and for `docker stop`'s grace period.
    _run_in_pool(ctx, storage, max(1, min(workers, len(todo))), _pool_task, todo, tick)


def _run_in_pool(ctx: SearchContext, storage, processes: int, task: Callable[[int], int], items: list[int],
                 tick: Callable[[int], None]) -> list[int]:
    """``task`` over ``items`` in ``processes`` forked workers that report progress through a queue (``tick``);
    Ctrl-C or an error in the parent terminates the pool. Returns the tasks' results in order."""
    global _CTX
    _CTX = ctx
    storage.engine.dispose()  # no pooled connection is shared with the children
    mpctx = mp.get_context("fork")
    q = mpctx.Queue()
    pool = mpctx.Pool(processes, initializer=_init_worker, initargs=(q,))
    # multiprocessing.Pool replaces a worker that dies but loses its task, and would wait for it forever: a worker
    # killed from outside (SIGKILL, the OOM killer) fails the run instead (INCOMPLETE, resumable; a joiner exits 1
    # and its container's restart policy joins again). Pool workers never exit on their own before close().
    workers = list(pool._pool)  # type: ignore[attr-defined]  # the pool's processes (no public accessor)
    try:
        result = pool.map_async(task, items, chunksize=1)
        while True:
            stop.check()  # a requested stop terminates the workers (their unfinished trials are not stored)
            try:
                tick(q.get(timeout=0.2))
            except queue_mod.Empty:
                if result.ready():
                    break
                dead = [w for w in workers if w.exitcode is not None]
                if dead:
                    raise WorkerDied(f"worker process {dead[0].pid} died (exit {dead[0].exitcode}) in the middle "
                                     "of a fold; its unfinished trial was not stored; the trials stored so far "
                                     "are kept (--resume or --join again to go on)")
        out = result.get()
        while True:  # progress sent just before the last task returned
            try:
                tick(q.get_nowait())
            except queue_mod.Empty:
                break
        pool.close()
        return out
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
        _CTX = None


def _pool_join(_: int) -> int:
    assert _CTX is not None
    return join_run(_CTX, studies.make_storage(_CTX.storage_url), lambda n: _QUEUE.put(n))


def join_with(ctx: SearchContext, storage, workers: int, tick: Callable[[int], None]) -> int:
    """``join_run`` in ``workers`` processes; returns the trials they added."""
    if workers <= 1:
        return join_run(ctx, storage, tick)
    return sum(_run_in_pool(ctx, storage, workers, _pool_join, list(range(workers)), tick))


def join_run(ctx: SearchContext, storage, tick: Callable[[int], None]) -> int:
    """Add trials to the fold studies that are not full; returns the trials added. Joiners spread out: each starts
    on a different fold (newest first, shifted by its join ticket), and after a fold it takes the least advanced
    one (a fold nobody works on yet, while there is one), so two workers share a fold only at the end."""
    ticket = studies.join_ticket(storage, ctx.run_id)
    order = list(reversed(ctx.folds))
    added, first = 0, True
    while True:
        done = pending(ctx, storage)
        todo = [(k, f) for k, f in enumerate(order) if done[f.index] < ctx.trials]
        if not todo:
            return added
        rank = lambda kf: (0 if first else done[kf[1].index], (kf[0] - ticket) % len(order))  # noqa: E731
        _, fold = min(todo, key=rank)
        first = False
        added += search_fold(ctx, fold.index, storage, shared=True, on_trial=lambda: tick(1))


def fold_trials(ctx: SearchContext, storage, fold: int
                ) -> tuple[list[optuna.trial.FrozenTrial], list[optuna.trial.FrozenTrial], optuna.trial.FrozenTrial]:
    """(finished, complete, best) trials of a fold; the best by value, ties to the earliest trial (deterministic)."""
    study = studies.fold_study(storage, ctx.run_id, fold, None)
    trials = studies.finished_trials(study, ctx.space.distributions())
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise SearchError(f"fold {fold}: every one of {len(trials)} trials was an invalid strategy; "
                          "narrow the search space")
    return trials, complete, max(complete, key=lambda t: (t.value, -t.number))


def best_of_folds(ctx: SearchContext, storage) -> list[FoldBest]:
    out = []
    for f in ctx.folds:
        trials, complete, best = fold_trials(ctx, storage, f.index)
        values = ctx.space.from_optuna(best.params)
        metrics = {k: v for k, v in best.user_attrs.get("m", {}).items() if k != "worker"}
        value = cast(float, best.value)  # a COMPLETE trial has its value
        out.append(FoldBest(f.index, float(value), values, apply(ctx.base, values), metrics, len(trials),
                            len(trials) - len(complete), fold_overfitting(*returns_matrix(complete, best))))
    return out


def returns_matrix(complete: list[optuna.trial.FrozenTrial],
                    best: optuna.trial.FrozenTrial) -> tuple[np.ndarray | None, int]:
    """The complete trials' daily returns as columns (trial order) and the best trial's column; (None, 0) when a
    trial lacks them (stored by an older version) or their lengths differ."""
    cols = []
    for t in complete:
        text = t.user_attrs.get(RETURNS_ATTR)
        if not isinstance(text, str):
            return None, 0
        cols.append(decode_returns(text))
    if len({len(c) for c in cols}) != 1:
        return None, 0
    return np.column_stack(cols), next(k for k, t in enumerate(complete) if t is best)
