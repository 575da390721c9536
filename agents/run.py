"""The run loop: a run directory, tasks in parallel (bounded), SQLite checkpoints, resume.

Run directory::

    config.yaml        the resolved RunConfig (a resume reads it back; nothing else is needed)
    results.jsonl      one JSON line per finished task (every candidate of every round)
    errors.jsonl       tasks that raised an infrastructure error (retried by --resume)
    checkpoints.sqlite LangGraph's SQLite checkpoints, one thread per task
    summary.json       curves over depth and width, tokens, the selected pass rate

Resume: finished tasks (in results.jsonl) are not redone; a task with a checkpoint continues from it; a task whose
graph already finished but whose line was not written gets its line from the final checkpoint.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from semtrace.agents.context import AgentContext, AgentSettings, ExecCache, PriorityGate, RunStats
from semtrace.agents.graph import compile_graph
from semtrace.agents.records import summarize, task_record
from semtrace.benchmarks.task import Task
from semtrace.config import RunConfig, validate_config
from semtrace.sandbox.types import Limits

log = logging.getLogger(__name__)

CONFIG_FILE, RESULTS_FILE, ERRORS_FILE = "config.yaml", "results.jsonl", "errors.jsonl"
CHECKPOINTS_FILE, SUMMARY_FILE = "checkpoints.sqlite", "summary.json"


class RunError(RuntimeError):
    """A run cannot start (bad directory, nothing to do); the message says what to do instead."""


@dataclass
class Components:
    """The live objects a run uses (built from the config by ``agents.build``, or given directly)."""

    tasks: list[Task]
    llm: Any
    sandbox: Any
    renderer: Any
    selector: Any
    extract: Callable[[str, str], str | None]


@dataclass
class Progress:
    total: int
    done: int = 0
    correct: int = 0
    errors: int = 0
    skipped: int = 0
    started: float = field(default_factory=time.monotonic)
    stats: RunStats = field(default_factory=RunStats)


def settings_from(cfg: RunConfig, renderer: Any) -> AgentSettings:
    lim = cfg.limits
    return AgentSettings(
        width=cfg.resolved_width,
        depth=cfg.resolved_depth,
        stop_on_pass=cfg.stop_on_pass,
        critique=cfg.critique,
        history=cfg.history,
        temperature=cfg.temperature,
        max_tokens=cfg.max_tokens,
        seed=cfg.seed,
        code_stop=cfg.code_stop,
        trace_budget=cfg.trace_budget,
        max_events=cfg.max_events,
        max_value_len=cfg.max_value_len,
        limits=Limits(wall_time=lim.wall_time, memory_mb=lim.memory_mb, output_bytes=lim.output_bytes),
        needs_trace=bool(getattr(renderer, "needs_trace", getattr(renderer, "name", "") != "none")),
        selector_inputs=cfg.selector_inputs,
        judge_rounds=cfg.judge_rounds,
    )


def settings_view(cfg: RunConfig) -> dict[str, Any]:
    """The experiment's knobs, repeated in every record so records from several runs can be pooled."""
    return {
        "benchmark": cfg.benchmark,
        "model": cfg.model,
        "representation": cfg.representation,
        "strategy": cfg.strategy,
        "width": cfg.resolved_width,
        "depth": cfg.resolved_depth,
        "selector": cfg.selector,
        "critique": cfg.critique,
        "history": cfg.history,
        "temperature": cfg.temperature,
    }


# ---------------------------------------------------------------- run directory


