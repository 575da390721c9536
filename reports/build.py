"""``build_report``: run directories -> tables, paired comparisons, plots (the API behind ``semtrace report`` and
the HTML viewer)."""

from __future__ import annotations

import logging
from pathlib import Path

from semtrace.reports.load import ReportError, RunData, load_run, load_runs
from semtrace.reports.model import Paired, ReportResult
from semtrace.reports.paired import compare, pair_problem
from semtrace.reports.tables import Group, build_tables, group_runs, paired_table
from semtrace.reports.tools import tool_use_table

log = logging.getLogger(__name__)


def _label(run: RunData, groups: list[Group]) -> str:
    """A run's group label when the run is its group's only member (e.g. ``representation=next``), else its name."""
    for g in groups:
        if len(g.runs) == 1 and g.runs[0] is run and g.label != run.name:
            return g.label
    return run.name


def paired_comparisons(runs: list[RunData], groups: list[Group], baseline: Path | None) -> tuple[list[Paired],
                                                                                                  list[str]]:
    """Every run against ``baseline`` (refused with the reason when one cannot be paired); with no baseline and
    exactly two runs, the second against the first (a note says why when they cannot be paired)."""
    if baseline is not None:
        base = next((r for r in runs if r.path.resolve() == baseline.resolve()), None)
        if base is None:
            base = load_run(baseline, str(baseline))
        others = [r for r in runs if r is not base]
        if not others:
            raise ReportError(f"--baseline {baseline} is the only run given; pass the runs to compare with it too")
        out: list[Paired] = []
        for r in others:
            problem = pair_problem(r, base)
            if problem is not None:
                fix = ("finish the runs first" if "no finished task" in problem
                       else "compare runs of the same tasks and seed")
                raise ReportError(f"cannot pair {r.name} with the baseline {base.name}: {problem}; {fix}")
            out += compare(r, base, _label(r, groups), _label(base, groups))
        return out, []
    if len(runs) == 2:
        problem = pair_problem(runs[1], runs[0])
        if problem is None:
            return compare(runs[1], runs[0], _label(runs[1], groups), _label(runs[0], groups)), []
        return [], [f"not paired: {problem}"]
    if len(runs) > 2:
        return [], ["pass --baseline DIR to compare every run with one baseline run on the same tasks"]
    return [], []


def build_report(run_dirs: list[Path], out_dir: Path, *, by: list[str] | None = None, baseline: Path | None = None,
                 plots: bool = True) -> ReportResult:
    """Tables (summary, by_depth, by_width, cost, paired), paired comparisons against ``baseline`` and, with
    ``plots``, the figures written under ``out_dir`` (PNG and SVG)."""
    runs, ablations = load_runs([Path(d) for d in run_dirs])
    unfinished = [r for r in runs if not r.stats]
    if len(unfinished) == len(runs):
        raise ReportError(f"nothing to report: no finished task in {_unfinished(unfinished)}; report a run "
                          f"once tasks have finished (continue a stopped one with `semtrace run --resume DIR`)")
    empty_notes = [f"no finished task in {_unfinished(unfinished)}: its rows show no rates"] if unfinished else []
    keys, groups = group_runs(runs, by)
    tables = build_tables(keys, groups)
    tools = tool_use_table(runs)  # debug runs: what the model pulled (calls by tool, rounds that traced)
    if tools is not None:
        tables.append(tools)
    paired, notes = paired_comparisons(runs, groups, baseline)
    if paired:
        tables.append(paired_table(paired, notes))
    figures = []
    if plots:
        from semtrace.reports.plots import make_figures

        figures = make_figures(tables, keys, runs, ablations, Path(out_dir))
    files = [f for fig in figures for f in fig.files]
    return ReportResult(out_dir=Path(out_dir), tables=tables, plots=files, paired=paired, figures=figures,
                        summaries={r.name: r.summary for r in runs},
                        notes=[*empty_notes, *([] if paired else notes)])


def _unfinished(runs: list[RunData]) -> str:
    """The runs (with their errored tasks, if any) that have no finished task, for one line."""
    def one(r: RunData) -> str:
        return f"{r.name} ({len(r.errored)} errored: see {r.path / 'errors.jsonl'})" if r.errored else r.name

    shown = ", ".join(one(r) for r in runs[:3])
    return shown + (f" and {len(runs) - 3} more" if len(runs) > 3 else "")
