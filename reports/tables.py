"""Grouping runs by the knobs that differ, and the report's tables.

A group is the runs sharing the values of the ``by`` knobs (default: every knob whose value differs between the
runs); its records are pooled and summarised with ``agents.metrics.summarize`` (rates with 95% intervals over
tasks). Tables: ``summary`` (one row per group), ``by_depth`` (every depth d <= D), ``by_width`` (every width
w <= N, with unbiased pass@k), ``cost`` (tokens, requests, retries, cache hits, cost, wall time) and ``paired``.
The oracle reads hidden tests: its columns always say "upper bound".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from semtrace.agents.metrics import summarize
from semtrace.config import FLAT_KEYS
from semtrace.reports.load import ReportError, RunData
from semtrace.reports.model import Cell, Paired, Rate, Table

# the knobs a report groups by, in display order (any other config key may be named with --by too)
KNOBS = ("benchmark", "model", "representation", "strategy", "width", "depth", "selector", "critique", "history",
         "temperature", "seed")
NOT_KNOBS = frozenset({"out", "display", "data_dir", "task_concurrency", "sandbox", "sandbox_options"})
FLAT_NAMES = {path: flat for flat, path in FLAT_KEYS.items()}  # ``--by agent.depth`` is ``--by depth``
INTERVAL_NOTE = "[lo, hi] = 95% interval over tasks (Wilson for 0/1 outcomes; bootstrap over tasks for means)"
ORACLE_NOTE = "oracle = the best chain by the hidden tests: an UPPER BOUND, not a method result"


def task_keys(runs: Sequence[RunData]) -> set[str]:
    """The task-level keys the runs' records carry (``TaskRecord.task_meta``: difficulty, platform, ...)."""
    return {k for r in runs for s in r.stats.values() for k in (s.get("task_meta") or {})}


def knob_value(run: RunData, key: str, tasks: frozenset[str] = frozenset()) -> Any:
    if key in run.view:
        return run.view[key]
    dumped = run.config.flat()  # knobs by their flat names (``depth``, not ``agent.depth``)
    key = FLAT_NAMES.get(key, key)
    if key not in dumped:
        if key in tasks:
            return None  # a task-level key: the run's tasks are split by it (group_runs)
        valid = ", ".join(sorted(set(KNOBS) | (set(dumped) - NOT_KNOBS) | tasks))
        raise ReportError(f"--by '{key}' is not a config key or a task key of these runs; valid: {valid}")
    return dumped[key]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def differing_knobs(runs: Sequence[RunData]) -> list[str]:
    """The knobs whose value differs between ``runs`` (KNOBS order, then other config keys alphabetically)."""
    if len(runs) < 2:
        return []
    keys = list(KNOBS) + sorted(set(runs[0].config.flat()) - set(KNOBS) - NOT_KNOBS)
    return [k for k in keys if len({_text(knob_value(r, k)) for r in runs}) > 1]


@dataclass
class Group:
    """Runs sharing the ``by`` knobs' values, and their pooled summary."""

    key: tuple[Any, ...]
    label: str
    runs: list[RunData]
    summary: dict[str, Any]
    # with a task-level key (``--by difficulty``): only these tasks of the runs belong to the group
    task_filter: tuple[tuple[str, str], ...] = ()

    def member_stats(self, run: RunData) -> list[dict[str, Any]]:
        return [s for s in run.stats.values()
                if all((s.get("task_meta") or {}).get(k) == v for k, v in self.task_filter)]

    @property
    def stats(self) -> list[dict[str, Any]]:
        return [s for r in self.runs for s in self.member_stats(r)]