def read_records(path: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """Records of a results file, one per task (the last line of a task wins). A torn last line (a kill during a
    write) is ignored, and cut off when ``repair`` is set."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    good_end, records = 0, {}
    pos = 0
    for line in raw.split(b"\n"):
        end = pos + len(line) + 1
        if line.strip():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                break
            if end > len(raw):  # no newline after it: a torn write
                break
            records[rec["task_id"]] = rec
            good_end = end
        pos = end
    if repair and good_end < len(raw):
        with path.open("r+b") as fh:
            fh.truncate(good_end)
    return list(records.values())


def save_config(run_dir: Path, cfg: RunConfig) -> None:
    (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(cfg.dump(), sort_keys=False))


def load_run_config(run_dir: Path) -> RunConfig:
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise RunError(
            f"'{run_dir}' is not a run directory (no {CONFIG_FILE}); pass the --out DIR of an earlier run"
        )
    return validate_config(yaml.safe_load(path.read_text()) or {})


def prepare_run_dir(run_dir: Path, cfg: RunConfig, *, resume: bool) -> None:
    if resume:
        if not (run_dir / CONFIG_FILE).is_file():
            raise RunError(
                f"cannot resume '{run_dir}': no {CONFIG_FILE} there; start a run with --out {run_dir}"
            )
        return
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunError(
            f"run directory '{run_dir}' is not empty; continue it with --resume {run_dir} "
            f"or choose another --out"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(run_dir, cfg)


def _append(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


# ---------------------------------------------------------------- the loop


async def _run_task(app: Any, task: Task, ctx: AgentContext) -> dict[str, Any]:
    config = {"configurable": {"thread_id": task.task_id}, "recursion_limit": 10_000}
    snapshot = await app.aget_state(config)
    if snapshot.values and not snapshot.next and "selection" in snapshot.values:
        return dict(snapshot.values)  # finished before the kill; only its line was missing
    if snapshot.next:
        log.info("task %s: continuing from its checkpoint (next: %s)", task.task_id, ",".join(snapshot.next))
        return dict(await app.ainvoke(None, config, context=ctx))
    return dict(await app.ainvoke({"task_id": task.task_id}, config, context=ctx))


def task_slots(cfg: RunConfig, llm_capacity: Any) -> int:
    """Tasks in flight: the config's, else enough chains to keep every LLM slot busy while others execute."""
    if cfg.task_concurrency is not None:
        return cfg.task_concurrency
    capacity = llm_capacity if isinstance(llm_capacity, int) and llm_capacity > 0 else 8
    return max(2, -(-4 * capacity // cfg.resolved_width))


def _cost(llm: Any) -> float | None:
    """What this process paid for LLM calls (cached calls are free), when the back end is priced."""
    try:
        return llm.accounting.total().cost  # type: ignore[no-any-return]
    except AttributeError:
        return None


async def run_tasks(
    cfg: RunConfig, run_dir: Path, comps: Components, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Run (or continue) every task of ``comps.tasks`` into ``run_dir``; return the summary."""
    results_path = run_dir / RESULTS_FILE
    kept = {r["task_id"]: r for r in read_records(results_path, repair=True)}
    done_ids = set(kept)
    pending = [t for t in comps.tasks if t.task_id not in done_ids]
    progress = progress or Progress(total=len(comps.tasks))
    progress.total = len(comps.tasks)
    progress.done = progress.skipped = len(comps.tasks) - len(pending)
    for r in kept.values():
        progress.correct += int(bool(r.get("correct")))
    settings = settings_from(cfg, comps.renderer)
    view = settings_view(cfg)
    exec_cache = ExecCache()
    llm_capacity = getattr(comps.llm, "concurrency", None)
    slots = asyncio.Semaphore(task_slots(cfg, llm_capacity))
    gate = PriorityGate(int(llm_capacity)) if isinstance(llm_capacity, int) and llm_capacity > 0 else None
    ordinals = {t.task_id: i for i, t in enumerate(comps.tasks)}

    async with AsyncSqliteSaver.from_conn_string(str(run_dir / CHECKPOINTS_FILE)) as saver:
        app = compile_graph(checkpointer=saver)

        async def one(task: Task) -> None:
            async with slots:
                ctx = AgentContext(
                    task=task,
                    llm=comps.llm,
                    sandbox=comps.sandbox,
                    renderer=comps.renderer,
                    selector=comps.selector,
                    settings=settings,
                    extract=comps.extract,
                    exec_cache=exec_cache,
                    stats=progress.stats,
                    gate=gate,
                    ordinal=ordinals[task.task_id],
                )
                started = time.monotonic()
                try:
                    state = await _run_task(app, task, ctx)
                except Exception as exc:  # noqa: BLE001 - infrastructure failure of one task; the run goes on
                    log.error("task %s failed: %s: %s", task.task_id, type(exc).__name__, exc)
                    _append(
                        run_dir / ERRORS_FILE,
                        {"task_id": task.task_id, "error": f"{type(exc).__name__}: {exc}"},
                    )
                    progress.errors += 1
                    return
                record = task_record(task, view, state)
                record["wall_time"] = round(time.monotonic() - started, 3)  # volatile: this session's time
                _append(results_path, record)
                kept[task.task_id] = record
                # the record is on disk: the task's checkpoints are no longer needed (keeps the database small)
                await saver.adelete_thread(task.task_id)
                progress.done += 1
                progress.correct += int(record["correct"])

        await asyncio.gather(*(one(t) for t in pending))

    order = {t.task_id: i for i, t in enumerate(comps.tasks)}
    records = sorted(kept.values(), key=lambda r: order.get(r["task_id"], len(order)))
    summary = summarize(records, total_tasks=len(comps.tasks))
    summary["config"] = view
    summary["errors"] = len(comps.tasks) - len(records)
    cost = _cost(comps.llm)  # this session's; earlier sessions of a resumed run are in the old summary
    previous = run_dir / SUMMARY_FILE
    if previous.is_file() and cost is not None:
        cost += float(json.loads(previous.read_text()).get("cost") or 0.0)
    summary["cost"] = cost
    (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    return summary
