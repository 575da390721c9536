"""Fidelity against the paper: our ``concise`` and ``code_executor`` renderings of MBPP-R carry the same
sequence of
(line, variable, value) state changes as the authors' own renderings (``shared/reference/paper-renderings``).

Each MBPP-R buggy program is run through the real local sandbox on the MBPP+ base input the authors traced
(``base_error_index``), and both renderings are parsed back into state sequences. The authors' documented
defects
are undone before comparing: their inputs wrapped in a list are unwrapped, their input line (the line above
the
``def``) is line 0 as in ours, and the variables changed by one step are compared as a set (they list them in
reverse order). Rows that differ are listed with the reason.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from semtrace.benchmarks.evalplus import read_problems
from semtrace.representations.code_executor import CodeExecutorRenderer
from semtrace.representations.concise import ConciseRenderer
from semtrace.representations.views import view_from_result
from semtrace.sandbox.types import ExecRequest, TestCase, TraceSpec

_CONCISE = re.compile(r"^\[L(\d+)\] (.*) \[/L\1\]$")
_EXEC_STATE = re.compile(r"^<line> <(\d+)> <state>(.*)</state>$")
_PAIR_SPLIT = re.compile(r", (?=[A-Za-z_][A-Za-z_0-9]* = )")

Step = tuple[str, int, Any]
_KIND_ORDER = {"input": 0, "state": 1, "output": 2}


def _pairs(text: str) -> tuple[str, ...]:
    return tuple(sorted(_PAIR_SPLIT.split(text.strip())))


def parse_concise(text: str) -> list[Step]:
    steps: list[Step] = []
    for line in text.splitlines():
        m = _CONCISE.match(line.strip())
        if not m:
            continue
        body = m.group(2)
        if body.startswith("[INPUT] ") and body.endswith(" [/INPUT]"):
            inner = body[len("[INPUT] ") : -len(" [/INPUT]")]
            if inner.startswith("["):  # the authors' defect: the inputs wrapped in a list of one string
                try:
                    value = ast.literal_eval(inner)
                    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
                        inner = value[0]
                except (ValueError, SyntaxError):
                    pass
            steps.append(("input", 0, _pairs(inner)))  # their input line is the one above the def; ours is 0
        elif body.startswith("[OUTPUT] ") and body.endswith(" [/OUTPUT]"):
            steps.append(("output", int(m.group(1)), body[len("[OUTPUT] ") : -len(" [/OUTPUT]")]))
        else:
            steps.append(("state", int(m.group(1)), _pairs(body)))
    return steps


def parse_executor(text: str) -> list[Step]:
    steps: list[Step] = []
    for line in text.splitlines():
        m = _EXEC_STATE.match(line.strip())
        if m:
            steps.append(("state", int(m.group(1)), _pairs(m.group(2))))
        elif line.startswith("<output>"):
            steps.append(("output", 0, line[len("<output>") :].removesuffix("</output>")))
    return steps


def explanation(rendering: str) -> str:
    return rendering.split("## EXPLANATION")[-1]


def load_rows(data_dir: Path) -> list[dict[str, Any]]:
    ref = data_dir.parent / "reference" / "paper-renderings"
    if not ref.is_dir():
        pytest.skip(f"the paper's renderings are not at {ref}")
    mbpp_r = {}
    for line in (data_dir / "mbpp-r" / "mbpp_repair_generations.jsonl").read_text().splitlines():
        row = json.loads(line)
        mbpp_r[row["task_id"]] = row["solution"]
    # MBPP+ stores tuples as JSON lists; EvalPlus (and our loader) restores them per task
    plus = {p.task_id: p for p in read_problems(data_dir / "mbppplus" / "MbppPlus-v0.2.0.jsonl.gz", "mbpp")}
    rows = []
    for line in (ref / "mbpp_r_round1_fmtconcise_prompt.jsonl").read_text().splitlines():
        row = json.loads(line)
        traces = row["base_trace"]
        if "bug_trace_TPL_CONCISETRACE" not in traces:
            continue  # about 29% of the authors' rows carry no trace at all
        code = mbpp_r[row["task_id"]]
        assert row["_identifier"].endswith(hashlib.md5(code.encode()).hexdigest()), row["task_id"]
        task = plus[row["task_id"]]
        rows.append(
            {
                "task_id": row["task_id"],
                "code": code,
                "entry": task.entry_point,
                "args": task.inputs[row["base_error_index"]],
                "concise": explanation(traces["bug_trace_TPL_CONCISETRACE"]),
                "executor": explanation(traces["bug_trace_TPL_CODEEXECUTOR"]),
            }
        )
    return rows


async def render_ours(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    from semtrace.sandbox.local import LocalSandbox

    async with LocalSandbox(concurrency=2) as sandbox:

        async def one(row: dict[str, Any]) -> tuple[str, str]:
            req = ExecRequest(
                code=row["code"],
                entry_point=row["entry"],
                trace=TraceSpec(tests=(0,), max_value_len=100000),
                tests=(TestCase(kind="call", func=row["entry"], args=row["args"]),),
            )
            view = view_from_result(req, await sandbox.run(req))
            return (
                ConciseRenderer().render(view, budget=10**7),
                CodeExecutorRenderer().render(view, budget=10**7),
            )

        return list(await asyncio.gather(*(one(r) for r in rows)))


# Rows that differ, with the reason (found by reading each one); reported, not hidden: they count as misses.
KNOWN_REASONS = {
    "Mbpp/252": "the buggy program uses math without importing it; the authors' harness had math imported",
    "Mbpp/276": "the buggy program uses math without importing it; the authors' harness had math imported",
    "Mbpp/18": "iteration order of a set of strings depends on the hash seed of the process",
    "Mbpp/590": "cmath.polar rounds differently on their platform (2.9999999999999996 vs 3.0)",
    "Mbpp/247": "their trace lost the updates of a nested list (dp[i][i] = 1) at line 5",
    "Mbpp/239": "recursion: their rendering drops and reorders the recursive frames' states",
    "Mbpp/297": "recursion over a list mutated by the calls: they show the inputs' reprs at another time",
    "Mbpp/392": "recursion: their rendering drops and reorders the recursive frames' states",
    "Mbpp/583": "recursion: their rendering drops recursive calls",
    "Mbpp/730": "recursion over a list mutated by the calls: they show the values at another time",
    "Mbpp/778": "recursion over a list mutated by the calls: they show the values at another time",
}


def _value_match(theirs: str, ours: str) -> bool:
    """Equal, or the authors cut the value in the middle (``head...tail``) and ours is the whole of it."""
    if theirs == ours:
        return True
    if len(ours) <= len(theirs) - 3:
        return False
    start = theirs.find("...")
    while start >= 0:  # the cut may be at any "..." (the value itself may hold dots next to it)
        if ours.startswith(theirs[:start]) and ours.endswith(theirs[start + 3 :]):
            return True
        start = theirs.find("...", start + 1)
    return False


def _step_match(a: Step, b: Step) -> bool:
    if a[0] != b[0] or a[1] != b[1]:
        return False
    if a[0] == "output":
        return _value_match(a[2], b[2])
    if len(a[2]) != len(b[2]):
        return False
    return all(_value_match(x, y) for x, y in zip(a[2], b[2]))


def same_sequence(theirs: list[Step], ours: list[Step]) -> bool:
    return len(theirs) == len(ours) and all(_step_match(a, b) for a, b in zip(theirs, ours))


def reason(theirs: list[Step], ours: list[Step]) -> str:
    """Why two state sequences differ, for the report."""
    for i, (a, b) in enumerate(zip(theirs, ours)):
        if not _step_match(a, b):
            if a[0] == b[0] and a[1] == b[1] and sorted(str(a[2])) == sorted(str(b[2])):
                return f"step {i}: same characters in another order (set/dict iteration order): {a} vs {b}"
            return f"step {i}: theirs {a} vs ours {b}"
    return f"length {len(theirs)} vs {len(ours)}: extra {(theirs + ours)[min(len(theirs), len(ours))]}"


def test_state_sequences_match_the_paper(data_dir: Path) -> None:
    rows = load_rows(data_dir)
    assert len(rows) >= 250
    ours = asyncio.run(render_ours(rows))
    failures: dict[str, list[str]] = {"concise": [], "code_executor": []}
    for row, (concise, executor) in zip(rows, ours):
        recursive = sum(1 for step in parse_concise(concise) if step[0] == "input") > 1
        for name, theirs_text, our_text, parse in (
            ("concise", row["concise"], concise, parse_concise),
            ("code_executor", row["executor"], executor, parse_executor),
        ):
            theirs, mine = parse(theirs_text), parse(our_text)
            if recursive:
                # Recursion: the authors list every call's inputs first, then the states, then every return
                # (their tracer groups a recursive function's events by kind); ours keep execution order.
                theirs, mine = (
                    sorted(theirs, key=lambda st: _KIND_ORDER[st[0]]),
                    sorted(mine, key=lambda st: _KIND_ORDER[st[0]]),
                )
            if not same_sequence(theirs, mine):
                failures[name].append(f"{row['task_id']}: {reason(theirs, mine)}")
    for name, failed in failures.items():
        rate = 1 - len(failed) / len(rows)
        print(f"{name}: {len(rows) - len(failed)}/{len(rows)} rows match the paper ({rate:.1%})")
        for line in failed:
            print("  ", line)
        assert rate >= 0.95, f"{name}: only {rate:.1%} of rows match; differing rows:\n" + "\n".join(failed)