def group_runs(runs: Sequence[RunData], by: list[str] | None = None) -> tuple[list[str], list[Group]]:
    """(the keys used, the groups in the order their first run came). A key is a config knob (the runs are
    grouped) or a task-level key of the records (``difficulty``: each run's tasks are split by its value; such a
    group's cost and requests are not known per task and show '-')."""
    keys = list(by) if by else differing_knobs(runs)
    tasks = frozenset(task_keys(runs))
    for k in keys:
        for r in runs:
            knob_value(r, k, tasks)  # an unknown --by key fails here
    split = [k for k in keys
             if k in tasks and all(k not in r.view and FLAT_NAMES.get(k, k) not in r.config.flat() for r in runs)]
    groups: dict[tuple[str, ...], tuple[list[RunData], tuple[tuple[str, str], ...]]] = {}
    for r in runs:
        values = {tuple((k, str((s.get("task_meta") or {}).get(k))) for k in split) for s in r.stats.values()}
        for task_values in sorted(values) if split else [()]:
            meta = dict(task_values)
            gkey = tuple(meta[k] if k in meta else _text(knob_value(r, k, tasks)) for k in keys)
            groups.setdefault(gkey, ([], task_values))[0].append(r)
    out = []
    for key, (members, task_values) in groups.items():
        group = Group(key, "", members, {}, task_values)
        if len(members) == 1 and not task_values:
            summary = members[0].summary
        else:
            subsets = [group.member_stats(r) for r in members]
            summary = summarize([s for sub in subsets for s in sub],
                                total_tasks=(sum(len(sub) for sub in subsets) if task_values
                                             else sum(r.total_tasks for r in members)))
            summary["cost"] = None if task_values else _sum_opt(r.saved.get("cost") for r in members)
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, key)) if keys else members[0].name
        meta = dict(task_values)
        values = tuple(meta[k] if k in meta else knob_value(members[0], k, tasks) for k in keys)
        out.append(Group(values, label, members, summary, task_values))
    return keys, out


def _sum_opt(values: Any) -> float | None:
    known = [float(v) for v in values if isinstance(v, (int, float))]
    return sum(known) if known else None


def knob_cell(value: Any) -> Cell:
    """A knob's value as a table cell (numbers and strings as they are, anything else as JSON)."""
    return value if isinstance(value, (int, float, str)) else _text(value)


def _knob_cells(keys: list[str], g: Group) -> tuple[Cell, ...]:
    return tuple(knob_cell(v) for v in g.key) if keys else (g.label,)


def _knob_columns(keys: list[str]) -> tuple[str, ...]:
    return tuple(keys) if keys else ("run",)


def _per_task(total: int, tokens: float) -> float:
    return round(tokens / total, 1) if total else 0.0


def summary_table(keys: list[str], groups: list[Group]) -> Table:
    multi = any(g.summary.get("width", 1) > 1 for g in groups)
    cols = (*_knob_columns(keys), "tasks", "pass@1", "selected", *(("oracle (upper bound)",) if multi else ()),
            "tokens/task", "cost ($)")
    rows = []
    for g in groups:
        s = g.summary
        last = (s.get("by_depth") or [{}])[-1]
        total = int(s.get("total_tasks") or s.get("tasks") or 0)
        tokens = sum(int(v.get("prompt_tokens", 0)) + int(v.get("completion_tokens", 0))
                     for v in [s.get("usage") or {}])
        rows.append((*_knob_cells(keys, g), total, Rate.of(last.get("pass@1")), Rate.of(s.get("selected")),
                     *((Rate.of(last.get("oracle@width")),) if multi else ()),
                     _per_task(total, tokens) if s.get("tasks") else None,  # no finished task: '-', not 0
                     s.get("cost")))
    notes = [INTERVAL_NOTE, "pass@1: mean over chains at the full depth; selected: the selector's final answer"]
    if multi:
        notes.append(ORACLE_NOTE)
    if any(g.summary.get("selector_upper_bound") for g in groups):
        notes.append("a run's selector is the oracle: its 'selected' is an UPPER BOUND")
    return Table("summary", "pass@1 by group", cols, tuple(rows), tuple(notes))


def depth_table(keys: list[str], groups: list[Group]) -> Table:
    multi = any(g.summary.get("width", 1) > 1 for g in groups)
    has_sel = any("selected" in row for g in groups for row in g.summary.get("by_depth", []))
    cols = (*_knob_columns(keys), "depth", "pass@1", *(("selected",) if has_sel else ()),
            *(("oracle (upper bound)",) if multi else ()), "tokens/task")
    rows = []
    for g in groups:
        total = int(g.summary.get("total_tasks") or 0)
        for row in g.summary.get("by_depth", []):
            rows.append((*_knob_cells(keys, g), row["depth"], Rate.of(row["pass@1"]),
                         *((Rate.of(row.get("selected")),) if has_sel else ()),
                         *((Rate.of(row["oracle@width"]),) if multi else ()), _per_task(total, row["tokens"])))
    notes = [INTERVAL_NOTE, "depth d: each chain's latest candidate of round <= d (one run gives every d <= D)"]
    if multi:
        notes.append(ORACLE_NOTE)
    return Table("by_depth", "pass@1 by depth", cols, tuple(rows), tuple(notes))


