"""Metrics over task records (one JSON line per finished task, ``record.TaskRecord``).

Because every candidate of every round is in the record, the result at any depth d <= D and width w <= N comes
from one run: a chain's answer at depth d is its latest candidate with round <= d; pass@1 is the mean over chains
of that answer's hidden-test correctness; "selected" applies an offline selector to the chains' answers.
``reduce_record`` keeps the few numbers of one record that ``summarize`` needs; ``paired_difference`` compares two
runs' summaries task by task.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from semtrace.agents.record import Candidate, _usage_sum
from semtrace.agents.selectors import SELECTORS, Selector, make_selector
from semtrace.agents.state import final_candidates
from semtrace.benchmarks.metrics import mean_interval, paired_bootstrap_difference, pass_at_k

# Fields that legitimately differ between two runs of the same experiment (timing, host), dropped by
# ``stable_record`` when records are compared (e.g. a resumed run against an uninterrupted one).
VOLATILE_KEYS = frozenset({"duration", "python", "wall_time", "latency"})


def stable_record(record: Any) -> Any:
    """The record without volatile fields (durations, host Python), for equality checks."""
    if isinstance(record, dict):
        return {k: stable_record(v) for k, v in record.items() if k not in VOLATILE_KEYS}
    if isinstance(record, list):
        return [stable_record(v) for v in record]
    return record


Record = dict[str, Any]  # a results.jsonl line as read (its candidates typed once by ``parsed``)


def parsed(record: Record) -> list[Candidate]:
    """A record's candidates, typed (each parsed once per call: ``reduce_record`` parses a record once)."""
    return [c if isinstance(c, Candidate) else Candidate.from_dict(c) for c in record["candidates"]]


def _pass_at_1(cands: list[Candidate], depth: int | None, width: int | None) -> float:
    finals = final_candidates(cands, depth=depth, width=width)
    return sum(c.correct for c in finals) / len(finals) if finals else 0.0


def pass_at_1(record: Record, depth: int | None = None, width: int | None = None) -> float:
    """Mean over the first ``width`` chains of their answer's correctness at ``depth``."""
    return _pass_at_1(parsed(record), depth, width)


def _pass_at_width(cands: list[Candidate], w: int) -> float:
    finals = final_candidates(cands)
    n, c = len(finals), sum(f.correct for f in finals)
    return pass_at_k(n, c, min(w, n)) if n else 0.0


def pass_at_width(record: Record, w: int) -> float:
    """Unbiased pass@k (``benchmarks.metrics.pass_at_k``) with k = w over the record's n chains at the full depth.
    A run's records have exactly ``width`` chains (generate fails a task whose LLM returns fewer samples), so
    k <= n; a record with fewer chains than w (records of a narrower run mixed in) gives pass@n, the best of all
    its chains, as the oracle at that width does."""
    return _pass_at_width(parsed(record), w)


def _selected(cands: list[Candidate], selector: Selector, depth: int | None, width: int | None) -> bool:
    chosen = selector.pick(final_candidates(cands, depth=depth, width=width))
    return bool(chosen and chosen.correct)


def selected_correct(record: Record, selector: Selector, depth: int | None = None, width: int | None = None) -> bool:
    return _selected(parsed(record), selector, depth, width)


def _tokens_upto(record: Record, cands: list[Candidate], depth: int | None) -> int:
    items: list[Any] = []
    for c in cands:
        if depth is None or c.round <= depth:
            items.append(c.usage)
        if depth is None or c.round < depth:
            items += [c.critique_usage, c.render_usage]
    total = _usage_sum(items)
    tokens = total["prompt_tokens"] + total["completion_tokens"]
    if depth is None or depth >= record.get("depth", 0):
        sel = (record.get("selection", {}).get("info") or {}).get("usage") or {}
        tokens += int(sel.get("prompt_tokens", 0)) + int(sel.get("completion_tokens", 0))
    return tokens


def tokens_upto(record: Record, depth: int | None = None) -> int:
    """Tokens spent to reach ``depth``: producing every candidate of round <= depth, plus the critiques and
    LLM-written renderings of rounds < depth (they were spent to produce the next round). The selector's own
    calls count at the full depth only."""
    return _tokens_upto(record, parsed(record), depth)


def offline_selector(name: str) -> Selector | None:
    """The selector as a ``pick`` function if it needs no LLM or sandbox, else None."""
    try:
        sel = make_selector(name) if name in SELECTORS.entries else None
    except Exception:  # noqa: BLE001 - a plugin selector that cannot be built offline
        return None
    return sel if sel is not None and type(sel).pick is not Selector.pick else None


def reduce_record(record: dict[str, Any]) -> dict[str, Any]:
    """The few numbers ``summarize`` needs from one record (its curves over its own depth and width), so a run's
    summary never holds whole records: a run streams each record to disk and keeps only this."""
    if "pass1_d" in record:
        return record  # already reduced
    depth, width = int(record.get("depth", 0)), int(record.get("width", 1))
    offline = offline_selector(str(record.get("selector", "visible_rate")))
    oracle = make_selector("oracle")
    cands = parsed(record)
    out: dict[str, Any] = {
        "task_id": record["task_id"], "depth": depth, "width": width,
        "selector": record.get("selector", "visible_rate"), "correct": float(bool(record.get("correct"))),
        "usage": _usage_sum([record.get("usage")]),
        "pass1_d": [_pass_at_1(cands, d, None) for d in range(depth + 1)],
        "oracle_d": [float(_selected(cands, oracle, d, None)) for d in range(depth + 1)],
        "tokens_d": [_tokens_upto(record, cands, d) for d in range(depth + 1)],
        "pass1_w": [_pass_at_1(cands, None, w) for w in range(1, width + 1)],
        "oracle_w": [float(_selected(cands, oracle, None, w)) for w in range(1, width + 1)],
        "passk_w": [_pass_at_width(cands, w) for w in range(1, width + 1)],
    }
    if offline is not None:
        out["sel_d"] = [float(_selected(cands, offline, d, None)) for d in range(depth + 1)]
        out["sel_w"] = [float(_selected(cands, offline, None, w)) for w in range(1, width + 1)]
    return out


