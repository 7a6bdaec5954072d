"""Whether a run's proposal may be applied: it must beat the default parameters out of sample and not look like
a search that fitted noise. Pure: the results mapping in, a verdict out.

Refused when any of these holds (each becomes one plain sentence in the CLI summary and the report):

- the proposal's continuous out-of-sample objective metric (Sharpe by default) is not above the default
  parameters' over the same window;
- the probability of backtest overfitting of the fold that produced the proposal is above ``PBO_MAX`` (0.5: its
  in-sample best ranked below the median out of sample in more than half of the CSCV splits);
- the deflated Sharpe ratio of the proposal is below ``DSR_MIN`` (0.95: less than 95 % probability that its true
  in-sample Sharpe ratio beats what the best of that many trials shows by luck);
- the run did not keep the trials' returns (DSR and PBO unknown).

``aura optimize --apply`` / ``--apply-run`` refuse a refused proposal unless ``--force`` is given.
"""

from __future__ import annotations

from typing import Any

PBO_MAX = 0.5
DSR_MIN = 0.95


def verdict(results: dict[str, Any], metric: str) -> dict[str, Any]:
    st = results["stitched"]
    problems: list[str] = []
    opt, dflt = float(st["optimized"][metric]), float(st["default"][metric])
    beats = opt > dflt
    if not beats:
        problems.append(f"the proposal does not beat the default parameters out of sample: {metric} {opt:.3f} "
                        f"against {dflt:.3f} over the same window")
    of = results["overfitting"]
    pbo, dsr = of["proposal_pbo"], of["proposal_dsr"]
    if pbo is None or dsr is None:
        problems.append("the trials' daily returns were not kept, so the overfitting statistics are unknown")
    else:
        if pbo > PBO_MAX:
            problems.append(f"the probability of backtest overfitting is {pbo:.2f} (above {PBO_MAX}): the search's "
                            "in-sample best usually ranks below the median out of sample")
        if dsr < DSR_MIN:
            problems.append(f"the deflated Sharpe ratio is {dsr:.3f} (below {DSR_MIN}): the proposal's Sharpe is not "
                            "distinguishable from the best of that many random trials")
    return {"ok": not problems, "problems": problems, "beats_default": beats, "metric": metric,
            "thresholds": {"pbo_max": PBO_MAX, "dsr_min": DSR_MIN}}