def width_table(keys: list[str], groups: list[Group]) -> Table | None:
    wide = [g for g in groups if g.summary.get("width", 1) > 1]
    if not wide:
        return None
    has_sel = any("selected" in row for g in wide for row in g.summary.get("by_width", []))
    cols = (*_knob_columns(keys), "width", "pass@1", "pass@k (k=width)", *(("selected",) if has_sel else ()),
            "oracle (upper bound)", "tokens/task")
    rows = []
    for g in wide:
        total = int(g.summary.get("total_tasks") or 0)
        tokens_w = [0] * int(g.summary["width"])
        for s in g.stats:
            for w in range(len(tokens_w)):
                tw = s.get("tokens_w") or [0]
                tokens_w[w] += tw[min(w, len(tw) - 1)]
        for row in g.summary.get("by_width", []):
            rows.append((*_knob_cells(keys, g), row["width"], Rate.of(row["pass@1"]), Rate.of(row.get("pass@k")),
                         *((Rate.of(row.get("selected")),) if has_sel else ()), Rate.of(row["oracle"]),
                         _per_task(total, tokens_w[row["width"] - 1])))
    notes = [INTERVAL_NOTE, ("at the full depth; pass@k: the unbiased estimator (Chen et al.) over each task's "
             "chains, k = width"), ORACLE_NOTE]
    return Table("by_width", "pass@k by width", cols, tuple(rows), tuple(notes))


def _answer_reasoning(usage: dict[str, Any]) -> tuple[int, int]:
    """A usage's completion tokens split into the answer's and the reasoning's (``completion_tokens`` holds both)."""
    reasoning = int(usage.get("reasoning_tokens", 0))
    return max(0, int(usage.get("completion_tokens", 0)) - reasoning), reasoning


def cost_table(keys: list[str], groups: list[Group]) -> Table:
    cols = (*_knob_columns(keys), "tasks", "errors", "prompt tokens", "answer tokens", "reasoning tokens",
            "LLM calls", "requests",
            "retries", "cache hits", "cost ($)", "wall time (s)")
    rows = []
    for g in groups:
        usage = g.summary.get("usage") or {}
        llm = [r.saved.get("llm") for r in g.runs]
        known = all(isinstance(x, dict) for x in llm) and not g.task_filter  # (run totals, not per task)

        def total(k: str, llm: list[Any] = llm, known: bool = known) -> int | None:
            return sum(int(x.get(k) or 0) for x in llm) if known else None

        walls = [r.saved.get("wall_time") for r in g.runs]
        wall = (_sum_opt(walls) if all(isinstance(w, (int, float)) for w in walls) and not g.task_filter
                else None)
        rows.append((*_knob_cells(keys, g), int(g.summary.get("total_tasks") or 0),
                     int(g.summary.get("total_tasks") or 0) - int(g.summary.get("tasks") or 0),
                     int(usage.get("prompt_tokens", 0)), *_answer_reasoning(usage),
                     int(usage.get("calls", 0)), total("requests"), total("retries"), total("cache_hits"),
                     g.summary.get("cost"), round(wall, 1) if wall is not None else None))
    notes = [("tokens count every completion used (cached ones too); cost counts only fresh provider calls; "
             "requests include retries; '-' = not recorded by this run"),
             ("a completion's tokens are its answer's plus its reasoning's (every tokens/task column and the "
              "pass@1-vs-tokens plot count both)")]
    return Table("cost", "tokens, requests and cost", cols, tuple(rows), tuple(notes))


def paired_table(paired: list[Paired], notes: Sequence[str] = ()) -> Table:
    cols = ("run", "baseline", "metric", "tasks", "wins", "losses", "ties", "diff (pts)", "McNemar p")
    rows = tuple((p.run, p.baseline, p.metric, p.tasks, p.wins, p.losses, p.ties,
                  Rate(p.diff, p.lo, p.hi, "pts"), p.p_value) for p in paired)
    base = ["diff = run - baseline in percentage points, [lo, hi] = paired bootstrap 95% interval over tasks",
            ("wins/losses/ties: tasks where the run scores higher/lower/the same; McNemar: exact, two-sided, "
            "0/1 scores only")]
    return Table("paired", "paired comparison against the baseline", cols, rows, (*base, *notes))


def build_tables(keys: list[str], groups: list[Group]) -> list[Table]:
    tables = [summary_table(keys, groups), depth_table(keys, groups)]
    width = width_table(keys, groups)
    if width is not None:
        tables.append(width)
    tables.append(cost_table(keys, groups))
    return tables
