"""Tool use of ``debug`` runs (agents/debug.py): per run, what the model pulled in its rounds — calls by tool, the
share of rounds that traced anything, how rounds ended — from each candidate's ``transcript``.

Streams each debug run's ``results.jsonl`` once more (only runs whose strategy is ``debug``; the main loader keeps
reduced curves, not transcripts); a run without transcripts adds no row, and no debug run, no table.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from semtrace.agents.transcript import TOOL_NAMES, Transcript
from semtrace.benchmarks.metrics import mean_interval
from semtrace.reports.load import RunData
from semtrace.reports.model import Rate, Table

ENDS = ("submit", "answer", "budget", "error")


def transcripts(run: RunData) -> list[Transcript]:
    """The transcripts of the run's finished tasks' candidates, in file order."""
    path = run.path / "results.jsonl"
    out: list[Transcript] = []
    if not path.is_file():
        return out
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a damaged line: the main loader warns about it
            if not isinstance(record, dict) or record.get("task_id") not in run.stats:
                continue
            for cand in record.get("candidates") or []:
                if isinstance(cand, dict) and cand.get("transcript"):
                    out.append(Transcript.from_dict(cand["transcript"]))
    return out


def tool_counts(rounds: list[Transcript]) -> dict[str, Any]:
    """Rounds, calls by tool (``other`` for names that are no tool), calls per round, the share of rounds that
    traced anything (with its Wilson interval over rounds), malformed calls, ends by reason."""
    calls: Counter[str] = Counter()
    errors = 0
    for t in rounds:
        for name, n in t.by_tool().items():
            calls[name if name in TOOL_NAMES else "other"] += n
        errors += sum(1 for turn in t.turns for c in turn.calls if c.error)
    traced = [1.0 if t.traced else 0.0 for t in rounds]
    return {"rounds": len(rounds), "calls": dict(calls), "errors": errors,
            "per_round": sum(calls.values()) / len(rounds) if rounds else 0.0,
            "traced": Rate(*mean_interval(traced)) if rounds else None,
            "ends": dict(Counter(t.end for t in rounds))}


def tool_use_table(runs: list[RunData]) -> Table | None:
    rows = []
    for run in runs:
        if run.config.agent.strategy != "debug":
            continue
        rounds = transcripts(run)
        if not rounds:
            continue
        c = tool_counts(rounds)
        traced: Rate | None = c["traced"]
        rows.append((run.name, c["rounds"], round(c["per_round"], 2),
                     *(c["calls"].get(name, 0) for name in (*TOOL_NAMES, "other")), c["errors"],
                     traced,
                     *(c["ends"].get(e, 0) for e in ENDS)))
    if not rows:
        return None
    cols = ("name", "rounds", "calls/round", *TOOL_NAMES, "other", "errors", "rounds traced",
            *(f"ended: {e}" for e in ENDS))
    notes = (("debug runs only: each round is a tool loop; calls count every call the model made (malformed ones "
             "too, under 'errors'); 'rounds traced' is the share of rounds with a trace call that ran (95% "
             "Wilson interval over rounds); 'ended: budget' rounds carried their parent program forward"),)
    return Table("tool_use", "tool use per round (debug strategy)", cols, tuple(rows), notes)
