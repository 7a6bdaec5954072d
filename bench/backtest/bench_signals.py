"""Signal pipeline benchmark: ``signal_rows`` stage by stage, the NumPy formulation it replaced against the kernels.

Run:  .venv/bin/python bench/backtest/bench_signals.py [--repeat 20] [--panel 100x2000]

Data: a seeded synthetic panel (100 symbols × 2000 days, seed 42), default strategy parameters, features warm
(computed once before timing; the backtester and the sweep hold them too).

1. Each stage of ``signal_rows`` (the six z-scored factors and the score made of them, ranking, voting,
   selection) timed twice: *before* = the pure-NumPy code this module keeps below as the baseline (the
   implementation before the kernels), *after* = the functions the core uses now. Both run in the same process
   on the same arrays, so a busy machine slows both; the outputs are compared bit for bit. The screen and the
   observed regime are NumPy code that did not change (timed once).
2. ``signal_rows`` end to end, and one trader decision (``decide`` on the last row: the block's features, then
   the same pipeline on ``max(offsets) + 1`` rows).
3. A sweep: ``signal_rows`` with one ``memo`` reused and the last signal sets kept, as ``Sweep`` does, over
   ``scoring.w_volatility``, ``voting.top_k``, ``voting.min_votes`` each on its own and over their grid; the time
   per new signal set.
Timings are wall-clock medians of ``--repeat`` runs; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import itertools
import os
import statistics
import time

import numpy as np

from aura_common.config.loader import parse_strategy
from aura_common.core.decide import decide, signal_rows, voting_lookback
from aura_common.core.features import compute_features
from aura_common.core.regime import RegimeState, observe_rows
from aura_common.core.scoring import factor_z, score_rows
from aura_common.core.screen import allowed_columns, screen_rows
from aura_common.core.synthetic import synthetic_panel
from aura_common.core.voting import rank_rows, select_rows, vote_rows


# ---- the baseline: the NumPy formulation the kernels replaced (same results, bit for bit) ----

def np_zscore(values, eligible):
    mask = eligible & np.isfinite(values)
    x = np.where(mask, values, 0.0)
    count = np.maximum(mask.sum(axis=1), 1)
    x -= (x.sum(axis=1) / count)[:, None]
    np.multiply(x, mask, out=x)
    var = np.einsum("ij,ij->i", x, x) / count
    with np.errstate(divide="ignore"):
        inv = np.where(var > 1e-24, 1.0 / np.sqrt(var), 0.0)
    x *= inv[:, None]
    return x


RAW = {"ret": "ret", "vol": "volatility", "trend": "trend", "liq": "log_liquidity"}


def np_factor_z(fs, rows, eligible, kind, window):
    return np_zscore(getattr(fs, RAW[kind])(window)[rows], eligible)


def np_score(fs, rows, eligible, params, screen, z=None):
    z = z or (lambda kind, window: np_factor_z(fs, rows, eligible, kind, window))
    score = np.zeros(eligible.shape)
    if params.w_momentum:
        lookbacks = sorted(set(params.momentum_lookbacks_days))
        mom = np.zeros(eligible.shape)
        for days in lookbacks:
            mom += z("ret", days)
        score += params.w_momentum * (mom / len(lookbacks))
    if params.w_volatility:
        score += params.w_volatility * z("vol", params.volatility_days)
    if params.w_trend:
        score += params.w_trend * z("trend", params.trend_days)
    if params.w_liquidity:
        score += params.w_liquidity * z("liq", screen.liquidity_window_days)
    return np.where(eligible, score, np.nan)


def np_rank(score, eligible):
    r, n = score.shape
    key = np.where(eligible, -np.nan_to_num(score, nan=0.0), np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    rank = np.empty((r, n), dtype=np.int64)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(n), (r, n)), axis=1)
    return np.where(eligible, rank, n)


def np_vote(rank, eligible, params):
    r, n = rank.shape
    top = (rank < params.top_k).astype(np.int64)
    votes = np.zeros((r, n), dtype=np.int64)
    if params.method == "borda":
        per_row = np.where(eligible, eligible.sum(axis=1, keepdims=True) - 1 - rank, 0).astype(np.float64)
        points = np.zeros((r, n))
        for o in sorted(params.offsets_days):
            if o < r:
                votes[o:] += top[: r - o]
                points[o:] += per_row[: r - o]
        return votes, points
    shifted = np.full((len(params.offsets_days), r, n), n, dtype=np.int64)
    for i, o in enumerate(sorted(params.offsets_days)):
        if o < r:
            votes[o:] += top[: r - o]
            shifted[i, o:] = rank[: r - o]
    return votes, -np.median(shifted, axis=0)


def np_select(eligible, votes, points, score, min_votes, max_positions):
    r, n = eligible.shape
    p = min(max_positions, n)
    cand = eligible & (votes >= min_votes)
    width = max(int(cand.sum(axis=1).max(initial=0)), p)
    cols = np.argsort(~cand, axis=1, kind="stable")[:, :width]
    c_cand = np.take_along_axis(cand, cols, axis=1)
    k1 = np.where(c_cand, -np.take_along_axis(points, cols, axis=1), np.inf)
    k2 = np.where(c_cand, -np.nan_to_num(np.take_along_axis(score, cols, axis=1), nan=0.0), np.inf)
    order = np.lexsort((cols, k2, k1), axis=1)[:, :p]
    chosen = np.take_along_axis(c_cand, order, axis=1)
    return np.where(chosen, np.take_along_axis(cols, order, axis=1), -1)


def np_signal_rows(fs, lo, hi, params, allowed, memo=None):
    """The baseline pipeline with the same memo layout as ``signal_rows`` (eligibility, z-scores, score + ranks,
    regime); returns (eligible, score, votes, points, selected, observed)."""
    rows, memo = slice(lo, hi), ({} if memo is None else memo)
    base = (lo, hi, allowed.tobytes())
    key = ("eligible", params.screen, base)
    eligible = memo.get(key)
    if eligible is None:
        eligible = memo[key] = screen_rows(fs, rows, params.screen, allowed)

    def z(kind, window):
        k = ("z", kind, window, params.screen, base)
        if k not in memo:
            memo[k] = np_factor_z(fs, rows, eligible, kind, window)
        return memo[k]

    key = ("score", params.scoring, params.screen, base)
    if key not in memo:
        score = np_score(fs, rows, eligible, params.scoring, params.screen, z)
        memo[key] = (score, np_rank(score, eligible))
    score, rank = memo[key]
    votes, points = np_vote(rank, eligible, params.voting)
    selected = np_select(eligible, votes, points, score, params.voting.min_votes, params.portfolio.max_positions)
    key = ("regime", params.regime, base)
    if key not in memo:
        memo[key] = observe_rows(fs, rows, params.regime, allowed)
    return eligible, score, votes, points, selected, memo[key]


# ---- timing ----

def median_ms(fn, repeat: int) -> tuple[float, object]:
    """(median wall time in ms, the first result). The first call also warms (compiles a kernel on a cold cache);
    timed results are dropped at once, so a run does not hold two results' memory."""
    out = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, out