def _at(values: list[float], i: int) -> float:
    """A curve's value at ``i``; past its end a task's answer no longer changes (it stopped earlier)."""
    return values[min(i, len(values) - 1)] if values else 0.0


def summarize(records: Iterable[dict[str, Any]], *, total_tasks: int | None = None) -> dict[str, Any]:
    """Curves over depth and width, tokens, and the final selected pass rate, each rate as ``{"mean", "lo", "hi"}``
    with a 95% interval over tasks (``benchmarks.metrics.mean_interval``): Wilson for 0/1 outcomes per task
    (width 1, the selector's pick, the oracle), a seeded bootstrap over tasks for fractional ones (pass@1 as the
    mean over chains, pass@k). Errored or unfinished tasks count as failures (0) in every rate. ``per_task``
    keeps each finished task's pass@1 at the full depth and its selected outcome, for paired comparisons.

    ``records`` may be a stream (one pass): records or ``reduce_record`` results."""
    stats = [reduce_record(r) for r in records]
    if not stats:
        return {"tasks": 0, "total_tasks": total_tasks or 0, "by_depth": [], "by_width": []}
    depth = max(s["depth"] for s in stats)
    width = max(s["width"] for s in stats)
    sel_name = stats[0]["selector"]
    offline = all("sel_d" in s for s in stats)
    n_tasks = total_tasks or len(stats)
    missing = [0.0] * (n_tasks - len(stats))  # errored/unfinished tasks count as failures

    def rate(values: list[float]) -> dict[str, float]:
        m, lo, hi = mean_interval(values + missing)
        return {"mean": m, "lo": lo, "hi": hi}

    by_depth = []
    for d in range(depth + 1):
        row: dict[str, Any] = {
            "depth": d,
            "pass@1": rate([_at(s["pass1_d"], d) for s in stats]),
            "oracle@width": rate([_at(s["oracle_d"], d) for s in stats]),
            "tokens": sum(int(_at(s["tokens_d"], d)) for s in stats),
        }
        if offline:
            row["selected"] = rate([_at(s["sel_d"], d) for s in stats])
        by_depth.append(row)
    by_width = []
    for w in range(width):
        row = {
            "width": w + 1,
            "pass@1": rate([_at(s["pass1_w"], w) for s in stats]),
            "oracle": rate([_at(s["oracle_w"], w) for s in stats]),
            # unbiased pass@k (Chen et al.) over all chains at the full depth, k = w
            "pass@k": rate([_at(s["passk_w"], w) for s in stats]),
        }
        if offline:
            row["selected"] = rate([_at(s["sel_w"], w) for s in stats])
        by_width.append(row)
    usage = _usage_sum(s["usage"] for s in stats)
    return {
        "tasks": len(stats),
        "total_tasks": n_tasks,
        "depth": depth,
        "width": width,
        "selector": sel_name,
        "selector_upper_bound": sel_name == "oracle",
        "selected": rate([s["correct"] for s in stats]),
        "by_depth": by_depth,
        "by_width": by_width,
        "usage": usage,
        "tokens_per_task": (usage["prompt_tokens"] + usage["completion_tokens"]) / len(stats),
        "per_task": {s["task_id"]: {"pass@1": _at(s["pass1_d"], depth), "selected": s["correct"]} for s in stats},
    }


def paired_difference(a: dict[str, Any], b: dict[str, Any], key: str = "selected") -> tuple[float, float, float] | None:
    """(mean_a - mean_b, lo, hi) of a per-task score (``per_task[...][key]``) of two summaries, with a seeded
    paired bootstrap interval (``benchmarks.metrics.paired_bootstrap_difference``). Tasks a run did not finish
    score 0 there, as in its own rates. None when the two are not runs on the same tasks (another benchmark or
    task count, task ids that do not fit one task list) or a summary has no per-task scores."""
    pa, pb = a.get("per_task"), b.get("per_task")
    if not isinstance(pa, dict) or not isinstance(pb, dict) or not (pa or pb):
        return None
    if (a.get("config") or {}).get("benchmark") != (b.get("config") or {}).get("benchmark"):
        return None
    total = int(a.get("total_tasks") or len(pa))
    ids = sorted(set(pa) | set(pb))
    if total != int(b.get("total_tasks") or len(pb)) or len(ids) > total:
        return None
    pad = [0.0] * (total - len(ids))  # tasks neither run finished: a failure in both
    xs = [float((pa.get(t) or {}).get(key, 0.0)) for t in ids] + pad
    ys = [float((pb.get(t) or {}).get(key, 0.0)) for t in ids] + pad
    return paired_bootstrap_difference(xs, ys)
