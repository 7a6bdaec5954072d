"""Compile every Numba kernel of the decision core and the backtester into the cache (``NUMBA_CACHE_DIR``).

The image build runs ``python -m aura_cli.jit_warm`` so that services start with compiled kernels. It runs what the
services run — one trader decision and one backtest with every gate, on a small seeded synthetic panel — so no list of
kernels has to be kept in step with the code.
"""

from __future__ import annotations

import sys
import time


def main() -> int:
    t0 = time.perf_counter()
    from aura_common.config.loader import parse_strategy
    from aura_common.core.backtest import BacktestConfig, run_backtest
    from aura_common.core.decide import decide
    from aura_common.core.features import compute_features
    from aura_common.core.regime import RegimeState
    from aura_common.core.risk import rebalance_benefit_bps
    from aura_common.core.synthetic import synthetic_panel

    params = parse_strategy({"screen": {"min_history_days": 30, "sma_days": 20, "momentum_days": 10},
                             "regime": {"fast_sma_days": 10, "slow_sma_days": 30, "breadth_sma_days": 10}}, "<warm>")
    fs = compute_features(synthetic_panel(8, 120, seed=1))
    plan = decide(fs, fs.shape[0] - 1, {}, RegimeState(), params)
    rebalance_benefit_bps({}, dict(plan.targets), {p.symbol: p.score for p in plan.picks}, 1.0)
    for screen in (True, False):
        run_backtest(fs, params, BacktestConfig(screen_gates=screen, record_plans=True))
    print(f"jit kernels compiled and cached in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
