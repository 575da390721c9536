"""Where pairs come from: ``benchmark:NAME``, ``run:DIR`` and ``pairs:FILE.jsonl``.

Every source hands over visible tests only: a benchmark task's ``public()`` view, a run's task looked up again in
its benchmark (public view), a user's own ``tests``. Hidden tests, references used as hidden oracles and dataset
metadata never enter a :class:`~semtrace.sft.build.Pair`.
"""

from __future__ import annotations

import ast
import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from semtrace.agents.metrics import parsed
from semtrace.agents.record import NO_PROGRAM, Candidate, PromptMessage
from semtrace.benchmarks.common import DataError
from semtrace.benchmarks.task import Task
from semtrace.config import RunConfig
from semtrace.llms.base import Message
from semtrace.representations.prompts import Attempt
from semtrace.sandbox.types import TestCase
from semtrace.sft import chains
from semtrace.sft.build import BuildSettings, Dropped, Pair

log = logging.getLogger(__name__)

KINDS = ("benchmark", "run", "pairs")


class SourceError(ValueError):
    """A ``--source`` that cannot be read; the message names it and the fix."""


@dataclass
class Loaded:
    pairs: list[Pair]
    dropped: list[Dropped] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)  # a run's own prompt knobs (trace budget, history...)
    chains: str | None = None  # how a debug run's rounds are exported (``multi-turn``/``single-turn``), else None


def parse_source(spec: str) -> tuple[str, str]:
    kind, sep, value = spec.partition(":")
    if not sep or kind not in KINDS or not value:
        raise SourceError(f"--source '{spec}': expected benchmark:NAME, run:DIR or pairs:FILE.jsonl")
    return kind, value


def task_pair(task: Task, source: str) -> Pair | Dropped:
    public = task.public()
    if not public.starting_code:
        return Dropped(task.task_id, None, "the task has no buggy program (starting_code)")
    if not task.reference:
        return Dropped(task.task_id, None, "the task has no known fix (reference)")
    return Pair(task_id=task.task_id, prompt=public.prompt, entry_point=public.entry_point,
                buggy=public.starting_code, fixed=task.reference, tests=public.visible_tests,
                test_setup=public.test_setup, prelude=public.prelude, source=source)


def from_benchmark(name: str, data_dir: str | None, sandbox: str, limit: int | None = None) -> Loaded:
    from semtrace.benchmarks.registry import load_benchmark

    tasks = load_benchmark(name, data_dir, sandbox=sandbox)
    if limit is not None:
        tasks = tasks[:limit]
    out = Loaded([])
    for task in tasks:
        item = task_pair(task, f"benchmark:{name}")
        (out.pairs if isinstance(item, Pair) else out.dropped).append(item)  # type: ignore[arg-type]
    return out


def _messages(prompt: tuple[PromptMessage, ...]) -> tuple[Message, ...] | None:
    if not prompt:
        return None
    return tuple(Message(m.role, m.content) for m in prompt)


def _fixable(cand: Candidate) -> bool:
    """A candidate with a program that fails its visible tests (no program: nothing to fix)."""
    return cand.visible.status not in ("passed", None, NO_PROGRAM)


def _by_id(record: dict[str, Any]) -> dict[str, Candidate]:
    """A record's candidates, typed once (``metrics.parsed``), by id."""
    return {c.id: c for c in parsed(record)} if record.get("candidates") else {}


def round_pairs(record: dict[str, Any], task: Task, representation: str, source: str = "run") -> list[Pair]:
    """``--debug-chains multi-turn``: each ``debug`` round that ended in a passing program (``submit`` or an
    answer) from a failing parent in its chain, with the round's conversation (``chains.py``)."""
    public = task.public()
    cands = _by_id(record)
    pairs = []
    for d in cands.values():
        parent = cands.get(d.parent or "")
        t = d.transcript
        if (t is None or parent is None or parent.chain != d.chain or not _fixable(parent)
                or d.visible.status != "passed"):
            continue
        if not chains.ends_with_program(t):
            continue
        sent = _messages(d.prompt)
        pairs.append(Pair(task_id=task.task_id, prompt=public.prompt, entry_point=public.entry_point,
                          buggy=parent.code, fixed=d.code, tests=public.visible_tests,
                          test_setup=public.test_setup, prelude=public.prelude, source=source,
                          ids=(parent.id, d.id),
                          sent=chains.native_prompt(sent, t, public.entry_point) if sent else None,
                          sent_representation=representation, reasoning=chains.final_reasoning(t),
                          dialogue=chains.dialogue(t)))
    return pairs