def bits_equal(a, b) -> bool:
    if isinstance(a, tuple):
        return all(bits_equal(x, y) for x, y in zip(a, b, strict=True))
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def row(name: str, before: float | None, after: float, same: bool | None) -> None:
    b = f"{before:9.2f}" if before is not None else " " * 9
    x = f"{before / after:7.1f}x" if before is not None else " " * 8
    s = {None: "", True: "identical", False: "DIFFERENT"}[same]
    print(f"  {name:34s}{b} {after:9.2f} {x}  {s}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--panel", default="100x2000", help="SYMBOLSxDAYS of the synthetic panel (seed 42)")
    args = ap.parse_args()
    n_sym, n_days = (int(x) for x in args.panel.split("x"))
    rep = args.repeat

    params = parse_strategy({}, "<bench>")
    fs = compute_features(synthetic_panel(n_sym, n_days, 42))
    allowed = allowed_columns(fs.panel.symbols, ())
    rows = slice(0, n_days)
    signal_rows(fs, 0, n_days, params, allowed)  # warm the features (and the kernels)
    np_signal_rows(fs, 0, n_days, params, allowed)
    print(f"signal pipeline, synthetic {n_sym} symbols x {n_days} days, median of {rep}, "
          f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"  {'stage (ms)':34s}{'before':>9s} {'after':>9s} {'speed-up':>8s}")

    sp, sc, vp = params.screen, params.scoring, params.voting
    ta, el = median_ms(lambda: screen_rows(fs, rows, sp, allowed), rep)
    row("screen (NumPy, unchanged)", None, ta, None)
    factors = [("ret", d) for d in sorted(set(sc.momentum_lookbacks_days))] + [
        ("vol", sc.volatility_days), ("trend", sc.trend_days), ("liq", sp.liquidity_window_days)]
    tb, zb = median_ms(lambda: [np_factor_z(fs, rows, el, k, w) for k, w in factors], rep)
    ta, za = median_ms(lambda: [factor_z(fs, rows, el, k, w) for k, w in factors], rep)
    row(f"  {len(factors)} factor z-scores", tb, ta, bits_equal(tuple(zb), tuple(za)))
    zmap = dict(zip(factors, za))
    tb, sb = median_ms(lambda: np_score(fs, rows, el, sc, sp, lambda k, w: zmap[(k, w)]), rep)
    ta, s_ = median_ms(lambda: score_rows(fs, rows, el, sc, sp, lambda k, w: zmap[(k, w)]), rep)
    row("  score from those z-scores", tb, ta, bits_equal(sb, s_))
    tb, sb = median_ms(lambda: np_score(fs, rows, el, sc, sp), rep)
    ta, s_ = median_ms(lambda: score_rows(fs, rows, el, sc, sp), rep)
    row("score (z-scores and sum)", tb, ta, bits_equal(sb, s_))
    tb, rb = median_ms(lambda: np_rank(s_, el), rep)
    ta, ra = median_ms(lambda: rank_rows(s_, el), rep)
    row("rank", tb, ta, bits_equal(rb, ra))
    for method in ("borda", "median"):
        v = dataclasses.replace(vp, method=method)
        tb, ob = median_ms(lambda: np_vote(ra, el, v), rep)
        ta, oa = median_ms(lambda: vote_rows(ra, el, v), rep)
        row(f"vote ({method})", tb, ta, bits_equal(ob, oa))
    votes, points = vote_rows(ra, el, vp)
    mp = params.portfolio.max_positions
    tb, ob = median_ms(lambda: np_select(el, votes, points, s_, vp.min_votes, mp), rep)
    ta, oa = median_ms(lambda: select_rows(el, votes, points, s_, vp.min_votes, mp), rep)
    row("select", tb, ta, bits_equal(ob, oa))
    ta, _ = median_ms(lambda: observe_rows(fs, rows, params.regime, allowed), rep)
    row("observe (regime.py, unchanged)", None, ta, None)

    tb, ob = median_ms(lambda: np_signal_rows(fs, 0, n_days, params, allowed), rep)
    ta, sig = median_ms(lambda: signal_rows(fs, 0, n_days, params, allowed), rep)
    same = bits_equal(ob, tuple(getattr(sig, f) for f in ("eligible", "score", "votes", "points", "selected",
                                                            "observed")))
    row("signal_rows (all rows)", tb, ta, same)
    t = n_days - 1
    lo = max(0, t - voting_lookback(params))
    tb, ob = median_ms(lambda: np_signal_rows(fs.tail(lo), lo, t + 1, params, allowed), rep)
    ta, sig = median_ms(lambda: signal_rows(fs.tail(lo), lo, t + 1, params, allowed), rep)
    same = bits_equal(ob, tuple(getattr(sig, f) for f in ("eligible", "score", "votes", "points", "selected",
                                                            "observed")))
    row(f"signal_rows (trader block, {t + 1 - lo} rows)", tb, ta, same)
    ta, _ = median_ms(lambda: decide(compute_features(fs.panel), t, {}, RegimeState(), params), rep)
    row("decide (cold block features)", None, ta, None)

    print(f"sweep: a new signal set per combination, memo and 4 kept signal sets as Sweep holds them "
          f"(median / mean ms), load average {os.getloadavg()[0]:.2f}")
    # each combination is a new signal set: a new w_volatility recomputes score and ranks from the memoised
    # z-scores; a new top_k or min_votes recomputes votes and selection (never memoised)
    grid = list(itertools.product([-1.0, -0.5, 0.0, 0.5, 0.25], [3, 5, 8, 12], [1, 2, 3, 4]))
    scenarios = [("vary scoring.w_volatility", [{"scoring": {"w_volatility": -1.0 + 0.01 * i}} for i in range(60)]),
                 ("vary voting.top_k", [{"voting": {"top_k": k}} for k in range(1, 31)]),
                 ("vary voting.min_votes (top_k 4, 6)", [{"voting": {"min_votes": m, "top_k": k}}
                                                         for k in (4, 6) for m in (1, 2, 3, 4)]),
                 (f"grid w_vol x top_k x min_votes ({len(grid)})",
                  [{"scoring": {"w_volatility": w}, "voting": {"top_k": k, "min_votes": m}} for w, k, m in grid])]
    for label, dicts in scenarios:
        sets = [parse_strategy(d, "<bench>") for d in dicts]
        (mb, ab), (ma, aa) = (sweep_ms(fn, fs, allowed, params, sets) for fn in (np_signal_rows, signal_rows))
        row(label, mb, ma, None)
        print(f"  {'  mean':34s}{ab:9.2f} {aa:9.2f}")


def sweep_ms(fn, fs, allowed, first, sets) -> tuple[float, float]:
    """(median, mean) ms per signal set over ``sets`` with ``Sweep``'s policy: one memo, cleared when it holds
    more than 48 entries, and the last 4 signal sets kept."""
    n_days, memo, kept = fs.shape[0], {}, collections.deque(maxlen=4)
    kept.append(fn(fs, 0, n_days, first, allowed, memo))  # eligibility, z-scores and regime enter the memo
    times = []
    for p in sets:
        if len(memo) > 48:
            memo.clear()
        t0 = time.perf_counter()
        kept.append(fn(fs, 0, n_days, p, allowed, memo))
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, statistics.mean(times) * 1e3


if __name__ == "__main__":
    main()
