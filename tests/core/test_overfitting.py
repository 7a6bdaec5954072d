"""Deflated Sharpe ratio and PBO by CSCV: published and hand-computed values, and properties."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core.overfitting import (
    deflated_sharpe,
    expected_max_sharpe,
    moments,
    pbo_cscv,
    probabilistic_sharpe,
    sharpe,
)


def test_published_example_of_bailey_lopez_de_prado_2014():
    """The DSR paper's worked example: T = 1250 days, annualised SR 2.5, skewness -3, kurtosis 10, N = 100 trials
    with annualised Sharpe variance 0.5 -> SR0 = 0.1132 per day, DSR = 0.9004."""
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = probabilistic_sharpe(2.5 / math.sqrt(250), sr0, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-4)


@pytest.mark.parametrize("n, var, expected", [
    (1, 0.3, 0.0),  # one trial: nothing to deflate
    (10, 0.0, 0.0),  # trials without dispersion
    # by hand: (1-γ)·Φ⁻¹(1/2) + γ·Φ⁻¹(1 - 1/(2e)) = 0 + 0.577216 · 0.900453
    (2, 1.0, 0.519758),
    # (1-γ)·Φ⁻¹(0.99) + γ·Φ⁻¹(1 - 1/(100e)) = 0.422784 · 2.326348 + 0.577216 · 2.680210, times sqrt(4)
    (100, 4.0, 2 * (0.422784 * 2.326348 + 0.577216 * 2.680210)),
])
def test_expected_max_sharpe_table(n, var, expected):
    assert expected_max_sharpe(n, var) == pytest.approx(expected, abs=1e-4)


def test_psr_is_one_half_at_the_benchmark_and_normal_moments():
    assert probabilistic_sharpe(0.1, 0.1, 500, 0.0, 3.0) == pytest.approx(0.5)
    # normal returns, SR 0.1 per day, 401 days, benchmark 0: z = 0.1 · 20 / sqrt(1 + 0.5 · 0.01) = 1.99501
    assert probabilistic_sharpe(0.1, 0.0, 401, 0.0, 3.0) == pytest.approx(0.976980, abs=1e-5)


def test_moments_and_sharpe_by_hand():
    r = np.array([1.0, 2.0, 3.0, 10.0])  # mean 4, deviations -3 -2 -1 6: m2 = 12.5, m3 = 45, m4 = 348.5
    assert sharpe(r) == pytest.approx(4 / math.sqrt(12.5))
    skew, kurt = moments(r)
    assert skew == pytest.approx(45 / 12.5 ** 1.5)
    assert kurt == pytest.approx(348.5 / 12.5 ** 2)
    assert moments(np.ones(5)) == (0.0, 3.0) and sharpe(np.ones(5)) == 0.0


def test_deflated_sharpe_uses_the_trials_variance():
    rng = np.random.default_rng(1)
    r = rng.normal(0.002, 0.02, 730)
    few = deflated_sharpe(r, [sharpe(r), 0.0])
    many = deflated_sharpe(r, np.concatenate([[sharpe(r)], rng.normal(0, 0.05, 999)]))
    assert many.trials == 1000 and many.expected_max_sharpe > few.expected_max_sharpe
    assert many.dsr < few.dsr
    with pytest.raises(ValueError, match="at least one trial"):
        deflated_sharpe(r, [])


def _pbo_reference(m: np.ndarray, blocks: int) -> float:
    """CSCV written out plainly: loops, Sharpe from the rows themselves."""
    t, n = m.shape
    size = t // blocks
    parts = [m[k * size:(k + 1) * size] for k in range(blocks)]
    below = 0
    total = 0
    for chosen in combinations(range(blocks), blocks // 2):
        train = np.vstack([parts[k] for k in chosen])
        test = np.vstack([parts[k] for k in range(blocks) if k not in chosen])
        is_sr = [sharpe(train[:, j]) for j in range(n)]
        oos_sr = [sharpe(test[:, j]) for j in range(n)]
        best = int(np.argmax(is_sr))
        rank = sum(1 for v in oos_sr if v < oos_sr[best]) + 1
        w = rank / (n + 1)
        below += math.log(w / (1 - w)) <= 0
        total += 1
    return below / total


def test_pbo_by_hand_two_blocks():
    """S = 2: two combinations. Trial 0 wins the first half and loses the second, trial 1 the reverse, trial 2 is
    in between both times: each in-sample winner is the worst out of sample -> rank 1 of 3, λ = ln(1/3) < 0."""
    a = np.array([[0.03, -0.01, 0.0], [0.01, -0.03, 0.0], [0.005, 0.0, 0.002], [0.0, 0.01, -0.001],
                  [-0.03, 0.01, 0.0], [-0.01, 0.03, 0.0], [0.0, 0.005, 0.002], [0.01, 0.0, -0.001]])
    res = pbo_cscv(a, blocks=2)
    assert res.combinations == 2 and res.pbo == 1.0
    assert res.logits == pytest.approx((math.log(1 / 3), math.log(1 / 3)))


def test_pbo_zero_for_a_dominant_trial():
    rng = np.random.default_rng(5)
    m = rng.normal(0, 0.01, (160, 6))
    m[:, 3] += 0.02  # always best, in and out of sample
    res = pbo_cscv(m, blocks=8)
    assert res.combinations == 70 and res.pbo == 0.0
    assert all(v == pytest.approx(math.log(6 / 1)) for v in res.logits)


def test_pbo_matches_the_plain_reference():
    rng = np.random.default_rng(11)
    m = rng.normal(0.0005, 0.02, (203, 9))  # 203 rows: 3 dropped from the end with 8 blocks
    res = pbo_cscv(m, blocks=8)
    assert res.rows_used == 200
    assert res.pbo == pytest.approx(_pbo_reference(m[:200], 8))


@pytest.mark.parametrize("shape, blocks, match", [
    ((40, 1), 4, "at least 2 trials"),
    ((40, 3), 3, "even number"),
    ((7, 3), 4, "too few"),
])
def test_pbo_bad_input(shape, blocks, match):
    with pytest.raises(ValueError, match=match):
        pbo_cscv(np.zeros(shape), blocks=blocks)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 7), blocks=st.sampled_from([2, 4, 6]),
       scale=st.floats(0.1, 50.0))
def test_pbo_properties(seed, n, blocks, scale):
    rng = np.random.default_rng(seed)
    m = rng.normal(0.001, 0.02, (blocks * 6, n))
    res = pbo_cscv(m, blocks)
    assert 0.0 <= res.pbo <= 1.0
    assert res.pbo == pytest.approx(_pbo_reference(m, blocks))
    # Sharpe is scale-free: scaling every trial's returns by a positive factor changes nothing
    assert pbo_cscv(m * scale, blocks).pbo == res.pbo
    # the order of the trials does not matter (ties aside: random normal returns have none)
    perm = rng.permutation(n)
    assert pbo_cscv(m[:, perm], blocks).pbo == res.pbo


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 500), var=st.floats(1e-6, 1.0))
def test_dsr_properties(seed, n, var):
    rng = np.random.default_rng(seed)
    r = rng.normal(0.001, 0.02, 300)
    d = deflated_sharpe(r, rng.normal(0, 0.05, n))
    assert 0.0 <= d.dsr <= 1.0
    # more trials of the same dispersion raise the bar, and a higher bar never raises the probability
    assert expected_max_sharpe(n + 1, var) > expected_max_sharpe(n, var)
    skew, kurt = moments(r)
    lo, hi = sorted((expected_max_sharpe(n, var), expected_max_sharpe(n + 1, var)))
    assert probabilistic_sharpe(sharpe(r), hi, 300, skew, kurt) <= probabilistic_sharpe(sharpe(r), lo, 300, skew, kurt)
