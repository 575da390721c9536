"""Task records (one JSON line per finished task) and the metrics computed from them.

Because every candidate of every round is in the record, the result at any depth d <= D and width w <= N comes
from one run: a chain's answer at depth d is its latest candidate with round <= d; pass@1 is the mean over chains
of that answer's hidden-test correctness; "selected" applies an offline selector to the chains' answers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from semtrace.agents.selectors import SELECTORS, Selector, make_selector
from semtrace.agents.state import Candidate, final_candidates

# Fields that legitimately differ between two runs of the same experiment (timing, host), dropped by
# ``stable_record`` when records are compared (e.g. a resumed run against an uninterrupted one).
VOLATILE_KEYS = frozenset({"duration", "python", "wall_time", "latency"})


def _usage_sum(items: Iterable[dict[str, int] | None]) -> dict[str, int]:
    total = {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0}
    for u in items:
        for k in total:
            total[k] += int((u or {}).get(k, 0))
    return total


def candidate_usage(c: dict[str, Any]) -> dict[str, int]:
    return _usage_sum([c.get("usage"), c.get("critique_usage"), c.get("render_usage")])


def task_record(task: Any, settings_view: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """The finished task as one JSON-able record."""
    cands = sorted(state.get("candidates", []), key=lambda c: (c["chain"], c["round"]))
    selection = state.get("selection") or {}
    chosen = next((c for c in cands if c["id"] == selection.get("id")), None)
    usage = _usage_sum([*(candidate_usage(c) for c in cands), (selection.get("info") or {}).get("usage")])
    return {
        "task_id": task.task_id,
        "kind": task.kind,
        **settings_view,
        "candidates": cands,
        "selection": selection,
        "correct": bool(chosen and Candidate.from_dict(chosen).correct),
        "usage": usage,
    }


def stable_record(record: Any) -> Any:
    """The record without volatile fields (durations, host Python), for equality checks."""
    if isinstance(record, dict):
        return {k: stable_record(v) for k, v in record.items() if k not in VOLATILE_KEYS}
    if isinstance(record, list):
        return [stable_record(v) for v in record]
    return record


def _candidates(record: dict[str, Any], depth: int | None, width: int | None) -> list[Candidate]:
    return final_candidates(record["candidates"], depth=depth, width=width)


def pass_at_1(record: dict[str, Any], depth: int | None = None, width: int | None = None) -> float:
    """Mean over the first ``width`` chains of their answer's correctness at ``depth``."""
    finals = _candidates(record, depth, width)
    return sum(c.correct for c in finals) / len(finals) if finals else 0.0


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimator (Chen et al. 2021) from n samples with c correct."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))


def _n_c(record: dict[str, Any]) -> tuple[int, int]:
    finals = _candidates(record, None, None)
    return len(finals), sum(c.correct for c in finals)


def selected_correct(
    record: dict[str, Any], selector: Selector, depth: int | None = None, width: int | None = None
) -> bool:
    chosen = selector.pick(_candidates(record, depth, width))
    return bool(chosen and chosen.correct)


def tokens_upto(record: dict[str, Any], depth: int | None = None) -> int:
    """Tokens spent to reach ``depth``: producing every candidate of round <= depth, plus the critiques and
    LLM-written renderings of rounds < depth (they were spent to produce the next round). The selector's own
    calls count at the full depth only."""
    items = []
    for c in record["candidates"]:
        if depth is None or c["round"] <= depth:
            items.append(c.get("usage"))
        if depth is None or c["round"] < depth:
            items += [c.get("critique_usage"), c.get("render_usage")]
    total = _usage_sum(items)
    tokens = total["prompt_tokens"] + total["completion_tokens"]
    if depth is None or depth >= record.get("depth", 0):
        sel = (record.get("selection", {}).get("info") or {}).get("usage") or {}
        tokens += int(sel.get("prompt_tokens", 0)) + int(sel.get("completion_tokens", 0))
    return tokens


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of a 95% normal-approximation interval."""
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    m = sum(values) / n
    if n == 1:
        return m, 0.0
    var = sum((v - m) ** 2 for v in values) / (n - 1)
    return m, 1.96 * math.sqrt(var / n)


def offline_selector(name: str) -> Selector | None:
    """The selector as a ``pick`` function if it needs no LLM or sandbox, else None."""
    try:
        sel = make_selector(name) if name in SELECTORS.entries else None
    except Exception:  # noqa: BLE001 - a plugin selector that cannot be built offline
        return None
    return sel if sel is not None and type(sel).pick is not Selector.pick else None


def summarize(records: Sequence[dict[str, Any]], *, total_tasks: int | None = None) -> dict[str, Any]:
    """Curves over depth and width, tokens, and the final selected pass rate (with 95% intervals)."""
    if not records:
        return {"tasks": 0, "total_tasks": total_tasks or 0, "by_depth": [], "by_width": []}
    depth = max(int(r.get("depth", 0)) for r in records)
    width = max(int(r.get("width", 1)) for r in records)
    sel_name = records[0].get("selector", "visible_rate")
    offline = offline_selector(sel_name)
    oracle = make_selector("oracle")
    n_tasks = total_tasks or len(records)
    missing = [0.0] * (n_tasks - len(records))  # errored/unfinished tasks count as failures

    def rate(values: list[float]) -> dict[str, float]:
        m, h = mean_ci(values + missing)
        return {"mean": m, "ci95": h}

    by_depth = []
    for d in range(depth + 1):
        row: dict[str, Any] = {
            "depth": d,
            "pass@1": rate([pass_at_1(r, d) for r in records]),
            "oracle@width": rate([float(selected_correct(r, oracle, d)) for r in records]),
            "tokens": sum(tokens_upto(r, d) for r in records),
        }
        if offline is not None:
            row["selected"] = rate([float(selected_correct(r, offline, d)) for r in records])
        by_depth.append(row)
    by_width = []
    for w in range(1, width + 1):
        row = {
            "width": w,
            "pass@1": rate([pass_at_1(r, None, w) for r in records]),
            "oracle": rate([float(selected_correct(r, oracle, None, w)) for r in records]),
            # unbiased pass@k (Chen et al.) over all chains at the full depth, k = w
            "pass@k": rate([pass_at_k(*_n_c(r), w) for r in records]),
        }
        if offline is not None:
            row["selected"] = rate([float(selected_correct(r, offline, None, w)) for r in records])
        by_width.append(row)
    usage = _usage_sum(r.get("usage") for r in records)
    return {
        "tasks": len(records),
        "total_tasks": n_tasks,
        "depth": depth,
        "width": width,
        "selector": sel_name,
        "selector_upper_bound": sel_name == "oracle",
        "selected": rate([float(r["correct"]) for r in records]),
        "by_depth": by_depth,
        "by_width": by_width,
        "usage": usage,
        "tokens_per_task": (usage["prompt_tokens"] + usage["completion_tokens"]) / len(records),
    }
