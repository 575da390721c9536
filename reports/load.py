"""Reading run directories for a report: records stream line by line and only each task's reduced curves
(``agents.metrics.reduce_record``) are kept, so a report never holds a whole run in memory.

A path is a run directory (it holds ``config.yaml``) or a directory of runs (an ``ablate`` directory, whose
``ablation.json`` names the grid's axes). A line that is not a record is skipped with a warning naming
``file:line``, as ``agents.rundir.read_results`` does; the last line of a task wins.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semtrace.agents.identity import record_check
from semtrace.agents.metrics import reduce_record, summarize
from semtrace.agents.rundir import (
    CONFIG_FILE,
    RESULTS_FILE,
    RunError,
    errored_ids,
    load_run_config,
    load_summary,
)
from semtrace.config import RunConfig

log = logging.getLogger(__name__)

ABLATION_FILE = "ablation.json"


class ReportError(RunError):
    """The report cannot be made as asked (no run there, runs that cannot be paired); the message says why."""


@dataclass
class RunData:
    """One run as a report needs it: its config, each finished task's reduced curves, the errored task ids, the
    saved summary's extras (cost, LLM accounting, wall time) and, for a grid point, its axis values."""

    name: str
    path: Path
    config: RunConfig
    view: dict[str, Any]
    stats: dict[str, dict[str, Any]]
    errored: set[str]
    total_tasks: int
    saved: dict[str, Any]
    point: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def task_ids(self) -> set[str]:
        return set(self.stats) | self.errored


@dataclass(frozen=True)
class Ablation:
    """An ``ablate`` directory: its grid (axis -> values, in order) and its points' run names."""

    path: Path
    grid: dict[str, list[Any]]
    runs: tuple[str, ...]


def _loads() -> Any:
    """orjson's parser when it is installed (LangGraph's SDK brings it; about 1.4x faster here), else json's."""
    try:
        import orjson
    except ImportError:
        return json.loads
    return orjson.loads


def iter_records(path: Path, bad: list[tuple[int, str]] | None = None) -> Iterator[dict[str, Any]]:
    """Each good record of a results file, one line at a time. The garbage collector is paused while a line is
    parsed: a record with traces is ~10^5 small containers, and collections triggered by their allocation (none
    of which can be garbage: JSON has no cycles) tripled the parse time. Skipped lines are logged and, with
    ``bad``, appended to it as (line number, reason)."""
    if not path.is_file():
        return
    loads, foreign = _loads(), record_check(path.parent)  # another run's records are set aside (identity.py)
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            enabled = gc.isenabled()
            gc.disable()
            try:
                rec = loads(line)
            except ValueError as exc:
                _skipped(path, lineno, f"not JSON ({str(exc)[:200]})", bad)
                continue
            finally:
                if enabled:
                    gc.enable()
            if not isinstance(rec, dict) or not isinstance(rec.get("task_id"), str):
                _skipped(path, lineno, "not a task record (no task_id)", bad)
                continue
            if foreign(rec):
                _skipped(path, lineno, str(foreign(rec)), bad)
                continue
            yield rec


def _skipped(path: Path, lineno: int, reason: str, bad: list[tuple[int, str]] | None) -> None:
    log.warning("%s:%d: skipped a line that is not a record (%s)", path, lineno, reason)
    if bad is not None:
        bad.append((lineno, reason))


def read_stats(path: Path) -> dict[str, dict[str, Any]]:
    """Each finished task's reduced record (the last line of a task wins), from the cache when it is current
    (``reports/cache.py``), else streamed from ``path`` (and cached)."""
    from semtrace.reports import cache

    hit = cache.load(path)
    if hit is not None:
        for lineno, reason in hit.get("bad") or []:
            log.warning("%s:%d: skipped a line that is not a record (%s)", path, lineno, reason)
        return dict(hit["stats"])
    stats: dict[str, dict[str, Any]] = {}
    bad: list[tuple[int, str]] = []
    for rec in iter_records(path, bad):
        stats[rec["task_id"]] = reduce_for_report(rec)
    if stats or bad:
        cache.save(path, stats, bad)
    return stats


def _usage_tokens(u: dict[str, Any] | None) -> int:
    """Prompt and completion tokens (a completion's reasoning included)."""
    return int((u or {}).get("prompt_tokens", 0)) + int((u or {}).get("completion_tokens", 0))


def tokens_by_width(record: dict[str, Any]) -> list[int]:
    """Tokens spent by the first w chains (every round, with critiques and renderings), for w = 1..width; the
    selector's own calls are added at the full width (as ``metrics.tokens_upto`` adds them at the full depth)."""
    width = int(record.get("width", 1))
    per_chain = [0] * width
    for c in record.get("candidates") or []:
        chain = int(c.get("chain", 0))
        if chain < width:
            per_chain[chain] += sum(_usage_tokens(c.get(k)) for k in ("usage", "critique_usage", "render_usage"))
    out, run = [], 0
    for tokens in per_chain:
        run += tokens
        out.append(run)
    if out:
        out[-1] += _usage_tokens((record.get("selection", {}).get("info") or {}).get("usage"))
    return out


# What the built-in offline selectors and Candidate.correct read is code, chain, round and the outcome counts;
# the rest of a candidate (traces above all) is dropped before ``reduce_record`` validates candidates (~40 times
# each per record). A run with a plugin selector keeps whole candidates (its pick may read anything).
SLIM_SELECTORS = frozenset({"first_pass", "visible_rate", "oracle", "majority_output", "llm_judge"})
_HEAVY = frozenset({"trace", "passing_trace", "rendering", "feedback", "raw", "critique", "prompt", "note",
                    "reasoning", "critique_reasoning"})
