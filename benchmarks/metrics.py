"""Metrics: the unbiased pass@k estimator and confidence intervals for pass rates.

- ``pass_at_k(n, c, k)``: Chen et al. 2021 ("Evaluating Large Language Models Trained on Code"), eq. 1:
  ``1 - C(n - c, k) / C(n, k)`` for n samples of which c are correct, computed as a stable product.
- ``mean_pass_at_k``: the benchmark-level average over tasks.
- ``wilson_interval``: the Wilson score interval for a binomial proportion (good at small n and near 0 or 1).
- ``bootstrap_interval``: a percentile bootstrap over tasks for any per-task score (e.g. pass@k values), seeded.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from statistics import NormalDist


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct) is correct."""
    if not 0 <= c <= n or k < 1 or n < 1:
        raise ValueError(f"pass@k needs 0 <= c <= n, n >= 1 and k >= 1; got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per task, got n={n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def mean_pass_at_k(samples: Sequence[tuple[int, int]], k: int) -> float:
    """Mean pass@k over tasks given (n, c) per task."""
    if not samples:
        raise ValueError("mean_pass_at_k needs at least one task")
    return sum(pass_at_k(n, c, k) for n, c in samples) / len(samples)


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for successes/total."""
    if total < 1 or not 0 <= successes <= total:
        raise ValueError(f"wilson_interval needs 0 <= successes <= total and total >= 1; got {successes}/{total}")
    z = _z(confidence)
    p = successes / total
    denom = 1.0 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == total else min(1.0, centre + half)
    return lo, hi


def bootstrap_interval(scores: Sequence[float], confidence: float = 0.95, resamples: int = 10000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-task ``scores`` (resampling tasks with replacement)."""
    if not scores:
        raise ValueError("bootstrap_interval needs at least one score")
    _z(confidence)
    rng = random.Random(seed)
    n = len(scores)
    means = sorted(sum(scores[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    alpha = (1.0 - confidence) / 2.0
    lo = means[min(resamples - 1, max(0, math.floor(alpha * resamples)))]
    hi = means[min(resamples - 1, max(0, math.ceil((1.0 - alpha) * resamples) - 1))]
    return lo, hi
