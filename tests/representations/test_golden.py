"""Golden renderings: every representation on the golden programs, run through the real local sandbox.

Regenerate after an intended format change with ``SEMTRACE_UPDATE_GOLDEN=1 pytest tests/representations`` and
review the diff. The programs (loops, recursion, an exception, nested calls, longer than the budget,
comprehensions,
a trace cut by the tracer's budget) are in golden/programs.json.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from semtrace.llms.base import Completion, Message
from semtrace.representations.base import RENDERERS, TraceView, approx_tokens, make_renderer
from semtrace.representations.semcoder_nl import NeedsLLM, SemCoderNLRenderer
from semtrace.representations.views import view_from_result
from semtrace.sandbox.types import ExecRequest, TestCase, TraceSpec

GOLDEN = Path(__file__).resolve().parent / "golden"
PROGRAMS: dict[str, dict[str, str]] = json.loads((GOLDEN / "programs.json").read_text())
SYNC_RENDERERS = [n for n in RENDERERS.entries if n != "semcoder_nl"]
UPDATE = os.environ.get("SEMTRACE_UPDATE_GOLDEN") == "1"


def request_for(name: str) -> ExecRequest:
    p = PROGRAMS[name]
    tests = (
        TestCase(kind="call", func=p["func"], args=p["args"], expected=p["expected"]),
        TestCase(kind="call", func=p["func"], args=p["passing_args"], expected=None),
    )
    return ExecRequest(
        code=p["code"], tests=tests, entry_point=p["func"], trace=TraceSpec(include_passing=True)
    )


async def run_all() -> dict[str, TraceView]:
    from semtrace.sandbox.local import LocalSandbox

    out = {}
    async with LocalSandbox(concurrency=2) as sandbox:
        for name in PROGRAMS:
            req = request_for(name)
            out[name] = view_from_result(req, await sandbox.run(req))
    return out


@pytest.fixture(scope="module")
def views() -> dict[str, TraceView]:
    return asyncio.run(run_all())


def check_golden(path: Path, text: str) -> None:
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"missing golden file {path.name}; create it with SEMTRACE_UPDATE_GOLDEN=1")
        path.write_text(text + "\n")
        return
    assert text + "\n" == path.read_text(), f"{path.name} changed (SEMTRACE_UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("program", sorted(PROGRAMS))
@pytest.mark.parametrize("representation", SYNC_RENDERERS)
async def test_golden(views: dict[str, TraceView], program: str, representation: str) -> None:
    view = views[program]
    assert view.outcome.status in ("failed", "error") and view.trace is not None
    text = make_renderer(representation).render(view, budget=2048)
    assert approx_tokens(text) <= 2048 or representation == "next"  # next keeps the whole program
    check_golden(GOLDEN / f"{program}.{representation}.txt", text)


@pytest.mark.parametrize("representation", [n for n in SYNC_RENDERERS if n != "none"])
async def test_small_budget_is_respected_and_cuts_are_said(
    views: dict[str, TraceView], representation: str
) -> None:
    view = views["long_loop"]
    full = make_renderer(representation).render(view, budget=10**6)
    budget = min(300, approx_tokens(full) - 10)
    small = make_renderer(representation).render(view, budget=budget)
    assert approx_tokens(full) > budget >= approx_tokens(small)
    assert any(marker in small for marker in ("more iterations", "steps cut", "elided", "not in the slice"))


async def test_truncated_trace_is_said(views: dict[str, TraceView]) -> None:
    view = views["truncated"]
    assert view.trace is not None and view.trace.truncated and view.trace.truncated_at == 3
    for name in ("concise", "semcoder", "code_executor", "next", "slice"):
        assert "the tracer stopped at line 3" in make_renderer(name).render(view)


class TinyLLM:
    """The smallest object implementing the LLM protocol: it remembers the request and answers a fixed
    text."""

    name = "tiny"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.requests: list[list[Message]] = []

    async def generate(
        self,
        messages: list[Message],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        seed: int | None = None,
        stop: list[str] | None = None,
    ) -> list[Completion]:
        self.requests.append(messages)
        return [Completion(text=self.reply)] * n


@pytest.mark.parametrize("program", sorted(PROGRAMS))
async def test_semcoder_nl_with_an_llm(views: dict[str, TraceView], program: str) -> None:
    """The rationale is the LLM's text without code; the golden file is what the LLM is asked."""
    view = views[program]
    with pytest.raises(NeedsLLM, match="render_async"):
        SemCoderNLRenderer().render(view)
    llm = TinyLLM("The loop adds every item.\n```python\ndef fixed(): pass\n```\nKeep only common items.")
    text = await SemCoderNLRenderer().render_async(view, llm)
    assert text == "The loop adds every item.\n[code omitted]\nKeep only common items."
    prompt = llm.requests[0][-1].content
    assert make_renderer("semcoder").render(view) in prompt and "Do NOT write the corrected code" in prompt
    check_golden(GOLDEN / f"{program}.semcoder_nl.prompt.txt", prompt)


async def test_semcoder_nl_with_the_scripted_backend(views: dict[str, TraceView], tmp_path: Path) -> None:
    from semtrace.llms.registry import make_llm

    rules = tmp_path / "rules.jsonl"
    rules.write_text(
        json.dumps({"when": r"__return__=\[1, 5, 7", "reply": "Execution: result collects all."}) + "\n"
    )
    llm = make_llm(f"scripted:{rules}", cache=False)
    assert await SemCoderNLRenderer().render_async(views["loops"], llm) == "Execution: result collects all."


def test_whole_program_on_stdin() -> None:
    """A stdio test traces the module itself: no empty inputs, no module 'return None', the output is the
    stdout."""
    from semtrace.sandbox.local import LocalSandbox

    code = "import sys\nn = int(sys.stdin.readline())\ntotal = 0\nfor i in range(n):\n    total += i\nprint(total)\n"
    req = ExecRequest(
        code=code, tests=(TestCase(kind="stdio", stdin="4\n", expected="7\n"),), trace=TraceSpec()
    )

    async def run() -> TraceView:
        async with LocalSandbox(concurrency=1) as sandbox:
            return view_from_result(req, await sandbox.run(req))

    view = asyncio.run(run())
    concise = make_renderer("concise").render(view)
    assert (
        concise.splitlines()[0] == "[L2] n = 4 [/L2]"
        and concise.splitlines()[-1] == "[OUTPUT] '6\\n' [/OUTPUT]"
    )
    assert "(1) n = 4" in make_renderer("semcoder").render(view)
    assert "__return__" not in make_renderer("next").render(view)
    sliced = make_renderer("slice").render(view)
    assert "from the program's output at line 6" in sliced and "[L5] total += i  =>  total = 6" in sliced
