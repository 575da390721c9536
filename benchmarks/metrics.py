"""Metrics: the unbiased pass@k estimator and confidence intervals for pass rates.

- ``pass_at_k(n, c, k)``: Chen et al. 2021 ("Evaluating Large Language Models Trained on Code"), eq. 1:
  ``1 - C(n - c, k) / C(n, k)`` for n samples of which c are correct, computed as a stable product.
- ``mean_pass_at_k``: the benchmark-level average over tasks.
- ``wilson_interval``: the Wilson score interval for a binomial proportion (good at small n and near 0 or 1).
- ``bootstrap_interval``: a percentile bootstrap over tasks for any per-task score (e.g. pass@k values), seeded.
- ``mean_interval``: the mean of per-task scores in [0, 1] and its interval: Wilson when every score is 0 or 1
  (then the mean is a binomial proportion over tasks), else the bootstrap over tasks (see its docstring).
- ``paired_bootstrap_difference``: the difference of two runs' means on the same tasks, with a paired bootstrap
  interval (tasks resampled together, so the between-task variance cancels).
- ``mcnemar_exact``: the exact two-sided McNemar test on the discordant pairs of two runs' 0/1 outcomes.

Every resampling is seeded and deterministic: the same scores and seed give the same interval on every machine.
"""

from __future__ import annotations

import math
import random
from collections import Counter
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


def _binomial(rng: random.Random, n: int, p: float) -> int:
    """A Binomial(n, p) draw in O(1) expected time (``random.binomialvariate`` is Python 3.12+): Devroye's geometric
    method when n * p < 10, else Hoermann's transformed rejection with squeeze (BTRS, 1993)."""
    if p <= 0.0 or n == 0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - _binomial(rng, n, 1.0 - p)
    if n * p < 10.0:  # count the successes by jumping geometric gaps between them
        log_q = math.log(1.0 - p)
        if not log_q:
            return 0
        successes = position = 0
        while True:
            u = rng.random()
            if u == 0.0:
                continue
            position += math.floor(math.log(u) / log_q) + 1
            if position > n:
                return successes
            successes += 1
    spq = math.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    alpha = (2.83 + 5.1 / b) * spq
    lpq = math.log(p / (1.0 - p))
    mode = math.floor((n + 1) * p)
    h = math.lgamma(mode + 1) + math.lgamma(n - mode + 1)
    while True:
        u = rng.random() - 0.5
        us = 0.5 - abs(u)
        if us <= 0.0:
            continue
        k = math.floor((2.0 * a / us + b) * u + c)
        if k < 0 or k > n:
            continue
        v = rng.random()
        if us >= 0.07 and v <= v_r:  # the squeeze: accepted without evaluating the density
            return k
        v *= alpha / (a / (us * us) + b)
        if v > 0.0 and math.log(v) <= h - math.lgamma(k + 1) - math.lgamma(n - k + 1) + (k - mode) * lpq:
            return k


def _resampled_means(scores: Sequence[float], resamples: int, rng: random.Random) -> list[float]:
    """Sorted means of ``resamples`` resamples of ``scores`` with replacement. Per-task scores usually take few
    distinct values (fractions j/width), so a resample is drawn as multinomial counts of the distinct values
    (conditional binomials): the same distribution as drawing n tasks one by one, at a cost that does not grow
    with the number of tasks."""
    n = len(scores)
    counts = sorted(Counter(scores).items())
    if len(counts) * 4 > n:  # mostly distinct values: draw the tasks themselves
        return sorted(math.fsum(rng.choices(scores, k=n)) / n for _ in range(resamples))
    means = []
    for _ in range(resamples):
        left_n, left_c, total = n, n, 0.0
        for value, count in counts[:-1]:
            drawn = _binomial(rng, left_n, count / left_c)
            total += value * drawn
            left_n -= drawn
            left_c -= count
        total += counts[-1][0] * left_n
        means.append(total / n)
    means.sort()
    return means


def _percentiles(means: Sequence[float], confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    r = len(means)
    lo = means[min(r - 1, max(0, math.floor(alpha * r)))]
    hi = means[min(r - 1, max(0, math.ceil((1.0 - alpha) * r) - 1))]
    return lo, hi


def bootstrap_interval(scores: Sequence[float], confidence: float = 0.95, resamples: int = 10000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-task ``scores`` (resampling tasks with replacement)."""
    if not scores:
        raise ValueError("bootstrap_interval needs at least one score")
    if resamples < 1:
        raise ValueError(f"bootstrap_interval needs resamples >= 1, got {resamples}")
    _z(confidence)
    return _percentiles(_resampled_means(list(scores), resamples, random.Random(seed)), confidence)


def mean_interval(scores: Sequence[float], confidence: float = 0.95, resamples: int = 10000,
                  seed: int = 0) -> tuple[float, float, float]:
    """(mean, lo, hi) of per-task scores in [0, 1], the task being the sampling unit.

    - Every score 0 or 1 (one outcome per task: width 1, a selector's pick, the oracle, pass@k at k = n): the mean
      is a binomial proportion over tasks and the interval is Wilson's, which stays inside [0, 1] and is not
      degenerate at 0/n or n/n (the normal approximation gives "5.9% +- 11.5%" for 1/17, Wilson [1.0%, 27.0%]).
    - Fractional scores (pass@1 as the mean over a task's chains, pass@k at k < n): a percentile bootstrap over
      tasks. Wilson on the successes pooled over tasks x chains is *not* used: chains of one task share its
      difficulty, so they are not independent trials and the pooled interval would be too narrow by the design
      effect; resampling whole tasks keeps that correlation. The bootstrap interval lies inside [min, max] of the
      scores; with very few tasks it is narrower than its nominal coverage, as any percentile bootstrap is.
    """
    if not scores:
        raise ValueError("mean_interval needs at least one score")
    if any(not 0.0 <= s <= 1.0 for s in scores):
        raise ValueError("mean_interval needs scores in [0, 1]")
    mean = math.fsum(scores) / len(scores)
    if all(s in (0.0, 1.0) for s in scores):
        lo, hi = wilson_interval(int(sum(scores)), len(scores), confidence)
    else:
        lo, hi = bootstrap_interval(scores, confidence, resamples, seed)
    return mean, lo, hi


def paired_bootstrap_difference(a_scores: Sequence[float], b_scores: Sequence[float], confidence: float = 0.95,
                                resamples: int = 10000, seed: int = 0) -> tuple[float, float, float]:
    """(mean(a) - mean(b), lo, hi) for two runs scored on the same tasks, in the same order. Each resample draws
    tasks with replacement and takes both runs' scores of the drawn tasks together (the mean of the per-task
    differences), so the interval reflects only how the runs differ, not how hard the tasks are."""
    if len(a_scores) != len(b_scores):
        raise ValueError(f"paired scores need the same tasks; got {len(a_scores)} and {len(b_scores)} scores")
    if not a_scores:
        raise ValueError("paired_bootstrap_difference needs at least one task")
    diffs = [float(a) - float(b) for a, b in zip(a_scores, b_scores)]
    lo, hi = bootstrap_interval(diffs, confidence, resamples, seed)
    return math.fsum(diffs) / len(diffs), lo, hi


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value: ``b`` tasks only the first run solves, ``c`` only the second. Under the
    null each discordant task is a fair coin, so p = min(1, 2 * P(Binomial(b + c, 1/2) <= min(b, c)))."""
    if b < 0 or c < 0:
        raise ValueError(f"mcnemar_exact needs counts >= 0; got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)