_OUTCOME_KEEP = ("status", "passed", "total", "outcomes")


def slim(record: dict[str, Any]) -> dict[str, Any]:
    """The record with only what ``reduce_record`` reads of its candidates (see SLIM_SELECTORS)."""
    if record.get("selector", "visible_rate") not in SLIM_SELECTORS:
        return record
    cands = []
    for c in record.get("candidates") or []:
        c = {k: v for k, v in c.items() if k not in _HEAVY}
        for k in ("visible", "hidden"):
            if isinstance(c.get(k), dict):
                c[k] = {f: c[k][f] for f in _OUTCOME_KEEP if f in c[k]}
        cands.append(c)
    return {**record, "candidates": cands}


def reduce_for_report(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(reduce_record(slim(record)))
    out["tokens_w"] = tokens_by_width(record)
    out["wall_time"] = float(record.get("wall_time") or 0.0)
    out["task_meta"] = dict(record.get("task_meta") or {})
    return out


def load_run(path: Path, name: str, point: dict[str, Any] | None = None) -> RunData:
    cfg = load_run_config(path)
    stats = read_stats(path / RESULTS_FILE)
    saved = load_summary(path) or {}
    view = _view(cfg, saved)
    errored = errored_ids(path) - set(stats)
    total = max(int(saved.get("total_tasks") or 0), len(set(stats) | errored))
    run = RunData(name=name, path=path, config=cfg, view=view, stats=stats, errored=errored,
                  total_tasks=total, saved=saved, point=dict(point or {}))
    run.summary = run_summary(run)
    return run


def _view(cfg: RunConfig, saved: dict[str, Any]) -> dict[str, Any]:
    """The run's knobs (``agents.settings.settings_view``), taken from the saved summary when it holds them for this
    config (importing ``agents.run`` loads LangGraph, seconds a report does not need)."""
    view = saved.get("config")
    flat = cfg.flat()
    if isinstance(view, dict) and all(view.get(k) == flat[k] for k in ("benchmark", "model", "representation")) \
            and view.get("width") == cfg.agent.resolved_width and view.get("depth") == cfg.agent.resolved_depth:
        return view
    from semtrace.agents.settings import settings_view

    return settings_view(cfg)


def run_summary(run: RunData) -> dict[str, Any]:
    """The run's summary as ``agents.rundir.run_summary`` builds it (from the streamed, reduced records)."""
    summary = summarize(run.stats.values(), total_tasks=run.total_tasks)
    summary["config"] = run.view
    summary["total_tasks"] = run.total_tasks
    summary["errors"] = run.total_tasks - len(run.stats)
    summary["cost"] = run.saved.get("cost")
    return summary


def find_runs(paths: list[Path]) -> tuple[list[tuple[str, Path, dict[str, Any]]], list[Ablation]]:
    """(name, run directory, grid point) for every run under ``paths``, and the ablation directories found.
    A single directory of runs names its runs by their directory name; otherwise a run is named by its path."""
    found: list[tuple[str, Path, dict[str, Any]]] = []
    ablations: list[Ablation] = []
    for d in paths:
        if (d / CONFIG_FILE).is_file():
            found.append((str(d), d, {}))
            continue
        if not d.is_dir():
            raise ReportError(f"'{d}' is not a directory; pass a run's --out directory (or an ablate --out)")
        dirs = sorted(p.parent for p in d.glob(f"*/{CONFIG_FILE}"))
        if not dirs:
            raise ReportError(f"'{d}' holds no run ({CONFIG_FILE} missing); pass a run's --out directory")
        grid, points = _ablation(d)
        order = {name: i for i, name in enumerate(points)}  # grid points in the grid's order, then the others
        dirs.sort(key=lambda rd: (order.get(rd.name, len(order)), rd.name))
        names = []
        for rd in dirs:
            name = rd.name if len(paths) == 1 else str(rd)
            found.append((name, rd, points.get(rd.name, {})))
            names.append(name)
        if grid:
            ablations.append(Ablation(d, grid, tuple(n for n, rd in zip(names, dirs) if rd.name in points)))
    return found, ablations


def _ablation(d: Path) -> tuple[dict[str, list[Any]], dict[str, dict[str, Any]]]:
    """The grid of an ablate directory and each point's axis values, by point directory name."""
    path = d / ABLATION_FILE
    if not path.is_file():
        return {}, {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        grid = {str(k): list(v) for k, v in (data.get("grid") or {}).items()}
    except (ValueError, OSError, AttributeError, TypeError) as exc:
        log.warning("%s cannot be read (%s); no per-axis figures for %s", path, exc, d)
        return {}, {}
    names = list(data.get("points") or {})  # agents.ablate writes them in the grid's product order
    combos = list(itertools.product(*(grid[k] for k in grid)))
    if len(names) != len(combos):
        log.warning("%s: %d points for a grid of %d; no per-axis figures for %s", path, len(names), len(combos), d)
        return {}, {}
    points = {name: dict(zip(grid, values)) for name, values in zip(names, combos)}
    return grid, points


def load_runs(paths: list[Path]) -> tuple[list[RunData], list[Ablation]]:
    found, ablations = find_runs(paths)
    return [load_run(path, name, point) for name, path, point in found], ablations
