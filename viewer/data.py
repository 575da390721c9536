"""What the viewer shows, computed from typed records: each task's outcome in a run (for the task list) and each
candidate as the detail page draws it (code, diff against its parent, the model's reply and its reasoning, visible
feedback, the exact prompt, the rendered trace, critique, visible and hidden outcome, tokens, latency).

Hidden tests appear only as a status and counts: no hidden test's source, message or value reaches the viewer.
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from semtrace.agents.record import Candidate, ExecSummary, TaskRecord

log = logging.getLogger(__name__)

# The knobs a run is labelled by (the ones that differ between the runs shown); all are TaskRecord fields.
KNOBS = ("representation", "strategy", "width", "depth", "model", "benchmark", "selector", "critique", "history",
         "temperature")


@dataclass(frozen=True)
class Outcome:
    """One task in one run, as the task list filters it.

    ``fixed_at``: the first depth d at which some chain's answer (its latest candidate with round <= d) passes the
    hidden tests, or None (never fixed). ``regressed``: some chain had a correct candidate followed by a later
    incorrect one. ``correct``: the selector's pick is correct (the record's verdict)."""

    fixed_at: int | None
    regressed: bool
    correct: bool
    candidates: int

    def compact(self) -> list[int]:
        """The index entry: [fixed_at or -1, regressed, correct, candidates]."""
        return [-1 if self.fixed_at is None else self.fixed_at, int(self.regressed), int(self.correct),
                self.candidates]


def chains_of(record: TaskRecord) -> dict[int, list[Candidate]]:
    chains: dict[int, list[Candidate]] = {}
    for cand in record.candidates:
        chains.setdefault(cand.chain, []).append(cand)
    return {k: sorted(v, key=lambda c: c.round) for k, v in sorted(chains.items())}


def outcome_of(record: TaskRecord) -> Outcome:
    chains = chains_of(record)
    top = max((c.round for c in record.candidates), default=0)
    depth = max(record.depth, top)
    fixed_at = None
    for d in range(depth + 1):
        if any(_answer_at(cands, d) for cands in chains.values()):
            fixed_at = d
            break
    regressed = False
    for cands in chains.values():
        seen_correct = False
        for cand in cands:
            if cand.correct:
                seen_correct = True
            elif seen_correct:
                regressed = True
    return Outcome(fixed_at, regressed, record.correct, len(record.candidates))


def _answer_at(cands: list[Candidate], depth: int) -> bool:
    upto = [c for c in cands if c.round <= depth]
    return bool(upto) and upto[-1].correct


def diff_lines(parent: str | None, code: str) -> list[str] | None:
    """The unified diff of ``code`` against its parent's code (no file headers); None without a parent."""
    if parent is None:
        return None
    lines = list(difflib.unified_diff(parent.splitlines(), code.splitlines(), lineterm="", n=3))
    return lines[2:]  # drop the ---/+++ header


def _visible(summary: ExecSummary) -> dict[str, Any]:
    """All of it: its ``tests`` hold the failing visible test the model was shown (every test with keep=all)."""
    return summary.model_dump(mode="json")


def _hidden(summary: ExecSummary) -> dict[str, Any]:
    """Only pass/fail and counts: hidden tests never show their source, messages or values."""
    return {"status": summary.status, "passed": summary.passed, "total": summary.total}


def candidate_view(cand: Candidate, parent: Candidate | None) -> dict[str, Any]:
    trace = cand.trace or {}
    return {
        "id": cand.id,
        "chain": cand.chain,
        "round": cand.round,
        "parent": cand.parent,
        "code": cand.code,
        # against the parent's program (none when the parent's reply held no program, or the candidate has none)
        "diff": diff_lines(parent.code if parent is not None and parent.code and cand.code else None, cand.code),
        "raw": cand.raw,
        "reasoning": cand.reasoning,
        "no_program": cand.no_program,
        "note": cand.note,
        "prompt": [m.model_dump() for m in cand.prompt],
        "prompt_digest": cand.prompt_digest,
        "critique_prompt": [m.model_dump() for m in cand.critique_prompt],
        "feedback": cand.feedback,
        "rendering": cand.rendering,
        "critique": cand.critique,
        "critique_reasoning": cand.critique_reasoning,
        "visible": _visible(cand.visible),
        "hidden": _hidden(cand.hidden),
        "correct": cand.correct,
        "trace_events": int(trace.get("n_events", len(trace.get("events") or []))),
        "trace_truncated": bool(trace.get("truncated")),
        "usage": dict(cand.usage),
        "render_usage": dict(cand.render_usage),
        "critique_usage": dict(cand.critique_usage),
        "latency": cand.latency,
        # the debug strategy's tool loop, turn by turn (agents/transcript.py); None for other strategies
        "transcript": cand.transcript.to_dict() if cand.transcript is not None else None,
    }


def task_view(record: TaskRecord) -> dict[str, Any]:
    """One task of one run as its detail file holds it."""
    by_id = {c.id: c for c in record.candidates}
    chains = [
        [candidate_view(c, by_id.get(c.parent) if c.parent else None) for c in cands]
        for cands in chains_of(record).values()
    ]
    selection = record.selection.model_dump(mode="json")
    return {
        "task_id": record.task_id,
        "kind": record.kind,
        "correct": record.correct,
        "depth": record.depth,
        "width": record.width,
        "wall_time": record.wall_time,
        "usage": dict(record.usage),
        "selection": {"id": selection.get("id"), "selector": selection.get("selector", ""),
                      "deferred": bool(selection.get("deferred"))},
        "outcome": outcome_of(record).compact(),
        "chains": chains,
    }


def knobs_of(record: TaskRecord) -> dict[str, Any]:
    return {k: getattr(record, k) for k in KNOBS}


def iter_records(path: Path) -> Iterator[TaskRecord]:
    """Each good record of a results file, one line at a time (a line that is not a valid record is skipped with
    a warning naming ``file:line``; the caller lets the last line of a task win)."""
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield TaskRecord.model_validate(json.loads(line))
            except (ValueError, ValidationError) as exc:
                log.warning("%s:%d: skipped a line that is not a record (%s)", path, lineno,
                            str(exc).splitlines()[0][:200])
