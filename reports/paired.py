"""Paired comparisons: a run against a baseline run on the same tasks (the study's "does trace X help?").

Per task, a score of each run (``selected``: the final answer's 0/1 correctness; ``pass@1``: the mean over chains
at the full depth, when a run has several chains); wins/losses/ties; the mean difference with a paired bootstrap
95% interval (``benchmarks.metrics.paired_bootstrap_difference``) and, for 0/1 scores, the exact McNemar test
(``benchmarks.metrics.mcnemar_exact``). Tasks a run did not finish score 0, as in its own rates.

Two runs are paired only when they ran the same benchmark's same tasks with the same seed; otherwise
``pair_problem`` says which of these differs. Runs with no task in common (e.g. a run with no finished task) have
nothing to pair: ``pair_problem`` says so, and no difference or p-value is made up for them.
"""

from __future__ import annotations

from collections.abc import Sequence

from semtrace.benchmarks.metrics import mcnemar_exact, paired_bootstrap_difference
from semtrace.reports.load import RunData
from semtrace.reports.model import Paired


def _sample(ids: Sequence[str], k: int = 3) -> str:
    shown = ", ".join(sorted(ids)[:k])
    return shown + (f" and {len(ids) - k} more" if len(ids) > k else "")


def pair_problem(run: RunData, baseline: RunData) -> str | None:
    """Why ``run`` cannot be paired with ``baseline`` (one line naming what differs), or None."""
    a, b = run.view.get("benchmark"), baseline.view.get("benchmark")
    if a != b:
        return f"their benchmarks differ ({run.name}: {a}, {baseline.name}: {b})"
    if run.config.seed != baseline.config.seed:
        return f"their seeds differ ({run.name}: seed {run.config.seed}, {baseline.name}: seed {baseline.config.seed})"
    ids_a, ids_b = run.task_ids, baseline.task_ids
    if not ids_a & ids_b:
        empty = [r.name for r in (run, baseline) if not r.task_ids]
        if empty:
            return (f"{' and '.join(empty)} {'has' if len(empty) == 1 else 'have'} no finished task, so there is "
                    f"nothing to pair")
        return (f"they have no task in common, so there is nothing to pair ({_sample(ids_a)} in {run.name}; "
                f"{_sample(ids_b)} in {baseline.name})")
    if run.total_tasks != baseline.total_tasks or ids_a != ids_b:
        only_a, only_b = sorted(ids_a - ids_b), sorted(ids_b - ids_a)
        parts = []
        if only_a:
            parts.append(f"{len(only_a)} only in {run.name} ({_sample(only_a)})")
        if only_b:
            parts.append(f"{len(only_b)} only in {baseline.name} ({_sample(only_b)})")
        if not parts:
            parts.append(f"{run.total_tasks} tasks in {run.name}, {baseline.total_tasks} in {baseline.name}")
        return "their task sets differ: " + "; ".join(parts)
    return None


def _scores(run: RunData, ids: list[str], metric: str) -> list[float]:
    out = []
    for t in ids:
        s = run.stats.get(t)
        if s is None:
            out.append(0.0)  # errored: a failure, as in the run's own rates
        elif metric == "selected":
            out.append(float(s["correct"]))
        else:
            curve = s["pass1_d"]
            out.append(float(curve[-1]) if curve else 0.0)
    return out


def compare(run: RunData, baseline: RunData, run_label: str | None = None,
            baseline_label: str | None = None) -> list[Paired]:
    """``run`` against ``baseline`` (they must pass ``pair_problem``): the selected answer, and pass@1 (mean over
    chains) when either has more than one chain."""
    ids = sorted(run.task_ids)
    metrics = ["selected"]
    if max(run.summary.get("width", 1), baseline.summary.get("width", 1)) > 1:
        metrics.append("pass@1")
    out = []
    for metric in metrics:
        xs, ys = _scores(run, ids, metric), _scores(baseline, ids, metric)
        wins = sum(x > y for x, y in zip(xs, ys))
        losses = sum(x < y for x, y in zip(xs, ys))
        diff, lo, hi = paired_bootstrap_difference(xs, ys) if ids else (0.0, 0.0, 0.0)
        binary = all(v in (0.0, 1.0) for v in xs + ys)
        p_value = mcnemar_exact(wins, losses) if binary else None
        out.append(Paired(run=run_label or run.name, baseline=baseline_label or baseline.name, metric=metric,
                          tasks=len(ids), wins=wins, losses=losses, ties=len(ids) - wins - losses, diff=diff, lo=lo,
                          hi=hi, p_value=p_value))
    return out
