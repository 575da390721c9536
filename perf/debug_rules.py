"""Scripted replies for ``perf/orchestration.py --mode debug``: per task, a tool loop per round (``run_tests``,
then ``trace`` of the first visible test's call, then a program), text protocol, matched on the conversation.

The programs are those of ``orchestration.write_rules`` (distinct buggy variants, so every candidate really runs;
a quarter of the tasks fixed at round 2 and a quarter at round 3 once the pushed trace shows the bug's line), so a
``debug`` run asks 3 LLM calls and one traced sandbox run per round where ``sequential`` asks one call."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def first_call(task: Any) -> str:
    """The first call of the entry point in the task's visible tests (what the loop traces)."""
    for test in task.visible_tests:
        source = test.source or ""
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == task.entry_point:
                segment = ast.get_source_segment(source, node)
                if segment:
                    return segment
    return f"{task.entry_point}()"


def tool(name: str, **arguments: Any) -> str:
    return "```tool\n" + json.dumps({"name": name, "arguments": arguments}) + "\n```"


def write_debug_rules(tasks: list[Any], path: Path) -> None:
    sys.path.insert(0, str(REPO / "tests" / "agents"))
    from rules import bug_line, fenced  # the same helper the acceptance tests use

    fixes, rest = [], []
    for i, t in enumerate(tasks):
        who = re.escape(f"The function to implement is `{t.entry_point}`.")
        fix_round = (None, 2, 3, None)[i % 4]
        traced = r"[\s\S]*\[trace result\]"
        if fix_round is not None:
            later = "|".join(str(k) for k in range(fix_round, fix_round + 20))
            fixes.append({"when": who + rf"[\s\S]*### Attempt (?:{later}) \(latest\)[\s\S]*## Trace\n[\s\S]*"
                          + re.escape(bug_line(t.starting_code, t.reference)) + traced,
                          "match": "conversation", "reply": fenced(t.reference)})
        variants = [fenced(f"{t.starting_code.rstrip()}\n# variant {k}\n") for k in range(16)]
        rest += [{"when": who + traced, "match": "conversation", "reply": variants},
                 {"when": who + r"[\s\S]*\[run_tests result\]", "match": "conversation",
                  "reply": tool("trace", expression=first_call(t))},
                 {"when": who, "match": "conversation", "reply": tool("run_tests")}]
    path.write_text("".join(json.dumps(r) + "\n" for r in fixes + rest))
