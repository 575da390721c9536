"""``semtrace score``: score samples written by other tools (EvalPlus format) with semtrace's own judge.

Each line of SAMPLES is a JSON object with ``task_id`` and ``solution`` (a whole program) or ``completion``
(appended to the task's prompt when the prompt is Python source, as EvalPlus does for HumanEval+ and MBPP+;
used as the whole program otherwise, e.g. for stdin/stdout tasks). Several lines may share a ``task_id``: they
are that task's samples, in file order.

A sample is scored exactly as a run scores a candidate: ``agents.scoring.Scorer`` runs it on the task's hidden
tests (stop at the first failure, the run config's limits, one execution per distinct program) and the verdict is
``record.Candidate.correct`` of the compact outcome (a task without hidden tests is judged on its visible tests,
as a run judges it). The same program therefore gets the same verdict from ``score`` as from a run.
"""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semtrace.agents.record import Candidate, summary
from semtrace.agents.rundir import RunError, RunWriteError, write_file
from semtrace.benchmarks.metrics import mean_interval, mean_pass_at_k
from semtrace.benchmarks.task import Task
from semtrace.reports.model import Rate, Table

log = logging.getLogger(__name__)

KS = (1, 2, 5, 10, 20, 50, 100)
FORMAT_HINT = 'each line must be a JSON object like {"task_id": "...", "solution": "<program>"} (or "completion")'


