"""Task records (one JSON line per finished task) and the metrics computed from them.

Because every candidate of every round is in the record, the result at any depth d <= D and width w <= N comes
from one run: a chain's answer at depth d is its latest candidate with round <= d; pass@1 is the mean over chains
of that answer's hidden-test correctness; "selected" applies an offline selector to the chains' answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from semtrace.agents.record import TaskRecord, task_meta
from semtrace.agents.rundir import IDENTITY_FILE, RunError, load_run_config, write_file
from semtrace.agents.selectors import SELECTORS, Selector, make_selector
from semtrace.agents.state import Candidate, final_candidates
from semtrace.benchmarks.metrics import mean_interval, paired_bootstrap_difference, pass_at_k
from semtrace.config import RunConfig

log = logging.getLogger(__name__)

# Fields that legitimately differ between two runs of the same experiment (timing, host), dropped by
# ``stable_record`` when records are compared (e.g. a resumed run against an uninterrupted one).
VOLATILE_KEYS = frozenset({"duration", "python", "wall_time", "latency"})


def _usage_sum(items: Iterable[dict[str, int] | None]) -> dict[str, int]:
    """Usage dicts summed; ``completion_tokens`` includes ``reasoning_tokens`` (the reasoning's share)."""
    total = {"prompt_tokens": 0, "completion_tokens": 0, "reasoning_tokens": 0, "calls": 0}
    for u in items:
        for k in total:
            total[k] += int((u or {}).get(k, 0))
    return total


def candidate_usage(c: dict[str, Any]) -> dict[str, int]:
    return _usage_sum([c.get("usage"), c.get("critique_usage"), c.get("render_usage")])


REASONING_KEYS = ("reasoning", "critique_reasoning")


def task_record(task: Any, settings_view: dict[str, Any], state: dict[str, Any], config_digest: str = "",
                keep_reasoning: bool = True) -> dict[str, Any]:
    """The finished task as one JSON-able ``record.TaskRecord`` of the run whose config has ``config_digest``;
    without the models' reasoning when not ``keep_reasoning`` (its tokens stay counted in the usage)."""
    cands = sorted(state.get("candidates", []), key=lambda c: (c["chain"], c["round"]))
    if not keep_reasoning:
        cands = [{k: v for k, v in c.items() if k not in REASONING_KEYS} for c in cands]
    selection = state.get("selection") or {}
    chosen = next((c for c in cands if c["id"] == selection.get("id")), None)
    usage = _usage_sum([*(candidate_usage(c) for c in cands), (selection.get("info") or {}).get("usage")])
    record = TaskRecord(
        task_id=task.task_id,
        kind=task.kind,
        **settings_view,
        candidates=tuple(Candidate.from_dict(c) for c in cands),
        selection=selection,
        correct=bool(chosen and Candidate.from_dict(chosen).correct),
        usage=usage,
        task_meta=task_meta(getattr(task, "metadata", None)),
        config_digest=config_digest,
    )  # validated here: every line of results.jsonl fits the shipped schema
    return record.model_dump(mode="json")


DIGEST_IGNORES = ("display", "out", "task_concurrency")  # how a run is watched and scheduled, not what it computes


def config_digest(cfg: RunConfig) -> str:
    """A digest of everything in the config that changes results (what every record of the run carries)."""
    data = {k: v for k, v in cfg.dump().items() if k not in DIGEST_IGNORES}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RunIdentity:
    """What makes a record this run's: the benchmark, the config digest (fixed when the run started, kept in
    ``run.json``) and the task ids (None: not known, for a run older than ``run.json``)."""

    benchmark: str
    config_digest: str = ""
    task_ids: frozenset[str] | None = None


def _read_identity(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / IDENTITY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s cannot be read (%s); its records are checked by their benchmark only", path, exc)
        return None
    ok = isinstance(data, dict) and isinstance(data.get("config_digest"), str) and isinstance(data.get("tasks"), list)
    if not ok:
        log.warning("%s does not hold a run's identity; its records are checked by their benchmark only", path)
        return None
    return data


def load_identity(run_dir: Path) -> RunIdentity | None:
    """The identity of the run in ``run_dir`` (None: not a run directory, or its config cannot be read)."""
    try:
        cfg = load_run_config(run_dir)
    except RunError:
        return None
    data = _read_identity(run_dir)
    if data is None:
        return RunIdentity(cfg.benchmark)
    return RunIdentity(cfg.benchmark, data["config_digest"], frozenset(str(t) for t in data["tasks"]))


def ensure_identity(run_dir: Path, cfg: RunConfig, task_ids: list[str]) -> RunIdentity:
    """The run's identity: as ``run.json`` holds it, else (a new run, or one older than ``run.json``) made now
    from the config and the tasks, and written there."""
    data = _read_identity(run_dir)
    if data is None:
        data = {"config_digest": config_digest(cfg), "tasks": list(task_ids)}
        write_file(run_dir / IDENTITY_FILE, json.dumps(data, indent=1))
    return RunIdentity(cfg.benchmark, data["config_digest"], frozenset(str(t) for t in data["tasks"]))


def foreign_reason(record: dict[str, Any], identity: RunIdentity) -> str | None:
    """Why ``record`` is not a record of the run ``identity`` describes (None: it is). A record older than the
    digest (schema 1) is checked by its benchmark and task id."""
    bench = record.get("benchmark")
    if bench not in (None, "") and bench != identity.benchmark:
        return f"a record of benchmark {bench!r}, this run's is {identity.benchmark!r}"
    digest = record.get("config_digest")
    if identity.config_digest and digest not in (None, "") and digest != identity.config_digest:
        return f"a record of another run: config digest {digest!r}, this run's is {identity.config_digest!r}"
    if identity.task_ids is not None and record.get("task_id") not in identity.task_ids:
        return f"a record of task {record.get('task_id')!r}, which this run does not have"
    return None


def _belongs(_record: dict[str, Any]) -> str | None:
    return None


def record_check(run_dir: Path) -> Callable[[dict[str, Any]], str | None]:
    """For the records of ``run_dir``'s results file: why a record is another run's (``foreign_reason``), None
    when it is this run's. Every reader of results sets such records aside (``rundir.read_results``, the run loop,
    ``reports/load.py``). Outside a run directory every record passes."""
    identity = load_identity(run_dir)
    return _belongs if identity is None else partial(foreign_reason, identity=identity)


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


def _n_c(record: dict[str, Any]) -> tuple[int, int]:
    finals = _candidates(record, None, None)
    return len(finals), sum(c.correct for c in finals)


def pass_at_width(record: dict[str, Any], w: int) -> float:
    """Unbiased pass@k (``benchmarks.metrics.pass_at_k``) with k = w over the record's n chains at the full depth.
    A run's records have exactly ``width`` chains (generate fails a task whose LLM returns fewer samples), so
    k <= n; a record with fewer chains than w (records of a narrower run mixed in) gives pass@n, the best of all
    its chains, as the oracle at that width does."""
    n, c = _n_c(record)
    return pass_at_k(n, c, min(w, n)) if n else 0.0


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
    out: dict[str, Any] = {
        "task_id": record["task_id"], "depth": depth, "width": width,
        "selector": record.get("selector", "visible_rate"), "correct": float(bool(record.get("correct"))),
        "usage": _usage_sum([record.get("usage")]),
        "pass1_d": [pass_at_1(record, d) for d in range(depth + 1)],
        "oracle_d": [float(selected_correct(record, oracle, d)) for d in range(depth + 1)],
        "tokens_d": [tokens_upto(record, d) for d in range(depth + 1)],
        "pass1_w": [pass_at_1(record, None, w) for w in range(1, width + 1)],
        "oracle_w": [float(selected_correct(record, oracle, None, w)) for w in range(1, width + 1)],
        "passk_w": [pass_at_width(record, w) for w in range(1, width + 1)],
    }
    if offline is not None:
        out["sel_d"] = [float(selected_correct(record, offline, d)) for d in range(depth + 1)]
        out["sel_w"] = [float(selected_correct(record, offline, None, w)) for w in range(1, width + 1)]
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
