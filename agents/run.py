"""The run loop: a run directory, tasks in parallel (bounded), SQLite checkpoints, resume.

Run directory::

    config.yaml        the resolved RunConfig (a resume reads it back; nothing else is needed)
    results.jsonl      one JSON line per finished task (every candidate of every round)
    errors.jsonl       tasks that raised an infrastructure error (retried by --resume)
    checkpoints.sqlite LangGraph's SQLite checkpoints, one thread per task
    summary.json       curves over depth and width, tokens, the selected pass rate
    run.json           the run's identity: its config digest (every record carries it) and its task ids
    run.lock           held by the command working in the directory (runlock.py): a second one is refused

Resume: finished tasks (in results.jsonl) are not redone; a task with a checkpoint continues from it; a task whose
graph already finished but whose line was not written gets its line from the final checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from semtrace.agents.checkpoints import RunSaver
from semtrace.agents.context import AgentContext, RunStats
from semtrace.agents.exec_cache import ExecCache
from semtrace.agents.gates import gate_for, sandbox_gate
from semtrace.agents.graph import compile_graph
from semtrace.agents.identity import ensure_identity, foreign_reason
from semtrace.agents.metrics import reduce_record, summarize
from semtrace.agents.record import task_record
from semtrace.agents.rundir import (
    CHECKPOINTS_FILE,
    CONFIG_FILE,
    ERRORS_FILE,
    RESULTS_FILE,
    SUMMARY_FILE,
    RunError,
    RunWriteError,
    append_line,
    check_writable,
    load_run_config,
    load_summary,
    prepare_run_dir,
    read_records,
    read_results,
    repair_results,
    save_config,
    write_file,
)
from semtrace.agents.runlock import hold
from semtrace.agents.scoring import Scorer, run_scored
from semtrace.agents.settings import AgentSettings, settings_view
from semtrace.benchmarks.task import Task
from semtrace.config import RunConfig
from semtrace.llms.accounting import reasoning_warning
from semtrace.representations.base import capabilities

log = logging.getLogger(__name__)

__all__ = [  # the run directory's helpers live in rundir.py; imported from here by callers and tests
    "CHECKPOINTS_FILE", "CONFIG_FILE", "ERRORS_FILE", "RESULTS_FILE", "SUMMARY_FILE", "Components", "Progress",
    "RunError", "RunWriteError", "load_run_config", "prepare_run_dir", "read_records", "run_tasks", "save_config",
    "settings_from", "settings_view", "task_slots",
]

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
    """The nodes' settings: the config's sections passed through whole, plus what the renderer declares."""
    return AgentSettings(agent=cfg.agent, trace=cfg.trace, llm=cfg.llm, limits=cfg.limits.to_limits(), seed=cfg.seed,
                         needs_trace=capabilities(renderer).needs_trace, keep_outcomes=cfg.keep_outcomes)


# ---------------------------------------------------------------- the loop


def task_slots(cfg: RunConfig, llm_capacity: Any) -> int:
    """Tasks in flight: the config's, else enough chains to keep every LLM slot busy while others execute."""
    if cfg.task_concurrency is not None:
        return cfg.task_concurrency
    capacity = llm_capacity if isinstance(llm_capacity, int) and llm_capacity > 0 else 8
    return max(2, -(-4 * capacity // cfg.agent.resolved_width))


def _cost(llm: Any) -> float | None:
    """What this process paid for LLM calls (cached calls are free), when the back end is priced."""
    try:
        return llm.accounting.total().cost  # type: ignore[no-any-return]
    except AttributeError:
        return None


def _total_cost(session: float | None, previous: dict[str, Any] | None) -> float | None:
    """This session's cost plus the earlier sessions' (from the old summary); None only when neither is known."""
    before = (previous or {}).get("cost")
    known = [float(c) for c in (session, before) if isinstance(c, (int, float))]
    return sum(known) if known else None


def _llm_totals(llm: Any) -> Any:
    try:
        return llm.accounting.total()
    except AttributeError:
        return None


def _session_llm(before: Any, llm: Any) -> Any:
    """What the LLM ledger gained since the run started (``ablate`` shares one LLM across its points); None
    for an LLM that keeps no ledger."""
    now = _llm_totals(llm)
    return None if now is None else (now - before if before is not None else now)


def _with_previous(session: Any, previous: dict[str, Any] | None) -> dict[str, Any] | None:
    """This session's LLM accounting (requests, retries, cache hits, ...) plus the earlier sessions' of a resumed
    run (kept in the old summary)."""
    old = (previous or {}).get("llm")
    if session is None:
        return old if isinstance(old, dict) else None
    out: dict[str, Any] = session.to_dict()
    for k, v in (old if isinstance(old, dict) else {}).items():
        if isinstance(v, (int, float)) and isinstance(out.get(k), (int, float)):
            out[k] += v
        elif k == "cost" and isinstance(v, (int, float)):
            out[k] = v
    return out


def _profile_checkpoints(saver: Any, profile: Any) -> None:
    """Time the checkpointer's reads, writes and deletes as ``checkpoint`` spans (a profiled run only)."""
    for name in ("aget_tuple", "aput", "aput_writes", "adelete_thread"):
        method = getattr(saver, name)

        async def timed(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
            with profile.span("checkpoint"):
                return await _method(*args, **kwargs)

        setattr(saver, name, timed)


def _warn_reasoning(session: Any, stats: RunStats) -> None:
    """The one warning of a run whose replies ran out of max_tokens inside their reasoning (``reasoning_warning``);
    replies that ``llm.code_stop``'s stop sequence cut inside their reasoning (asked again without it:
    ``replies.ask``) are not counted as such."""
    if session is None or not hasattr(session, "unfinished_reasoning"):
        return
    cut = min(stats.stop_cut, session.unfinished_reasoning)
    line = reasoning_warning(replace(session, unfinished_reasoning=session.unfinished_reasoning - cut,
                                     completions=session.completions - cut))
    if line:
        log.warning(line)


async def _gather_or_stop(jobs: list[Any]) -> None:
    """Run every job; when one raises (a run-stopping error: the results file cannot be written) or the run is
    cancelled (Ctrl-C), cancel the others, wait for them to unwind, and re-raise. Nothing keeps using the
    checkpoint database after it is closed, and no unrelated task is charged with the failure."""
    tasks = [asyncio.ensure_future(j) for j in jobs]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def run_tasks(
    cfg: RunConfig, run_dir: Path, comps: Components, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Run (or continue) every task of ``comps.tasks`` into ``run_dir``; return the summary.

    Holds the run directory while it runs (another command there is refused: ``runlock``). Raises RunWriteError
    (the run stops, every finished task kept, resumable) when a run file cannot be written."""
    with hold(run_dir), collecting_for_run():
        return await _run_tasks(cfg, run_dir, comps, progress)


# Python's cyclic GC with its default thresholds (700, 10, 10) ran a full collection every few tens of thousands of
# allocations over the run's hundreds of thousands of long-lived objects (traces in the exec cache, candidates,
# the modules): 25% of the orchestrator's CPU on perf/orchestration.py. A run's data makes few reference cycles.
RUN_GC_THRESHOLDS = (50_000, 20, 100)


_RUNS = {"active": 0, "before": gc.get_threshold()}  # runs in progress in this process


@contextlib.contextmanager
def collecting_for_run() -> Iterator[None]:
    """For the run: thresholds that collect young garbage in batches and the old generation rarely; the process's
    own restored when its last run in progress ends (runs may overlap in one process)."""
    if _RUNS["active"] == 0:
        _RUNS["before"] = gc.get_threshold()
        gc.set_threshold(*RUN_GC_THRESHOLDS)
    _RUNS["active"] += 1
    try:
        yield
    finally:
        _RUNS["active"] -= 1
        if _RUNS["active"] == 0:
            gc.set_threshold(*_RUNS["before"])


async def _run_tasks(cfg: RunConfig, run_dir: Path, comps: Components, progress: Progress | None) -> dict[str, Any]:
    results_path = run_dir / RESULTS_FILE
    session_start, llm_before = time.monotonic(), _llm_totals(comps.llm)
    task_ids = [t.task_id for t in comps.tasks]
    identity = replace(ensure_identity(run_dir, cfg, task_ids), task_ids=frozenset(task_ids))
    # records of another run (another config, a task this run does not have) are set aside, as bad lines are
    results = read_results(results_path, warn=False, check=lambda rec: foreign_reason(rec, identity))
    repair_results(results)  # warns once per bad line, naming file:line and the copy
    check_writable(results_path)
    # finished tasks are kept as the few numbers the summary needs (metrics.reduce_record), never whole records
    kept = {task_id: reduce_record(r) for task_id, r in results.records.items()}
    del results
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
    sandbox_slots = sandbox_gate(comps.sandbox)  # the sandbox's queue, in priority order (GatedSandbox)
    # hidden tests: outside the graph
    scorer = Scorer(comps.sandbox, comps.tasks, settings.limits, progress.stats, gate=sandbox_slots)
    llm_capacity = getattr(comps.llm, "concurrency", None)
    slots = asyncio.Semaphore(task_slots(cfg, llm_capacity))
    gate = gate_for(llm_capacity)
    ordinals = {t.task_id: i for i, t in enumerate(comps.tasks)}

    async with RunSaver.open(str(run_dir / CHECKPOINTS_FILE)) as saver:
        if progress.stats.profile is not None:
            _profile_checkpoints(saver, progress.stats.profile)
        app = compile_graph(checkpointer=saver)

        async def one(task: Task) -> None:
            async with slots:
                ctx = AgentContext(
                    task=task.public(),  # the graph never sees the hidden tests
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
                    sandbox_gate=sandbox_slots,
                )
                started = time.monotonic()
                try:
                    cands, selection = await run_scored(app, task, ctx, scorer)  # the graph, scored as it goes
                except Exception as exc:  # noqa: BLE001 - infrastructure failure of one task; the run goes on
                    if getattr(exc, "fatal", False):  # every task would fail alike (LLM unreachable): stop, resumable
                        raise
                    log.error("task %s failed: %s: %s", task.task_id, type(exc).__name__, exc)
                    append_line(
                        run_dir / ERRORS_FILE,
                        {"task_id": task.task_id, "error": f"{type(exc).__name__}: {exc}"},
                    )
                    progress.errors += 1
                    return
                record = task_record(task, view, cands, selection, identity.config_digest,
                                     keep_reasoning=cfg.keep_reasoning)
                # volatile: this session's time
                record = record.model_copy(update={"wall_time": round(time.monotonic() - started, 3)})
                append_line(results_path, record.model_dump_json())  # RunWriteError stops the run; the checkpoint stays
                # the few numbers the summary needs, from the typed candidates (not parsed again)
                top = record.model_dump(mode="json", exclude={"candidates"})
                kept[task.task_id] = reduce_record({**top, "candidates": list(record.candidates)})
                # the record is on disk: the task's checkpoints are no longer needed (keeps the database small)
                await saver.adelete_thread(task.task_id)
                progress.done += 1
                progress.correct += int(record.correct)

        await _gather_or_stop([one(t) for t in pending])

    order = {t.task_id: i for i, t in enumerate(comps.tasks)}
    records = sorted(kept.values(), key=lambda r: order.get(r["task_id"], len(order)))
    summary = summarize(records, total_tasks=len(comps.tasks))
    summary["config"] = view
    summary["errors"] = len(comps.tasks) - len(records)
    # this session's cost, requests, retries, cache hits and wall time plus the earlier sessions' of a resumed run
    previous = load_summary(run_dir)
    session = _session_llm(llm_before, comps.llm)
    summary["llm"] = _with_previous(session, previous)
    _warn_reasoning(session, progress.stats)
    summary["cost"] = _total_cost(session.cost if session is not None else _cost(comps.llm), previous)
    summary["wall_time"] = round(time.monotonic() - session_start + float((previous or {}).get("wall_time") or 0), 3)
    write_file(run_dir / SUMMARY_FILE, json.dumps(summary, indent=2))
    return summary
