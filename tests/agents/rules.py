"""Rule files for the ``scripted`` LLM that drive repair runs deterministically (test helpers, not fakes of the
code under test: the agent, sandbox and renderers are the real ones)."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from pathlib import Path

from semtrace.benchmarks.task import Task


def bug_line(buggy: str, fixed: str) -> str:
    """The first line of the buggy program that the fix changes (or the line before a pure insertion)."""
    a, b = buggy.splitlines(), fixed.splitlines()
    for tag, i1, i2, _j1, _j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        for line in a[i1:i2]:
            if line.strip():
                return line.strip()
        before = [line for line in a[:i1] if line.strip()]  # a pure insertion: the line before it
        if before:
            return before[-1].strip()
    raise ValueError("buggy and fixed programs do not differ")


def fenced(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


def repair_rules(
    tasks: Sequence[Task], fix_round: dict[str, int | None], *, attempts_marker: bool = True
) -> list[dict[str, str]]:
    """Return the buggy program until the prompt's trace shows the bug's line in a refine prompt for round
    >= ``fix_round[task]`` (None: never), then the reference fix. Round r's prompt is the repair template for
    r == 1 and lists ``### Attempt r (latest)`` for r >= 2 (history 'all')."""
    fixes, fallbacks = [], []
    for t in tasks:
        assert t.starting_code and t.reference
        who = re.escape(f"The function to implement is `{t.entry_point}`.")
        r = fix_round.get(t.task_id)
        if r is not None:
            trace = r"## Trace\n[\s\S]*" + re.escape(bug_line(t.starting_code, t.reference))
            if r <= 1 or not attempts_marker:
                when = who + r"[\s\S]*" + trace
            else:
                later = "|".join(str(k) for k in range(r, r + 50))
                when = who + rf"[\s\S]*### Attempt (?:{later}) \(latest\)[\s\S]*" + trace
            fixes.append({"when": when, "reply": "Here is the fix.\n" + fenced(t.reference)})
        fallbacks.append({"when": who, "reply": fenced(t.starting_code)})
    return fixes + fallbacks


def write_rules(path: Path, rules: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rules))
    return path
