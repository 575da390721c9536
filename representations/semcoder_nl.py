"""``semcoder_nl`` (the paper's "SemCoder (GPT4o)"): a natural-language rationale written by an LLM.

The LLM reads the ``semcoder`` rendering of the failing run and writes an execution simulation, the root cause and
the direction of a fix, without the fixed code. It declares ``needs_llm = True`` (the ``LLMRenderer`` contract), so
use :meth:`SemCoderNLRenderer.render_async` with any object with the ``semtrace.llms.base.LLM`` contract (pass a
``make_llm(...)`` one to get its response cache, retries and accounting). The synchronous ``render`` raises
:class:`NeedsLLM`.
"""

from __future__ import annotations

import re

from semtrace.llms.base import LLM, Message
from semtrace.representations.base import (
    DEFAULT_BUDGET,
    LLMRendererBase,
    NeedsLLM,
    TokenCounter,
    TraceView,
    approx_tokens,
)
from semtrace.representations.semcoder import SemCoderRenderer

SYSTEM = "You are an expert Python debugger who explains program executions precisely."
INSTRUCTION = (
    "Below is a Python program, a test it fails, and the trace of its execution on that test "
    "(states per line: "
    "`(k) var = value` is the k-th state change, `__return__` the returned value).\n\n"
    "Write a concise natural-language rationale in three parts:\n"
    "1. Execution simulation: walk through what the program does on this input, citing the trace's values.\n"
    "2. Root cause: the first line whose behaviour departs from what the test requires, and why.\n"
    "3. Fix direction: what must change, in words. Do NOT write the corrected code."
)
_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)


def rationale_messages(view: TraceView, trace_text: str) -> list[Message]:
    user = (
        f"{INSTRUCTION}\n\n## Program\n```python\n{view.code.rstrip()}\n```\n\n## Execution trace\n"
        f"{trace_text}\n\n## Rationale"
    )
    return [Message("system", SYSTEM), Message("user", user)]


def clean_rationale(text: str) -> str:
    """Drop code blocks the model wrote despite the instruction (the rationale must not carry the fix)."""
    cleaned = _CODE_BLOCK.sub("[code omitted]", text).strip()
    return cleaned or "(the model gave no rationale)"


class SemCoderNLRenderer(LLMRendererBase):
    name = "semcoder_nl"

    def __init__(self, max_tokens: int = 768, temperature: float = 0.0, seed: int | None = 0) -> None:
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed

    async def render_async(
        self,
        view: TraceView,
        llm: LLM,
        *,
        budget: int = DEFAULT_BUDGET,
        count_tokens: TokenCounter = approx_tokens,
    ) -> str:
        trace_text = SemCoderRenderer().render(view, budget=budget, count_tokens=count_tokens)
        max_tokens = max(64, min(self.max_tokens, budget))
        completions = await llm.generate(
            rationale_messages(view, trace_text),
            n=1,
            temperature=self.temperature,
            max_tokens=max_tokens,
            seed=self.seed,
        )
        if not completions:
            raise NeedsLLM(f"{getattr(llm, 'name', 'the LLM')} returned no completion for the rationale")
        text = clean_rationale(completions[0].text)
        if count_tokens(text) > budget:  # whole sentences only, and say so
            sentences = re.split(r"(?<=[.!?])\s+", text)
            kept: list[str] = []
            for s in sentences:
                if count_tokens(" ".join([*kept, s])) > budget - 16:
                    break
                kept.append(s)
            text = (
                " ".join(kept)
                + f"\n... rationale cut to fit the budget ({len(sentences) - len(kept)} sentences)"
            )
        return text
