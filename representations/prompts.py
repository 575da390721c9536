"""Prompt builders: task, code, feedback and rendered trace -> chat messages.

Pure functions, shared by the agent (``agents/``) and the SFT builder (``sft/``) so training data and inference see
the same text. They only ever receive *visible* test material; hidden tests never reach this module's callers' LLMs.
The repair template follows the paper's (instruction, ``**BUGGY_PROGRAM**``, the trace, the failing test case, "now,
given the correct program, you can start with"), without its known rendering defects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from semtrace.llms.base import Message
from semtrace.representations.common import cap

SYSTEM = (
    "You are an expert Python programmer. You write correct, self-contained Python code and answer with the "
    "complete program in a single ```python code block."
)

REPAIR_INSTRUCTION = (
    "Correct the provided BUGGY_PROGRAM. Output only the corrected code; do not include "
    "explanations, test cases, examples, or execution results."
)


@dataclass(frozen=True)
class Attempt:
    """One earlier round of a candidate: its code and what running it on a visible test showed."""

    code: str
    feedback: str = ""
    rendering: str = ""
    critique: str = ""


def _code_block(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


def _task_text(task_prompt: str, entry_point: str) -> str:
    if not entry_point:  # a whole program reading stdin (LiveCodeBench's AtCoder and Codeforces problems)
        return f"## Problem\n{task_prompt.strip()}"
    return f"## Problem\n{task_prompt.strip()}\n\nThe function to implement is `{entry_point}`."


def synthesis_messages(task_prompt: str, entry_point: str) -> list[Message]:
    """The first samples of a synthesis task."""
    user = (
        f"{_task_text(task_prompt, entry_point)}\n\nWrite the complete, self-contained Python program "
        f"(with any imports it needs). Answer with one ```python code block."
    )
    return [Message("system", SYSTEM), Message("user", user)]


def _attempt_body(attempt: Attempt, *, with_trace: bool = True) -> str:
    parts = [f"**BUGGY_PROGRAM**\n\n{_code_block(attempt.code)}"]
    if attempt.feedback:
        parts.append(f"## TESTCASES\n\n{attempt.feedback}")
    if with_trace and attempt.rendering:
        parts.append(f"## Trace\n\n{attempt.rendering.rstrip()}")
    if attempt.critique:
        parts.append(f"## Analysis\n\n{attempt.critique.strip()}")
    return "\n\n".join(parts)


def repair_messages(task_prompt: str, entry_point: str, attempt: Attempt) -> list[Message]:
    """The paper's repair template: instruction, buggy program, failing test, rendered trace."""
    user = (
        f"{REPAIR_INSTRUCTION}\n\n{_task_text(task_prompt, entry_point)}\n\n{_attempt_body(attempt)}\n\n"
        "now, given the correct program, you can start with\n```python\n"
    )
    return [Message("system", SYSTEM), Message("user", user)]


def refine_messages(
    task_prompt: str, entry_point: str, attempts: Sequence[Attempt], history: Literal["all", "last"] = "all"
) -> list[Message]:
    """Refinement after one or more failed rounds. ``history='last'`` shows only the latest attempt (the repair
    template); ``'all'`` lists every earlier attempt (code and feedback, traces only for the latest one)."""
    if not attempts:
        raise ValueError("refine_messages needs at least one attempt")
    if history == "last" or len(attempts) == 1:
        return repair_messages(task_prompt, entry_point, attempts[-1])
    earlier = []
    for i, attempt in enumerate(attempts[:-1], start=1):
        earlier.append(f"### Attempt {i}\n\n{_code_block(attempt.code)}\n\n{attempt.feedback}")
    user = (
        f"{REPAIR_INSTRUCTION}\n\n{_task_text(task_prompt, entry_point)}\n\n"
        f"## Earlier attempts (all failed)\n\n"
        + "\n\n".join(earlier)
        + f"\n\n### Attempt {len(attempts)} (latest)\n\n{_attempt_body(attempts[-1])}\n\n"
        "now, given the correct program, you can start with\n```python\n"
    )
    return [Message("system", SYSTEM), Message("user", user)]


def critique_messages(task_prompt: str, entry_point: str, attempt: Attempt) -> list[Message]:
    """Ask for an explanation of the bug from the trace, without code."""
    user = (
        f"{_task_text(task_prompt, entry_point)}\n\n{_attempt_body(attempt)}\n\n"
        "Explain, step by step from the execution trace, where the program's behaviour first departs from "
        "what the problem requires and why the test fails. Do not write any code."
    )
    return [Message("system", "You are a careful program debugger."), Message("user", user)]


def test_inputs_messages(task_prompt: str, entry_point: str, k: int) -> list[Message]:
    """Ask for ``k`` test inputs (argument lists only, no expected outputs) for majority voting."""
    user = (
        f"{_task_text(task_prompt, entry_point)}\n\nPropose {k} diverse, valid inputs for `{entry_point}` that "
        f"exercise edge cases. Write one call per line, exactly as `{entry_point}(...)`, inside one ```python "
        "block. Do not write expected outputs."
    )
    return [Message("system", SYSTEM), Message("user", user)]


def distinguish_messages(task_prompt: str, entry_point: str, code_a: str, code_b: str) -> list[Message]:
    """S*-style: ask for one input on which two programs behave differently."""
    user = (
        f"{_task_text(task_prompt, entry_point)}\n\n## Program A\n{_code_block(code_a)}\n\n## Program B\n"
        f"{_code_block(code_b)}\n\nWrite one call `{entry_point}(...)` whose result differs between A and B, "
        "inside one ```python block."
    )
    return [Message("system", SYSTEM), Message("user", user)]


def judge_messages(
    task_prompt: str, entry_point: str, call: str, output_a: str, output_b: str
) -> list[Message]:
    """S*-style: given one input and two outputs, ask which output the problem requires."""
    user = (
        f"{_task_text(task_prompt, entry_point)}\n\nFor the call `{call}`:\n- Output A: {cap(output_a)}\n"
        f"- Output B: {cap(output_b)}\n\nWhich output is correct for the problem? Answer with exactly "
        "`A` or `B` on the last line."
    )
    return [Message("system", "You are a careful judge of program behaviour."), Message("user", user)]
