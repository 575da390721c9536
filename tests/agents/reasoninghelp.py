"""Rule files for the scripted LLM that answer like reasoning models (test helpers; the agent, sandbox and LLM
back end under test are the real ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rules import fenced, write_rules

CANARY = "REASONING-CANARY-5d1e"
AGAIN = "Your previous reply to this request gave no program"
TASKS = ("demo/sum_to_n", "demo/factorial", "demo/is_even", "demo/max_of")


def demo_tasks() -> dict[str, Any]:
    from semtrace.benchmarks.demo import load

    return {t.task_id: t for t in load() if t.task_id in TASKS}


def _draft(ep: str) -> str:
    return f"def {ep}(*args):\n    return 'DRAFT-FROM-REASONING'\n"


def reasoning_rules(path: Path) -> Path:
    """Per task: sum_to_n's first reply is cut inside an unclosed ``<think>`` (finish_reason length), asked again it
    answers; factorial closes its ``<think>`` after a fenced draft and answers; is_even's reasoning comes in the
    ``reasoning`` field and its answer's code fence holds a ``<think>`` that is code, not a tag; max_of's first
    reply is reasoning only, asked again it answers. Every reasoning holds the canary and a draft program."""
    t = demo_tasks()
    fix = {tid: t[tid].reference for tid in TASKS}
    ep = {tid: t[tid].entry_point for tid in TASKS}

    def who(tid: str) -> str:
        return f"`{ep[tid]}`"

    def think(tid: str) -> str:
        return f"<think>{CANARY} let me draft\n{fenced(_draft(ep[tid]))}\n"

    rules = [
        {"when": f"{who('demo/sum_to_n')}[\\s\\S]*{AGAIN}", "reply": f"<think>{CANARY} shorter</think>\n"
         + fenced(fix["demo/sum_to_n"])},
        {"when": who("demo/sum_to_n"), "reply": think("demo/sum_to_n"), "finish_reason": "length"},
        {"when": who("demo/factorial"), "reply": think("demo/factorial") + "</think>\nThe fix:\n"
         + fenced(fix["demo/factorial"])},
        {"when": who("demo/is_even"), "reasoning": f"{CANARY} thinking\n{fenced(_draft(ep['demo/is_even']))}",
         "reply": fenced("# <think> here is code, not a tag </think>\n" + fix["demo/is_even"])},
        {"when": f"{who('demo/max_of')}[\\s\\S]*{AGAIN}", "reply": fenced(fix["demo/max_of"])},
        {"when": who("demo/max_of"), "reply": think("demo/max_of") + "</think>"},
    ]
    return write_rules(path, rules)
