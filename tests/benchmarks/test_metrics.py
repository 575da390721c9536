"""pass@k against hand-computed values; Wilson and bootstrap intervals against known values."""

from __future__ import annotations

import math

import pytest
from semtrace.benchmarks.metrics import bootstrap_interval, mean_pass_at_k, pass_at_k, wilson_interval


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
