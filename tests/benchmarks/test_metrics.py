"""pass@k against hand-computed values; Wilson, bootstrap and paired intervals and McNemar against known values."""

from __future__ import annotations

import math

import pytest
from semtrace.benchmarks.metrics import (
    bootstrap_interval,
    mcnemar_exact,
    mean_interval,
    mean_pass_at_k,
    paired_bootstrap_difference,
    pass_at_k,
    wilson_interval,
)


@pytest.mark.parametrize("n, c, k, expected", [
    (5, 2, 1, 2 / 5),                 # pass@1 is the fraction correct
    (5, 2, 2, 1 - 3 / 10),            # 1 - C(3,2)/C(5,2)
    (10, 3, 5, 1 - 21 / 252),         # 1 - C(7,5)/C(10,5)
    (10, 0, 5, 0.0),
    (4, 4, 1, 1.0),
    (3, 1, 3, 1.0),                   # every draw of 3 from 3 includes the correct one
    (200, 10, 100, 1 - math.comb(190, 100) / math.comb(200, 100)),
])
def test_pass_at_k_hand_computed(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_pass_at_k_is_not_the_biased_estimator() -> None:
    # the naive 1 - (1 - c/n)^k differs: for n=5, c=2, k=2 it gives 0.64, the unbiased value is 0.7
    assert pass_at_k(5, 2, 2) != pytest.approx(1 - (1 - 2 / 5) ** 2)


def test_pass_at_k_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 5 samples"):
        pass_at_k(3, 1, 5)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def test_mean_pass_at_k() -> None:
    assert mean_pass_at_k([(5, 2), (5, 0), (5, 5)], 1) == pytest.approx((0.4 + 0.0 + 1.0) / 3)


def test_wilson_known_values() -> None:
    lo, hi = wilson_interval(8, 10)
    assert (lo, hi) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(50, 100, confidence=0.99)
    assert lo == pytest.approx(1 - hi) and lo == pytest.approx(0.3753, abs=1e-4)


def test_bootstrap_interval() -> None:
    assert bootstrap_interval([0.5] * 20) == (0.5, 0.5)
    scores = [0.0, 1.0] * 50
    lo, hi = bootstrap_interval(scores, seed=1)
    assert lo < 0.5 < hi
    assert hi - lo == pytest.approx(2 * 1.96 * 0.05, abs=0.03)  # normal approximation of the mean's spread
    assert bootstrap_interval(scores, seed=1) == (lo, hi)  # seeded: reproducible


@pytest.mark.parametrize("successes, total, lo, hi", [
    # roots of (p - x)^2 = z^2 x (1 - x) / n with z = 1.959964 (the normal approximation gave 5.9% +- 11.5%
    # and 66.7% +- 65.3%, i.e. [-5.6%, 17.4%] and [1.4%, 132.0%])
    (1, 17, 0.010460, 0.269820),
    (2, 3, 0.207660, 0.938508),
    (16, 17, 0.730180, 0.989540),
])
def test_wilson_hand_computed(successes: int, total: int, lo: float, hi: float) -> None:
    assert wilson_interval(successes, total) == pytest.approx((lo, hi), abs=1e-6)


def test_intervals_never_leave_the_unit_interval() -> None:
    for total in (1, 2, 3, 17, 40):  # the demo has 17 tasks; every success count, 0/1 and fractional scores
        for successes in range(total + 1):
            scores = [1.0] * successes + [0.0] * (total - successes)
            m, lo, hi = mean_interval(scores)
            assert 0.0 <= lo <= m <= hi <= 1.0 and (lo, hi) == wilson_interval(successes, total)
            halves = [0.5] * successes + [0.0] * (total - successes)  # two chains, one correct, per solved task
            m, lo, hi = mean_interval(halves, resamples=500, seed=3)
            assert 0.0 <= lo <= m <= hi <= (0.5 if successes else wilson_interval(0, total)[1])  # all 0: Wilson


def test_mean_interval_bootstraps_fractional_scores_over_tasks() -> None:
    scores = [0.5, 0.25, 1.0, 0.0, 0.75]
    m, lo, hi = mean_interval(scores)
    assert m == pytest.approx(0.5) and (lo, hi) == bootstrap_interval(scores) and lo < m < hi
    assert mean_interval(scores) == (m, lo, hi)  # seeded: the same numbers on every call
    with pytest.raises(ValueError):
        mean_interval([1.5])
    with pytest.raises(ValueError):
        mean_interval([])


def test_bootstrap_of_many_tasks_is_fast_and_matches_the_normal_spread() -> None:
    import time

    scores = [0.0] * 500 + [0.25] * 200 + [0.5] * 150 + [1.0] * 124  # 974 tasks, pass@1 over 4 chains
    start = time.perf_counter()
    lo, hi = bootstrap_interval(scores)
    assert time.perf_counter() - start < 5.0  # multinomial draws: the cost does not grow with the task count
    mean = sum(scores) / len(scores)
    sd = (sum((s - mean) ** 2 for s in scores) / len(scores) / len(scores)) ** 0.5
    assert lo == pytest.approx(mean - 1.96 * sd, abs=0.004) and hi == pytest.approx(mean + 1.96 * sd, abs=0.004)


def test_paired_bootstrap_difference() -> None:
    same = [1.0, 0.0, 1.0, 0.5, 0.0]
    assert paired_bootstrap_difference(same, same) == (0.0, 0.0, 0.0)
    diff, lo, hi = paired_bootstrap_difference([1.0] * 6, [0.0, 0.5, 0.0, 0.0, 0.25, 0.0])  # a wins every task
    assert diff == pytest.approx(1 - 0.75 / 6) and 0.0 < lo <= diff <= hi <= 1.0
    # b wins 4 of 10 tasks, ties the rest: the difference is 0.4 and the interval excludes 0
    a = [1, 1, 0, 1, 0, 1, 1, 0, 1, 1]
    b = [0, 1, 0, 0, 0, 1, 0, 0, 1, 0]
    diff, lo, hi = paired_bootstrap_difference(b, a, seed=7)
    assert diff == pytest.approx(-0.4) and -1.0 <= lo <= diff <= hi < 0.0
    assert paired_bootstrap_difference(b, a, seed=7) == (diff, lo, hi)
    # pairing matters: the same scores with task difficulty shared give a narrower interval than unpaired
    hard = [0.0] * 10 + [1.0] * 10
    better = [0.0] * 9 + [1.0] * 11
    _, plo, phi = paired_bootstrap_difference(better, hard)
    ulo, uhi = bootstrap_interval(better)
    assert phi - plo < uhi - ulo
    with pytest.raises(ValueError, match="same tasks"):
        paired_bootstrap_difference([1.0], [1.0, 0.0])


@pytest.mark.parametrize("b, c, p", [
    (0, 0, 1.0),
    (0, 5, 2 / 2**5),                      # 2 * P(X <= 0), X ~ Bin(5, 1/2)
    (1, 5, 2 * (1 + 6) / 2**6),            # 2 * (C(6,0) + C(6,1)) / 64 = 0.21875
    (8, 2, 2 * (1 + 10 + 45) / 2**10),     # symmetric in b, c: 0.109375
    (3, 3, 1.0),                           # 2 * 42/64 > 1, capped
    (0, 12, 2 / 2**12),
    (100, 60, 2 * sum(math.comb(160, i) for i in range(61)) / 2**160),
])
def test_mcnemar_exact_hand_computed(b: int, c: int, p: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-12)
    assert mcnemar_exact(c, b) == pytest.approx(p, rel=1e-12)