def run_pairs(record: dict[str, Any], task: Task, representation: str, source: str = "run") -> list[Pair]:
    """Each failing candidate of the record with its nearest later passing descendant in the same chain. A
    ``debug`` round's recorded prompt is not the input (it asked for tool calls; the fix was not its reply): its
    pairs are rebuilt as the refine prompt (``--debug-chains single-turn``)."""
    public = task.public()
    cands = _by_id(record)
    children: dict[str, Candidate] = {}
    for c in cands.values():
        parent = cands.get(c.parent or "")
        if parent is not None and parent.chain == c.chain:
            children[parent.id] = c
    pairs = []
    for x in cands.values():
        if not _fixable(x):
            continue
        child = children.get(x.id)
        d = child
        while d is not None and d.visible.status != "passed":
            d = children.get(d.id)
        if d is None or child is None:
            continue
        earlier = []
        a = cands.get(x.parent or "")
        while a is not None:  # what the refine node keeps of earlier rounds: code, feedback, critique
            earlier.insert(0, Attempt(code=a.code, feedback=a.feedback, critique=a.critique))
            a = cands.get(a.parent or "")
        pairs.append(Pair(task_id=task.task_id, prompt=public.prompt, entry_point=public.entry_point,
                          buggy=x.code, fixed=d.code, tests=public.visible_tests,
                          test_setup=public.test_setup, prelude=public.prelude, source=source,
                          ids=(x.id, d.id), earlier=tuple(earlier),
                          sent=None if child.transcript else _messages(child.prompt),
                          sent_representation=representation,
                          # the reasoning answered the child's request only when the child is the fix
                          reasoning=d.reasoning if d is child and not child.transcript else ""))
    return pairs


def chains_mode(cfg: RunConfig, run_dir: str, mode: str | None) -> str | None:
    """How a run's ``debug`` rounds are exported: ``multi-turn`` by default for a debug run, None for another
    run (it has none); a mode given for another run is refused."""
    if mode is not None and mode not in chains.MODES:
        raise SourceError(f"--debug-chains {mode}: choose {' or '.join(chains.MODES)}")
    strategy = cfg.agent.strategy
    if strategy != "debug":
        if mode is not None:
            raise SourceError(f"--debug-chains {mode}: run:{run_dir} used strategy {strategy}, which has no tool "
                              "rounds; leave the flag out (it applies to runs of --strategy debug)")
        return None
    return mode or "multi-turn"


def from_run(run_dir: str, debug_chains: str | None = None) -> Loaded:
    from semtrace.agents.build import load_tasks
    from semtrace.agents.run import RESULTS_FILE, load_run_config, read_records

    path = Path(run_dir)
    cfg: RunConfig = load_run_config(path)
    mode = chains_mode(cfg, run_dir, debug_chains)
    records = read_records(path / RESULTS_FILE)
    if not records:
        raise SourceError(f"run:{run_dir}: {RESULTS_FILE} holds no finished task; run it first "
                          f"(`semtrace run --resume {run_dir}`)")
    by_id = {t.task_id: t for t in load_tasks(cfg)}
    out = Loaded([], settings={"trace_budget": cfg.trace.budget, "max_events": cfg.trace.max_events,
                               "max_value_len": cfg.trace.max_value_len, "limits": cfg.limits.to_limits(),
                               "history": cfg.agent.history}, chains=mode)
    for rec in records:
        task = by_id.get(rec["task_id"])
        if task is None:
            out.dropped.append(Dropped(rec["task_id"], None, f"task not in benchmark '{cfg.benchmark}'"))
            continue
        pairs_of = round_pairs if mode == "multi-turn" else run_pairs
        found = pairs_of(rec, task, cfg.trace.representation, f"run:{run_dir}")
        if not found:
            out.dropped.append(Dropped(rec["task_id"], None, "no debug round ended in a passing program"
                                       if mode == "multi-turn" else "no failing candidate with a passing descendant"))
        out.pairs.extend(found)
    return out