class SamplesError(RunError):
    """A samples file that cannot be scored; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Sample:
    task_id: str
    index: int  # the sample's number among its task's samples
    line: int
    code: str


@dataclass(frozen=True)
class SampleScore:
    task_id: str
    index: int
    line: int
    correct: bool
    status: str
    passed: int
    total: int
    message: str
    code: str = field(default="", repr=False)
    hidden: dict[str, Any] = field(default_factory=dict, repr=False)  # the compact outcomes, as a record keeps them
    visible: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ScoreResult:
    benchmark: str
    samples_file: Path
    out: Path
    tasks_total: int  # tasks in the benchmark
    scored: dict[str, list[SampleScore]]  # task id -> its samples' scores, in file order

    @property
    def pass_at_1(self) -> Rate:
        m, lo, hi = mean_interval([sum(s.correct for s in v) / len(v) for v in self.scored.values()])
        return Rate(m, lo, hi)

    def pass_at(self) -> dict[int, float]:
        """Unbiased pass@k (mean over tasks) for every k in KS that every scored task has samples for."""
        counts = [(len(v), sum(s.correct for s in v)) for v in self.scored.values()]
        least = min(n for n, _ in counts)
        return {k: mean_pass_at_k(counts, k) for k in KS if k <= least}

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "samples": str(self.samples_file),
            "out": str(self.out),
            "tasks": len(self.scored),
            "tasks_total": self.tasks_total,
            "n_samples": sum(len(v) for v in self.scored.values()),
            "pass@1": self.pass_at_1.to_dict(),
            "pass@k": {str(k): v for k, v in self.pass_at().items()},
        }


def default_out(samples: Path) -> Path:
    name = samples.name.removesuffix(".jsonl")
    return samples.with_name(name + ".scores.jsonl")


def _is_python(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return bool(text.strip())


@dataclass(frozen=True)
class Row:
    """One line of a samples file, checked for its shape (not yet for its task)."""

    line: int
    task_id: str
    solution: str | None
    completion: str | None


def parse_samples(path: Path) -> list[Row]:
    """The lines of ``path``; a malformed one is a SamplesError naming ``file:line``, the key and the fix (checked
    before the benchmark loads)."""
    if not path.is_file():
        raise SamplesError(f"samples file {path} not found; pass a JSONL file of EvalPlus samples")
    rows: list[Row] = []
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(raw)
            except ValueError as exc:
                raise SamplesError(f"{where}: not JSON ({exc}); {FORMAT_HINT}") from None
            if not isinstance(row, dict):
                raise SamplesError(f"{where}: not a JSON object; {FORMAT_HINT}")
            task_id = row.get("task_id")
            if not isinstance(task_id, str):
                raise SamplesError(f"{where}: no 'task_id' string; {FORMAT_HINT}")
            solution, completion = row.get("solution"), row.get("completion")
            if not isinstance(solution, str) and not isinstance(completion, str):
                raise SamplesError(f"{where}: no 'solution' or 'completion' string for {task_id}; {FORMAT_HINT}")
            rows.append(Row(lineno, task_id, solution if isinstance(solution, str) else None,
                            completion if isinstance(completion, str) else None))
    if not rows:
        raise SamplesError(f"{path} holds no samples; {FORMAT_HINT}")
    return rows


def resolve_samples(path: Path, rows: list[Row], tasks: dict[str, Task]) -> list[Sample]:
    """Each row as the program to score: ``solution`` as it is, ``completion`` after the task's prompt when the
    prompt is Python source (EvalPlus), else as it is. An unknown task id names the line and the fix."""
    out: list[Sample] = []
    per_task: dict[str, int] = {}
    prefix: dict[str, bool] = {}
    for row in rows:
        if row.task_id not in tasks:
            sample = ", ".join(list(tasks)[:3])
            raise SamplesError(f"{path}:{row.line}: task_id {row.task_id!r} is not in this benchmark (ids look "
                               f"like: {sample}); pass the --benchmark the samples were made for")
        if row.solution is not None:
            code = row.solution
        else:
            task = tasks[row.task_id]
            if row.task_id not in prefix:
                prefix[row.task_id] = _is_python(task.prompt)
            code = (task.prompt + (row.completion or "")) if prefix[row.task_id] else (row.completion or "")
        index = per_task.get(row.task_id, 0)
        per_task[row.task_id] = index + 1
        out.append(Sample(row.task_id, index, row.line, code))
    return out


def verdict(sample: Sample, hidden: dict[str, Any], visible: dict[str, Any]) -> SampleScore:
    """The sample's score by ``Candidate.correct``, the rule a run's records use."""
    cand = Candidate(id=f"s{sample.index}", chain=sample.index, round=0, code=sample.code, hidden=hidden,
                     visible=visible)
    shown = cand.hidden if cand.hidden.total or cand.hidden.status else cand.visible
    message = next((t.message for t in shown.tests if t.status != "passed"), shown.message)
    return SampleScore(sample.task_id, sample.index, sample.line, cand.correct, str(shown.status or ""),
                       shown.passed, shown.total, message[:500], sample.code, hidden, visible)


async def score_samples(samples: list[Sample], tasks: dict[str, Task], sandbox: Any, limits: Any,
                        concurrency: int = 8) -> dict[str, list[SampleScore]]:
    from semtrace.agents.scoring import Scorer, hidden_outcome
    from semtrace.sandbox.types import ExecRequest

    scorer = Scorer(sandbox, tasks.values(), limits)
    gate = asyncio.Semaphore(concurrency)

    async def one(s: Sample) -> SampleScore:
        task = tasks[s.task_id]
        async with gate:
            hidden = hidden_outcome(await scorer.score(task, s.code), "compact").model_dump(
                mode="json", exclude_defaults=True)
            visible: dict[str, Any] = {}
            if not task.hidden_tests:  # judged on the visible tests, as Candidate.correct judges a run's candidate
                res = await sandbox.run(ExecRequest(code=s.code, tests=task.visible_tests,
                                                    entry_point=task.entry_point, test_setup=task.test_setup,
                                                    prelude=task.prelude, limits=limits))
                visible = summary(res, None, "compact", stdio=False).model_dump(mode="json", exclude_defaults=True)
        return verdict(s, hidden, visible)

    scores = await asyncio.gather(*(one(s) for s in samples))
    out: dict[str, list[SampleScore]] = {}
    for sc in scores:
        out.setdefault(sc.task_id, []).append(sc)
    return out


def task_lines(scored: dict[str, list[SampleScore]]) -> str:
    lines = []
    for task_id, items in scored.items():
        n, c = len(items), sum(s.correct for s in items)
        lines.append(json.dumps({
            "task_id": task_id, "n": n, "correct": c, "pass@1": c / n,
            "pass@k": {str(k): v for k, v in ((k, mean_pass_at_k([(n, c)], k)) for k in KS if k <= n)},
            "samples": [{"index": s.index, "line": s.line, "correct": s.correct, "status": s.status,
                         "passed": s.passed, "total": s.total, "message": s.message} for s in items],
        }))
    return "\n".join(lines) + "\n"


async def score_file(samples: Path, benchmark: str, *, sandbox: str = "auto", data_dir: str | None = None,
                     out: Path | None = None, overrides: list[str] | None = None,
                     run_dir: Path | None = None) -> ScoreResult:
    """Score ``samples`` against ``benchmark``'s hidden tests with the run config's limits (``overrides`` as
    ``-o key=value``); write the per-task JSONL to ``out`` and, with ``run_dir``, the samples as a run directory."""
    from semtrace.agents.build import load_tasks, make_run_sandbox
    from semtrace.config import build_config, validate_config, with_absolute_paths

    dest = out or default_out(samples)
    check_out(dest, samples)  # before any work: a directory, the samples file itself, a file in the way
    cfg = with_absolute_paths(build_config(None, {"benchmark": benchmark, "sandbox": sandbox, "data_dir": data_dir},
                                           overrides or []))
    rows = parse_samples(samples)
    if run_dir is not None:
        from semtrace.agents.rundir import check_new_run_dir

        check_new_run_dir(run_dir)  # before any work
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.task_id] = counts.get(r.task_id, 0) + 1
        cfg = validate_config({**cfg.dump(), "model": f"samples:{samples.resolve()}", "strategy": "parallel",
                               "width": max(counts.values()), "depth": 0, "selector": "first_pass",
                               "representation": "none"})  # (flat keys over the sections: they win)
    tasks = {t.task_id: t for t in load_tasks(cfg)}
    parsed = resolve_samples(samples, rows, tasks)
    box = await make_run_sandbox(cfg)
    try:
        scored = await score_samples(parsed, tasks, box, cfg.limits.to_limits())
    finally:
        await box.close()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_file(dest, task_lines(scored))
    except (OSError, RunWriteError) as exc:
        raise RunError(f"cannot write --out '{dest}': {_why(exc)}; the scores were not saved: fix that (free "
                       f"space, permissions) or choose another --out, and score again") from None
    result = ScoreResult(benchmark, samples, dest, len(tasks), scored)
    if run_dir is not None:
        try:
            write_run(result, tasks, cfg, run_dir)
        except RunWriteError as exc:
            raise RunError(f"{exc}; the scores are saved in {dest}, but the run directory '{run_dir}' is "
                           f"incomplete: remove it, fix the cause and score again with --run-dir") from None
    return result


def _why(exc: BaseException) -> str:
    cause = exc.original if isinstance(exc, RunWriteError) else exc
    return getattr(cause, "strerror", None) or str(cause)


def check_out(dest: Path, samples: Path) -> None:
    """``--out`` can take the per-task JSONL: a file (new or to replace) that is not the samples file and whose
    folder is a folder (created when missing)."""
    suggestion = default_out(samples).name
    if dest.is_dir():
        raise RunError(f"--out '{dest}' is a directory; --out names the per-task JSONL file, e.g. --out "
                       f"{dest / suggestion}")
    if dest.exists() and samples.exists() and dest.resolve() == samples.resolve():
        raise RunError(f"--out '{dest}' is the samples file itself; choose another file, e.g. --out "
                       f"{dest.with_name(suggestion)}")
    for parent in dest.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RunError(f"--out '{dest}': '{parent}' is a file, not a folder; choose another --out")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise RunError(f"--out '{dest}': the folder '{parent}' is not writable; choose another --out")
            break


def write_run(result: ScoreResult, tasks: dict[str, Task], cfg: Any, run_dir: Path) -> None:
    """The scored samples as a run directory ``semtrace report`` reads: one chain per sample (round 0), the first
    sample as the selected answer (``first_pass``), model ``samples:<file>``."""
    from semtrace.agents.metrics import summarize
    from semtrace.agents.record import TaskRecord
    from semtrace.agents.rundir import (
        RESULTS_FILE,
        SUMMARY_FILE,
        append_line,
        check_new_run_dir,
        prepare_run_dir,
    )
    from semtrace.agents.settings import settings_view

    check_new_run_dir(run_dir)
    prepare_run_dir(run_dir, cfg, resume=False)
    view = settings_view(cfg)
    records = []
    for task_id, items in result.scored.items():
        cands = tuple(Candidate(id=f"c{s.index}r0", chain=s.index, round=0, code=s.code, hidden=s.hidden,
                                visible=s.visible) for s in items)
        record = TaskRecord(task_id=task_id, kind=tasks[task_id].kind, **view, candidates=cands,
                            selection={"id": cands[0].id, "selector": "first_pass", "info": {}},
                            correct=cands[0].correct).model_dump(mode="json")
        append_line(run_dir / RESULTS_FILE, record)
        records.append(record)
    summary = summarize(records, total_tasks=len(records))
    summary.update(config=view, errors=0, cost=None)
    write_file(run_dir / SUMMARY_FILE, json.dumps(summary, indent=2))


def summary_table(result: ScoreResult) -> Table:
    n = sum(len(v) for v in result.scored.values())
    ks = result.pass_at()
    rows = [("tasks scored", f"{len(result.scored)} of {result.tasks_total}"), ("samples", n),
            ("pass@1", result.pass_at_1)]
    rows += [(f"pass@{k}", Rate(v, v, v)) for k, v in ks.items() if k > 1]
    notes = ["pass@1: mean over tasks of each task's share of correct samples, 95% interval over tasks",
             "pass@k: unbiased estimator (Chen et al.), for k up to the fewest samples any task has",
             "judged like a run's candidates: the hidden tests, stop at the first failure"]
    return Table("score", f"semtrace score · {result.benchmark} · {result.samples_file.name}", ("", "value"),
                 tuple(rows), tuple(notes))