def _entry_point(code: str) -> str | None:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    names = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return names[-1] if names else None


def _test(path: Path, row: int, item: Any) -> TestCase:
    if isinstance(item, str):
        return TestCase(kind="assert", source=item)
    if isinstance(item, dict):
        try:
            return TestCase.from_dict(item)
        except (TypeError, ValueError, KeyError) as exc:
            raise DataError(path, f"key 'tests': bad test case ({exc})", row=row,
                            fix='write each test as an assert statement string or a TestCase object '
                                '({"kind": "call", "args": "...", "expected": "..."})') from exc
    raise DataError(path, f"key 'tests': a test must be a string or an object, not {type(item).__name__}",
                    row=row, fix="write each test as an assert statement string")


def from_pairs(file: str) -> Loaded:
    path = Path(file)
    if not path.is_file():
        raise SourceError(f"pairs:{file}: no such file; pass a JSONL file of "
                          '{"buggy", "fixed", "tests"} objects')
    out = Loaded([])
    for row, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"not JSON ({exc.msg})", row=row, fix="write one JSON object per line") from exc
        if not isinstance(obj, dict):
            raise DataError(path, "not a JSON object", row=row, fix="write one JSON object per line")
        for key in ("buggy", "fixed", "tests"):
            if key not in obj:
                raise DataError(path, f"missing key '{key}'", row=row,
                                fix="give buggy and fixed programs and a list of visible tests")
        for key in ("buggy", "fixed"):
            if not isinstance(obj[key], str) or not obj[key].strip():
                raise DataError(path, f"key '{key}' must be a non-empty program string", row=row)
        if not isinstance(obj["tests"], list) or not obj["tests"]:
            raise DataError(path, "key 'tests' must be a non-empty list", row=row,
                            fix="list the visible tests (assert statements) that the buggy program fails")
        entry = obj.get("entry_point") or _entry_point(obj["buggy"])
        if not entry:
            raise DataError(path, "no 'entry_point' and the buggy program defines no function", row=row,
                            fix="add \"entry_point\": \"<function name>\"")
        out.pairs.append(Pair(task_id=str(obj.get("task_id") or f"{path.stem}/{row}"),
                              prompt=str(obj.get("prompt") or ""), entry_point=entry, buggy=obj["buggy"],
                              fixed=obj["fixed"], tests=tuple(_test(path, row, t) for t in obj["tests"]),
                              test_setup=str(obj.get("test_setup") or ""), source=f"pairs:{path.name}"))
    if not out.pairs:
        raise SourceError(f"pairs:{file}: the file holds no pairs")
    return out


def load_source(spec: str, *, data_dir: str | None = None, sandbox: str = "local",
                limit: int | None = None, debug_chains: str | None = None) -> Loaded:
    kind, value = parse_source(spec)
    if debug_chains is not None and kind != "run":
        raise SourceError(f"--debug-chains {debug_chains}: only a run:DIR source has debug rounds; leave it out "
                          f"for {kind}:")
    if kind == "benchmark":
        return from_benchmark(value, data_dir, sandbox, limit)
    loaded = from_run(value, debug_chains) if kind == "run" else from_pairs(value)
    if limit is not None:
        loaded.pairs = loaded.pairs[:limit]
    return loaded


def settings_for(loaded: Loaded, **flags: Any) -> BuildSettings:
    """The run's own prompt knobs (run source) under the flags given on the command line. A flag that changes a
    knob the run's prompts were built with makes its recorded prompts unusable: those pairs are rebuilt."""
    given = {k: v for k, v in flags.items() if v is not None}
    changed = any(k in loaded.settings and loaded.settings[k] != v for k, v in given.items())
    if changed:
        loaded.pairs = [replace(p, sent=None) for p in loaded.pairs]
    return BuildSettings(**{**loaded.settings, **given})
